from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.choices import (
    ConsentChannel,
    ConsentStatus,
    ExpiryPolicy,
    Gender,
    IdentityKind,
    ImportKind,
    ImportStatus,
    Lifecycle,
    OrderStatus,
    PointsKind,
    PointsRounding,
    RedemptionStatus,
    RewardKind,
    RfmSegment,
    TierBasis,
)


class Customer(models.Model):
    """The unified profile of one person across every channel (the "one ID" of the CDP)."""

    name = models.CharField(_("姓名"), max_length=100, blank=True, db_index=True)
    gender = models.CharField(
        _("性别"), max_length=8, choices=Gender.choices, default=Gender.UNKNOWN
    )
    city = models.CharField(_("城市"), max_length=50, blank=True, db_index=True)
    province = models.CharField(_("省份"), max_length=50, blank=True)
    birthday = models.DateField(_("生日"), null=True, blank=True)
    # Primary contact points, mirrored from the phone/email identities for display and search.
    phone = models.CharField(_("手机号"), max_length=20, blank=True, db_index=True)
    email = models.CharField(_("邮箱"), max_length=254, blank=True, db_index=True)
    attributes = models.JSONField(_("自定义属性"), default=dict, blank=True)

    lifecycle = models.CharField(
        _("生命周期"),
        max_length=16,
        choices=Lifecycle.choices,
        default=Lifecycle.NEW,
        db_index=True,
    )
    rfm_recency = models.PositiveSmallIntegerField(_("R 分"), null=True, blank=True)
    rfm_frequency = models.PositiveSmallIntegerField(_("F 分"), null=True, blank=True)
    rfm_monetary = models.PositiveSmallIntegerField(_("M 分"), null=True, blank=True)
    rfm_segment = models.CharField(
        _("RFM 分群"),
        max_length=16,
        choices=RfmSegment.choices,
        default=RfmSegment.PROSPECTS,
        db_index=True,
    )
    # db_default: rows written by raw SQL (bulk loads, the bench's baselines) get them too
    value_cluster = models.CharField(
        _("价值分群"), max_length=40, blank=True, db_index=True, default="", db_default=""
    )
    # points have one decimal place: the seeds' sign-in earns 0.5
    points_balance = models.DecimalField(
        _("积分余额"), max_digits=12, decimal_places=1, default=0, db_default=0
    )
    tier = models.CharField(
        _("会员等级"), max_length=20, blank=True, db_index=True, default="", db_default=""
    )
    # what counts towards the tier over the rolling window (points earned, or spend)
    tier_score = models.DecimalField(
        _("等级成长值"), max_digits=14, decimal_places=2, default=0, db_default=0
    )
    # kept with the balance by customers.points, so the DSL and content can name them
    points_expiring = models.DecimalField(
        _("即将过期积分"), max_digits=12, decimal_places=1, default=0, db_default=0
    )
    points_expire_at = models.DateTimeField(_("最近积分过期时间"), null=True, blank=True)
    total_orders = models.PositiveIntegerField(_("订单数"), default=0)
    total_revenue = models.DecimalField(_("累计消费"), max_digits=14, decimal_places=2, default=0)
    last_order_at = models.DateTimeField(_("最近下单"), null=True, blank=True)
    first_seen_at = models.DateTimeField(_("首次出现"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("最近活跃"), null=True, blank=True, db_index=True)

    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        ordering = ["-id"]
        permissions = [("view_pii", _("可查看手机号、邮箱等个人信息"))]

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"


class Identity(models.Model):
    """One way to recognise a customer on one channel: `(kind, scope, value)`, unique.

    `scope` is the channel account code for scoped kinds (OpenID, external userid…), empty
    for global ones (UnionID, phone, email, member number).
    """

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="identities"
    )
    kind = models.CharField(_("类型"), max_length=32, choices=IdentityKind.choices)
    scope = models.CharField(_("范围"), max_length=64, blank=True, default="")
    value = models.CharField(_("值"), max_length=191)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("身份标识")
        verbose_name_plural = _("身份标识")
        constraints = [
            models.UniqueConstraint(fields=["kind", "scope", "value"], name="identity_unique_key")
        ]
        indexes = [models.Index(fields=["value"], name="identity_value_idx")]

    def __str__(self) -> str:
        scope = f"@{self.scope}" if self.scope else ""
        return f"{self.kind}{scope}:{self.value}"


