"""Journeys and real-time triggers run by a real worker on the configured broker, against
the sandbox: the tick a Beat would send enrols, advances and sends once; a trigger's action
follows its deadline."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.choices import EnrolmentStatus, JourneyTrigger, WaitStatus
from campaigns.journey_tasks import journeys_tick_task, triggers_tick_task
from campaigns.journeys import journey_activate, journey_save
from campaigns.models import ContentItem, Enrolment, Journey, TriggerRule, TriggerWait
from campaigns.triggers import trigger_rule_save
from channels.sandbox.client import SandboxControl
from channels.sandbox.server import SandboxServer
from customers.models import Customer, Event
from tests.conftest import resolve, sms_account
from tests.workers.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def platform():
    with SandboxServer(port=0) as server:
        yield SandboxControl(server.url)


def texts(control, account) -> list[str]:
    return [m["to"].removeprefix("+86") for m in control.messages(account.app_id)]


def test_the_worker_runs_a_journey_tick_and_sends_each_customer_once(
    celery_worker_process, platform
):
    sms = sms_account(platform.base_url)
    welcome = ContentItem.objects.create(name="欢迎", core_text="{{ name }}，欢迎加入会员")
    journey = journey_save(
        journey=Journey(), name="注册欢迎", trigger_kind=JourneyTrigger.EVENT,
        trigger={"event": "register"}, respect_quiet_hours=False,
        steps=[{"kind": "action", "config": {"action": "send", "content": welcome.pk,
                                              "channels": [sms.pk]}}],
    )  # fmt: skip
    journey_activate(journey=journey)
    phones = [f"1360000{i:04d}" for i in range(40)]
    for phone in phones:
        customer = resolve(("phone", phone, ""), name=f"会员{phone[-2:]}")
        Event.objects.create(customer=customer, name="register", occurred_at=timezone.now())

    journeys_tick_task.delay()
    wait_for(lambda: len(texts(platform, sms)) == 40, timeout=90)
    journeys_tick_task.delay()  # a second tick: nothing new
    wait_for(
        lambda: not Enrolment.objects.filter(status=EnrolmentStatus.ACTIVE).exists(), timeout=60
    )
    assert sorted(texts(platform, sms)) == phones
    assert set(Enrolment.objects.values_list("status", flat=True)) == {EnrolmentStatus.DONE}


def test_the_worker_fires_a_trigger_after_its_deadline(celery_worker_process, platform):
    sms = sms_account(platform.base_url)
    coupon = ContentItem.objects.create(name="加购券", core_text="购物车商品 5 元券，今天有效")
    trigger_rule_save(
        rule=TriggerRule(), name="加购未支付", event_a="add_to_cart", event_b="order_paid",
        within_minutes=1, action={"action": "send", "content": coupon.pk, "channels": [sms.pk]},
    )  # fmt: skip
    waiting = resolve(("phone", "13600009999", ""))
    paid = resolve(("phone", "13600008888", ""))
    Customer.objects.filter(pk__in=[waiting.pk, paid.pk]).update(total_orders=5)
    almost = timezone.now() - timedelta(seconds=50)  # the deadline is 10 s away
    for customer in (waiting, paid):
        Event.objects.create(customer=customer, name="add_to_cart", occurred_at=almost)
    Event.objects.create(customer=paid, name="order_paid", occurred_at=timezone.now())

    def fired():
        triggers_tick_task.delay()  # what Beat sends every 15 seconds
        return texts(platform, sms)

    assert wait_for(fired, timeout=90, interval=3) == ["13600009999"]
    statuses = dict(TriggerWait.objects.values_list("customer", "status"))
    assert statuses == {waiting.pk: WaitStatus.FIRED, paid.pk: WaitStatus.CANCELLED}
