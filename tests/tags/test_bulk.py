"""Bulk tag / untag from the customer list: selected rows or the whole filter result."""

import pytest
from django.core.exceptions import ValidationError

from common.models import AuditLog
from customers.models import Customer
from tags.bulk import CHUNK, tag_bulk_start
from tags.models import BulkAction, CustomerTag, RunStatus, TagSource
from tags.services import customer_tags_change, tag_create

pytestmark = pytest.mark.django_db


def customers(count: int, city: str) -> list[int]:
    Customer.objects.bulk_create([Customer(name=f"{city}{i}", city=city) for i in range(count)])
    return list(Customer.objects.filter(city=city).values_list("pk", flat=True))


def test_selected_rows_are_tagged_with_actor_and_manual_source(
    operator, django_capture_on_commit_callbacks
):
    tag = tag_create(name="活动候选")
    ids = customers(3, "上海")
    with django_capture_on_commit_callbacks(execute=True):
        job = tag_bulk_start(tag=tag, action=BulkAction.ADD, ids=ids[:2], actor=operator)
    job.refresh_from_db()
    assert (job.status, job.total, job.processed, job.changed) == (RunStatus.DONE, 2, 2, 2)
    rows = CustomerTag.objects.filter(tag=tag)
    assert set(rows.values_list("customer_id", flat=True)) == set(ids[:2])
    assert {(r.source, r.added_by_id) for r in rows} == {(TagSource.MANUAL, operator.pk)}
    assert AuditLog.objects.filter(action=AuditLog.Action.TAG, actor=operator).exists()


def test_whole_filter_result_in_chunks_and_untag(operator, django_capture_on_commit_callbacks):
    tag = tag_create(name="北京")
    beijing = customers(CHUNK + 5, "北京")
    customers(4, "杭州")
    customer_tags_change(customer=Customer.objects.get(pk=beijing[0]), add=[tag.pk])
    with django_capture_on_commit_callbacks(execute=True):
        job = tag_bulk_start(tag=tag, action=BulkAction.ADD, filters={"city": "北京"})
    job.refresh_from_db()
    assert (job.total, job.processed, job.changed, job.percent) == (
        CHUNK + 5,
        CHUNK + 5,
        CHUNK + 4,
        100,
    )
    assert CustomerTag.objects.filter(tag=tag).count() == CHUNK + 5
    with django_capture_on_commit_callbacks(execute=True):
        removal = tag_bulk_start(tag=tag, action=BulkAction.REMOVE, filters={"city": "北京"})
    removal.refresh_from_db()
    assert removal.changed == CHUNK + 5 and not CustomerTag.objects.filter(tag=tag).exists()


def test_bad_selections_are_refused_before_anything_runs():
    tag = tag_create(name="x")
    for kwargs in ({"ids": []}, {"ids": ["a"]}, {"filters": {"city": "无此城"}}):
        with pytest.raises(ValidationError):
            tag_bulk_start(tag=tag, action=BulkAction.ADD, **kwargs)
    with pytest.raises(ValidationError):
        tag_bulk_start(tag=tag, action="explode", ids=[1])
    assert not tag.bulk_jobs.exists()
