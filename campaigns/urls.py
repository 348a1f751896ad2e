from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("campaigns/", views.campaign_index, name="index"),
    path("journeys/", views.journey_index, name="journeys"),
]
