from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import views
from config.health import healthz

api_v1 = [
    path("", include("customers.api_urls")),
    path("", include("channels.api_urls")),
    path("", include("tags.api_urls")),
    path("", include("campaigns.api_urls")),
    path("", include("reports.api_urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", views.home, name="home"),
    path("settings/", views.settings_view, name="settings"),
    path("", include("common.urls")),
    path("customers/", include("customers.urls")),
    path("membership/", include("customers.membership_urls")),
    path("tags/", include("tags.urls")),
    path("channels/", include("channels.callback_urls")),
    path("channels/", include("channels.urls")),
    path("journeys/", include("campaigns.journey_urls")),
    path("", include("campaigns.urls")),
    path("pushes/", include("campaigns.push_urls")),
    path("reports/", include("reports.urls")),
]
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
