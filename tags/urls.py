from django.urls import path

from tags import views

app_name = "tags"

urlpatterns = [
    path("", views.tag_index, name="index"),
    path("audiences/", views.audience_list, name="audiences"),
    path("audiences/preview/", views.audience_preview, name="audience_preview"),
    path("audiences/<int:pk>/", views.audience_detail, name="audience"),
    path("customers/<int:pk>/", views.customer_tags_edit, name="customer_tags"),
]
