"""The four console roles, as auth groups, and what each may do.

Groups are created by a migration; their permissions are (re)synced after every migrate so
that models added later are covered without another data migration.
"""

from django.utils.translation import gettext_lazy as _

ADMIN, OPERATOR, ANALYST, STAFF = "admin", "operator", "analyst", "staff"

ROLE_LABELS = {
    ADMIN: _("管理员"),
    OPERATOR: _("运营"),
    ANALYST: _("分析师"),
    STAFF: _("员工（导购）"),
}

BUSINESS_APPS = ("customers", "tags", "channels", "campaigns", "reports")


def _wanted(role: str, app_label: str, codename: str) -> bool:
    if role == ADMIN:
        return app_label in (*BUSINESS_APPS, "common", "auth", "authtoken", "django_celery_beat")
    if app_label not in BUSINESS_APPS:
        return role == OPERATOR and codename == "view_auditlog"
    if codename == "view_pii":
        return role in (OPERATOR, STAFF)
    if role == OPERATOR:
        return True
    if role == ANALYST:
        return codename.startswith("view_")
    if role == STAFF:
        return app_label in ("customers", "tags") and (
            codename.startswith("view_") or codename in ("add_customertag", "delete_customertag")
        )
    return False


def roles_sync(*, apps=None) -> None:
    """Create the role groups if missing and give each exactly its permissions."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = list(Permission.objects.select_related("content_type"))
    for role in ROLE_LABELS:
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.set(
            [p for p in perms if _wanted(role, p.content_type.app_label, p.codename)]
        )
