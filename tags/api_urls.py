from django.urls import path
from rest_framework.routers import SimpleRouter

from tags import api

router = SimpleRouter()
router.register("tags", api.TagViewSet, basename="api-tag")
router.register("tag-groups", api.TagGroupViewSet, basename="api-tag-group")
router.register("audiences", api.AudienceViewSet, basename="api-audience")
router.register("tag-rules", api.TagRuleViewSet, basename="api-tag-rule")
urlpatterns = [
    path("customers/<int:pk>/tags/", api.CustomerTagsView.as_view(), name="api-customer-tags"),
    path("audiences/preview", api.AudiencePreviewView.as_view(), name="api-audience-preview"),
    *router.urls,
]
