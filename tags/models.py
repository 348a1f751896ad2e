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
