from celery import shared_task

from customers.scoring import customers_score


@shared_task(name="customers.score_customers")
def customers_score_task() -> int:
    """Nightly: lifecycle stages and RFM segments for every customer."""
    return customers_score()


@shared_task(name="customers.run_import")
def import_job_run_task(job_id: int) -> None:
    """Run a CSV import job (queued by import_job_start)."""
    from customers.imports import import_job_run

    import_job_run(job_id=job_id)


@shared_task(name="customers.value_clusters")
def value_clusters_task() -> int:
    """Nightly: k-means value clusters on RFM and channel features."""
    from customers.clusters import value_clusters_compute

    return value_clusters_compute()


@shared_task(name="customers.points_expire")
def points_expire_task() -> int:
    """Nightly: expire what is left of lots past their date; refresh "expiring soon"."""
    from customers.points import points_expire, points_expiring_refresh

    made = points_expire()
    points_expiring_refresh()  # the reminder window moved on by a day for everyone
    return made


@shared_task(name="customers.tiers_refresh")
def tiers_refresh_task() -> int:
    """Nightly: rolling-window tier scores, members graded up or down."""
    from customers.membership import tiers_refresh

    return tiers_refresh()
