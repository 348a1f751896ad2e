from django.urls import path

from customers import membership_views as views

app_name = "membership"

urlpatterns = [
    path("", views.points_dashboard, name="dashboard"),
    path("rules/", views.membership_rules, name="rules"),
    path("rewards/", views.rewards, name="rewards"),
    path("<str:kind>/new/", views.membership_edit, name="new"),
    path("<str:kind>/<int:pk>/edit/", views.membership_edit, name="edit"),
    path(
        "redemptions/<int:pk>/<str:action>/",
        views.redemption_action,
        name="redemption",
    ),
    path("members/<int:pk>/", views.member_ledger, name="ledger"),
    path("members/<int:pk>/redeem/", views.member_redeem, name="member_redeem"),
    path("members/<int:pk>/adjust/", views.member_adjust, name="member_adjust"),
]
