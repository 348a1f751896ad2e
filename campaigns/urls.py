from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("campaigns/", views.campaign_index, name="index"),
    path("campaigns/new/", views.campaign_edit, name="new"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="detail"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("campaigns/<int:pk>/goals/", views.goal_add, name="goal_add"),
    path("campaigns/<int:pk>/goals/<int:goal_pk>/delete/", views.goal_delete, name="goal_delete"),
    path("campaigns/<int:pk>/spend/", views.spend_add, name="spend_add"),
    path("campaigns/<int:pk>/spend/import/", views.spend_upload, name="spend_import"),
    path("campaigns/content/", views.content_list, name="content_list"),
    path("campaigns/content/new/", views.content_edit, name="content_new"),
    path("campaigns/content/<int:pk>/", views.content_edit, name="content_edit"),
    path("campaigns/content/preview/", views.content_preview, name="content_preview"),
    path("campaigns/forbidden-words/", views.forbidden_words, name="forbidden_words"),
    # public: links in sent messages (no login)
    path("t/<slug:code>", views.track, name="track"),
    path("u/<str:token>", views.unsubscribe, name="unsubscribe"),
]
