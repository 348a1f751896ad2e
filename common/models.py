from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditLog(models.Model):
    """Who did what, when: merges, imports, exports, sends, erasures, role changes."""

    class Action(models.TextChoices):
        MERGE = "merge", _("合并客户")
        IMPORT = "import", _("导入")
        EXPORT = "export", _("导出")
        SEND = "send", _("发送")
        ERASE = "erase", _("删除/匿名化")
        ROLE_CHANGE = "role_change", _("角色变更")
        TAG = "tag", _("打标签")
        LOGIN = "login", _("登录")
        CREATE = "create", _("创建")
        UPDATE = "update", _("修改")

    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(_("操作来源"), max_length=150, blank=True)
    action = models.CharField(_("动作"), max_length=32, choices=Action.choices, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True)
    summary = models.CharField(_("摘要"), max_length=500)
    details = models.JSONField(_("详情"), default=dict, blank=True)

    class Meta:
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.summary}"
