"""Reports write only these: daily rollups (what dashboards read, never raw events on page
load), the runs that fill them, and alerts. Metric definitions: docs/metrics.md."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from reports.choices import (
    AlertComparison,
    AlertScope,
    AlertStatus,
    AttributionModel,
    RollupStatus,
    RollupTrigger,
)

COUNT = {"default": 0}


def _money(label):
    return models.DecimalField(label, max_digits=14, decimal_places=2, default=0)


def _share(label):  # a fractional count: attributed orders split between touches
    return models.DecimalField(label, max_digits=14, decimal_places=4, default=0)


class ChannelDay(models.Model):
    """One channel account's day: who was active, what they did, what they bought, what we
    sent them, what it cost. Counts of distinct customers are per day (a period's figure is
    the sum of its days: customer-days), see docs/metrics.md."""

    day = models.DateField(_("日期"))
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("渠道账号"), on_delete=models.CASCADE,
        related_name="+",
    )  # fmt: skip
    events = models.PositiveIntegerField(_("事件数"), **COUNT)
    event_counts = models.JSONField(_("各事件次数"), default=dict)
    event_users = models.JSONField(_("各事件人数"), default=dict)
    active_users = models.PositiveIntegerField(_("活跃用户"), **COUNT)
    new_users = models.PositiveIntegerField(_("新用户"), **COUNT)
    returning_users = models.PositiveIntegerField(_("回访用户"), **COUNT)
    active_groups = models.PositiveIntegerField(_("活跃群"), **COUNT)
    orders = models.PositiveIntegerField(_("订单"), **COUNT)
    buyers = models.PositiveIntegerField(_("购买人数"), **COUNT)
    returning_buyers = models.PositiveIntegerField(_("复购人数"), **COUNT)
    gmv = _money(_("成交额"))
    refunds = models.PositiveIntegerField(_("退款订单"), **COUNT)
    refund_amount = _money(_("退款金额"))
    sent = models.PositiveIntegerField(_("发送消息"), **COUNT)
    failed = models.PositiveIntegerField(_("发送失败"), **COUNT)
    clicks = models.PositiveIntegerField(_("链接点击"), **COUNT)
    spend = _money(_("花费"))
    computed_at = models.DateTimeField(_("计算时间"), auto_now=True)

    class Meta:
        verbose_name = _("渠道日汇总")
        verbose_name_plural = _("渠道日汇总")
        ordering = ["-day", "channel_account"]
        constraints = [
            models.UniqueConstraint(fields=["day", "channel_account"], name="channelday_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel_account_id}"


class CampaignDay(models.Model):
    """One campaign's day on one channel account (none: spend not tied to a channel): spend,
    messages sent, clicks."""

    day = models.DateField(_("日期"))
    campaign = models.ForeignKey(
        "campaigns.Campaign", verbose_name=_("营销活动"), on_delete=models.CASCADE,
        related_name="+",
    )  # fmt: skip
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("渠道账号"), on_delete=models.CASCADE,
        null=True, blank=True, related_name="+",
    )  # fmt: skip
    spend = _money(_("花费"))
    sent = models.PositiveIntegerField(_("发送消息"), **COUNT)
    failed = models.PositiveIntegerField(_("发送失败"), **COUNT)
    clicks = models.PositiveIntegerField(_("链接点击"), **COUNT)
    clickers = models.PositiveIntegerField(_("点击人数"), **COUNT)

    class Meta:
        verbose_name = _("活动日汇总")
        verbose_name_plural = _("活动日汇总")
        ordering = ["-day", "campaign"]
        indexes = [models.Index(fields=["campaign", "day"], name="campaignday_campaign_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.campaign_id}/{self.channel_account_id}"


class PushDay(models.Model):
    """One push's day on one channel account: sent, failed, skipped, clicks, and the orders
    its messages were the last touch for."""

    day = models.DateField(_("日期"))
    push = models.ForeignKey(
        "campaigns.Push", verbose_name=_("推送"), on_delete=models.CASCADE, related_name="+"
    )
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("渠道账号"), on_delete=models.CASCADE,
        related_name="+",
    )  # fmt: skip
    sent = models.PositiveIntegerField(_("已发送"), **COUNT)
    failed = models.PositiveIntegerField(_("发送失败"), **COUNT)
    skipped = models.PositiveIntegerField(_("已跳过"), **COUNT)
    clicks = models.PositiveIntegerField(_("链接点击"), **COUNT)
    orders = models.PositiveIntegerField(_("归因订单（末次触点）"), **COUNT)
    revenue = _money(_("归因销售额（末次触点）"))

    class Meta:
        verbose_name = _("推送日汇总")
        verbose_name_plural = _("推送日汇总")
        ordering = ["-day", "push"]
        indexes = [models.Index(fields=["push", "day"], name="pushday_push_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.push_id}/{self.channel_account_id}"


class JourneyStepDay(models.Model):
    """One journey step's day: enrolments that reached it and how the step ended for them."""

    day = models.DateField(_("日期"))
    step = models.ForeignKey(
        "campaigns.JourneyStep", verbose_name=_("步骤"), on_delete=models.CASCADE,
        related_name="+",
    )  # fmt: skip
    journey = models.ForeignKey(
        "campaigns.Journey", verbose_name=_("旅程"), on_delete=models.CASCADE, related_name="+"
    )
    entered = models.PositiveIntegerField(_("进入"), **COUNT)
    done = models.PositiveIntegerField(_("完成"), **COUNT)
    skipped = models.PositiveIntegerField(_("跳过"), **COUNT)
    failed = models.PositiveIntegerField(_("失败"), **COUNT)
    sent = models.PositiveIntegerField(_("已发送"), **COUNT)
    goal_exits = models.PositiveIntegerField(_("达成目标退出"), **COUNT)

    class Meta:
        verbose_name = _("旅程步骤日汇总")
        verbose_name_plural = _("旅程步骤日汇总")
        ordering = ["-day", "step"]
        indexes = [models.Index(fields=["journey", "day"], name="journeystepday_journey_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.step_id}"


class AttributionDay(models.Model):
    """Revenue of the day's paid orders credited, under one attribution model, to a campaign
    (none: touches outside campaigns, or no touch at all) and a channel account. Each
    order's credits sum exactly to its amount, so a model's day sums to the day's revenue."""

    day = models.DateField(_("日期"))
    model = models.CharField(_("归因模型"), max_length=12, choices=AttributionModel.choices)
    campaign = models.ForeignKey(
        "campaigns.Campaign", verbose_name=_("营销活动"), on_delete=models.CASCADE,
        null=True, blank=True, related_name="+",
    )  # fmt: skip
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("渠道账号"), on_delete=models.CASCADE,
        null=True, blank=True, related_name="+",
    )  # fmt: skip
    orders = _share(_("归因订单"))
    revenue = _money(_("归因销售额"))
    new_buyers = _share(_("归因新客"))

    class Meta:
        verbose_name = _("归因日汇总")
        verbose_name_plural = _("归因日汇总")
        ordering = ["-day", "model"]
        indexes = [models.Index(fields=["model", "day"], name="attributionday_model_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.model} {self.campaign_id}/{self.channel_account_id}"


class RollupRun(models.Model):
    """One computation of the rollups for a range of days (Beat's T+1, a backfill from the
    console or the command line), with its progress."""

    start = models.DateField(_("开始日期"))
    end = models.DateField(_("结束日期"))
    status = models.CharField(
        _("状态"), max_length=10, choices=RollupStatus.choices, default=RollupStatus.QUEUED
    )
    trigger = models.CharField(_("触发方式"), max_length=10, choices=RollupTrigger.choices)
    days_done = models.PositiveIntegerField(_("已完成天数"), default=0)
    days_total = models.PositiveIntegerField(_("总天数"), default=0)
    rows_written = models.PositiveIntegerField(_("写入行数"), default=0)
    error = models.TextField(_("错误"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("发起人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("汇总计算")
        verbose_name_plural = _("汇总计算")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.start}–{self.end} {self.status}"

    @property
    def percent(self) -> int:
        return int(self.days_done * 100 / self.days_total) if self.days_total else 0


class AlertRule(models.Model):
    """A watch on one KPI (reports.metrics): a threshold, or a change against the mean of the
    preceding days or against the previous period; what to do when it fires."""

    name = models.CharField(_("名称"), max_length=100)
    metric = models.CharField(_("指标"), max_length=40)
    channel_kind = models.CharField(
        _("渠道类型"), max_length=32, blank=True, help_text=_("留空：所有类型")
    )
    scope = models.CharField(
        _("范围"), max_length=8, choices=AlertScope.choices, default=AlertScope.EACH_ACCOUNT
    )
    comparison = models.CharField(_("比较方式"), max_length=16, choices=AlertComparison.choices)
    threshold = models.DecimalField(
        _("阈值"), max_digits=14, decimal_places=4,
        help_text=_("比较方式为“低于/高于阈值”时是指标值，其余是百分比"),
    )  # fmt: skip
    window_days = models.PositiveSmallIntegerField(_("观察窗口（天）"), default=7)
    baseline_days = models.PositiveSmallIntegerField(_("均值基准（天）"), default=28)
    pause_pushes = models.BooleanField(_("触发时暂停该渠道的推送"), default=False)
    notify_console = models.BooleanField(_("控制台通知"), default=True)
    notify_email = models.BooleanField(_("邮件通知"), default=False)
    email_to = models.CharField(_("收件人"), max_length=500, blank=True)
    notify_wecom = models.BooleanField(_("企业微信应用消息"), default=False)
    wecom_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("企业微信账号"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    wecom_userids = models.CharField(_("接收成员 UserID"), max_length=500, blank=True)
    enabled = models.BooleanField(_("启用"), default=True)
    last_evaluated_at = models.DateTimeField(_("最近评估"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("预警规则")
        verbose_name_plural = _("预警规则")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertEvent(models.Model):
    """A rule firing for one channel account (or all channels) over one window; `key` keeps a
    re-evaluation of the same window from firing twice. The pushes it paused are listed so
    that resuming undoes exactly that."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("渠道账号"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="+",
    )  # fmt: skip
    key = models.CharField(max_length=120, unique=True, editable=False)
    status = models.CharField(
        _("状态"), max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN
    )
    window_start = models.DateField(_("窗口开始"))
    window_end = models.DateField(_("窗口结束"))
    value = models.DecimalField(_("指标值"), max_digits=18, decimal_places=6, null=True)
    baseline = models.DecimalField(_("基准值"), max_digits=18, decimal_places=6, null=True)
    message = models.TextField(_("说明"))
    paused_pushes = models.JSONField(_("已暂停的推送"), default=list, blank=True)
    notifications = models.JSONField(_("通知结果"), default=dict, blank=True)
    fired_at = models.DateTimeField(_("触发时间"), auto_now_add=True, db_index=True)
    resumed_at = models.DateTimeField(_("恢复推送时间"), null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("恢复人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    resolved_at = models.DateTimeField(_("处理时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("预警记录")
        verbose_name_plural = _("预警记录")
        ordering = ["-fired_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.window_end} {self.status}"
