from django.urls import path

from campaigns import journey_views as views

app_name = "journeys"

urlpatterns = [
    path("", views.journey_list, name="list"),
    path("templates/", views.journey_templates, name="templates"),
    path("new/", views.journey_edit, name="new"),
    path("tasks/", views.task_list, name="tasks"),
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
    path("triggers/", views.trigger_list, name="triggers"),
    path("triggers/new/", views.trigger_edit, name="trigger_new"),
    path("triggers/<int:pk>/", views.trigger_detail, name="trigger_detail"),
    path("triggers/<int:pk>/edit/", views.trigger_edit, name="trigger_edit"),
    path("triggers/<int:pk>/<str:action>/", views.trigger_action, name="trigger_action"),
    path("<int:pk>/", views.journey_detail, name="detail"),
    path("<int:pk>/edit/", views.journey_edit, name="edit"),
    path("<int:pk>/<str:action>/", views.journey_action, name="action"),
]
