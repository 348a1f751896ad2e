"""Parallel upserts of overlapping identities from several processes leave one customer each."""

import multiprocessing

import pytest
from django.db import connections

from channels.services import channel_account_create
from customers.models import Customer, Identity

from ..conftest import is_postgres

PEOPLE = 25
PROCESSES = 4


def run_in_processes(target) -> None:
    """Run `target(worker, barrier)` in PROCESSES forked processes started together."""
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=target, args=(w, barrier)) for w in range(PROCESSES)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * PROCESSES


def _upserts(worker: int, barrier) -> None:
    from customers.identities import normalize_identity as key
    from customers.services import customer_resolve

    connections.close_all()
    barrier.wait()
    for person in range(PEOPLE):
        sets = [
            [
                key("wechat_unionid", f"U{person}"),
                key("wechat_openid", f"O{person}-{worker}", "oa"),
            ],
            [
                key("phone", f"1380000{person:04d}"),
                key("app_user_id", f"A{person}-{worker}", "app"),
            ],
            [key("wechat_unionid", f"U{person}"), key("phone", f"1380000{person:04d}")],
        ]
        for keys in sets[worker % 3 :] + sets[: worker % 3]:
            customer_resolve(identities=keys, actor_label=f"proc-{worker}")
    connections.close_all()


@pytest.mark.worker
def test_parallel_overlapping_upserts_leave_no_duplicate(transactional_db):
    if not is_postgres():
        pytest.skip(
            "row locks across processes are a PostgreSQL property; SQLite serialises writes"
        )
    channel_account_create(kind="wechat_oa", code="oa", name="OA")
    channel_account_create(kind="app", code="app", name="App")
    run_in_processes(_upserts)
    assert Customer.objects.count() == PEOPLE
    for customer in Customer.objects.all():
        kinds = list(customer.identities.values_list("kind", flat=True))
        assert kinds.count("wechat_unionid") == 1 and kinds.count("phone") == 1
        assert kinds.count("wechat_openid") == PROCESSES and kinds.count("app_user_id") == PROCESSES
    assert Identity.objects.count() == PEOPLE * (2 + 2 * PROCESSES)


def _event_batches(worker: int, barrier) -> None:
    from customers.ingest import events_ingest

    connections.close_all()
    barrier.wait()
    rows = [
        {
            "event_id": f"w{worker}-{person}",
            "name": "page_view",
            "occurred_at": "2026-10-01T10:00:00+08:00",
            "channel": "oa",
            "identities": [
                {"kind": "wechat_unionid", "value": f"U{person}"},
                {"kind": "wechat_openid", "value": f"O{person}-{worker}", "scope": "oa"},
            ],
        }
        for person in range(PEOPLE * 4)
    ]
    for start in range(0, len(rows), 20):  # small batches interleave with the other processes
        result = events_ingest(rows=rows[start : start + 20], actor_label=f"proc-{worker}")
        assert not result.errors, result.errors
    connections.close_all()


@pytest.mark.worker
def test_parallel_event_batches_of_first_time_visitors_leave_no_duplicate(transactional_db):
    """New visitors are created set-wise; a race on the same unionid must still end as one."""
    if not is_postgres():
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises writes")
    channel_account_create(kind="wechat_oa", code="oa", name="OA")
    run_in_processes(_event_batches)
    assert Customer.objects.count() == PEOPLE * 4
    for customer in Customer.objects.prefetch_related("identities", "events"):
        kinds = [i.kind for i in customer.identities.all()]
        assert kinds.count("wechat_unionid") == 1
        assert kinds.count("wechat_openid") == PROCESSES
        assert len(customer.events.all()) == PROCESSES
