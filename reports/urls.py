from django.urls import path

from reports import alert_views, analysis_views, review_views, views

app_name = "reports"

urlpatterns = [
    path("", views.report_home, name="index"),
    path("channels/", views.channel_report, name="channels"),
    path("channels/<str:kind>/", views.channel_report, name="channel"),
    path("campaigns/", views.campaign_report_list, name="campaigns"),
    path("campaigns/<int:pk>/", views.campaign_report, name="campaign"),
    path("roi/", views.roi_report, name="roi"),
    path("rollups/", views.rollup_runs, name="rollups"),
    path("rollups/<int:pk>/", views.rollup_run_detail, name="rollup_run"),
    path("funnel/", analysis_views.funnel_report, name="funnel"),
    path("retention/", analysis_views.retention_report, name="retention"),
    path("events/", analysis_views.event_report, name="events"),
    path("distribution/", analysis_views.distribution_report, name="distribution"),
    path("paths/", analysis_views.path_report, name="paths"),
    path("alerts/", alert_views.alert_list, name="alerts"),
    path("alerts/<int:pk>/", alert_views.alert_detail, name="alert"),
    path("alerts/<int:pk>/<str:action>/", alert_views.alert_action, name="alert_action"),
    path("alert-rules/", alert_views.rule_list, name="alert_rules"),
    path("alert-rules/new/", alert_views.rule_edit, name="alert_rule_new"),
    path("alert-rules/<int:pk>/", alert_views.rule_edit, name="alert_rule_edit"),
    path("alert-rules/<int:pk>/evaluate/", alert_views.rule_evaluate, name="alert_rule_evaluate"),
    path("review/", review_views.review, name="review"),
    path(
        "review/<int:year>-Q<int:quarter>.<str:fmt>",
        review_views.review_download,
        name="review_download",
    ),
]
