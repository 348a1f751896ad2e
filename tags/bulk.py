"""Tag or untag many customers from the list: the selected rows or the whole filter result.

The job is recorded first (with its total), then a Celery worker works through the ids in
chunks, each chunk its own transaction, saving progress after each so the console can show a
progress bar. Assignments keep the manual source and the user who asked.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tags.models import BulkAction, CustomerTag, RunStatus, Tag, TagBulkJob, TagSource
from tags.services import customers_tag_bulk

CHUNK = 1_000
MAX_SELECTED = 10_000


def _selection_queryset(selection: dict):
    from customers.models import Customer
    from customers.selectors import customer_list

    if "ids" in selection:
        return Customer.objects.filter(pk__in=selection["ids"]).order_by("pk")
    return customer_list(filters=selection.get("filters") or {}).order_by("pk")


def tag_bulk_start(
    *, tag: Tag, action: str, ids=None, filters: dict | None = None, actor=None
) -> TagBulkJob:
    """Record a bulk job and queue it; `ids` (selected rows) or `filters` (the whole result)."""
    if action not in BulkAction.values:
        raise ValidationError({"action": _("未知的操作")})
    if ids is not None:
        try:
            ids = sorted({int(i) for i in ids})
        except (TypeError, ValueError):
            raise ValidationError({"ids": _("客户 ID 必须是整数")})
        if not ids:
            raise ValidationError({"ids": _("请至少选择一位客户")})
        if len(ids) > MAX_SELECTED:
            raise ValidationError(
                {
                    "ids": _("一次最多选择 %(n)s 位客户；更多请按筛选结果批量操作")
                    % {"n": MAX_SELECTED}
                }
            )
        selection = {"ids": ids}
    else:
        selection = {"filters": {k: v for k, v in (filters or {}).items() if v not in ("", None)}}
    total = _selection_queryset(selection).count()
    if not total:
        raise ValidationError({"ids": _("没有符合条件的客户")})
    job = TagBulkJob.objects.create(
        tag=tag, action=action, selection=selection, total=total, actor=actor
    )
    from tags.tasks import tag_bulk_task

    transaction.on_commit(lambda: tag_bulk_task.delay(job.pk))
    return job


def tag_bulk_run(*, job_id: int) -> TagBulkJob:
    """Work through a bulk job in chunks, saving progress as it goes."""
    from common.audit import audit_record
    from common.models import AuditLog

    job = TagBulkJob.objects.select_related("tag", "actor").get(pk=job_id)
    if job.status in (RunStatus.DONE, RunStatus.FAILED):
        return job
    TagBulkJob.objects.filter(pk=job.pk).update(status=RunStatus.RUNNING)
    ids = list(_selection_queryset(job.selection).values_list("pk", flat=True))
    job.total, job.processed, job.changed = len(ids), 0, 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with transaction.atomic():
            job.changed += _apply(job, chunk)
            job.processed += len(chunk)
            TagBulkJob.objects.filter(pk=job.pk).update(
                total=job.total, processed=job.processed, changed=job.changed
            )
    job.status, job.finished_at = RunStatus.DONE, timezone.now()
    job.save(update_fields=["status", "finished_at", "total", "processed", "changed"])
    audit_record(
        action=AuditLog.Action.TAG,
        summary=_("批量%(action)s「%(tag)s」：%(n)s 位客户")
        % {"action": job.get_action_display(), "tag": job.tag.name, "n": job.changed},
        actor=job.actor,
        obj=job.tag,
        details={"job": job.pk, "selection": job.selection, "changed": job.changed},
    )
    return job


def _apply(job: TagBulkJob, chunk: list[int]) -> int:
    if job.action == BulkAction.REMOVE:
        deleted, _by_model = CustomerTag.objects.filter(tag=job.tag, customer_id__in=chunk).delete()
        return deleted
    return customers_tag_bulk(
        customer_ids=chunk,
        tag=job.tag,
        source=TagSource.MANUAL,
        actor=job.actor,
        source_ref=f"bulk:{job.pk}",
    )


def tag_bulk_fail(*, job_id: int, error: str) -> None:
    TagBulkJob.objects.filter(pk=job_id).update(
        status=RunStatus.FAILED, error=error[:2000], finished_at=timezone.now()
    )
