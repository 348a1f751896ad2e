from celery import shared_task

from tags.services import audiences_refresh_snapshots


@shared_task(name="tags.refresh_audiences")
def audiences_refresh_task() -> int:
    """Nightly: re-freeze snapshot audiences and record every audience's size."""
    return audiences_refresh_snapshots()


@shared_task(name="tags.run_tag_rules")
def tag_rules_run_task() -> int:
    """Nightly (T+1): every enabled nightly tag rule."""
    from tags.rules import tag_rules_run_nightly

    return len(tag_rules_run_nightly())


@shared_task(name="tags.run_tag_rule")
def tag_rule_run_task(rule_id: int) -> int | None:
    """On demand: one rule, queued from the console or the API."""
    from tags.models import TagRule
    from tags.rules import tag_rule_run

    rule = TagRule.objects.select_related("tag").filter(pk=rule_id).first()
    return tag_rule_run(rule=rule).pk if rule else None


@shared_task(name="tags.bulk_tag")
def tag_bulk_task(job_id: int) -> None:
    """Tag or untag the customers of a bulk job, saving progress per chunk."""
    from tags.bulk import tag_bulk_fail, tag_bulk_run

    try:
        tag_bulk_run(job_id=job_id)
    except Exception as exc:  # the job shows the failure; the worker log has the trace
        tag_bulk_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
