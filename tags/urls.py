from django.urls import path

from tags import views

app_name = "tags"

urlpatterns = [
    path("", views.tag_index, name="index"),
    path("new/", views.tag_new, name="tag_new"),
    path("<int:pk>/", views.tag_detail, name="tag"),
    path("groups/new/", views.tag_group_edit, name="group_new"),
    path("groups/<int:pk>/", views.tag_group_edit, name="group_edit"),
    path("mappings/<int:pk>/delete/", views.tag_mapping_delete, name="mapping_delete"),
    path("catalogue.json", views.catalogue, name="catalogue"),
    path("audiences/", views.audience_list, name="audiences"),
    path("audiences/new/", views.audience_edit, name="audience_new"),
    path("audiences/preview/", views.audience_preview, name="audience_preview"),
    path("audiences/<int:pk>/", views.audience_detail, name="audience"),
    path("audiences/<int:pk>/edit/", views.audience_edit, name="audience_edit"),
    path("rules/", views.rule_list, name="rules"),
    path("rules/new/", views.rule_edit, name="rule_new"),
    path("rules/<int:pk>/", views.rule_detail, name="rule"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("bulk/", views.bulk_start, name="bulk_start"),
    path("bulk/jobs/", views.bulk_jobs, name="bulk_jobs"),
    path("bulk/jobs/<int:pk>/", views.bulk_job, name="bulk_job"),
    path("customers/<int:pk>/", views.customer_tags_edit, name="customer_tags"),
]
