from celery import shared_task

from tags.services import audiences_refresh_snapshots


@shared_task(name="tags.refresh_audiences")
def audiences_refresh_task() -> int:
    """Nightly: re-freeze snapshot audiences and record every audience's size."""
    return audiences_refresh_snapshots()
