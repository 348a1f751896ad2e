"""Template context for every console page."""

from reports.choices import AlertStatus
from reports.models import AlertEvent


def open_alerts(request) -> dict:
    """`open_alert_count`: the console notification of alerts — open events of rules that
    notify in the console (one COUNT), for users who may see alerts."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("reports.view_alertevent"):
        return {}
    count = AlertEvent.objects.filter(status=AlertStatus.OPEN, rule__notify_console=True).count()
    return {"open_alert_count": count}
