from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("", views.CustomerListView.as_view(), name="list"),
    path("export.csv", views.customer_export, name="export"),
    path("<int:pk>/", views.customer_profile, name="detail"),
    path("imports/", views.ImportListView.as_view(), name="imports"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("imports/<int:pk>/errors.csv", views.import_errors, name="import_errors"),
    path("imports/template/<str:kind>.csv", views.import_template, name="import_template"),
]
