from django.db import models
from django.utils.translation import gettext_lazy as _


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    ACTIVE = "active", _("进行中")
    FINISHED = "finished", _("已结束")
    ARCHIVED = "archived", _("已归档")


class GoalMetric(models.TextChoices):
    REVENUE = "revenue", _("归因销售额")
    ORDERS = "orders", _("归因订单数")
    REACH = "reach", _("触达人数")
    CLICKS = "clicks", _("点击人数")
    NEW_FOLLOWERS = "new_followers", _("新增关注/好友")
    ROI = "roi", _("ROI")


class PushStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    AWAITING_APPROVAL = "awaiting_approval", _("待审批")
    SCHEDULED = "scheduled", _("已排期")
    RUNNING = "running", _("发送中")
    PAUSED = "paused", _("已暂停")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已取消")


class ScheduleKind(models.TextChoices):
    NOW = "now", _("立即发送")
    AT = "at", _("定时发送")
    PERIODIC = "periodic", _("周期发送")


class RunStatus(models.TextChoices):
    MATERIALISING = "materialising", _("生成名单")
    SENDING = "sending", _("发送中")
    PAUSED = "paused", _("已暂停")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已取消")
    FAILED = "failed", _("失败")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    DEFERRED = "deferred", _("延后（免打扰）")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")
    SKIPPED = "skipped", _("已跳过")
    UNKNOWN = "unknown", _("结果未知")


class SkipReason(models.TextChoices):
    NO_IDENTITY = "no_identity", _("该渠道没有身份")
    NO_CONSENT = "no_consent", _("未同意或已退订")
    DO_NOT_CONTACT = "do_not_contact", _("勿扰名单")
    FREQUENCY_CAP = "frequency_cap", _("超过频次上限")
    PLATFORM_QUOTA = "platform_quota", _("平台额度已用完")
    OUTSIDE_WINDOW = "outside_window", _("超出 48 小时互动窗口")
    FALLBACK_USED = "fallback_used", _("已由更优先的渠道发送")
    CANCELLED = "cancelled", _("推送已取消")


class AbMetric(models.TextChoices):
    CLICK_RATE = "click_rate", _("点击率")
    CONVERSION_RATE = "conversion_rate", _("转化率")


# --- journeys and triggers -----------------------------------------------------------------


class JourneyKind(models.TextChoices):
    CUSTOMER = "customer", _("客户 SOP")
    GROUP = "group", _("客户群 SOP")


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    ACTIVE = "active", _("运行中")
    PAUSED = "paused", _("已暂停")
    ARCHIVED = "archived", _("已归档")


class JourneyTrigger(models.TextChoices):
    FOLLOWED = "followed", _("关注公众号")
    LIVE_CODE = "live_code", _("通过活码添加企业微信")
    TAG_ADDED = "tag_added", _("被打上标签")
    ENTERED_AUDIENCE = "entered_audience", _("进入人群")
    EVENT = "event", _("发生事件")
    BIRTHDAY = "birthday", _("生日前 N 天")
    GROUP_CHAT = "group_chat", _("客户群（选定的群与新建的群）")


class ReentryPolicy(models.TextChoices):
    ONCE = "once", _("只进入一次")
    AFTER_EXIT = "after_exit", _("退出后可再次进入")
    COOLDOWN = "cooldown", _("间隔 N 天后可再次进入")


class StepKind(models.TextChoices):
    WAIT = "wait", _("等待")
    CONDITION = "condition", _("条件分支")
    ACTION = "action", _("动作")


class ActionKind(models.TextChoices):
    SEND = "send", _("发送内容")
    TAG_ADD = "tag_add", _("打标签")
    TAG_REMOVE = "tag_remove", _("移除标签")
    POINTS = "points", _("赠送积分")
    STAFF_TASK = "staff_task", _("员工任务")
    GROUP_MESSAGE = "group_message", _("群发到客户群")
    WEBHOOK = "webhook", _("调用 Webhook")


class EnrolmentStatus(models.TextChoices):
    ACTIVE = "active", _("进行中")
    DONE = "done", _("已完成")
    GOAL = "goal", _("达成目标退出")
    EXITED = "exited", _("条件不满足退出")
    FAILED = "failed", _("失败")
    STOPPED = "stopped", _("旅程停止")


class StepRunStatus(models.TextChoices):
    RUNNING = "running", _("执行中")
    DONE = "done", _("已完成")
    SKIPPED = "skipped", _("已跳过")
    FAILED = "failed", _("失败")
    UNKNOWN = "unknown", _("结果未知")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("待完成")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已取消")


class TriggerStatus(models.TextChoices):
    ACTIVE = "active", _("运行中")
    PAUSED = "paused", _("已暂停")


class WaitStatus(models.TextChoices):
    WAITING = "waiting", _("等待中")
    RUNNING = "running", _("执行中")
    CANCELLED = "cancelled", _("已取消（等到了事件 B）")
    NOT_MATCHED = "not_matched", _("条件不满足")
    FIRED = "fired", _("已触发")
    FAILED = "failed", _("失败")
