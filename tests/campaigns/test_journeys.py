"""SOP journeys on a frozen clock against the sandbox platform: enrolment by trigger, waits,
conditions, actions carried out once, goal exits, quiet hours, re-entry, staff tasks and the
group SOP, templates and per-step stats."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from campaigns.choices import (
    EnrolmentStatus,
    JourneyStatus,
    JourneyTrigger,
    ReentryPolicy,
    StepRunStatus,
    TaskStatus,
)
from campaigns.journey_templates import TEMPLATES, journey_from_template
from campaigns.journeys import (
    journey_activate,
    journey_archive,
    journey_save,
    journey_stats,
    journeys_tick,
    wait_until_for,
)
from campaigns.models import ContentItem, Enrolment, Journey, StaffTask, StepRun
from channels.adapters import adapter_for
from channels.models import GroupChat, Staff
from customers.models import Customer, Event
from tags.models import CustomerTag, Tag, TagGroup
from tests.conftest import resolve, sms_account

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.channels.test_adapters"]  # the sandbox `account` fixture

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)  # a Monday morning


def at(day: int, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return (T0 + timedelta(days=day)).replace(hour=hour, minute=minute)


def tick(when: datetime) -> dict:
    with time_machine.travel(when, tick=False):
        return journeys_tick(seconds=None)


def event(customer, name: str, when: datetime, account=None, **properties):
    with time_machine.travel(when, tick=False):
        return Event.objects.create(
            customer=customer, name=name, occurred_at=when, channel_account=account,
            properties=properties,
        )  # fmt: skip


def content(text: str = "{{ name }}，你好") -> ContentItem:
    return ContentItem.objects.create(name=text[:20], core_text=text)


def simple_journey(steps, *, trigger_kind=JourneyTrigger.EVENT, trigger=None, **fields):
    with time_machine.travel(T0, tick=False):
        journey = journey_save(
            journey=Journey(), steps=steps, name=fields.pop("name", "测试旅程"),
            trigger_kind=trigger_kind, trigger=trigger or {"event": "add_to_cart"}, **fields,
        )  # fmt: skip
        return journey_activate(journey=journey)


def send_step(account, item=None) -> dict:
    item = item or content()
    return {"kind": "action", "config": {"action": "send", "content": item.pk,
                                         "channels": [account.pk]}}  # fmt: skip


def sms_to(sandbox, account) -> list[str]:
    return [m["to"].removeprefix("+86") for m in sandbox.messages(account.app_id)]


# --- the seed's journey: new follower day 1 / 3 / 7 ----------------------------------------


def test_follower_journey_sends_day_1_3_7_once_each_and_stops_at_the_goal(sandbox, account):
    oa = account("wechat_oa", "oa", followers=3)
    openids = adapter_for(oa).follower_openids()
    buyer, stayer = (resolve(("wechat_openid", o, oa.code), name=n)
                     for o, n in zip(openids, ["买家", "观望"], strict=False))  # fmt: skip
    with time_machine.travel(T0, tick=False):
        journey = journey_from_template(key="oa_follower_137")
        journey_activate(journey=journey)
    for customer in (buyer, stayer):
        event(customer, "subscribe", T0 + timedelta(minutes=1), oa)
    event(buyer, "subscribe_before", T0)  # not the trigger

    assert tick(T0 + timedelta(minutes=2))["enrolled"] == 2
    assert tick(at(1, "09:59"))["steps"] == 0
    templates = lambda: [(m["to"], m["content"]["template_id"])  # noqa: E731
                         for m in sandbox.messages(oa.app_id, kind="template")]  # fmt: skip
    assert templates() == []

    tick(at(1, "10:00"))
    tick(at(1, "10:01"))  # a second tick in the same window sends nothing more
    assert sorted(templates()) == sorted([(openids[0], "TM_WELCOME"), (openids[1], "TM_WELCOME")])

    event(buyer, "order_paid", at(2, "15:00"), amount=99)
    result = tick(at(3, "10:00"))
    assert result["goal_exits"] == 1
    assert Enrolment.objects.get(customer=buyer).status == EnrolmentStatus.GOAL
    tick(at(5, "10:00"))
    tick(at(7, "10:00"))
    tick(at(8, "10:00"))

    assert sorted(templates()) == sorted(
        [(openids[0], "TM_WELCOME"), (openids[1], "TM_WELCOME"),
         (openids[1], "TM_PICKS"), (openids[1], "TM_MEMBER")]
    )  # fmt: skip
    stayed = Enrolment.objects.get(customer=stayer)
    assert stayed.status == EnrolmentStatus.DONE
    sends = StepRun.objects.filter(enrolment=stayed, step__kind="action")
    assert [(r.status, r.channel_account_id) for r in sends] == [("done", oa.pk)] * 3
    # the day-3 message reached the stayer at 10:00 on day 3, not before
    day3 = StepRun.objects.get(enrolment=stayed, step__position=3)
    assert day3.started_at == at(3, "10:00")

    stats = journey_stats(journey)
    assert stats["totals"] == {"goal": 1, "done": 1}
    welcome, picks = stats["steps"][1], stats["steps"][3]
    assert (welcome["entered"], welcome["done"]) == (2, 2)
    assert (picks["entered"], picks["done"], stats["steps"][2]["goal"]) == (1, 1, 1)


def test_a_subscribe_before_activation_does_not_enrol(sandbox, account):
    oa = account("wechat_oa", "oa", followers=1)
    customer = resolve(("wechat_openid", adapter_for(oa).follower_openids()[0], oa.code))
    event(customer, "subscribe", T0 - timedelta(minutes=3), oa)
    with time_machine.travel(T0, tick=False):
        journey_activate(journey=journey_from_template(key="oa_follower_137"))
    assert tick(T0 + timedelta(minutes=1))["enrolled"] == 0


# --- actions once --------------------------------------------------------------------------


def test_an_action_is_never_carried_out_twice(sandbox):
    sms = sms_account(sandbox.base_url)
    customers = [resolve(("phone", f"1390000000{i}", "")) for i in range(3)]
    journey = simple_journey([send_step(sms)])
    for customer in customers:
        event(customer, "add_to_cart", T0 + timedelta(minutes=1))
    tick(T0 + timedelta(minutes=2))
    assert sorted(sms_to(sandbox, sms)) == [f"1390000000{i}" for i in range(3)]

    # a worker that died mid-action: its step row is `running`, the enrolment due again
    crashed = Enrolment.objects.create(
        journey=journey, customer=resolve(("phone", "13900000009", "")),
        entered_at=T0, next_run_at=T0,
    )  # fmt: skip
    StepRun.objects.create(enrolment=crashed, step=journey.steps.get(), started_at=T0)
    tick(T0 + timedelta(minutes=10))
    tick(T0 + timedelta(minutes=11))

    assert "13900000009" not in sms_to(sandbox, sms)
    assert len(sms_to(sandbox, sms)) == 3
    run = StepRun.objects.get(enrolment=crashed)
    assert run.status == StepRunStatus.UNKNOWN
    crashed.refresh_from_db()
    assert crashed.status == EnrolmentStatus.DONE


def test_quiet_hours_defer_a_send_to_the_morning(sandbox):
    sms = sms_account(sandbox.base_url)
    customer = resolve(("phone", "13900000001", ""))
    simple_journey([send_step(sms)])
    night = T0.replace(hour=22, minute=0)
    event(customer, "add_to_cart", night)
    tick(night + timedelta(minutes=1))
    enrolment = Enrolment.objects.get(customer=customer)
    assert sms_to(sandbox, sms) == []
    assert enrolment.next_run_at == at(1, "09:00")
    tick(at(1, "08:59"))
    assert sms_to(sandbox, sms) == []
    tick(at(1, "09:00"))
    assert sms_to(sandbox, sms) == ["13900000001"]


def test_unreachable_customers_are_skipped_with_the_reason(sandbox):
    sms = sms_account(sandbox.base_url)
    no_phone = Customer.objects.create(name="没有手机号")
    blocked = resolve(("phone", "13900000002", ""))
    blocked.attributes = {"do_not_contact": True}
    blocked.save()
    simple_journey([send_step(sms)])
    for customer in (no_phone, blocked):
        event(customer, "add_to_cart", T0 + timedelta(minutes=1))
    tick(T0 + timedelta(minutes=2))
    outcomes = dict(StepRun.objects.values_list("enrolment__customer", "outcome"))
    assert outcomes == {no_phone.pk: "no_identity", blocked.pk: "do_not_contact"}
    assert sms_to(sandbox, sms) == []


# --- conditions, re-entry, waits -----------------------------------------------------------


def test_condition_branches_and_exit(sandbox):
    sms = sms_account(sandbox.base_url)
    group = TagGroup.objects.create(name="价值")
    vip_tag = Tag.objects.create(name="VIP", group=group)
    vip, plain = (resolve(("phone", p, "")) for p in ("13900000011", "13900000012"))
    CustomerTag.objects.create(customer=vip, tag=vip_tag)
    journey = simple_journey(
        [
            {"kind": "condition", "config": {"definition": {"tag": "VIP"}, "no": "end"}},
            send_step(sms),
        ]
    )
    for customer in (vip, plain):
        event(customer, "add_to_cart", T0 + timedelta(minutes=1))
    tick(T0 + timedelta(minutes=2))
    assert sms_to(sandbox, sms) == ["13900000011"]
    statuses = dict(Enrolment.objects.values_list("customer", "status"))
    assert statuses == {vip.pk: EnrolmentStatus.DONE, plain.pk: EnrolmentStatus.EXITED}
    first = journey_stats(journey)["steps"][0]
    assert (first["yes"], first["no"]) == (1, 1)


@pytest.mark.parametrize(
    ("reentry", "expected"),
    [(ReentryPolicy.ONCE, 1), (ReentryPolicy.AFTER_EXIT, 2), (ReentryPolicy.COOLDOWN, 1)],
)
def test_reentry_policy(sandbox, reentry, expected):
    sms = sms_account(sandbox.base_url)
    customer = resolve(("phone", "13900000021", ""))
    simple_journey([send_step(sms)], reentry=reentry, cooldown_days=3)
    event(customer, "add_to_cart", T0 + timedelta(minutes=1))
    tick(T0 + timedelta(minutes=2))
    event(customer, "add_to_cart", at(1, "10:00"))
    tick(at(1, "10:01"))
    tick(at(1, "10:02"))
    assert Enrolment.objects.filter(customer=customer).count() == expected
    assert len(sms_to(sandbox, sms)) == expected


def test_wait_modes():
    entered = datetime(2026, 3, 2, 23, 50, tzinfo=SHANGHAI)  # Monday night
    now = entered

    def until(config, when=now):
        return wait_until_for(config, now=when, entered_at=entered, zone=SHANGHAI)

    assert until({"mode": "duration", "days": 1, "hours": 2, "minutes": 0}) == now + timedelta(
        hours=26
    )
    thursday_ten = datetime(2026, 3, 5, 10, 0, tzinfo=SHANGHAI)
    assert until({"mode": "day_at", "day": 3, "time": "10:00"}) == thursday_ten
    # day 0 at a time already past: at once
    assert until({"mode": "day_at", "day": 0, "time": "10:00"}) == now
    # Saturday/Sunday 10:00–18:00 from a Monday night: Saturday 10:00
    window = {"mode": "window", "weekdays": [5, 6], "start": "10:00", "end": "18:00"}
    assert wait_until_for(window, now=now, entered_at=entered, zone=SHANGHAI) == datetime(
        2026, 3, 7, 10, 0, tzinfo=SHANGHAI
    )
    inside = datetime(2026, 3, 7, 12, 0, tzinfo=SHANGHAI)
    assert wait_until_for(window, now=inside, entered_at=entered, zone=SHANGHAI) == inside


def test_tag_points_and_enrolment_by_tag(sandbox):
    group = TagGroup.objects.create(name="旅程")
    trigger_tag = Tag.objects.create(name="试饮报名", group=group)
    done_tag = Tag.objects.create(name="已培育", group=group)
    customer = resolve(("phone", "13900000031", ""))
    simple_journey(
        [
            {"kind": "action", "config": {"action": "points", "points": 50, "reason": "试饮"}},
            {"kind": "action", "config": {"action": "tag_add", "tags": [done_tag.pk]}},
            {"kind": "action", "config": {"action": "tag_remove", "tags": [trigger_tag.pk]}},
        ],
        trigger_kind=JourneyTrigger.TAG_ADDED, trigger={"tag": trigger_tag.pk},
    )  # fmt: skip
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        CustomerTag.objects.create(customer=customer, tag=trigger_tag)
    tick(T0 + timedelta(minutes=2))
    tick(T0 + timedelta(minutes=3))  # the tag came and went: no second entry
    customer.refresh_from_db()
    assert customer.points_balance == 50
    assert list(
        CustomerTag.objects.filter(customer=customer).values_list("tag__name", flat=True)
    ) == ["已培育"]
    assert Enrolment.objects.filter(customer=customer).count() == 1


def test_entered_audience_and_birthday(sandbox):
    sms = sms_account(sandbox.base_url)
    sleeping = resolve(("phone", "13900000041", ""))
    Customer.objects.filter(pk=sleeping.pk).update(lifecycle="sleeping")
    with time_machine.travel(T0, tick=False):
        journey = journey_from_template(key="win_back")
        Journey.objects.filter(pk=journey.pk).update()
        journey.steps.filter(position=0).update(
            config={
                "action": "send",
                "content": journey.steps.get(position=0).config["content"],
                "channels": [sms.pk],
            }  # fmt: skip
        )
        journey_activate(journey=journey)
    tick(T0 + timedelta(minutes=1))
    assert sms_to(sandbox, sms) == ["13900000041"]
    # the audience is evaluated every 15 minutes: a customer falling asleep now enters then
    later = resolve(("phone", "13900000043", ""))
    Customer.objects.filter(pk=later.pk).update(lifecycle="sleeping")
    tick(T0 + timedelta(minutes=10))
    assert sms_to(sandbox, sms) == ["13900000041"]
    tick(T0 + timedelta(minutes=16))
    assert sms_to(sandbox, sms) == ["13900000041", "13900000043"]

    birthday = resolve(("phone", "13900000042", ""))
    Customer.objects.filter(pk=birthday.pk).update(birthday=datetime(1990, 3, 5).date())
    simple_journey(
        [send_step(sms, content("{{ name }}生日快乐"))],
        trigger_kind=JourneyTrigger.BIRTHDAY, trigger={"days_before": 3},
        reentry=ReentryPolicy.AFTER_EXIT, name="生日",
    )  # fmt: skip
    tick(T0 + timedelta(minutes=2))  # 3 March + 3 days = 5 March
    tick(T0 + timedelta(minutes=3))
    assert sms_to(sandbox, sms).count("13900000042") == 1


# --- staff tasks and the group SOP ---------------------------------------------------------


def test_wecom_sop_gives_the_staff_member_a_task_and_reminds_them(sandbox, account):
    wecom = account("wecom", "wecom", staff=2, contacts=5, agent_id="1000002",
                    options={"agent_id": 1000002})  # fmt: skip
    adapter = adapter_for(wecom)
    external_userid = sandbox.state(wecom.app_id)["sample"][0]
    userid = adapter.external_contact(external_userid)["follow_user"][0]["userid"]
    staff = Staff.objects.create(account=wecom, userid=userid, name="小满")
    customer = resolve(("wecom_external_userid", external_userid, wecom.code), name="王女士")
    with time_machine.travel(T0, tick=False):
        journey = journey_from_template(key="wecom_new_contact")
        journey_activate(journey=journey)
    event(customer, "add_external_contact", T0 + timedelta(minutes=1), wecom,
          staff=userid, live_code=1)  # fmt: skip
    tick(T0 + timedelta(minutes=2))

    task = StaffTask.objects.get()
    assert (task.staff, task.customer, task.status) == (staff, customer, TaskStatus.OPEN)
    assert "王女士" in task.body and task.reminded_at is not None
    assert task.step_run.step.position == 0
    reminders = [m for m in sandbox.messages(wecom.app_id) if m["kind"] != "msg_template"]
    assert any("SOP" in m["text"] for m in reminders)


def test_group_sop_messages_each_new_group_once(sandbox, account):
    wecom = account("wecom", "wecom", staff=2, contacts=5, groups=2)
    chats = adapter_for(wecom).group_chats()
    with time_machine.travel(T0, tick=False):
        journey = journey_from_template(key="group_sop")
        journey_activate(journey=journey)
    for chat in chats:
        GroupChat.objects.create(account=wecom, chat_id=chat["chat_id"], owner=chat["owner"],
                                 name=chat.get("name", ""))  # fmt: skip
    tick(T0 + timedelta(minutes=1))
    assert Enrolment.objects.filter(journey=journey).count() == 2
    tick(at(0, "20:00"))
    tick(at(0, "20:01"))
    group_messages = [m["to"] for m in sandbox.messages(wecom.app_id, kind="msg_template")]
    assert sorted(group_messages) == sorted(c["chat_id"] for c in chats)
    assert StaffTask.objects.filter(group_chat__isnull=False).count() == 2


# --- checking, templates, archive ----------------------------------------------------------


def test_bad_journeys_are_refused_with_field_errors(channels):
    with pytest.raises(ValidationError) as caught:
        journey_save(
            journey=Journey(), name="", trigger_kind=JourneyTrigger.EVENT, trigger={},
            steps=[
                {"kind": "wait", "config": {"mode": "day_at", "day": 1, "time": "25:99"}},
                {"kind": "condition", "config": {"definition": {"attr": "nope"}, "no": 0}},
                {"kind": "action", "config": {"action": "send", "content": 999999}},
                {"kind": "teleport"},
            ],
        )  # fmt: skip
    errors = caught.value.message_dict
    assert {"name", "trigger.event", "steps[0].time", "steps[1].no", "steps[2].content",
            "steps[2].channels", "steps[3].kind"} <= set(errors)  # fmt: skip
    assert any(key.startswith("steps[1].definition") for key in errors)
    assert not Journey.objects.exists()


def test_every_template_makes_a_valid_draft(sandbox, account):
    account("wechat_oa", "oa", followers=1)
    account("wecom", "wecom", staff=1, contacts=1)
    sms_account(sandbox.base_url)
    for template in TEMPLATES:
        journey = journey_from_template(key=template.key)
        assert journey.status == JourneyStatus.DRAFT
        assert journey.steps.count() == len(template.steps)
    assert Journey.objects.count() == len(TEMPLATES)


def test_a_template_without_its_channel_says_what_is_missing(db):
    with pytest.raises(ValidationError, match="公众号"):
        journey_from_template(key="oa_follower_137")


def test_archiving_stops_running_enrolments(sandbox):
    sms = sms_account(sandbox.base_url)
    customer = resolve(("phone", "13900000051", ""))
    journey = simple_journey([{"kind": "wait", "config": {"mode": "duration", "days": 1}},
                              send_step(sms)])  # fmt: skip
    event(customer, "add_to_cart", T0 + timedelta(minutes=1))
    tick(T0 + timedelta(minutes=2))
    journey_archive(journey=journey)
    tick(at(2, "10:00"))
    assert Enrolment.objects.get().status == EnrolmentStatus.STOPPED
    assert sms_to(sandbox, sms) == []
