from rest_framework.routers import SimpleRouter

from campaigns import api

router = SimpleRouter()
router.register("campaigns", api.CampaignViewSet, basename="api-campaign")
router.register("pushes", api.PushViewSet, basename="api-push")
router.register("journeys", api.JourneyViewSet, basename="api-journey")
router.register("trigger-rules", api.TriggerRuleViewSet, basename="api-trigger-rule")
urlpatterns = router.urls
