"""Parallel redemptions and re-sent earnings for one member never overdraw or double-earn."""

import pytest
from django.db import connections

from customers.models import Customer, PointsEntry
from tests.workers.test_concurrent_resolution import run_in_processes

from ..conftest import is_postgres

TRIES = 6  # per process: 4 × 6 × 10 points asked for, 100 available


def _spend(worker: int, barrier) -> None:
    from customers.points import PointsShort, points_earn, points_redeem

    connections.close_all()
    customer = Customer.objects.get(name="会员")
    barrier.wait()
    for attempt in range(TRIES):
        points_earn(customer=customer, points=7, idempotency_key=f"order-{attempt}")  # re-sent
        try:
            points_redeem(customer=customer, points=10, idempotency_key=f"r-{worker}-{attempt}")
        except PointsShort:
            pass
    connections.close_all()


@pytest.mark.worker
def test_parallel_redemptions_never_overdraw(transactional_db):
    if not is_postgres():
        pytest.skip("row locks across processes are a PostgreSQL property; SQLite serialises")
    from customers.points import points_earn

    customer = Customer.objects.create(name="会员")
    points_earn(customer=customer, points=100, idempotency_key="opening")
    run_in_processes(_spend)
    customer.refresh_from_db()
    entries = PointsEntry.objects.filter(customer=customer)
    earned = entries.filter(kind="earn").count()
    redeemed = entries.filter(kind="redeem").count()
    assert earned == 1 + TRIES  # each order key earned once, whoever sent it first
    total = 100 + 7 * TRIES
    # 24 redemptions of 10 were asked for against 142 points: the opening 100 covers ten of
    # them whatever the timing, and no interleaving may let more through than the points
    assert 10 <= redeemed <= total // 10
    assert customer.points_balance == total - 10 * redeemed == sum(e.points for e in entries)
    assert customer.points_balance >= 0


def _redeem_item(worker: int, barrier) -> None:
    from customers.membership import RedemptionRefused, redemption_create
    from customers.models import RewardItem
    from customers.points import PointsShort

    connections.close_all()
    item = RewardItem.objects.get()
    members = list(Customer.objects.filter(name__startswith="兑换").order_by("pk"))
    barrier.wait()
    for customer in members:
        for _sent in range(2):  # the second is a re-send with the same key
            try:
                redemption_create(
                    customer=customer, item=item, idempotency_key=f"item-{customer.pk}-{worker}"
                )
            except (RedemptionRefused, PointsShort):
                pass
    connections.close_all()


@pytest.mark.worker
def test_parallel_item_redemptions_never_oversell_or_overdraw(transactional_db):
    if not is_postgres():
        pytest.skip("row locks across processes are a PostgreSQL property; SQLite serialises")
    from customers.choices import RewardKind
    from customers.models import Redemption, RewardItem
    from customers.points import points_earn

    item = RewardItem.objects.create(
        name="联名马克杯", kind=RewardKind.MERCHANDISE, points_price=40, stock=7
    )
    members = [Customer.objects.create(name=f"兑换{i}") for i in range(3)]
    for customer in members:  # each can afford two mugs (90 points), not three
        points_earn(customer=customer, points=90, idempotency_key=f"open-{customer.pk}")
    run_in_processes(_redeem_item)  # 4 processes × 3 members, 12 tries for 7 mugs
    item.refresh_from_db()
    made = Redemption.objects.filter(item=item)
    assert made.count() == 6 and item.stock == 1 and item.redeemed_count == 6
    for customer in members:
        customer.refresh_from_db()
        assert made.filter(customer=customer).count() == 2
        assert customer.points_balance == 10
        assert customer.points_balance == sum(e.points for e in customer.points_entries.all())
