"""Celery tasks of journeys and real-time triggers (registered with the app's other tasks
through campaigns.tasks)."""

from celery import shared_task


@shared_task(name="campaigns.journeys_tick", soft_time_limit=120)
def journeys_tick_task() -> dict:
    """Every minute: enrol, exit on goals, advance due enrolments (for up to 50 s)."""
    from campaigns.journeys import journeys_tick

    return journeys_tick(seconds=50)


@shared_task(name="campaigns.triggers_tick", soft_time_limit=60)
def triggers_tick_task() -> dict:
    """Every 15 seconds: new events A → waits; waits past their deadline settled."""
    from campaigns.triggers import triggers_tick

    return triggers_tick()
