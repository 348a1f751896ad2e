from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class TagGroup(models.Model):
    """A family of tags (兴趣偏好, 消费能力, 渠道来源…)."""

    name = models.CharField(_("名称"), max_length=50, unique=True)
    description = models.CharField(_("说明"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("标签组")
        verbose_name_plural = _("标签组")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A label put on customers; its name is unique inside its group."""

    group = models.ForeignKey(
        TagGroup, verbose_name=_("标签组"), on_delete=models.PROTECT, related_name="tags"
    )
    name = models.CharField(_("名称"), max_length=50)
    color = models.CharField(
        _("颜色"),
        max_length=7,
        default="#206bc4",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("颜色应为 #RRGGBB 形式"))],
    )
    description = models.CharField(_("说明"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("标签")
        verbose_name_plural = _("标签")
        ordering = ["group__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="tag_unique_in_group")
        ]

    def __str__(self) -> str:
        return self.name


class TagSource(models.TextChoices):
    MANUAL = "manual", _("手动")
    RULE = "rule", _("规则")
    LIVE_CODE = "live_code", _("活码")
    QRCODE = "qrcode", _("渠道二维码")
    IMPORT = "import", _("导入")
    CHANNEL_SYNC = "channel_sync", _("渠道同步")
    JOURNEY = "journey", _("旅程")
    API = "api", _("API")


class CustomerTag(models.Model):
    """A tag on a customer, with where it came from and who/what put it there."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.CASCADE,
        related_name="customer_tags",
    )
    tag = models.ForeignKey(
        Tag, verbose_name=_("标签"), on_delete=models.CASCADE, related_name="customer_tags"
    )
    source = models.CharField(
        _("来源"), max_length=16, choices=TagSource.choices, default=TagSource.MANUAL
    )
    source_ref = models.CharField(_("来源说明"), max_length=100, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("添加人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("添加时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("客户标签")
        verbose_name_plural = _("客户标签")
        constraints = [
            models.UniqueConstraint(fields=["customer", "tag"], name="customertag_unique")
        ]
        indexes = [models.Index(fields=["tag", "customer"], name="customertag_tag_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.tag_id}"


class AudienceKind(models.TextChoices):
    DYNAMIC = "dynamic", _("动态（使用时计算）")
    SNAPSHOT = "snapshot", _("快照（定时刷新的固定名单）")


class Audience(models.Model):
    """A saved "who" (人群包): a DSL definition, evaluated when used or frozen as a snapshot."""

    name = models.CharField(_("名称"), max_length=100, unique=True)
    description = models.CharField(_("说明"), max_length=300, blank=True)
    definition = models.JSONField(_("规则"), default=dict)
    kind = models.CharField(
        _("类型"), max_length=16, choices=AudienceKind.choices, default=AudienceKind.DYNAMIC
    )
    size = models.PositiveIntegerField(_("人数"), null=True, blank=True)
    refreshed_at = models.DateTimeField(_("刷新时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("人群包")
        verbose_name_plural = _("人群包")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AudienceMember(models.Model):
    """A customer frozen into a snapshot audience at its last refresh."""

    audience = models.ForeignKey(
        Audience, verbose_name=_("人群包"), on_delete=models.CASCADE, related_name="members"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.CASCADE,
        related_name="audience_memberships",
    )
    added_at = models.DateTimeField(_("加入时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("人群包成员")
        verbose_name_plural = _("人群包成员")
        constraints = [
            models.UniqueConstraint(fields=["audience", "customer"], name="audience_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.audience_id}:{self.customer_id}"


class AudienceSize(models.Model):
    """The size of an audience at a point in time (its history)."""

    audience = models.ForeignKey(
        Audience, verbose_name=_("人群包"), on_delete=models.CASCADE, related_name="sizes"
    )
    size = models.PositiveIntegerField(_("人数"))
    measured_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("人群包规模")
        verbose_name_plural = _("人群包规模")
        ordering = ["-measured_at"]

    def __str__(self) -> str:
        return f"{self.audience_id}: {self.size}"


class TagPlatform(models.TextChoices):
    WECOM_CORP_TAG = "wecom_corp_tag", _("企业微信企业标签")
    OA_TAG = "oa_tag", _("公众号用户标签")


class TagMapping(models.Model):
    """Our tag ↔ a platform's own tag (WeCom corp tag, OA tag); the channel sync follows it."""

    tag = models.ForeignKey(
        Tag, verbose_name=_("标签"), on_delete=models.CASCADE, related_name="mappings"
    )
    account = models.ForeignKey(
        "channels.ChannelAccount",
        verbose_name=_("渠道账号"),
        on_delete=models.CASCADE,
        related_name="tag_mappings",
    )
    platform = models.CharField(_("平台标签类型"), max_length=16, choices=TagPlatform.choices)
    external_id = models.CharField(_("平台标签 ID"), max_length=64)
    external_name = models.CharField(_("平台标签名"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("平台标签映射")
        verbose_name_plural = _("平台标签映射")
        ordering = ["account_id", "platform", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "platform", "external_id"], name="tagmapping_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tag} ↔ {self.external_name or self.external_id}"


class RuleMode(models.TextChoices):
    ADD_ONLY = "add_only", _("只添加")
    SYNC = "sync", _("保持同步（添加并移除）")


class RuleSchedule(models.TextChoices):
    NIGHTLY = "nightly", _("每晚（T+1）")
    MANUAL = "manual", _("手动")


class TagRule(models.Model):
    """Auto-tagging: customers matching a definition get the tag (and lose it, in sync mode)."""

    name = models.CharField(_("名称"), max_length=100, unique=True)
    tag = models.ForeignKey(
        Tag, verbose_name=_("标签"), on_delete=models.CASCADE, related_name="rules"
    )
    definition = models.JSONField(_("规则"), default=dict)
    mode = models.CharField(
        _("模式"), max_length=16, choices=RuleMode.choices, default=RuleMode.ADD_ONLY
    )
    schedule = models.CharField(
        _("执行"), max_length=16, choices=RuleSchedule.choices, default=RuleSchedule.NIGHTLY
    )
    enabled = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    last_run_at = models.DateTimeField(_("最近执行"), null=True, blank=True)

    class Meta:
        verbose_name = _("自动标签规则")
        verbose_name_plural = _("自动标签规则")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    PENDING = "pending", _("排队中")
    RUNNING = "running", _("执行中")
    DONE = "done", _("完成")
    FAILED = "failed", _("失败")


class TagRuleRun(models.Model):
    """One run of a tag rule: how many customers gained and lost the tag."""

    rule = models.ForeignKey(
        TagRule, verbose_name=_("规则"), on_delete=models.CASCADE, related_name="runs"
    )
    status = models.CharField(
        _("状态"), max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING
    )
    trigger = models.CharField(_("触发"), max_length=16, choices=RuleSchedule.choices)
    matched = models.PositiveIntegerField(_("命中"), default=0)
    added = models.PositiveIntegerField(_("新增"), default=0)
    removed = models.PositiveIntegerField(_("移除"), default=0)
    error = models.TextField(_("错误"), blank=True)
    started_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("规则执行记录")
        verbose_name_plural = _("规则执行记录")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule_id} @ {self.started_at:%Y-%m-%d %H:%M}"


class BulkAction(models.TextChoices):
    ADD = "add", _("打标签")
    REMOVE = "remove", _("移除标签")


class TagBulkJob(models.Model):
    """Tagging or untagging many customers from the list, run by Celery with progress."""

    tag = models.ForeignKey(
        Tag, verbose_name=_("标签"), on_delete=models.CASCADE, related_name="bulk_jobs"
    )
    action = models.CharField(_("操作"), max_length=8, choices=BulkAction.choices)
    # {"ids": [...]} for selected rows, or {"filters": {...}} for the whole filter result
    selection = models.JSONField(_("选择"), default=dict)
    status = models.CharField(
        _("状态"), max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING
    )
    total = models.PositiveIntegerField(_("总数"), default=0)
    processed = models.PositiveIntegerField(_("已处理"), default=0)
    changed = models.PositiveIntegerField(_("变更"), default=0)
    error = models.TextField(_("错误"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("批量标签任务")
        verbose_name_plural = _("批量标签任务")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.tag} ({self.processed}/{self.total})"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.processed * 100 // self.total)
