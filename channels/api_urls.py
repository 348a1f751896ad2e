from rest_framework.routers import SimpleRouter

from channels import api

router = SimpleRouter()
router.register("channel-accounts", api.ChannelAccountViewSet, basename="api-channel-account")
urlpatterns = router.urls
