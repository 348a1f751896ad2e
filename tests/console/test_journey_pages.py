"""Console pages for SOP journeys, staff tasks and real-time triggers: every page with and
without data, the builder (steps as JSON, errors shown per step and field, nothing saved on
bad input), templates, status actions, marking a task done, triggers; analysts only read."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.choices import (
    EnrolmentStatus,
    JourneyStatus,
    JourneyTrigger,
    StepRunStatus,
    TaskStatus,
    TriggerStatus,
    WaitStatus,
)
from campaigns.journeys import journey_activate, journey_save
from campaigns.models import (
    ContentItem,
    Enrolment,
    Journey,
    JourneyStep,
    StaffTask,
    StepRun,
    TriggerRule,
    TriggerWait,
)
from campaigns.triggers import trigger_rule_save
from channels.models import Staff
from tests.conftest import resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(db):
    return ContentItem.objects.create(name="欢迎语", core_text="{{ name }}，欢迎！")


def steps_for(item, channels) -> list[dict]:
    return [
        {"kind": "wait", "name": "第 1 天",
         "config": {"mode": "day_at", "day": 1, "time": "10:00"}},
        {"kind": "condition", "name": "还没下单",
         "config": {"definition": {"not": {"event": "order_paid", "within": "7d"}}, "no": "end"}},
        {"kind": "action", "name": "发欢迎语",
         "config": {"action": "send", "content": item.pk,
                    "channels": [channels["wecom"].pk, channels["oa"].pk]}},
        {"kind": "action", "name": "跟进",
         "config": {"action": "staff_task", "title": "一对一跟进", "body": "你好", "due_hours": 4}},
    ]  # fmt: skip


def builder_data(item, channels, **extra) -> dict:
    data = {
        "name": "加购提醒",
        "description": "加购后提醒",
        "kind": "customer",
        "trigger_kind": "event",
        "trigger_event": "add_to_cart",
        "entry_filter": "",
        "reentry": "cooldown",
        "cooldown_days": "7",
        "goal_event": "order_paid",
        "respect_quiet_hours": "on",
        "steps": json.dumps(steps_for(item, channels)),
    }
    data.update(extra)
    return data


def make_journey(item, channels, **fields) -> Journey:
    return journey_save(
        journey=Journey(), steps=steps_for(item, channels), name=fields.pop("name", "培育旅程"),
        trigger_kind=JourneyTrigger.EVENT, trigger={"event": "add_to_cart"}, **fields,
    )  # fmt: skip


def enrol(journey, customer, status=EnrolmentStatus.ACTIVE, position=0) -> Enrolment:
    return Enrolment.objects.create(
        journey=journey, customer=customer, status=status, position=position,
        entered_at=timezone.now(), next_run_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip


# --- pages render --------------------------------------------------------------------------


EMPTY_PAGES = [
    "/journeys/",
    "/journeys/templates/",
    "/journeys/new/",
    "/journeys/tasks/",
    "/journeys/triggers/",
    "/journeys/triggers/new/",
]


@pytest.mark.parametrize("url", EMPTY_PAGES)
def test_pages_render_empty(client, operator, url):
    client.force_login(operator)
    response = client.get(url)
    assert response.status_code == 200
    if url in ("/journeys/", "/journeys/tasks/", "/journeys/triggers/"):
        assert 'data-testid="empty-state"' in response.content.decode()


def test_pages_need_login(client):
    for url in EMPTY_PAGES:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_pages_render_with_data(client, operator, channels, item):
    journey = make_journey(item, channels)
    journey_activate(journey=journey)
    customer = resolve(("phone", "13800000001", ""), name="张三")
    other = resolve(("phone", "13800000002", ""), name="李四")
    first = enrol(journey, customer, position=1)
    enrol(journey, other, status=EnrolmentStatus.GOAL, position=2)
    step0 = journey.steps.get(position=0)
    StepRun.objects.create(enrolment=first, step=step0, status=StepRunStatus.DONE,
                           started_at=timezone.now())  # fmt: skip
    StaffTask.objects.create(journey=journey, customer=customer, title="一对一跟进",
                             due_at=timezone.now() - timedelta(hours=1))  # fmt: skip
    rule = trigger_rule_save(
        rule=TriggerRule(), name="加购未支付", event_a="add_to_cart", event_b="order_paid",
        within_minutes=30, condition=None, action={"action": "points", "points": 10},
    )  # fmt: skip
    now = timezone.now()
    TriggerWait.objects.create(rule=rule, customer=customer, source_event_id=1, started_at=now,
                               deadline=now + timedelta(minutes=30))  # fmt: skip
    client.force_login(operator)

    listing = client.get("/journeys/")
    assert listing.status_code == 200
    row = listing.context["journeys"][0]
    assert (row.enrolled, row.active_now, row.goal_exits) == (2, 1, 1)
    assert "培育旅程" in listing.content.decode()
    assert client.get("/journeys/?q=培育").context["journeys"][0] == journey
    assert not client.get("/journeys/?q=nothing-like-it").context["journeys"]
    assert not client.get("/journeys/?status=draft").context["journeys"]

    detail = client.get(f"/journeys/{journey.pk}/")
    body = detail.content.decode()
    assert detail.status_code == 200
    assert 'data-testid="step-table"' in body and 'data-testid="chart-journey-funnel"' in body
    assert "发生事件 add_to_cart" in body
    assert detail.context["stats"]["steps"][0]["entered"] == 1
    assert detail.context["stats"]["steps"][1]["entered"] == 1  # waiting there
    assert len(detail.context["enrolments"]) == 2
    goal_only = client.get(f"/journeys/{journey.pk}/?status=goal")
    assert [e.customer for e in goal_only.context["enrolments"]] == [other]

    edit = client.get(f"/journeys/{journey.pk}/edit/")
    assert edit.status_code == 200 and edit.context["form"].fields["kind"].disabled
    assert len(edit.context["steps_json"]) == 4

    tasks = client.get("/journeys/tasks/")
    assert tasks.status_code == 200 and 'data-testid="task-overdue"' in tasks.content.decode()
    assert client.get(f"/journeys/tasks/?journey={journey.pk}").context["tasks"]
    assert not client.get("/journeys/tasks/?status=done").context["tasks"]

    triggers = client.get("/journeys/triggers/")
    assert triggers.status_code == 200 and triggers.context["rules"][0].waiting == 1
    rule_page = client.get(f"/journeys/triggers/{rule.pk}/")
    assert rule_page.status_code == 200 and rule_page.context["stats"]["total"] == 1
    assert client.get(f"/journeys/triggers/{rule.pk}/edit/").status_code == 200


def test_templates_page_greys_out_missing_channels(client, operator):
    client.force_login(operator)
    page = client.get("/journeys/templates/")
    cards = {c["template"].key: c["missing"] for c in page.context["cards"]}
    assert cards["oa_follower_137"] and not cards["birthday"]
    assert 'data-testid="template-missing"' in page.content.decode()


# --- the builder ---------------------------------------------------------------------------


def test_builder_creates_a_draft_journey_with_steps(client, operator, channels, item):
    client.force_login(operator)
    response = client.post("/journeys/new/", builder_data(item, channels))
    journey = Journey.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/journeys/{journey.pk}/"
    assert journey.status == JourneyStatus.DRAFT and journey.created_by == operator
    assert journey.trigger == {"event": "add_to_cart"} and journey.reentry == "cooldown"
    assert journey.cooldown_days == 7 and journey.goal_event == "order_paid"
    steps = list(journey.steps.order_by("position"))
    assert [s.kind for s in steps] == ["wait", "condition", "action", "action"]
    assert steps[2].config["channels"] == [channels["wecom"].pk, channels["oa"].pk]


def test_builder_edits_keep_status_and_kind(client, operator, channels, item):
    journey = make_journey(item, channels)
    journey_activate(journey=journey)
    client.force_login(operator)
    steps = steps_for(item, channels)[2:]
    data = builder_data(item, channels, name="改名", kind="group", steps=json.dumps(steps))
    response = client.post(f"/journeys/{journey.pk}/edit/", data)
    assert response.status_code == 302
    journey.refresh_from_db()
    assert journey.name == "改名" and journey.kind == "customer"
    assert journey.status == JourneyStatus.ACTIVE and journey.steps.count() == 2


def test_builder_trigger_fields_follow_the_trigger_kind(client, operator, channels, item):
    client.force_login(operator)
    data = builder_data(item, channels, trigger_kind="followed",
                        trigger_oa=str(channels["oa"].pk))  # fmt: skip
    assert client.post("/journeys/new/", data).status_code == 302
    assert Journey.objects.get().trigger == {"channel": channels["oa"].pk}


def test_builder_group_sop(client, operator, channels, item):
    client.force_login(operator)
    steps = [{"kind": "action", "name": "群发", "config": {"action": "group_message",
                                                           "content": item.pk}}]  # fmt: skip
    data = builder_data(item, channels, kind="group", trigger_kind="group_chat",
                        trigger_wecom=str(channels["wecom"].pk), trigger_new_groups="on",
                        goal_event="", steps=json.dumps(steps))  # fmt: skip
    assert client.post("/journeys/new/", data).status_code == 302
    journey = Journey.objects.get()
    assert journey.kind == "group"
    assert journey.trigger == {"channel": channels["wecom"].pk, "group_chats": [],
                               "new_groups": True}  # fmt: skip


def assert_nothing_saved(response, count=0):
    assert response.status_code == 400
    assert Journey.objects.count() == count
    assert 'data-testid="form-errors"' in response.content.decode()


def test_builder_empty_name(client, operator, channels, item):
    client.force_login(operator)
    response = client.post("/journeys/new/", builder_data(item, channels, name=""))
    assert_nothing_saved(response)
    assert "name" in response.context["form"].errors


def test_builder_malformed_json(client, operator, channels, item):
    client.force_login(operator)
    response = client.post("/journeys/new/", builder_data(item, channels, steps="[{oops"))
    assert_nothing_saved(response)
    assert "steps" in response.context["form"].errors
    response = client.post("/journeys/new/", builder_data(item, channels, entry_filter="{"))
    assert_nothing_saved(response)
    assert "entry_filter" in response.context["form"].errors
    response = client.post("/journeys/new/", builder_data(item, channels, steps=""))
    assert_nothing_saved(response)


@pytest.mark.parametrize(
    "steps, index, field",
    [
        ([{"kind": "wait", "config": {"mode": "duration"}}], 0, "days"),
        ([{"kind": "wait", "config": {"mode": "day_at", "day": 1, "time": "25:99"}}], 0, "time"),
        ([{"kind": "dance", "config": {}}], 0, "kind"),
        (["not a step"], 0, ""),
        ({"kind": "wait"}, None, None),
        ([{"kind": "wait", "config": {"mode": "duration", "days": 1}},
          {"kind": "condition", "config": {"definition": {"nope": 1}, "no": 0}}], 1, "no"),
        ([{"kind": "condition", "config": {"definition": {"nope": 1}, "no": "end"}}],
         0, "definition"),
        ([{"kind": "action", "config": {"action": "webhook", "url": "ftp://x"}}], 0, "url"),
        ([{"kind": "action", "config": {"action": "points", "points": "lots"}}], 0, "points"),
        ([{"kind": "action", "config": {"action": "tag_add", "tags": [999999]}}], 0, "tags"),
        ([{"kind": "action", "config": {"action": "staff_task", "title": ""}}], 0, "title"),
        ([{"kind": "action", "config": {"action": "launch_rocket"}}], 0, "action"),
    ],
)  # fmt: skip
def test_builder_bad_steps_show_per_step_errors(client, operator, channels, item, steps, index,
                                                field):  # fmt: skip
    client.force_login(operator)
    response = client.post("/journeys/new/", builder_data(item, channels, steps=json.dumps(steps)))
    assert_nothing_saved(response)
    errors = response.context["step_errors"]
    if index is None:
        assert response.context["form"].errors
    else:
        assert field in errors[str(index)], errors
        assert 'data-testid="step-error-summary"' in response.content.decode()
        assert f"第 {index + 1} 步" in response.content.decode()
    assert response.context["steps_json"] == (steps if isinstance(steps, list) else [])


def test_builder_unknown_content_and_channels(client, operator, channels, item):
    client.force_login(operator)
    steps = steps_for(item, channels)
    steps[2]["config"]["content"] = 999999
    steps[2]["config"]["channels"] = [channels["tmall"].pk]
    response = client.post("/journeys/new/", builder_data(item, channels, steps=json.dumps(steps)))
    assert_nothing_saved(response)
    errors = response.context["step_errors"]["2"]
    assert set(errors) == {"content", "channels"}
    # the errors go to the page's script for the step cards
    script = response.content.decode().split('id="jb-errors"')[1]
    assert '"content"' in script


def test_builder_trigger_and_filter_errors_on_their_fields(client, operator, channels, item):
    client.force_login(operator)
    response = client.post(
        "/journeys/new/", builder_data(item, channels, trigger_kind="tag_added", trigger_tag="")
    )
    assert_nothing_saved(response)
    assert "trigger_tag" in response.context["form"].errors
    bad_filter = json.dumps({"attr": "no_such_field", "op": "eq", "value": 1})
    response = client.post("/journeys/new/", builder_data(item, channels, entry_filter=bad_filter))
    assert_nothing_saved(response)
    assert "entry_filter" in response.context["form"].errors
    response = client.post(
        "/journeys/new/", builder_data(item, channels, trigger_kind="group_chat")
    )
    assert_nothing_saved(response)
    assert "trigger_kind" in response.context["form"].errors


def test_failed_edit_changes_nothing(client, operator, channels, item):
    journey = make_journey(item, channels)
    client.force_login(operator)
    data = builder_data(item, channels, name="新名字", steps=json.dumps([{"kind": "x"}]))
    response = client.post(f"/journeys/{journey.pk}/edit/", data)
    assert_nothing_saved(response, count=1)
    journey.refresh_from_db()
    assert journey.name == "培育旅程" and journey.steps.count() == 4
    assert response.context["journey"].name == "培育旅程"


def test_archived_journey_cannot_be_edited(client, operator, channels, item):
    journey = make_journey(item, channels, status=JourneyStatus.ARCHIVED)
    client.force_login(operator)
    response = client.get(f"/journeys/{journey.pk}/edit/")
    assert response.status_code == 302 and response["Location"] == f"/journeys/{journey.pk}/"


# --- templates and status ------------------------------------------------------------------


def test_template_makes_a_draft_and_opens_the_builder(client, operator, channels):
    client.force_login(operator)
    response = client.post("/journeys/templates/", {"key": "oa_follower_137"})
    journey = Journey.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/journeys/{journey.pk}/edit/"
    assert journey.status == JourneyStatus.DRAFT and journey.template == "oa_follower_137"
    builder = client.get(response["Location"])
    assert builder.status_code == 200 and len(builder.context["steps_json"]) == 6


def test_template_with_missing_channels_says_so(client, operator):
    client.force_login(operator)
    response = client.post("/journeys/templates/", {"key": "oa_follower_137"}, follow=True)
    assert Journey.objects.count() == 0
    assert "需要先接入" in response.content.decode()
    response = client.post("/journeys/templates/", {"key": "nope"}, follow=True)
    assert "没有这个模板" in response.content.decode()


def test_activate_pause_archive(client, operator, channels, item):
    journey = make_journey(item, channels)
    client.force_login(operator)
    url = f"/journeys/{journey.pk}/"
    assert client.post(url + "activate/")["Location"] == url
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.ACTIVE and journey.activated_at
    client.post(url + "pause/")
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.PAUSED
    client.post(url + "archive/")
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.ARCHIVED
    refused = client.post(url + "activate/", follow=True)
    assert "已归档的旅程不能再启用" in refused.content.decode()
    assert client.post(url + "explode/").status_code == 404
    assert client.get(url + "activate/").status_code == 405


def test_activate_refuses_when_content_is_gone(client, operator, channels, item):
    journey = make_journey(item, channels)
    JourneyStep.objects.filter(journey=journey, position=2).update(
        config={"action": "send", "content": 999999, "channels": [channels["wecom"].pk]}
    )
    client.force_login(operator)
    page = client.post(f"/journeys/{journey.pk}/activate/", follow=True)
    assert page.status_code == 200 and "请选择内容" in page.content.decode()
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.DRAFT


# --- staff tasks ---------------------------------------------------------------------------


def test_mark_a_task_done(client, operator, channels):
    staff = Staff.objects.create(account=channels["wecom"], userid="zhangsan", name="张三")
    customer = resolve(("phone", "13800000003", ""), name="王五")
    task = StaffTask.objects.create(staff=staff, customer=customer, title="发新人礼")
    StaffTask.objects.create(staff=None, customer=customer, title="别人的任务")
    client.force_login(operator)
    assert len(client.get(f"/journeys/tasks/?staff={staff.pk}").context["tasks"]) == 1
    assert len(client.get("/journeys/tasks/?q=新人礼").context["tasks"]) == 1
    response = client.post(f"/journeys/tasks/{task.pk}/done/", {"next": "/journeys/tasks/?q=x"})
    assert response.status_code == 302 and response["Location"] == "/journeys/tasks/?q=x"
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.completed_by == operator and task.completed_at
    assert len(client.get("/journeys/tasks/").context["tasks"]) == 1  # open ones by default
    done = client.get("/journeys/tasks/?status=done").context["tasks"]
    assert [t.pk for t in done] == [task.pk]
    again = client.post(f"/journeys/tasks/{task.pk}/done/", {"next": "https://evil.example/"})
    assert again["Location"] == "/journeys/tasks/"


# --- real-time triggers --------------------------------------------------------------------


def trigger_data(item, channels, **extra) -> dict:
    data = {
        "name": "加购未支付送券",
        "event_a": "add_to_cart",
        "event_a_channel": "",
        "event_b": "order_paid",
        "within_minutes": "30",
        "condition": json.dumps({"attr": "lifecycle", "op": "eq", "value": "active"}),
        "action": json.dumps(
            {"action": "send", "content": item.pk, "channels": [channels["wecom"].pk]}
        ),
    }
    data.update(extra)
    return data


def test_trigger_create_pause_resume(client, operator, channels, item):
    client.force_login(operator)
    response = client.post("/journeys/triggers/new/", trigger_data(item, channels))
    rule = TriggerRule.objects.get()
    assert response["Location"] == f"/journeys/triggers/{rule.pk}/"
    assert rule.action["channels"] == [channels["wecom"].pk] and rule.created_by == operator
    assert rule.condition == {"attr": "lifecycle", "op": "eq", "value": "active"}
    client.post(f"/journeys/triggers/{rule.pk}/pause/")
    rule.refresh_from_db()
    assert rule.status == TriggerStatus.PAUSED
    client.post(f"/journeys/triggers/{rule.pk}/resume/")
    rule.refresh_from_db()
    assert rule.status == TriggerStatus.ACTIVE
    edit = client.post(f"/journeys/triggers/{rule.pk}/edit/",
                       trigger_data(item, channels, within_minutes="45"))  # fmt: skip
    assert edit.status_code == 302
    rule.refresh_from_db()
    assert rule.within_minutes == 45 and TriggerRule.objects.count() == 1


@pytest.mark.parametrize(
    "extra, where",
    [
        ({"action": json.dumps({"action": "send", "content": 999999, "channels": []})}, "action"),
        ({"action": json.dumps({"action": "group_message"})}, "action"),
        ({"action": "{not json"}, "form"),
        ({"condition": "[oops"}, "form"),
        ({"condition": json.dumps({"bogus": 1})}, "form"),
        ({"name": "", "event_a": ""}, "form"),
        ({"event_b": "add_to_cart"}, "form"),
        ({"within_minutes": "0"}, "form"),
        ({"within_minutes": "abc"}, "form"),
    ],
)
def test_trigger_bad_input(client, operator, channels, item, extra, where):
    client.force_login(operator)
    response = client.post("/journeys/triggers/new/", trigger_data(item, channels, **extra))
    assert response.status_code == 400 and TriggerRule.objects.count() == 0
    assert 'data-testid="form-errors"' in response.content.decode()
    if where == "action":
        assert response.context["action_errors"]
    else:
        assert response.context["form"].errors


def test_trigger_wait_filter(client, operator, channels, item):
    rule = trigger_rule_save(
        rule=TriggerRule(), name="r", event_a="a", within_minutes=5,
        action={"action": "points", "points": 1},
    )  # fmt: skip
    customer = resolve(("phone", "13800000004", ""))
    now = timezone.now()
    for n, status in enumerate([WaitStatus.FIRED, WaitStatus.CANCELLED]):
        TriggerWait.objects.create(rule=rule, customer=customer, source_event_id=n, status=status,
                                   started_at=now, deadline=now, fired_at=now)  # fmt: skip
    client.force_login(operator)
    page = client.get(f"/journeys/triggers/{rule.pk}/?status=fired")
    assert [w.status for w in page.context["waits"]] == ["fired"]
    assert page.context["avg_lag_seconds"] == 0


# --- permissions ---------------------------------------------------------------------------


def test_analyst_reads_but_cannot_change(client, analyst, channels, item):
    journey = make_journey(item, channels)
    task = StaffTask.objects.create(title="t")
    rule = trigger_rule_save(
        rule=TriggerRule(), name="r", event_a="a", within_minutes=5,
        action={"action": "points", "points": 1},
    )  # fmt: skip
    client.force_login(analyst)
    for url in ("/journeys/", f"/journeys/{journey.pk}/", "/journeys/tasks/",
                "/journeys/triggers/", f"/journeys/triggers/{rule.pk}/",
                "/journeys/templates/"):  # fmt: skip
        page = client.get(url)
        assert page.status_code == 200, url
        assert 'data-testid="journey-activate"' not in page.content.decode()
    for url in ("/journeys/new/", f"/journeys/{journey.pk}/edit/", "/journeys/triggers/new/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/journeys/{journey.pk}/activate/").status_code == 403
    assert client.post(f"/journeys/tasks/{task.pk}/done/").status_code == 403
    assert client.post("/journeys/templates/", {"key": "birthday"}).status_code == 403
    assert client.post(f"/journeys/triggers/{rule.pk}/pause/").status_code == 403
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.DRAFT and Journey.objects.count() == 1


@pytest.mark.parametrize(
    "steps",
    ["null", "123", '"text"', "[" * 100_000 + "]" * 100_000,
     json.dumps([{"kind": "wait", "config": [1]}]),
     json.dumps([{"kind": "condition", "config": {"definition": "not json", "no": "x"}}]),
     json.dumps([{"kind": "action", "config": {"action": "send", "channels": "all"}}])],
)  # fmt: skip
def test_builder_never_fails_on_odd_steps(client, operator, channels, item, steps):
    client.force_login(operator)
    response = client.post("/journeys/new/", builder_data(item, channels, steps=steps))
    assert_nothing_saved(response)


def test_builder_never_fails_on_odd_fields(client, operator, channels, item):
    client.force_login(operator)
    for extra in (
        {"entry_filter": "5"}, {"entry_filter": "[" * 50_000}, {"trigger_days_before": "x"},
        {"trigger_kind": "birthday", "trigger_days_before": "99"}, {"cooldown_days": "0"},
        {"trigger_kind": "group_chat", "kind": "group", "trigger_wecom": "999999"},
        {"trigger_kind": "live_code", "trigger_live_code": "abc"}, {"kind": "robot"},
    ):  # fmt: skip
        assert_nothing_saved(client.post("/journeys/new/", builder_data(item, channels, **extra)))


def test_builder_shows_step_errors_with_field_errors(client, operator, channels, item):
    client.force_login(operator)
    steps = [{"kind": "action", "config": {"action": "webhook", "url": "nope"}}]
    data = builder_data(item, channels, cooldown_days="0", steps=json.dumps(steps))
    response = client.post("/journeys/new/", data)
    assert_nothing_saved(response)
    assert "cooldown_days" in response.context["form"].errors
    assert "url" in response.context["step_errors"]["0"]
