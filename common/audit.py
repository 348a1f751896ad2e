"""The one way to write the audit log."""

from typing import Any

from common.models import AuditLog


def audit_record(
    *,
    action: str,
    summary: str,
    actor=None,
    actor_label: str = "",
    obj: Any = None,
    details: dict | None = None,
) -> AuditLog:
    """Append one audit entry. `actor` is a user (or None for system/API jobs)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditLog.objects.create(
        actor=actor,
        actor_label=actor_label or (actor.get_username() if actor else "system"),
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        summary=summary[:500],
        details=details or {},
    )
