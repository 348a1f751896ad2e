from django.urls import path

from channels import views

app_name = "channels"

urlpatterns = [
    path("", views.channel_index, name="index"),
    path("accounts/new/", views.account_edit, name="account_new"),
    path("accounts/<int:pk>/", views.account_detail, name="account"),
    path("accounts/<int:pk>/edit/", views.account_edit, name="account_edit"),
    path("accounts/<int:pk>/sync/", views.account_sync, name="account_sync"),
    path("callbacks/<int:pk>/replay/", views.callback_replay, name="callback_replay"),
    path("live-codes/", views.live_code_list, name="live_codes"),
    path("live-codes/new/", views.live_code_new, name="live_code_new"),
    path("live-codes/<int:pk>/", views.live_code_detail, name="live_code"),
    path("qr-codes/", views.qr_code_list, name="qr_codes"),
    path("qr-codes/new/", views.qr_code_new, name="qr_code_new"),
    path("qr-codes/<int:pk>/", views.qr_code_detail, name="qr_code"),
    path("auto-replies/", views.auto_reply_list, name="auto_replies"),
    path("auto-replies/new/", views.auto_reply_edit, name="auto_reply_new"),
    path("auto-replies/<int:pk>/", views.auto_reply_edit, name="auto_reply_edit"),
    path("staff/", views.staff_list, name="staff"),
    path("groups/", views.group_chat_list, name="group_chats"),
]
