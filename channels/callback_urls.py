"""The callback endpoint the platforms post to, and the QR images (under `/channels/`)."""

from django.urls import path, re_path

from channels import callback_views

app_name = "channel_callbacks"

urlpatterns = [
    path("callback/<str:code>/", callback_views.callback, name="callback"),
    re_path(
        r"^qr/(?P<kind>livecode|qrcode)/(?P<pk>[0-9]+)\.(?P<fmt>svg|png)$",
        callback_views.qr_image,
        name="qr_image",
    ),
]
