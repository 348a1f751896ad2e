from django.utils.translation import gettext as _


def sync_roles_after_migrate(sender, **kwargs):
    from common.roles import roles_sync

    roles_sync()


def audit_role_change(sender, instance, action, pk_set, **kwargs):
    """Role changes (a user added to or removed from a role group) go into the audit log."""
    if action not in ("post_add", "post_remove") or not pk_set:
        return
    from django.contrib.auth.models import Group

    from common.audit import audit_record
    from common.models import AuditLog

    names = ", ".join(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
    verb = _("加入角色") if action == "post_add" else _("移出角色")
    audit_record(
        action=AuditLog.Action.ROLE_CHANGE,
        summary=f"{instance.get_username()} {verb} {names}",
        obj=instance,
        actor_label="system",
        details={"groups": sorted(pk_set), "action": action},
    )
