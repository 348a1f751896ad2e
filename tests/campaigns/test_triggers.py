"""Real-time triggers on a frozen clock: "added to cart, not paid within 30 minutes, frequent
buyer → coupon": fired once after the deadline, cancelled by B in time, skipped when the
condition fails; rescans add nothing; bad rules are refused with field errors."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from campaigns.choices import WaitStatus
from campaigns.models import ContentItem, TriggerRule, TriggerWait
from campaigns.triggers import trigger_rule_save, trigger_stats, triggers_tick
from customers.models import Customer, Event
from tests.conftest import resolve, sms_account

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def tick(when: datetime) -> dict:
    with time_machine.travel(when, tick=False):
        return triggers_tick(now=when)


def event(customer, name: str, when: datetime):
    with time_machine.travel(when, tick=False):
        return Event.objects.create(customer=customer, name=name, occurred_at=when)


def buyer(phone: str, orders: int):
    customer = resolve(("phone", phone, ""))
    Customer.objects.filter(pk=customer.pk).update(total_orders=orders)
    return customer


@pytest.fixture
def rule(sandbox):
    sms = sms_account(sandbox.base_url)
    coupon = ContentItem.objects.create(name="加购券", core_text="{{ name }}，购物车商品 5 元券")
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        made = trigger_rule_save(
            rule=TriggerRule(), name="加购未支付", event_a="add_to_cart", event_b="order_paid",
            within_minutes=30, condition={"attr": "total_orders", "op": "gte", "value": 3},
            action={"action": "send", "content": coupon.pk, "channels": [sms.pk]},
        )  # fmt: skip
    made.sms = sms
    return made


def sent(sandbox, rule) -> list[str]:
    return [m["to"].removeprefix("+86") for m in sandbox.messages(rule.sms.app_id)]


def test_cart_abandonment_fires_once_after_the_deadline(sandbox, rule):
    frequent = buyer("13700000001", orders=5)
    event(frequent, "add_to_cart", T0)
    assert tick(T0 + timedelta(seconds=10))["waits"] == 1
    assert tick(T0 + timedelta(minutes=29, seconds=59))["fired"] == 0
    assert sent(sandbox, rule) == []

    assert tick(T0 + timedelta(minutes=30, seconds=5))["fired"] == 1
    tick(T0 + timedelta(minutes=30, seconds=20))
    tick(T0 + timedelta(minutes=45))
    assert sent(sandbox, rule) == ["13700000001"]
    wait = TriggerWait.objects.get()
    assert wait.status == WaitStatus.FIRED and wait.channel_account == rule.sms
    assert wait.fired_at - wait.deadline == timedelta(seconds=5)
    assert trigger_stats(rule)["by_status"] == {"fired": 1}


def test_b_in_time_cancels_and_the_condition_filters(sandbox, rule):
    paid_in_time = buyer("13700000002", orders=5)
    paid_late = buyer("13700000003", orders=5)
    occasional = buyer("13700000004", orders=1)
    for customer in (paid_in_time, paid_late, occasional):
        event(customer, "add_to_cart", T0)
    tick(T0 + timedelta(seconds=10))
    event(paid_in_time, "order_paid", T0 + timedelta(minutes=12))
    tick(T0 + timedelta(minutes=20))
    event(paid_late, "order_paid", T0 + timedelta(minutes=31))
    tick(T0 + timedelta(minutes=31, seconds=10))

    statuses = dict(TriggerWait.objects.values_list("customer", "status"))
    assert statuses == {
        paid_in_time.pk: WaitStatus.CANCELLED,
        paid_late.pk: WaitStatus.FIRED,  # B after the deadline is too late to cancel
        occasional.pk: WaitStatus.NOT_MATCHED,
    }
    assert sent(sandbox, rule) == ["13700000003"]


def test_each_event_a_starts_one_wait_however_often_scanned(sandbox, rule):
    frequent = buyer("13700000005", orders=4)
    event(frequent, "add_to_cart", T0)
    event(frequent, "add_to_cart", T0 + timedelta(minutes=1))
    for seconds in (5, 20, 35, 50, 65, 80):
        tick(T0 + timedelta(minutes=1, seconds=seconds))
    assert TriggerWait.objects.count() == 2
    tick(T0 + timedelta(minutes=40))
    assert sent(sandbox, rule) == ["13700000005", "13700000005"]


def test_events_before_the_rule_existed_start_nothing(sandbox, rule):
    frequent = buyer("13700000006", orders=4)
    event(frequent, "add_to_cart", T0 - timedelta(hours=2))
    assert tick(T0)["waits"] == 0


def test_a_paused_rule_starts_no_waits(sandbox, rule):
    TriggerRule.objects.filter(pk=rule.pk).update(status="paused")
    event(buyer("13700000007", orders=4), "add_to_cart", T0)
    assert tick(T0 + timedelta(minutes=31))["waits"] == 0


def test_bad_rules_are_refused_with_field_errors(channels):
    with pytest.raises(ValidationError) as caught:
        trigger_rule_save(
            rule=TriggerRule(), name=" ", event_a="add_to_cart", event_b="add_to_cart",
            within_minutes=0, condition={"attr": "no_such_field", "op": "eq", "value": 1},
            action={"action": "send", "content": 0, "channels": []},
        )  # fmt: skip
    errors = caught.value.message_dict
    assert {"name", "event_b", "within_minutes", "action.content", "action.channels"} <= set(errors)
    assert any(key.startswith("condition") for key in errors)
    assert not TriggerRule.objects.exists()
