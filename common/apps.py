from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_migrate
from django.utils.translation import gettext_lazy as _


class CommonConfig(AppConfig):
    """Framework pieces every app shares: audit log, masking, API plumbing, generic views."""

    name = "common"
    verbose_name = _("通用")

    def ready(self):
        from django.contrib.auth import get_user_model

        from common.signals import audit_role_change, sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="quanyu-roles-sync")
        m2m_changed.connect(
            audit_role_change,
            sender=get_user_model().groups.through,
            dispatch_uid="quanyu-audit-roles",
        )
