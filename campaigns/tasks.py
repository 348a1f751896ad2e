"""Celery tasks of pushes; the dispatch tasks live in campaigns.dispatch (imported here so
the worker registers them with the rest of the app's tasks)."""

from celery import shared_task
from django.utils.dateparse import parse_datetime

from campaigns import dispatch, journey_tasks  # noqa: F401  (registers their tasks)


@shared_task(name="campaigns.run_push")
def push_run_task(push_id: int, scheduled_for: str | None = None, run_id: int | None = None):
    """One run of a push: made once per occurrence, materialised, handed to dispatch.

    Beat calls it with the push id only (periodic pushes): the occurrence is the current
    minute, so Beat firing twice in a minute still makes one run.
    """
    from django.utils import timezone

    from campaigns.choices import PushStatus, ScheduleKind
    from campaigns.models import Push
    from campaigns.pushes import push_run_start

    push = Push.objects.filter(pk=push_id).first()
    if push is None or push.status in (PushStatus.PAUSED, PushStatus.CANCELLED):
        return None
    occurrence = parse_datetime(scheduled_for) if scheduled_for else None
    if run_id is None and occurrence is None and push.schedule_kind == ScheduleKind.PERIODIC:
        occurrence = timezone.now().replace(second=0, microsecond=0)
    run = push_run_start(push=push, scheduled_for=occurrence, run_id=run_id)
    return run.pk if run else None


@shared_task(name="campaigns.launch_due_pushes")
def pushes_launch_due_task() -> int:
    """Every minute: start the pushes scheduled for a time that has come."""
    from campaigns.pushes import pushes_launch_due

    return pushes_launch_due()


@shared_task(name="campaigns.ab_decide_due")
def ab_decide_due_task() -> int:
    """Every 5 minutes: pick the winners of the timed A/B tests whose time has come."""
    from campaigns.pushes import ab_decide_due

    return ab_decide_due()
