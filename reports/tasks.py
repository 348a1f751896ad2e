"""Celery tasks of reports: thin wrappers around reports.rollups and reports.alerts."""

from celery import shared_task


@shared_task(name="reports.rollups_nightly", soft_time_limit=2 * 3600, time_limit=2 * 3600 + 300)
def rollups_nightly_task() -> int:
    """T+1: the last three days again (late events and orders), then the alert rules."""
    from reports.alerts import alerts_evaluate
    from reports.rollups import rollups_recent

    rollups_recent(days=3)
    return len(alerts_evaluate())


@shared_task(name="reports.rollups_recent", soft_time_limit=3600, time_limit=3600 + 300)
def rollups_recent_task() -> int:
    """Hourly: today so far and yesterday."""
    from reports.rollups import rollups_recent

    return rollups_recent(days=1).rows_written


@shared_task(name="reports.rollup_run", soft_time_limit=6 * 3600, time_limit=6 * 3600 + 300)
def rollup_run_task(run_id: int) -> int | None:
    """A backfill asked for in the console: carry out the queued run (once)."""
    from reports.choices import RollupStatus
    from reports.models import RollupRun
    from reports.rollups import rollup_run_execute

    run = RollupRun.objects.filter(pk=run_id, status=RollupStatus.QUEUED).first()
    if run is None:
        return None
    return rollup_run_execute(run=run).rows_written
