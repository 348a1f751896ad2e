"""Membership: multipliers and rounding, expiry on a frozen clock, tiers up and down, the
reward catalogue and redemptions, staff adjustments, DSL fields and content placeholders."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from common.models import AuditLog
from customers.choices import ExpiryPolicy, PointsKind, RedemptionStatus, RewardKind, TierBasis
from customers.ingest import events_ingest, orders_ingest
from customers.membership import (
    RedemptionRefused,
    redemption_cancel,
    redemption_create,
    reward_items_for,
    tiers_refresh,
)
from customers.models import (
    Customer,
    Event,
    MembershipSettings,
    MemberTier,
    PointsEarnRule,
    PointsEntry,
    PointsEventRule,
    PointsPromotion,
    RewardItem,
)
from customers.placeholders import placeholders_check, placeholders_for, placeholders_render
from customers.points import (
    PointsShort,
    points_adjust,
    points_earn,
    points_expire,
    points_redeem,
)
from customers.tasks import points_expire_task
from tags.dsl import audience_count
from tests.conftest import resolve

pytestmark = pytest.mark.django_db
PHONE = [{"kind": "phone", "value": "13800000001"}]


def at(text: str) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(text))


def member(phone: str = "13800000001") -> Customer:
    return resolve(("phone", phone, ""), name="会员")


def fresh(customer: Customer) -> Customer:
    return Customer.objects.get(pk=customer.pk)


def order(channel: str, external_id: str, amount, status="paid", paid_at="2026-03-01T10:00"):
    return {"channel": channel, "order_id": external_id, "amount": amount, "status": status,
            "paid_at": paid_at, "identities": PHONE}  # fmt: skip


@pytest.fixture
def tiers(db):
    MembershipSettings.objects.update_or_create(pk=1, defaults={"tier_basis": TierBasis.POINTS})
    return {
        t[0]: MemberTier.objects.create(code=t[0], name=t[1], threshold=t[2], earn_multiplier=t[3])
        for t in (("silver", "银卡", 500, "1"), ("gold", "金卡", 2000, "1.5"))
    }


def test_tier_and_promotion_multiply_order_points_with_the_rules_rounding(channels, tiers):
    PointsEarnRule.objects.create(name="门店", channel_account=channels["tmall"],
                                  points_per_yuan="0.75", rounding="down_whole")  # fmt: skip
    orders_ingest(rows=[order("tmall", "T1", "2667.00")])
    customer = Customer.objects.get()
    assert customer.points_balance == 2000 and customer.tier == "gold"  # 2000.25 → 2000
    PointsPromotion.objects.create(name="双11", multiplier=2, starts_at=at("2026-11-01T00:00"),
                                   ends_at=at("2026-11-12T00:00"))  # fmt: skip
    orders_ingest(rows=[order("tmall", "T2", "101.00", paid_at="2026-11-11T20:00")])
    entry = PointsEntry.objects.get(source_ref="T2")
    assert entry.points == 227  # 101 × 0.75 × 1.5 (gold) × 2 (promotion) = 227.25, floored
    assert "×3" in entry.reason and entry.occurred_at == at("2026-11-11T20:00")
    orders_ingest(rows=[order("tmall", "T3", "100.00", paid_at="2026-11-20T20:00")])
    assert PointsEntry.objects.get(source_ref="T3").points == 112  # after the promotion: ×1.5


def test_earn_by_amount_through_the_api(api, channels):
    PointsEarnRule.objects.create(name="App 消费", channel_account=channels["app"],
                                  points_per_yuan="1")  # fmt: skip
    customer = member()
    url = f"/api/v1/customers/{customer.pk}/points/earn"
    body = {"amount": "88.80", "channel": "app", "idempotency_key": "till-1"}
    response = api.post(url, body, format="json")
    assert response.status_code == 201 and response.json()["entry"]["points"] == 88.8
    assert api.post(url, body, format="json").json()["created"] is False
    no_rule = api.post(url, {"amount": 10, "channel": "oa", "idempotency_key": "k"}, format="json")
    assert no_rule.status_code == 400 and "channel" in no_rule.json()
    both = api.post(url, {"amount": 1, "points": 1, "idempotency_key": "k2"}, format="json")
    assert both.status_code == 400 and "points" in both.json()
    assert fresh(customer).points_balance == Decimal("88.8")


def test_expiry_on_a_frozen_clock_expires_the_right_lots_and_nothing_else(channels):
    MembershipSettings.objects.update_or_create(
        pk=1, defaults={"expiry_policy": ExpiryPolicy.END_OF_NEXT_YEAR}
    )
    customer, other = member(), member("13800000002")
    old = points_earn(customer=customer, points=100, occurred_at=at("2024-05-01T09:00"))
    young = points_earn(customer=customer, points=50, occurred_at=at("2025-02-01T09:00"))
    points_earn(customer=other, points=30, occurred_at=at("2025-12-31T09:00"))
    assert old.entry.expires_at == at("2025-12-31T23:59:59")
    with time_machine.travel(at("2025-06-01T12:00"), tick=False):
        points_redeem(customer=customer, points=70, idempotency_key="r1")  # oldest lot first
    assert PointsEntry.objects.get(pk=old.entry.pk).remaining == 30
    with time_machine.travel(at("2025-12-31T23:59:00"), tick=False):
        assert points_expire_task() == 0  # not yet
    with time_machine.travel(at("2026-01-01T00:05"), tick=False):
        assert points_expire_task() == 1
        assert points_expire_task() == 0  # run twice: nothing more
    expired = PointsEntry.objects.get(kind=PointsKind.EXPIRE)
    assert (expired.customer_id, expired.points) == (customer.pk, -30)
    assert expired.occurred_at == old.entry.expires_at
    assert fresh(customer).points_balance == 50 and fresh(other).points_balance == 30
    assert PointsEntry.objects.get(pk=young.entry.pk).remaining == 50


def test_expiring_points_are_a_dsl_field_and_placeholders(channels):
    MembershipSettings.objects.update_or_create(
        pk=1, defaults={"expiry_policy": ExpiryPolicy.AFTER_MONTHS, "expiry_months": 1}
    )
    soon, later = member(), member("13800000002")
    points_earn(customer=soon, points=40, occurred_at=timezone.now() - timedelta(days=10))
    points_earn(customer=later, points=40)
    MembershipSettings.objects.filter(pk=1).update(reminder_days=25)
    from customers.points import points_expiring_refresh

    points_expiring_refresh()
    assert fresh(soon).points_expiring == 40 and fresh(later).points_expiring == 0
    definition = {"attr": "points_expiring", "op": "gt", "value": 0}
    assert audience_count(definition) == 1
    values = placeholders_for([soon.pk])[soon.pk]
    text = "{{ name }}，您有 {{ points_expiring }} 积分将于 {{points_expire_at}} 过期，"
    text += "余额 {{ points }}"
    rendered = placeholders_render(text, values)
    assert rendered.startswith("会员，您有 40 积分将于 ") and rendered.endswith("余额 40")
    assert "{{" not in rendered
    with pytest.raises(ValidationError, match="balance"):
        placeholders_check("{{ balance }}")


def test_tiers_grade_up_at_once_and_down_when_the_window_rolls(channels, tiers):
    customer = member()
    points_earn(customer=customer, points=600, occurred_at=at("2025-01-10T10:00"))
    with time_machine.travel(at("2025-01-10T10:05"), tick=False):
        tiers_refresh()
    assert fresh(customer).tier == "silver"
    assert fresh(customer).tier_score == 600
    with time_machine.travel(at("2026-02-01T03:00"), tick=False):
        assert tiers_refresh() == 1  # a year on, nothing earned in the window
    assert fresh(customer).tier == "" and fresh(customer).tier_score == 0
    changes = list(Event.objects.filter(name="tier_changed").values_list("properties", flat=True))
    directions = sorted((c["from"], c["to"], c["direction"]) for c in changes)
    assert ("silver", "", "down") in directions
    assert audience_count({"attr": "tier", "op": "eq", "value": "silver"}) == 0


def test_tier_by_spend_counts_paid_orders_less_refunds(channels, tiers):
    MembershipSettings.objects.filter(pk=1).update(tier_basis=TierBasis.SPEND)
    now = timezone.now().isoformat()
    orders_ingest(rows=[order("app", "A1", "1500", paid_at=now),
                        order("app", "A2", "800", paid_at=now)])  # fmt: skip
    customer = Customer.objects.get()
    assert fresh(customer).tier == "gold"
    orders_ingest(rows=[order("app", "A2", "800", status="refunded", paid_at=now)])
    assert fresh(customer).tier == "silver" and fresh(customer).tier_score == 1500


def test_event_rule_caps_hold_with_a_multiplier(channels, tiers):
    PointsEventRule.objects.create(name="签到", event_name="sign_in", points="0.5",
                                   daily_cap="0.5")  # fmt: skip
    customer = member()
    points_earn(customer=customer, points=2000)  # gold: ×1.5
    rows = [{"name": "sign_in", "channel": "mini", "source_id": f"s{i}",
             "occurred_at": timezone.now().isoformat(),
             "identities": PHONE} for i in range(3)]  # fmt: skip
    events_ingest(rows=rows)
    signs = PointsEntry.objects.filter(reason__startswith="签到")
    assert [e.points for e in signs] == [Decimal("0.5")]  # 0.75 capped to the day's 0.5


@pytest.fixture
def shelf(channels):
    return {
        "shipping": _item("App 包邮券", RewardKind.FREE_SHIPPING, 100, [channels["app"]]),
        "mug": _item(
            "联名马克杯",
            RewardKind.MERCHANDISE,
            300,
            [channels["oa"], channels["mini"]],
            stock=1,
            limit=1,
        ),  # fmt: skip
        "coupon": _item("10 元券", RewardKind.COUPON, 50, []),
    }


def _item(name, kind, price, accounts, stock=None, limit=None) -> RewardItem:
    item = RewardItem.objects.create(
        name=name, kind=kind, points_price=price, stock=stock, per_customer_limit=limit
    )
    item.channel_accounts.set(accounts)
    return item


def test_each_channel_offers_its_own_rewards(channels, shelf):
    names = lambda code: sorted(i.name for i in reward_items_for(channels[code]))  # noqa: E731
    assert names("app") == ["10 元券", "App 包邮券"]
    assert names("oa") == names("mini") == ["10 元券", "联名马克杯"]
    customer = member()
    points_earn(customer=customer, points=1000)
    with pytest.raises(ValidationError) as refused:
        redemption_create(customer=customer, item=shelf["shipping"],
                          channel_account=channels["oa"], idempotency_key="x")  # fmt: skip
    assert "channel" in refused.value.message_dict
    done = redemption_create(customer=customer, item=shelf["shipping"],
                             channel_account=channels["app"], idempotency_key="r1")  # fmt: skip
    assert done.redemption.status == RedemptionStatus.FULFILLED and done.balance == 900


def test_stock_limit_and_cancel(channels, shelf):
    a, b = member(), member("13800000002")
    points_earn(customer=a, points=1000)
    points_earn(customer=b, points=1000)
    mug = shelf["mug"]
    made = redemption_create(customer=a, item=mug, channel_account=channels["oa"],
                             idempotency_key="m1")  # fmt: skip
    assert made.redemption.status == RedemptionStatus.PENDING
    again = redemption_create(customer=a, item=mug, channel_account=channels["oa"],
                              idempotency_key="m1")  # fmt: skip
    assert again.created is False and again.redemption.pk == made.redemption.pk
    with pytest.raises(RedemptionRefused, match="兑完"):
        redemption_create(customer=b, item=mug, channel_account=channels["oa"],
                          idempotency_key="m2")  # fmt: skip
    assert fresh(b).points_balance == 1000
    redemption_cancel(redemption=made.redemption, reason="缺货")
    assert RewardItem.objects.get(pk=mug.pk).stock == 1 and fresh(a).points_balance == 1000
    redemption_create(customer=b, item=mug, channel_account=channels["mini"], idempotency_key="m3")
    assert RewardItem.objects.get(pk=mug.pk).stock == 0
    assert AuditLog.objects.filter(action="redemption.cancel").count() == 1


def test_redeem_an_item_through_the_api(api, channels, shelf):
    customer = member()
    points_earn(customer=customer, points=120)
    url = f"/api/v1/customers/{customer.pk}/points/redeem"
    body = {"item": shelf["shipping"].pk, "channel": "app", "idempotency_key": "api-r1"}
    response = api.post(url, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["redemption"]["item_name"] == "App 包邮券"
    assert response.json()["balance"] == 20
    short = api.post(url, {**body, "idempotency_key": "api-r2"}, format="json")
    assert short.status_code == 409 and "积分不足" in short.json()["detail"]
    wrong = api.post(url, {**body, "channel": "oa", "idempotency_key": "api-r3"}, format="json")
    assert wrong.status_code == 400 and "channel" in wrong.json()
    ledger = api.get(f"/api/v1/customers/{customer.pk}/points/").json()
    assert ledger["balance"] == 20 and ledger["redemptions"][0]["status"] == "fulfilled"


def test_staff_adjustment_needs_a_reason_is_audited_and_cannot_overdraw(operator):
    customer = member()
    with pytest.raises(ValidationError):
        points_adjust(customer=customer, points=10, reason=" ", actor=operator)
    points_adjust(customer=customer, points="25.5", reason="客诉补偿", actor=operator)
    with pytest.raises(PointsShort):
        points_adjust(customer=customer, points=-30, reason="误发", actor=operator)
    points_adjust(customer=customer, points=-5, reason="误发", actor=operator)
    assert fresh(customer).points_balance == Decimal("20.5")
    log = AuditLog.objects.filter(action="points.adjust").order_by("id")
    assert [entry.details["points"] for entry in log] == ["+25.5", "-5"]
    assert log[0].actor == operator


def test_expire_keeps_balances_equal_to_ledgers(channels):
    customers = [member(f"1380000{i:04d}") for i in range(5)]
    for i, customer in enumerate(customers):
        points_earn(customer=customer, points=10 + i, occurred_at=at("2023-03-01T00:00"))
    assert points_expire(now=at("2030-01-01T00:00")) == 5
    for customer in customers:
        assert fresh(customer).points_balance == 0
