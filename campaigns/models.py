from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.choices import (
    AbMetric,
    CampaignStatus,
    DeliveryStatus,
    EnrolmentStatus,
    GoalMetric,
    JourneyKind,
    JourneyStatus,
    JourneyTrigger,
    PushStatus,
    ReentryPolicy,
    RunStatus,
    ScheduleKind,
    SkipReason,
    StepKind,
    StepRunStatus,
    TaskStatus,
    TriggerStatus,
    WaitStatus,
)
from channels.choices import ChannelKind

# --- content library ("central kitchen": one message, every channel) ----------------------


class ContentItem(models.Model):
    """One core message with a variant per channel kind; placeholders are filled per
    customer when sent (customers.placeholders)."""

    name = models.CharField(_("名称"), max_length=100)
    core_text = models.TextField(_("核心信息"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("内容")
        verbose_name_plural = _("内容库")
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.name


class ContentVariant(models.Model):
    """The content as one channel kind sends it: `fields` holds that kind's fields (OA text /
    news / template id and data; WeCom text + link or mini-program; subscribe message fields;
    SMS text; email subject and HTML; app push title and body)."""

    content = models.ForeignKey(
        ContentItem, verbose_name=_("内容"), on_delete=models.CASCADE, related_name="variants"
    )
    channel_kind = models.CharField(_("渠道类型"), max_length=32, choices=ChannelKind.choices)
    fields = models.JSONField(_("渠道字段"), default=dict)

    class Meta:
        verbose_name = _("渠道版本")
        verbose_name_plural = _("渠道版本")
        ordering = ["content", "channel_kind"]
        constraints = [
            models.UniqueConstraint(fields=["content", "channel_kind"], name="variant_unique_kind")
        ]

    def __str__(self) -> str:
        return f"{self.content} · {self.get_channel_kind_display()}"


class ForbiddenWord(models.Model):
    """A word no content may contain (advertising law, platform rules, brand rules)."""

    word = models.CharField(_("违禁词"), max_length=50, unique=True)
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("违禁词")
        verbose_name_plural = _("违禁词")
        ordering = ["word"]

    def __str__(self) -> str:
        return self.word


class MessagingSettings(models.Model):
    """Sending rules for every push (one row): quiet hours, frequency cap, approval size."""

    quiet_start = models.TimeField(_("免打扰开始"), default="21:00")
    quiet_end = models.TimeField(_("免打扰结束"), default="09:00")
    timezone = models.CharField(_("默认时区"), max_length=40, default="Asia/Shanghai")
    frequency_cap = models.PositiveSmallIntegerField(
        _("频次上限（条/7 天）"), default=3, help_text=_("同一客户 7 天内最多收到的营销消息")
    )
    approval_threshold = models.PositiveIntegerField(
        _("需审批的人数"), default=10000, help_text=_("预计触达超过此人数的推送需要审批")
    )
    sms_signature = models.CharField(_("短信签名"), max_length=20, default="【茶小满】")
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("发送设置")
        verbose_name_plural = _("发送设置")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    @classmethod
    def load(cls) -> "MessagingSettings":
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


# --- campaigns -----------------------------------------------------------------------------


class Campaign(models.Model):
    """A marketing campaign: objective, SMART goals, budget and spend, dates, UTM code."""

    name = models.CharField(_("名称"), max_length=100)
    objective = models.TextField(_("目标说明"), blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    starts_on = models.DateField(_("开始日期"), null=True, blank=True)
    ends_on = models.DateField(_("结束日期"), null=True, blank=True)
    budget = models.DecimalField(_("预算（元）"), max_digits=14, decimal_places=2, default=0)
    utm_code = models.SlugField(_("UTM 代码"), max_length=50, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("负责人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("营销活动")
        verbose_name_plural = _("营销活动")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class CampaignGoal(models.Model):
    """A SMART goal: a metric, a target and a deadline."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="goals")
    metric = models.CharField(_("指标"), max_length=16, choices=GoalMetric.choices)
    target = models.DecimalField(_("目标值"), max_digits=14, decimal_places=2)
    deadline = models.DateField(_("截止日期"))

    class Meta:
        verbose_name = _("活动目标")
        verbose_name_plural = _("活动目标")
        ordering = ["campaign", "deadline"]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} ≥ {self.target}"


class SpendEntry(models.Model):
    """Money spent on a campaign on one channel (entered by hand or imported)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="spend")
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("渠道"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    spent_on = models.DateField(_("日期"))
    amount = models.DecimalField(_("金额（元）"), max_digits=14, decimal_places=2)
    note = models.CharField(_("备注"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("录入时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("花费")
        verbose_name_plural = _("花费")
        ordering = ["-spent_on", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign} {self.amount}"


# --- pushes and deliveries -----------------------------------------------------------------


class Push(models.Model):
    """Audience × channels (in fallback order) × content (with A/B variants) × schedule."""

    name = models.CharField(_("名称"), max_length=100)
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("营销活动"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="pushes",
    )  # fmt: skip
    audience = models.ForeignKey(
        "tags.Audience", verbose_name=_("人群"), on_delete=models.PROTECT, related_name="pushes"
    )
    content = models.ForeignKey(
        ContentItem, verbose_name=_("内容"), on_delete=models.PROTECT, related_name="pushes"
    )
    status = models.CharField(
        _("状态"), max_length=20, choices=PushStatus.choices, default=PushStatus.DRAFT,
        db_index=True,
    )  # fmt: skip
    schedule_kind = models.CharField(
        _("发送时间"), max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.NOW
    )
    send_at = models.DateTimeField(_("定时"), null=True, blank=True)
    cron = models.CharField(
        _("周期（crontab）"),
        max_length=100,
        blank=True,
        help_text=_("例如 0 10 * * 1：每周一 10 点"),
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", editable=False,
    )  # fmt: skip
    respect_quiet_hours = models.BooleanField(_("遵守免打扰时段"), default=True)
    apply_frequency_cap = models.BooleanField(_("遵守频次上限"), default=True)
    ab_metric = models.CharField(
        _("A/B 胜出指标"), max_length=20, choices=AbMetric.choices, blank=True
    )
    ab_test_percent = models.PositiveSmallIntegerField(
        _("A/B 测试比例（%）"),
        default=100,
        help_text=_("100：全部人群参与测试；例如 20：先测 20%，胜者发给其余"),
    )
    ab_auto_winner = models.BooleanField(_("自动把胜出版本发给其余人"), default=False)
    ab_decide_after_hours = models.PositiveSmallIntegerField(
        _("测试时长（小时）"),
        null=True,
        blank=True,
        help_text=_("测试发送完成这么多小时后自动选出胜出版本；留空则手动选择"),
    )
    estimated_reach = models.PositiveIntegerField(_("预计触达"), default=0)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("审批人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    approved_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("推送")
        verbose_name_plural = _("推送")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class PushChannel(models.Model):
    """A channel of a push, in fallback order: the first the customer can be reached on."""

    push = models.ForeignKey(Push, on_delete=models.CASCADE, related_name="channels")
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("渠道"), on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    position = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("推送渠道")
        verbose_name_plural = _("推送渠道")
        ordering = ["push", "position"]
        constraints = [
            models.UniqueConstraint(fields=["push", "channel_account"], name="pushchannel_unique")
        ]

    def __str__(self) -> str:
        return f"{self.push} · {self.channel_account}"


class PushVariant(models.Model):
    """An A/B variant: other content for a share of the audience."""

    push = models.ForeignKey(Push, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(_("版本"), max_length=10)
    content = models.ForeignKey(
        ContentItem, verbose_name=_("内容"), on_delete=models.PROTECT, related_name="+"
    )
    share = models.PositiveSmallIntegerField(_("分配比例（%）"))
    winner = models.BooleanField(_("胜出"), default=False)

    class Meta:
        verbose_name = _("A/B 版本")
        verbose_name_plural = _("A/B 版本")
        ordering = ["push", "label"]
        constraints = [
            models.UniqueConstraint(fields=["push", "label"], name="pushvariant_unique_label")
        ]

    def __str__(self) -> str:
        return f"{self.push} {self.label}"


class PushRun(models.Model):
    """One execution of a push (a periodic push runs many times)."""

    push = models.ForeignKey(Push, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(
        _("状态"), max_length=14, choices=RunStatus.choices, default=RunStatus.MATERIALISING
    )
    planned = models.PositiveIntegerField(_("名单人数"), default=0)
    error = models.TextField(_("错误"), blank=True)
    scheduled_for = models.DateTimeField(_("计划时间"), null=True, blank=True)
    started_at = models.DateTimeField(_("开始"), auto_now_add=True)
    finished_at = models.DateTimeField(_("结束"), null=True, blank=True)

    class Meta:
        verbose_name = _("推送批次")
        verbose_name_plural = _("推送批次")
        ordering = ["-started_at", "-id"]
        constraints = [
            # a scheduled occurrence runs once, however often Beat or a retry asks
            models.UniqueConstraint(
                fields=["push", "scheduled_for"], name="pushrun_unique_occurrence",
                condition=Q(scheduled_for__isnull=False),
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.push} #{self.pk}"


class Delivery(models.Model):
    """One message of a run to one customer on one channel; never sent twice.

    A row is `sending` before the platform is called; a worker that dies leaves it there and
    the sweeper marks it `unknown` rather than sending again.
    """

    # no single-column indexes on run and customer: the unique (run, customer, channel) and
    # (customer, sent_at) indexes lead with them, and a push writes a row per customer
    run = models.ForeignKey(
        PushRun, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="deliveries",
        db_index=False,
    )  # fmt: skip
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", on_delete=models.PROTECT, related_name="+"
    )
    variant = models.ForeignKey(
        PushVariant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipient = models.CharField(_("接收方"), max_length=254, blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    skip_reason = models.CharField(
        _("跳过原因"), max_length=20, choices=SkipReason.choices, blank=True
    )
    deferred_until = models.DateTimeField(_("延后到"), null=True, blank=True)
    platform_id = models.CharField(_("平台消息 ID"), max_length=100, blank=True)
    error_code = models.IntegerField(_("错误码"), null=True, blank=True)
    error = models.CharField(_("错误"), max_length=300, blank=True)
    claimed_at = models.DateTimeField(_("领取时间"), null=True, blank=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("投递")
        verbose_name_plural = _("投递")
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "customer", "channel_account"], name="delivery_unique"
            )
        ]
        indexes = [
            models.Index(fields=["run", "status"], name="delivery_run_status_idx"),
            models.Index(fields=["customer", "sent_at"], name="delivery_customer_sent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.customer_id}@{self.channel_account_id} {self.status}"


class TrackingLink(models.Model):
    """A short link `/t/<code>` that records a click and redirects (UTM added)."""

    code = models.SlugField(_("短码"), max_length=16, unique=True)
    url = models.URLField(_("目标地址"), max_length=1000)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="links"
    )
    push = models.ForeignKey(
        Push, null=True, blank=True, on_delete=models.SET_NULL, related_name="links"
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("跟踪链接")
        verbose_name_plural = _("跟踪链接")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code


class LinkClick(models.Model):
    """One click on a tracking link, credited to the delivery that carried it."""

    link = models.ForeignKey(TrackingLink, on_delete=models.CASCADE, related_name="clicks")
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="clicks"
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    clicked_at = models.DateTimeField(_("点击时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("点击")
        verbose_name_plural = _("点击")
        ordering = ["-clicked_at"]

    def __str__(self) -> str:
        return f"{self.link} {self.clicked_at:%Y-%m-%d %H:%M}"


# --- SOP journeys --------------------------------------------------------------------------


class Journey(models.Model):
    """An SOP: a trigger and entry filter enrol customers (or, for a group SOP, group chats),
    who then go through the ordered steps until the end or the exit goal."""

    name = models.CharField(_("名称"), max_length=100)
    description = models.TextField(_("说明"), blank=True)
    kind = models.CharField(
        _("类型"), max_length=10, choices=JourneyKind.choices, default=JourneyKind.CUSTOMER
    )
    status = models.CharField(
        _("状态"), max_length=10, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT,
        db_index=True,
    )  # fmt: skip
    template = models.CharField(_("模板"), max_length=40, blank=True)
    trigger_kind = models.CharField(_("触发方式"), max_length=20, choices=JourneyTrigger.choices)
    trigger = models.JSONField(
        _("触发参数"), default=dict, blank=True,
        help_text=_("事件名、渠道、标签、人群、活码、生日提前天数或客户群"),
    )  # fmt: skip
    entry_filter = models.JSONField(_("进入条件（人群 DSL）"), null=True, blank=True)
    reentry = models.CharField(
        _("重复进入"), max_length=12, choices=ReentryPolicy.choices, default=ReentryPolicy.ONCE
    )
    cooldown_days = models.PositiveSmallIntegerField(_("再次进入间隔（天）"), default=30)
    goal_event = models.CharField(
        _("目标事件"), max_length=64, blank=True, help_text=_("发生后立即退出，例如 order_paid")
    )
    respect_quiet_hours = models.BooleanField(_("发送遵守免打扰时段"), default=True)
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("营销活动"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="journeys",
    )  # fmt: skip
    watermark = models.BigIntegerField(_("已处理到的客户群"), default=0, editable=False)
    scanned_until = models.DateTimeField(_("已扫描到"), null=True, blank=True, editable=False)
    activated_at = models.DateTimeField(_("启用时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("SOP 旅程")
        verbose_name_plural = _("SOP 旅程")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class JourneyStep(models.Model):
    """One step, at `position` in the journey. `config` by kind — wait: `{"mode":
    "duration", "days", "hours", "minutes"}`, `{"mode": "day_at", "day", "time"}` or
    `{"mode": "window", "weekdays", "start", "end"}`; condition: `{"definition", "no"}`
    (`no`: "end" or a later position); action: `{"action", …}` (campaigns.actions)."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("顺序"))
    kind = models.CharField(_("类型"), max_length=10, choices=StepKind.choices)
    name = models.CharField(_("名称"), max_length=100, blank=True)
    config = models.JSONField(_("配置"), default=dict)

    class Meta:
        verbose_name = _("旅程步骤")
        verbose_name_plural = _("旅程步骤")
        ordering = ["journey", "position"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "position"], name="journeystep_unique")
        ]

    def __str__(self) -> str:
        return f"{self.journey} #{self.position} {self.name or self.get_kind_display()}"


class Enrolment(models.Model):
    """A customer (or group chat) going through a journey. Due when `next_run_at` has come;
    a worker that takes it pushes `next_run_at` ahead while it works (a lease)."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrolments")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE,
        related_name="enrolments",
    )  # fmt: skip
    group_chat = models.ForeignKey(
        "channels.GroupChat", null=True, blank=True, on_delete=models.CASCADE,
        related_name="enrolments",
    )  # fmt: skip
    status = models.CharField(
        _("状态"), max_length=10, choices=EnrolmentStatus.choices, default=EnrolmentStatus.ACTIVE
    )
    position = models.PositiveSmallIntegerField(_("当前步骤"), default=0)
    wait_until = models.DateTimeField(_("等待到"), null=True, blank=True)
    next_run_at = models.DateTimeField(_("下次执行"), null=True, blank=True)
    source_ref = models.CharField(_("来源"), max_length=64, blank=True)
    error = models.CharField(_("错误"), max_length=300, blank=True)
    entered_at = models.DateTimeField(_("进入时间"))
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("旅程参与")
        verbose_name_plural = _("旅程参与")
        ordering = ["-entered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "customer"], name="enrolment_one_active_customer",
                condition=Q(status="active", customer__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["journey", "group_chat"], name="enrolment_one_active_group",
                condition=Q(status="active", group_chat__isnull=False),
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["status", "next_run_at"], name="enrolment_due_idx"),
            models.Index(fields=["journey", "status", "position"], name="enrolment_step_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.journey_id}:{self.customer_id or self.group_chat_id} {self.status}"


class StepRun(models.Model):
    """A step an enrolment went through; unique, so an action is never carried out twice: the
    row is written (`running`) and committed before the action, a crash leaves it `unknown`."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="step_runs")
    step = models.ForeignKey(JourneyStep, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(
        _("状态"), max_length=10, choices=StepRunStatus.choices, default=StepRunStatus.RUNNING
    )
    outcome = models.CharField(_("结果"), max_length=40, blank=True)
    detail = models.CharField(_("说明"), max_length=300, blank=True)
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    platform_id = models.CharField(_("平台消息 ID"), max_length=100, blank=True)
    started_at = models.DateTimeField(_("开始"))
    finished_at = models.DateTimeField(_("结束"), null=True, blank=True)

    class Meta:
        verbose_name = _("步骤执行")
        verbose_name_plural = _("步骤执行")
        ordering = ["enrolment", "started_at", "id"]
        constraints = [models.UniqueConstraint(fields=["enrolment", "step"], name="steprun_once")]
        indexes = [models.Index(fields=["step", "status"], name="steprun_step_status_idx")]

    def __str__(self) -> str:
        return f"{self.enrolment_id}@{self.step_id} {self.status}"


class StaffTask(models.Model):
    """A to-do for a WeCom member from an SOP step (send this to that customer or group):
    reminded by app message, completion tracked."""

    step_run = models.OneToOneField(
        StepRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="task"
    )
    journey = models.ForeignKey(
        Journey, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    staff = models.ForeignKey(
        "channels.Staff", verbose_name=_("员工"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="tasks",
    )  # fmt: skip
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("客户"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="staff_tasks",
    )  # fmt: skip
    group_chat = models.ForeignKey(
        "channels.GroupChat", verbose_name=_("客户群"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="staff_tasks",
    )  # fmt: skip
    title = models.CharField(_("任务"), max_length=200)
    body = models.TextField(_("话术"), blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN,
        db_index=True,
    )  # fmt: skip
    due_at = models.DateTimeField(_("截止时间"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("提醒时间"), null=True, blank=True)
    completed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("确认人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("员工任务")
        verbose_name_plural = _("员工任务")
        ordering = ["status", "due_at", "-id"]

    def __str__(self) -> str:
        return self.title


# --- real-time triggers --------------------------------------------------------------------


class TriggerRule(models.Model):
    """Event A, then no event B within N minutes, and the customer matches a condition →
    an action (the seed's case: added to cart, not paid in 30 minutes, frequent buyer →
    a coupon)."""

    name = models.CharField(_("名称"), max_length=100)
    status = models.CharField(
        _("状态"), max_length=10, choices=TriggerStatus.choices, default=TriggerStatus.ACTIVE
    )
    event_a = models.CharField(_("事件 A"), max_length=64)
    event_a_channel = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("事件 A 的渠道"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    event_b = models.CharField(_("事件 B"), max_length=64, blank=True)
    within_minutes = models.PositiveIntegerField(_("等待（分钟）"), default=30)
    condition = models.JSONField(_("客户条件（人群 DSL）"), null=True, blank=True)
    action = models.JSONField(_("动作"), default=dict)
    scanned_until = models.DateTimeField(_("已扫描到"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("实时触发")
        verbose_name_plural = _("实时触发")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class TriggerWait(models.Model):
    """One event A waiting for its deadline; fired, cancelled by B, or not matched once."""

    rule = models.ForeignKey(TriggerRule, on_delete=models.CASCADE, related_name="waits")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="trigger_waits"
    )
    source_event_id = models.BigIntegerField(_("事件 A"))
    started_at = models.DateTimeField(_("事件 A 时间"))
    deadline = models.DateTimeField(_("截止时间"))
    status = models.CharField(
        _("状态"), max_length=12, choices=WaitStatus.choices, default=WaitStatus.WAITING
    )
    detail = models.CharField(_("说明"), max_length=300, blank=True)
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    fired_at = models.DateTimeField(_("执行时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("触发等待")
        verbose_name_plural = _("触发等待")
        ordering = ["-deadline", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "source_event_id"], name="triggerwait_once")
        ]
        indexes = [models.Index(fields=["status", "deadline"], name="triggerwait_due_idx")]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.customer_id} {self.status}"
