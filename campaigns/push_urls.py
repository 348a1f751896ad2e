from django.urls import path

from campaigns import push_views as views

app_name = "pushes"

urlpatterns = [
    path("", views.push_list, name="list"),
    path("new/", views.push_edit, name="new"),
    path("<int:pk>/", views.push_detail, name="detail"),
    path("<int:pk>/edit/", views.push_edit, name="edit"),
    path("<int:pk>/approve/", views.push_approve_view, name="approve"),
    path("<int:pk>/launch/", views.push_launch_view, name="launch"),
    path("<int:pk>/winner/", views.push_winner, name="winner"),
    path("<int:pk>/<str:action>/", views.push_action, name="action"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/progress/", views.run_progress_view, name="run_progress"),
]
