from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from channels.choices import AccountStatus, ChannelKind

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{1,63}$",
    _("代码只能包含小写字母、数字、下划线和连字符（2–64 位）。"),
)


class ChannelAccount(models.Model):
    """One account of the brand on one platform (an OA, a WeCom corp, a Tmall store…).

    `code` is the stable name that identities' `scope` and events' `channel` use.
    """

    kind = models.CharField(_("类型"), max_length=32, choices=ChannelKind.choices, db_index=True)
    code = models.CharField(_("代码"), max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(_("名称"), max_length=100)
    app_id = models.CharField(_("AppID"), max_length=128, blank=True)
    sandbox = models.BooleanField(_("沙箱模式"), default=False)
    status = models.CharField(
        _("状态"), max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("渠道账号")
        verbose_name_plural = _("渠道账号")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
