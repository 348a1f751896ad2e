from django.urls import path
from rest_framework.routers import SimpleRouter

from channels import api

router = SimpleRouter()
router.register("channel-accounts", api.ChannelAccountViewSet, basename="api-channel-account")
urlpatterns = [
    path("mini-program/login", api.MiniProgramLoginView.as_view(), name="api-mini-login"),
    *router.urls,
]