class Event(models.Model):
    """Something a customer did on a channel. `(channel_account, source_id)` is unique so a
    re-sent event is a duplicate, not a double count."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="events"
    )
    channel_account = models.ForeignKey(
        "channels.ChannelAccount",
        verbose_name=_("渠道账号"),
        on_delete=models.PROTECT,
        related_name="events",
        null=True,
        blank=True,
    )
    name = models.CharField(_("事件"), max_length=64)
    occurred_at = models.DateTimeField(_("发生时间"))
    properties = models.JSONField(_("属性"), default=dict, blank=True)
    source_id = models.CharField(_("来源ID"), max_length=128, null=True, blank=True)
    created_at = models.DateTimeField(_("写入时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("事件")
        verbose_name_plural = _("事件")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel_account", "source_id"],
                name="event_unique_source",
                condition=Q(source_id__isnull=False),
            )
        ]
        indexes = [
            models.Index(
                fields=["customer", "name", "occurred_at"], name="event_customer_name_idx"
            ),
            # audiences: events by name and time, customer included so that counting and
            # grouping by customer read the index alone (an index-only scan)
            models.Index(
                fields=["name", "occurred_at", "customer"], name="event_name_time_cust_idx"
            ),
            models.Index(fields=["customer", "occurred_at"], name="event_customer_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class Order(models.Model):
    """A purchase on a store channel; `external_id` is unique per channel account."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="orders"
    )
    channel_account = models.ForeignKey(
        "channels.ChannelAccount",
        verbose_name=_("渠道账号"),
        on_delete=models.PROTECT,
        related_name="orders",
    )
    external_id = models.CharField(_("订单号"), max_length=128)
    amount = models.DecimalField(_("金额"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("币种"), max_length=3, default="CNY")
    status = models.CharField(_("状态"), max_length=16, choices=OrderStatus.choices, db_index=True)
    paid_at = models.DateTimeField(_("支付时间"), null=True, blank=True, db_index=True)
    items = models.JSONField(_("商品"), default=list, blank=True)
    created_at = models.DateTimeField(_("写入时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("订单")
        verbose_name_plural = _("订单")
        ordering = ["-paid_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel_account", "external_id"], name="order_unique_external"
            )
        ]
        indexes = [models.Index(fields=["customer", "paid_at"], name="order_customer_paid_idx")]

    def __str__(self) -> str:
        return f"{self.external_id} ¥{self.amount}"


class Consent(models.Model):
    """Whether a customer may be contacted on a channel (marketing consent / opt-out)."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="consents"
    )
    channel = models.CharField(_("渠道"), max_length=16, choices=ConsentChannel.choices)
    status = models.CharField(_("状态"), max_length=16, choices=ConsentStatus.choices)
    source = models.CharField(_("来源"), max_length=64, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("触达授权")
        verbose_name_plural = _("触达授权")
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="consent_unique_channel")
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.status}"


class MergeLog(models.Model):
    """A record of customers merged into a survivor by identity resolution or by hand."""

    survivor = models.ForeignKey(
        Customer,
        verbose_name=_("保留客户"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="merge_logs",
    )
    survivor_id_value = models.BigIntegerField(_("保留客户ID"))
    merged_ids = models.JSONField(_("被合并客户ID"), default=list)
    snapshot = models.JSONField(_("合并前资料"), default=dict)
    reason = models.CharField(_("原因"), max_length=200, blank=True)
    actor_label = models.CharField(_("操作来源"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("合并记录")
        verbose_name_plural = _("合并记录")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.merged_ids} → {self.survivor_id_value}"


class ScoringSettings(models.Model):
    """Thresholds of lifecycle stages and RFM scores (one row, edited in settings)."""

    new_days = models.PositiveIntegerField(_("新客：首次出现在 N 天内"), default=30)
    active_days = models.PositiveIntegerField(_("活跃：N 天内有行为"), default=30)
    churn_days = models.PositiveIntegerField(_("流失：超过 N 天无行为"), default=180)
    # Ascending breakpoints for scores 2..5: a value ≥ breakpoint[i] scores i + 2.
    recency_days = models.JSONField(
        _("R 断点（天，降序）"), default=list, help_text=_("例如 [180, 90, 30, 7]：越近分越高")
    )
    frequency_breaks = models.JSONField(_("F 断点（单数）"), default=list)
    monetary_breaks = models.JSONField(_("M 断点（元）"), default=list)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("生命周期与 RFM 设置")
        verbose_name_plural = _("生命周期与 RFM 设置")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    DEFAULTS = {
        "recency_days": [180, 90, 30, 7],
        "frequency_breaks": [2, 3, 5, 8],
        "monetary_breaks": [200, 500, 1000, 3000],
    }

    @classmethod
    def load(cls) -> "ScoringSettings":
        obj, _created = cls.objects.get_or_create(pk=1, defaults=cls.DEFAULTS)
        return obj


class ImportJob(models.Model):
    """A CSV import of customers or events, run by a Celery task with progress."""

    kind = models.CharField(_("类型"), max_length=16, choices=ImportKind.choices)
    status = models.CharField(
        _("状态"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    file = models.FileField(_("文件"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("文件名"), max_length=255, blank=True)
    strict = models.BooleanField(
        _("整批校验"), default=True, help_text=_("一批中有任何一行出错，整批不写入")
    )
    total_rows = models.PositiveIntegerField(_("总行数"), default=0)
    processed_rows = models.PositiveIntegerField(_("已处理"), default=0)
    imported_rows = models.PositiveIntegerField(_("成功"), default=0)
    error_rows = models.PositiveIntegerField(_("失败"), default=0)
    errors = models.JSONField(_("错误明细"), default=list, blank=True)
    message = models.CharField(_("说明"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("导入任务")
        verbose_name_plural = _("导入任务")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.original_name}"

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status in (ImportStatus.DONE, ImportStatus.FAILED) else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


class ValueCluster(models.Model):
    """One k-means value cluster of the last nightly run, named after its centroid."""

    number = models.PositiveSmallIntegerField(_("序号"), unique=True)
    name = models.CharField(_("名称"), max_length=40, unique=True)
    name_en = models.CharField(_("英文名称"), max_length=80, blank=True)
    centroid = models.JSONField(_("中心点"), default=dict)
    size = models.PositiveIntegerField(_("人数"), default=0)
    computed_at = models.DateTimeField(_("计算时间"))

    class Meta:
        verbose_name = _("价值分群")
        verbose_name_plural = _("价值分群")
        ordering = ["number"]

    def __str__(self) -> str:
        return self.name


class PointsEntry(models.Model):
    """One line of the points ledger (append-only). The balance is the sum of `points`,
    kept on `Customer.points_balance` under a row lock by `customers.points`."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="points_entries"
    )
    kind = models.CharField(_("类型"), max_length=8, choices=PointsKind.choices)
    points = models.DecimalField(_("积分"), max_digits=12, decimal_places=1)  # signed
    channel_account = models.ForeignKey(
        "channels.ChannelAccount",
        verbose_name=_("渠道"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.CharField(_("原因"), max_length=200, blank=True)
    source_ref = models.CharField(_("来源单号"), max_length=100, blank=True)
    idempotency_key = models.CharField(
        _("幂等键"), max_length=100, null=True, blank=True, unique=True
    )
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    # business time (an order's payment, an event): months on the dashboard, expiry dates
    occurred_at = models.DateTimeField(_("发生时间"), default=timezone.now, db_index=True)
    # a positive entry is a lot: what is left of it is spent first-to-expire, then expires
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    remaining = models.DecimalField(
        _("剩余可用"), max_digits=12, decimal_places=1, default=0, db_default=0
    )
    created_at = models.DateTimeField(_("记账时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("积分流水")
        verbose_name_plural = _("积分流水")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="points_customer_idx"),
            models.Index(
                fields=["expires_at"], name="points_open_lot_idx", condition=Q(remaining__gt=0)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.points:+}"


class PointsEarnRule(models.Model):
    """Points per yuan of paid orders on one channel (or on every channel without a rule)."""

    name = models.CharField(_("名称"), max_length=100)
    channel_account = models.OneToOneField(
        "channels.ChannelAccount",
        verbose_name=_("渠道"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("留空：适用于没有单独规则的渠道"),
    )
    points_per_yuan = models.DecimalField(_("每元积分"), max_digits=8, decimal_places=3)
    rounding = models.CharField(
        _("取整"), max_length=16, choices=PointsRounding.choices, default=PointsRounding.DOWN_TENTH
    )
    enabled = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("消费积分规则")
        verbose_name_plural = _("消费积分规则")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PointsEventRule(models.Model):
    """Points for a behaviour (sign_in, share, review, join_group…), with daily/monthly caps."""

    name = models.CharField(_("名称"), max_length=100)
    event_name = models.CharField(_("事件"), max_length=64, db_index=True)
    channel_account = models.ForeignKey(
        "channels.ChannelAccount",
        verbose_name=_("渠道"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("留空：任意渠道"),
    )
    points = models.DecimalField(_("每次积分"), max_digits=8, decimal_places=1)
    daily_cap = models.DecimalField(
        _("每日上限"), max_digits=8, decimal_places=1, null=True, blank=True
    )
    monthly_cap = models.DecimalField(
        _("每月上限"), max_digits=10, decimal_places=1, null=True, blank=True
    )
    enabled = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("行为积分规则")
        verbose_name_plural = _("行为积分规则")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipSettings(models.Model):
    """How points expire and how tiers are earned (one row, edited on the rules page)."""

    expiry_policy = models.CharField(
        _("积分有效期"), max_length=20, choices=ExpiryPolicy.choices,
        default=ExpiryPolicy.END_OF_NEXT_YEAR,
    )  # fmt: skip
    expiry_months = models.PositiveSmallIntegerField(
        _("有效月数"), default=12, help_text=_("“获得后 N 个月过期”时使用")
    )
    reminder_days = models.PositiveSmallIntegerField(
        _("过期提醒天数"), default=30, help_text=_("“即将过期积分”统计 N 天内到期的积分")
    )
    tier_basis = models.CharField(
        _("等级依据"), max_length=10, choices=TierBasis.choices, default=TierBasis.POINTS
    )
    tier_window_months = models.PositiveSmallIntegerField(_("滚动周期（月）"), default=12)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("会员设置")
        verbose_name_plural = _("会员设置")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    @classmethod
    def load(cls) -> "MembershipSettings":
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class MemberTier(models.Model):
    """A membership tier: reached by a rolling score, with benefits and an earning multiplier."""

    code = models.SlugField(_("代码"), max_length=20, unique=True)
    name = models.CharField(_("名称"), max_length=40)
    threshold = models.DecimalField(
        _("门槛"), max_digits=14, decimal_places=2, unique=True,
        help_text=_("滚动周期内的积分或消费金额达到即升级，低于即降级"),
    )  # fmt: skip
    earn_multiplier = models.DecimalField(
        _("积分倍率"), max_digits=4, decimal_places=2, default=1,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("10"))],
    )  # fmt: skip
    benefits = models.TextField(_("权益"), blank=True, help_text=_("每行一条"))
    color = models.CharField(_("颜色"), max_length=7, default="#adb5bd")

    class Meta:
        verbose_name = _("会员等级")
        verbose_name_plural = _("会员等级")
        ordering = ["threshold"]

    def __str__(self) -> str:
        return self.name

    @property
    def benefit_list(self) -> list[str]:
        return [line.strip() for line in self.benefits.splitlines() if line.strip()]


class PointsPromotion(models.Model):
    """A campaign period that multiplies what rules earn (双倍积分), on one or every channel."""

    name = models.CharField(_("名称"), max_length=100)
    multiplier = models.DecimalField(
        _("倍率"), max_digits=4, decimal_places=2,
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("10"))],
    )  # fmt: skip
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("渠道"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="+", help_text=_("留空：所有渠道"),
    )  # fmt: skip
    starts_at = models.DateTimeField(_("开始"))
    ends_at = models.DateTimeField(_("结束"))
    enabled = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("积分倍率活动")
        verbose_name_plural = _("积分倍率活动")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="promotion_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return self.name


class RewardItem(models.Model):
    """Something members redeem points for, with stock and the channels that offer it."""

    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=16, choices=RewardKind.choices)
    description = models.CharField(_("说明"), max_length=300, blank=True)
    points_price = models.DecimalField(
        _("所需积分"), max_digits=10, decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1"))],
    )  # fmt: skip
    stock = models.PositiveIntegerField(_("库存"), null=True, blank=True, help_text=_("留空：不限"))
    per_customer_limit = models.PositiveSmallIntegerField(
        _("每人限兑"), null=True, blank=True, help_text=_("留空：不限")
    )
    channel_accounts = models.ManyToManyField(
        "channels.ChannelAccount", verbose_name=_("可兑换渠道"), blank=True, related_name="+",
        help_text=_("留空：所有渠道"),
    )  # fmt: skip
    enabled = models.BooleanField(_("上架"), default=True)
    redeemed_count = models.PositiveIntegerField(_("已兑换"), default=0)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("兑换商品")
        verbose_name_plural = _("兑换商品")
        ordering = ["points_price", "id"]

    def __str__(self) -> str:
        return self.name


class Redemption(models.Model):
    """A member's redemption of a reward item: the points it cost and where it stands."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="redemptions"
    )
    item = models.ForeignKey(
        RewardItem, verbose_name=_("兑换商品"), on_delete=models.PROTECT, related_name="redemptions"
    )
    channel_account = models.ForeignKey(
        "channels.ChannelAccount", verbose_name=_("渠道"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    points = models.DecimalField(_("积分"), max_digits=10, decimal_places=1)
    status = models.CharField(
        _("状态"), max_length=12, choices=RedemptionStatus.choices,
        default=RedemptionStatus.PENDING, db_index=True,
    )  # fmt: skip
    # the ledger entry goes only with its customer, and the redemption with it
    entry = models.OneToOneField(
        PointsEntry, verbose_name=_("积分流水"), on_delete=models.CASCADE, related_name="+"
    )
    note = models.CharField(_("备注"), max_length=200, blank=True)
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("兑换时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("兑换订单")
        verbose_name_plural = _("兑换订单")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.item} → {self.customer_id}"
