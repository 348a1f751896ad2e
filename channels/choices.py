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


class TokenState(models.TextChoices):
    UNKNOWN = "unknown", _("未获取")
    OK = "ok", _("正常")
    EXPIRED = "expired", _("已过期，待刷新")
    FAILED = "failed", _("获取失败")


class LiveCodeKind(models.TextChoices):
    STAFF = "staff", _("员工活码")
    GROUP = "group", _("群活码")


class StaffStrategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("轮流分配")
    RANDOM = "random", _("随机分配")


class HitKind(models.TextChoices):
    SCAN = "scan", _("扫码")
    ADD = "add", _("添加")
    DELETE = "delete", _("删除/流失")
    SUBSCRIBE = "subscribe", _("扫码关注")


class ReplyKind(models.TextChoices):
    SUBSCRIBE = "subscribe", _("关注回复")
    KEYWORD = "keyword", _("关键词回复")
    DEFAULT = "default", _("默认回复")


class KeywordMatch(models.TextChoices):
    EXACT = "exact", _("完全匹配")
    CONTAINS = "contains", _("包含")


class CallbackStatus(models.TextChoices):
    RECEIVED = "received", _("已接收")
    PROCESSED = "processed", _("已处理")
    FAILED = "failed", _("处理失败")


class SyncKind(models.TextChoices):
    FOLLOWERS = "followers", _("粉丝")
    CONTACTS = "contacts", _("外部联系人")
    STAFF = "staff", _("成员")
    GROUPS = "groups", _("客户群")
    TAGS = "tags", _("标签")
    ANALYSIS = "analysis", _("数据分析")
    FANS = "fans", _("抖音粉丝与视频")
    RECONCILE = "reconcile", _("夜间对账")


class SyncStatus(models.TextChoices):
    RUNNING = "running", _("运行中")
    SUCCEEDED = "succeeded", _("成功")
    FAILED = "failed", _("失败")
