"""The points ledger: earn and redeem through the API, idempotency, no overdraft, merges."""

from decimal import Decimal

import pytest

from customers.models import Customer, PointsEntry
from customers.points import PointsShort, points_earn, points_redeem
from customers.services import customer_merge
from tests.conftest import resolve

pytestmark = pytest.mark.django_db


def member(phone: str) -> Customer:
    return resolve(("phone", phone, ""), name="会员")


def test_earn_and_redeem_through_the_api(api, channels):
    customer = member("13800000001")
    url = f"/api/v1/customers/{customer.pk}/points"
    earned = api.post(f"{url}/earn", {"points": 120, "channel": "app", "reason": "order",
                                      "idempotency_key": "order-1"}, format="json")  # fmt: skip
    assert earned.status_code == 201, earned.json()
    assert earned.json()["balance"] == 120 and earned.json()["entry"]["channel"] == "app"
    again = api.post(f"{url}/earn", {"points": 120, "channel": "app",
                                     "idempotency_key": "order-1"}, format="json")  # fmt: skip
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["balance"] == 120 and PointsEntry.objects.count() == 1
    spent = api.post(f"{url}/redeem", {"points": 100, "idempotency_key": "r-1"}, format="json")
    assert spent.status_code == 201 and spent.json()["balance"] == 20
    short = api.post(f"{url}/redeem", {"points": 21, "idempotency_key": "r-2"}, format="json")
    assert short.status_code == 409 and "20" in short.json()["detail"]
    ledger = api.get(f"{url}/").json()
    assert ledger["balance"] == 20 == Customer.objects.get().points_balance
    assert [e["points"] for e in ledger["ledger"]] == [-100, 120]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"points": 0, "idempotency_key": "k"}, "points"),
        ({"points": 0.25, "idempotency_key": "k"}, "points"),
        ({"points": "ten", "idempotency_key": "k"}, "points"),
        ({"points": 5}, "idempotency_key"),
        ({"points": 5, "channel": "nowhere", "idempotency_key": "k"}, "channel"),
    ],
)
def test_bad_requests_are_400_and_write_nothing(api, channels, payload, field):
    customer = member("13800000001")
    response = api.post(f"/api/v1/customers/{customer.pk}/points/earn", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not PointsEntry.objects.exists()


def test_a_key_reused_for_something_else_is_refused(api):
    first, second = member("13800000001"), member("13800000002")
    points_earn(customer=first, points=10, idempotency_key="k1")
    response = api.post(
        f"/api/v1/customers/{second.pk}/points/earn",
        {"points": 10, "idempotency_key": "k1"},
        format="json",
    )
    assert response.status_code == 400 and "idempotency_key" in response.json()
    assert Customer.objects.get(pk=second.pk).points_balance == 0


def test_analysts_read_but_cannot_post(analyst_api):
    customer = member("13800000001")
    assert analyst_api.get(f"/api/v1/customers/{customer.pk}/points/").status_code == 200
    denied = analyst_api.post(
        f"/api/v1/customers/{customer.pk}/points/earn",
        {"points": 5, "idempotency_key": "k"},
        format="json",
    )
    assert denied.status_code == 403


def test_service_refuses_overdraft_and_merge_sums_the_ledgers():
    a, b = member("13800000001"), member("13800000002")
    points_earn(customer=a, points=50)
    points_earn(customer=b, points=30)
    with pytest.raises(PointsShort):
        points_redeem(customer=b, points=31)
    customer_merge(survivor_id=a.pk, other_ids=[b.pk])
    survivor = Customer.objects.get()
    assert survivor.points_balance == 80 and survivor.points_entries.count() == 2


def test_profile_shows_the_member_card(client, operator):
    customer = member("13800000001")
    points_earn(customer=customer, points=120, reason="注册礼")
    points_redeem(customer=customer, points=20, reason="兑换包邮券")
    client.force_login(operator)
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert 'data-testid="points-balance">100<' in page
    assert "注册礼" in page and "兑换包邮券" in page and "-20" in page


def test_half_points_for_a_sign_in(api):
    customer = member("13800000001")
    url = f"/api/v1/customers/{customer.pk}/points"
    for day in range(3):
        api.post(f"{url}/earn", {"points": 0.5, "reason": "签到", "idempotency_key": f"s{day}"},
                 format="json")  # fmt: skip
    assert api.get(f"{url}/").json()["balance"] == 1.5
    with pytest.raises(PointsShort):
        points_redeem(customer=customer, points=2)
    with pytest.raises(Exception, match="一位小数"):
        points_earn(customer=customer, points="0.05")
    assert str(Customer.objects.get().points_balance) == "1.5"


def test_paid_orders_earn_by_channel_and_refunds_reverse(api, channels):
    from customers.models import PointsEarnRule

    PointsEarnRule.objects.create(name="App 每元 1 分", channel_account=channels["app"],
                                  points_per_yuan=1)  # fmt: skip
    PointsEarnRule.objects.create(name="其他渠道 每 2 元 1.5 分", points_per_yuan="0.75")

    def order(order_id, channel, amount, status="paid"):
        return {"order_id": order_id, "amount": amount, "status": status, "channel": channel,
                "paid_at": "2026-11-01T10:00:00+08:00",
                "identities": [{"kind": "phone", "value": "13800000001"}]}  # fmt: skip

    batch = [order("A-1", "app", "128.50"), order("T-1", "tmall", "99.90")]
    api.post("/api/v1/orders/batch", {"orders": batch}, format="json")
    api.post("/api/v1/orders/batch", {"orders": batch}, format="json")  # re-sent: no double
    customer = Customer.objects.get()
    assert customer.points_balance == Decimal("128.5") + Decimal("74.9")
    points_redeem(customer=customer, points=200)
    refund = [order("A-1", "app", "128.50", status="refunded")]
    api.post("/api/v1/orders/batch", {"orders": refund}, format="json")
    api.post("/api/v1/orders/batch", {"orders": refund}, format="json")
    customer.refresh_from_db()
    kinds = list(customer.points_entries.order_by("id").values_list("kind", "points"))
    assert kinds == [("earn", Decimal("128.5")), ("earn", Decimal("74.9")),
                     ("redeem", Decimal("-200.0")), ("reverse", Decimal("-128.5"))]  # fmt: skip
    assert customer.points_balance == Decimal("-125.1")  # the refund takes back what was spent


def test_sign_ins_earn_half_a_point_capped_per_day(api, channels):
    from customers.models import PointsEventRule

    PointsEventRule.objects.create(name="公众号签到 0.5 分", event_name="sign_in",
                                   channel_account=channels["oa"], points="0.5",
                                   daily_cap="0.5", monthly_cap="1.0")  # fmt: skip

    def sign_in(event_id, when, channel="oa"):
        return {"event_id": event_id, "name": "sign_in", "occurred_at": when, "channel": channel,
                "identities": [{"kind": "phone", "value": "13800000001"}]}  # fmt: skip

    batch = [
        sign_in("s1", "2026-11-01T09:00:00+08:00"),
        sign_in("s2", "2026-11-01T20:00:00+08:00"),  # same day: capped
        sign_in("s3", "2026-11-02T09:00:00+08:00"),
        sign_in("s4", "2026-11-03T09:00:00+08:00"),  # the month's 1.0 is reached
        sign_in("s5", "2026-11-03T10:00:00+08:00", channel="app"),  # another channel: no rule
    ]
    assert api.post("/api/v1/events/batch", {"events": batch}, format="json").status_code == 200
    api.post("/api/v1/events/batch", {"events": batch}, format="json")  # re-sent: nothing more
    customer = Customer.objects.get()
    assert customer.points_balance == Decimal("1.0")
    assert list(customer.points_entries.values_list("points", flat=True)) == [Decimal("0.5")] * 2
