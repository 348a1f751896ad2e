from django.db import models
from django.utils.translation import gettext_lazy as _


class ChannelKind(models.TextChoices):
    WECHAT_OA = "wechat_oa", _("微信公众号")
    WECOM = "wecom", _("企业微信")
    WECHAT_MINI = "wechat_mini", _("微信小程序")
    DOUYIN = "douyin", _("抖音")
    APP = "app", _("自有App")
    SMS = "sms", _("短信")
    EMAIL = "email", _("邮件")
    TMALL = "tmall", _("天猫")
    JD = "jd", _("京东")
    YOUZAN = "youzan", _("有赞")
    OFFLINE_STORE = "offline_store", _("线下门店")
    WEB = "web", _("官网")


class AccountStatus(models.TextChoices):
    ACTIVE = "active", _("启用")
    PAUSED = "paused", _("暂停")
    ERROR = "error", _("异常")
