from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels.choices import (
    AccountStatus,
    CallbackStatus,
    ChannelKind,
    HitKind,
    KeywordMatch,
    LiveCodeKind,
    ReplyKind,
    StaffStrategy,
    SyncKind,
    SyncStatus,
    TokenState,
)
from channels.fields import EncryptedTextField

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{1,63}$",
    _("代码只能包含小写字母、数字、下划线和连字符（2–64 位）。"),
)


class ChannelAccount(models.Model):
    """One account of the brand on one platform (an OA, a WeCom corp, a Tmall store…).

    `code` is the stable name that identities' `scope` and events' `channel` use. Secrets are
    encrypted at rest and never shown back in full; in sandbox mode every API call goes to the
    sandbox platform instead of the real one.
    """

    kind = models.CharField(_("类型"), max_length=32, choices=ChannelKind.choices, db_index=True)
    code = models.CharField(_("代码"), max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(_("名称"), max_length=100)
    app_id = models.CharField(_("AppID"), max_length=128, blank=True)
    secret = EncryptedTextField(_("AppSecret"), blank=True)
    token = EncryptedTextField(_("回调 Token"), blank=True)
    aes_key = EncryptedTextField(_("回调 EncodingAESKey"), blank=True)
    api_base_url = models.URLField(
        _("接口地址"), blank=True, help_text=_("留空：平台官方地址（沙箱模式下为沙箱平台）")
    )
    options = models.JSONField(
        _("其他配置"), default=dict, blank=True,
        help_text=_("按平台：企业微信 agent_id、短信签名、发件人等"),
    )  # fmt: skip
    sandbox = models.BooleanField(_("沙箱模式"), default=False)
    status = models.CharField(
        _("状态"), max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )
    rate_limit = models.PositiveIntegerField(
        _("接口限速（次/秒）"), default=20, help_text=_("所有 worker 共用的令牌桶")
    )
    sync_interval_minutes = models.PositiveIntegerField(
        _("同步间隔（分钟）"), default=60, help_text=_("0：不自动同步")
    )
    sync_cursor = models.JSONField(_("同步游标"), default=dict, blank=True)
    last_sync_at = models.DateTimeField(_("最近同步"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    last_error_at = models.DateTimeField(_("最近错误时间"), null=True, blank=True)
    token_state = models.CharField(
        _("Token 状态"), max_length=10, choices=TokenState.choices, default=TokenState.UNKNOWN
    )
    token_refreshed_at = models.DateTimeField(_("Token 刷新时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("渠道账号")
        verbose_name_plural = _("渠道账号")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def base_url(self) -> str:
        """Where this account's API calls go: the sandbox in sandbox mode."""
        if self.sandbox:
            return self.api_base_url or settings.SANDBOX_URL
        return self.api_base_url

    @property
    def callback_path(self) -> str:
        return f"/channels/callback/{self.code}/"


class Staff(models.Model):
    """A WeCom member who serves customers (a follow user): live codes assign them."""

    account = models.ForeignKey(
        ChannelAccount, verbose_name=_("企业微信"), on_delete=models.CASCADE, related_name="staff"
    )
    userid = models.CharField(_("成员 UserID"), max_length=64)
    name = models.CharField(_("姓名"), max_length=64, blank=True)
    active = models.BooleanField(_("在职"), default=True)
    synced_at = models.DateTimeField(_("同步时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("员工")
        verbose_name_plural = _("员工")
        ordering = ["account", "name", "userid"]
        constraints = [
            models.UniqueConstraint(fields=["account", "userid"], name="staff_unique_userid")
        ]

    def __str__(self) -> str:
        return self.name or self.userid


class GroupChat(models.Model):
    """A WeCom customer group chat (客户群)."""

    account = models.ForeignKey(
        ChannelAccount, verbose_name=_("企业微信"), on_delete=models.CASCADE,
        related_name="group_chats",
    )  # fmt: skip
    chat_id = models.CharField(_("群 ID"), max_length=64)
    name = models.CharField(_("群名"), max_length=100, blank=True)
    owner = models.CharField(_("群主 UserID"), max_length=64, blank=True)
    member_count = models.PositiveIntegerField(_("人数"), default=0)
    capacity = models.PositiveIntegerField(_("容量"), default=200)
    synced_at = models.DateTimeField(_("同步时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("客户群")
        verbose_name_plural = _("客户群")
        ordering = ["account", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "chat_id"], name="groupchat_unique_id")
        ]

    def __str__(self) -> str:
        return self.name or self.chat_id


class LiveCode(models.Model):
    """员工活码 / 群活码: one QR code that hands each scanner to a staff member (by strategy,
    schedule and daily caps, with backups) or to a group with room, tagging them on the way.

    `state` is what WeCom's add_contact_way carries back in the add_external_contact callback.
    """

    account = models.ForeignKey(
        ChannelAccount, verbose_name=_("企业微信"), on_delete=models.CASCADE,
        related_name="live_codes",
    )  # fmt: skip
    kind = models.CharField(
        _("类型"), max_length=8, choices=LiveCodeKind.choices, default=LiveCodeKind.STAFF
    )
    name = models.CharField(_("名称"), max_length=100)
    state = models.CharField(_("渠道参数 state"), max_length=30, unique=True)
    config_id = models.CharField(_("联系我 config_id"), max_length=64, blank=True)
    qr_url = models.URLField(_("二维码地址"), max_length=500, blank=True)
    strategy = models.CharField(
        _("分配方式"), max_length=12, choices=StaffStrategy.choices,
        default=StaffStrategy.ROUND_ROBIN,
    )  # fmt: skip
    schedule = models.JSONField(
        _("接待时间"), default=dict, blank=True,
        help_text=_('例如 {"days": [1,2,3,4,5], "start": "09:00", "end": "18:00"}；留空：全天'),
    )  # fmt: skip
    staff = models.ManyToManyField(
        Staff, verbose_name=_("员工"), through="LiveCodeStaff", related_name="live_codes"
    )
    groups = models.ManyToManyField(
        GroupChat, verbose_name=_("客户群"), blank=True, related_name="live_codes"
    )
    tags = models.ManyToManyField("tags.Tag", verbose_name=_("自动打标签"), blank=True,
                                  related_name="+")  # fmt: skip
    welcome_text = models.TextField(_("欢迎语"), blank=True)
    skip_verify = models.BooleanField(_("免验证添加"), default=True)
    enabled = models.BooleanField(_("启用"), default=True)
    round_robin_cursor = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("活码")
        verbose_name_plural = _("活码")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class LiveCodeStaff(models.Model):
    """A staff member on a live code, with a daily cap; backups take over when all are full."""

    live_code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="seats")
    staff = models.ForeignKey(Staff, verbose_name=_("员工"), on_delete=models.CASCADE)
    daily_cap = models.PositiveIntegerField(_("每日上限"), null=True, blank=True)
    backup = models.BooleanField(_("备用员工"), default=False)
    position = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("活码员工")
        verbose_name_plural = _("活码员工")
        ordering = ["live_code", "backup", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["live_code", "staff"], name="livecode_staff_unique")
        ]

    def __str__(self) -> str:
        return f"{self.live_code} · {self.staff}"


class QrCode(models.Model):
    """An OA parametric QR code (带参数二维码): a scene that tags and greets who scans it."""

    account = models.ForeignKey(
        ChannelAccount, verbose_name=_("公众号"), on_delete=models.CASCADE, related_name="qr_codes"
    )
    name = models.CharField(_("名称"), max_length=100)
    scene = models.CharField(_("场景值"), max_length=64)
    permanent = models.BooleanField(_("永久二维码"), default=True)
    expire_seconds = models.PositiveIntegerField(_("有效期（秒）"), default=2592000)
    ticket = models.CharField(_("ticket"), max_length=200, blank=True)
    url = models.URLField(_("二维码内容"), max_length=500, blank=True)
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    tags = models.ManyToManyField("tags.Tag", verbose_name=_("自动打标签"), blank=True,
                                  related_name="+")  # fmt: skip
    reply_text = models.TextField(_("扫码回复"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("渠道二维码")
        verbose_name_plural = _("渠道二维码")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["account", "scene"], name="qr_unique_scene")]

    def __str__(self) -> str:
        return self.name


class CodeHit(models.Model):
    """One scan, add or loss through a live code or a QR code: what their stats count."""

    live_code = models.ForeignKey(
        LiveCode, null=True, blank=True, on_delete=models.CASCADE, related_name="hits"
    )
    qr_code = models.ForeignKey(
        QrCode, null=True, blank=True, on_delete=models.CASCADE, related_name="hits"
    )
    kind = models.CharField(_("类型"), max_length=10, choices=HitKind.choices)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    staff = models.ForeignKey(
        Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="hits"
    )
    external_id = models.CharField(_("平台用户 ID"), max_length=128, blank=True)
    occurred_at = models.DateTimeField(_("时间"), db_index=True)

    class Meta:
        verbose_name = _("扫码记录")
        verbose_name_plural = _("扫码记录")
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["live_code", "kind", "occurred_at"], name="hit_code_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}"


class AutoReply(models.Model):
    """OA auto replies: on follow, on a keyword, or when nothing else matches."""

    account = models.ForeignKey(
        ChannelAccount, verbose_name=_("公众号"), on_delete=models.CASCADE,
        related_name="auto_replies",
    )  # fmt: skip
    kind = models.CharField(_("类型"), max_length=10, choices=ReplyKind.choices)
    keyword = models.CharField(_("关键词"), max_length=64, blank=True)
    match = models.CharField(
        _("匹配方式"), max_length=10, choices=KeywordMatch.choices, default=KeywordMatch.EXACT
    )
    reply_text = models.TextField(_("回复内容"))
    tags = models.ManyToManyField("tags.Tag", verbose_name=_("同时打标签"), blank=True,
                                  related_name="+")  # fmt: skip
    enabled = models.BooleanField(_("启用"), default=True)
    priority = models.PositiveSmallIntegerField(_("优先级"), default=100)

    class Meta:
        verbose_name = _("自动回复")
        verbose_name_plural = _("自动回复")
        ordering = ["account", "kind", "priority", "id"]

    def __str__(self) -> str:
        return self.keyword or self.get_kind_display()


class CallbackLog(models.Model):
    """A platform callback as received (decrypted), kept for dedupe, audit and replay."""

    account = models.ForeignKey(
        ChannelAccount, verbose_name=_("渠道账号"), on_delete=models.CASCADE,
        related_name="callbacks",
    )  # fmt: skip
    msg_key = models.CharField(_("消息键"), max_length=200, null=True, blank=True)
    msg_type = models.CharField(_("消息类型"), max_length=32, blank=True)
    event = models.CharField(_("事件"), max_length=64, blank=True)
    body = models.TextField(_("内容（已解密）"))
    status = models.CharField(
        _("状态"), max_length=10, choices=CallbackStatus.choices,
        default=CallbackStatus.RECEIVED, db_index=True,
    )  # fmt: skip
    error = models.TextField(_("错误"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("处理次数"), default=0)
    received_at = models.DateTimeField(_("接收时间"), auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(_("处理时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("回调记录")
        verbose_name_plural = _("回调记录")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "msg_key"], name="callback_unique_key",
                condition=Q(msg_key__isnull=False),
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.account.code} {self.event or self.msg_type}"


class SyncRun(models.Model):
    """One run of a sync (followers, contacts, groups…) with its counts and errors."""

    account = models.ForeignKey(
        ChannelAccount, verbose_name=_("渠道账号"), on_delete=models.CASCADE,
        related_name="sync_runs",
    )  # fmt: skip
    kind = models.CharField(_("同步内容"), max_length=12, choices=SyncKind.choices)
    status = models.CharField(
        _("状态"), max_length=10, choices=SyncStatus.choices, default=SyncStatus.RUNNING
    )
    full = models.BooleanField(_("全量"), default=False)
    fetched = models.PositiveIntegerField(_("拉取"), default=0)
    created = models.PositiveIntegerField(_("新增"), default=0)
    updated = models.PositiveIntegerField(_("更新"), default=0)
    api_calls = models.PositiveIntegerField(_("接口调用"), default=0)
    retries = models.PositiveIntegerField(_("重试"), default=0)
    error = models.TextField(_("错误"), blank=True)
    cursor = models.JSONField(_("游标"), default=dict, blank=True)
    started_at = models.DateTimeField(_("开始"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("结束"), null=True, blank=True)

    class Meta:
        verbose_name = _("同步记录")
        verbose_name_plural = _("同步记录")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.account.code} {self.kind} {self.started_at:%Y-%m-%d %H:%M}"
