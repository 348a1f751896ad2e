"""SOP journeys in a real browser: start from the "new OA follower day 1/3/7" template, change
a wait in the builder, save, activate and read the detail page; the staff tasks page and the
real-time trigger form (its action editor and errors)."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.choices import EnrolmentStatus, JourneyStatus, StepRunStatus
from campaigns.models import ContentItem, Enrolment, Journey, StaffTask, StepRun, TriggerRule
from channels.models import Staff
from tests.conftest import resolve
from tests.e2e.conftest import shot
from tests.e2e.test_console import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ops(channels, django_user_model):
    user = django_user_model.objects.create_user(username="ops", password="pw-ops")
    user.groups.add(Group.objects.get(name="operator"))
    return user


def test_journey_from_template_edit_activate(page, ops, channels):
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, "ops")
    page.goto(page.base + "/journeys/")
    expect(page.get_by_test_id("empty-state")).to_contain_text("还没有客户旅程")
    page.get_by_test_id("empty-state").get_by_role("link", name="从模板创建").click()
    cards = page.get_by_test_id("template-card")
    expect(cards).to_have_count(6)
    shot(page, "journey-templates")
    page.get_by_test_id("template-use-oa_follower_137").click()

    expect(page).to_have_url(re.compile(r"/journeys/\d+/edit/$"))
    step_cards = page.get_by_test_id("step-card")
    expect(step_cards).to_have_count(6)
    first_wait = step_cards.nth(0)
    expect(first_wait.locator("[data-jb=mode]")).to_have_value("day_at")
    first_wait.locator("[data-jb=time]").fill("09:30")
    first_wait.locator("[data-jb=name]").fill("第 1 天 9:30")
    # the send steps carry their content and channels
    expect(step_cards.nth(1).locator("[data-jb=content]")).not_to_have_value("")
    expect(step_cards.nth(1).get_by_test_id("jb-channels").locator("input:checked")).to_have_count(
        1
    )
    # add a condition, see the audience builder in it, then remove it again
    page.get_by_test_id("step-add").get_by_role("button", name="添加条件").click()
    expect(step_cards).to_have_count(7)
    expect(step_cards.nth(6).locator(".qb-visual .qb-group")).to_be_visible()
    step_cards.nth(6).locator("[data-jb=remove]").click()
    expect(step_cards).to_have_count(6)
    shot(page, "journey-builder")
    page.get_by_test_id("journey-save").click()

    expect(page).to_have_url(re.compile(r"/journeys/\d+/$"))
    journey = Journey.objects.get()
    assert journey.steps.get(position=0).config["time"] == "09:30"
    assert journey.status == JourneyStatus.DRAFT
    page.get_by_test_id("journey-activate").click()
    expect(page.get_by_test_id("journey-status")).to_have_text("运行中")
    expect(page.get_by_test_id("step-row")).to_have_count(6)
    expect(page.get_by_test_id("step-table")).to_contain_text("等到进入后第 1 天 09:30")
    expect(page.get_by_test_id("trigger-words")).to_contain_text("关注公众号")
    # some followers went through: the funnel and the enrolments show them
    steps = list(journey.steps.order_by("position"))
    now = timezone.now()
    for n in range(5):
        customer = resolve(("phone", f"1380000000{n}", ""), name=f"客户{n}")
        position = [1, 2, 2, 3, 6][n]
        status = EnrolmentStatus.GOAL if n == 3 else EnrolmentStatus.ACTIVE
        if position == 6:
            status = EnrolmentStatus.DONE
        enrolment = Enrolment.objects.create(
            journey=journey, customer=customer, status=status, position=min(position, 5),
            entered_at=now - timedelta(days=position), next_run_at=now + timedelta(hours=n),
        )  # fmt: skip
        for step in steps[:position]:
            StepRun.objects.create(enrolment=enrolment, step=step, status=StepRunStatus.DONE,
                                   started_at=now)  # fmt: skip
    page.reload()
    expect(page.get_by_test_id("kpi-enrolled")).to_have_text("5")
    expect(page.get_by_test_id("chart-journey-funnel").locator(".main-svg").first).to_be_visible()
    expect(page.get_by_test_id("enrolment-row")).to_have_count(5)
    shot(page, "journey-detail")
    page.goto(page.base + "/journeys/")
    expect(page.get_by_test_id("journey-row")).to_have_count(1)
    shot(page, "journey-list")


def test_builder_shows_step_errors(page, ops, channels):
    login(page, "ops")
    page.goto(page.base + "/journeys/new/")
    page.locator("input[name=name]").fill("坏旅程")
    page.locator("select[name=trigger_kind]").select_option("event")
    page.locator("input[name=trigger_event]").fill("add_to_cart")
    page.get_by_test_id("step-add").get_by_role("button", name="添加动作").click()
    page.get_by_test_id("journey-save").click()
    expect(page.get_by_test_id("form-errors")).to_contain_text("第 1 步")
    card = page.get_by_test_id("step-card").nth(0)
    expect(card.get_by_test_id("step-error").first).to_be_visible()
    shot(page, "journey-builder-errors")
    assert Journey.objects.count() == 0


def test_staff_tasks_and_trigger_form(page, ops, channels):
    page.on("dialog", lambda dialog: dialog.accept())
    staff = Staff.objects.create(account=channels["wecom"], userid="lisa", name="Lisa")
    wang = resolve(("phone", "13812345678", ""), name="王小明")
    li = resolve(("phone", "13900001111", ""), name="李娜")
    now = timezone.now()
    StaffTask.objects.create(staff=staff, customer=wang, title="添加当天：发送新人礼",
                             body="您好 王小明，新人礼已为您备好～",
                             due_at=now - timedelta(hours=2))  # fmt: skip
    StaffTask.objects.create(staff=staff, customer=li, title="次日：了解需求并推荐",
                             due_at=now + timedelta(hours=20))  # fmt: skip
    item = ContentItem.objects.create(name="购物车提醒", core_text="你的购物车还有商品")
    login(page, "ops")
    page.goto(page.base + "/journeys/tasks/")
    expect(page.get_by_test_id("task-row")).to_have_count(2)
    expect(page.get_by_test_id("task-overdue")).to_have_count(1)
    shot(page, "staff-tasks")
    page.get_by_test_id("task-done").first.click()
    expect(page.get_by_test_id("task-row")).to_have_count(1)

    page.goto(page.base + "/journeys/triggers/new/")
    form = page.get_by_test_id("trigger-form")
    form.locator("input[name=name]").fill("加购 30 分钟未支付送券")
    form.locator("input[name=event_a]").fill("add_to_cart")
    form.locator("input[name=event_b]").fill("order_paid")
    form.locator("input[name=within_minutes]").fill("30")
    editor = page.get_by_test_id("action-editor")
    editor.locator("[data-jb=action]").select_option("send")
    page.get_by_test_id("trigger-save").click()  # no content, no channel yet
    expect(page.get_by_test_id("form-errors")).to_be_visible()
    expect(editor.get_by_test_id("step-error").first).to_be_visible()
    editor.locator("[data-jb=content]").select_option(str(item.pk))
    editor.get_by_test_id("jb-channels").get_by_text("品牌企业微信").click()
    shot(page, "trigger-form")
    page.get_by_test_id("trigger-save").click()
    expect(page).to_have_url(re.compile(r"/journeys/triggers/\d+/$"))
    rule = TriggerRule.objects.get()
    assert rule.action["channels"] == [channels["wecom"].pk]
    expect(page.get_by_test_id("trigger-summary")).to_contain_text("add_to_cart")
    shot(page, "trigger-detail")


def test_builder_group_sop_with_a_window_wait(page, ops, channels):
    item = ContentItem.objects.create(name="群规", core_text="欢迎加入会员福利群")
    login(page, "ops")
    page.goto(page.base + "/journeys/new/")
    page.locator("input[name=name]").fill("新群 SOP")
    page.locator("select[name=kind]").select_option("group")
    expect(page.locator("select[name=trigger_kind]")).to_have_value("group_chat")
    expect(page.get_by_test_id("entry-filter")).to_be_hidden()
    page.locator("select[name=trigger_wecom]").select_option(str(channels["wecom"].pk))
    add = page.get_by_test_id("step-add")
    add.get_by_role("button", name="添加动作").click()
    add.get_by_role("button", name="添加等待").click()
    cards = page.get_by_test_id("step-card")
    action = cards.nth(0)
    expect(action.locator("[data-jb=action]")).to_have_value("group_message")
    action.locator("[data-jb=content]").select_option(str(item.pk))
    wait = cards.nth(1)
    wait.locator("[data-jb=mode]").select_option("window")
    wait.get_by_text("周六").click()
    wait.locator("[data-jb=up]").click()  # the wait goes first
    expect(cards.nth(0)).to_have_attribute("data-kind", "wait")
    shot(page, "journey-builder-group")
    page.get_by_test_id("journey-save").click()

    expect(page).to_have_url(re.compile(r"/journeys/\d+/$"))
    journey = Journey.objects.get()
    assert journey.kind == "group" and journey.trigger["channel"] == channels["wecom"].pk
    steps = list(journey.steps.order_by("position"))
    assert steps[0].config == {"mode": "window", "weekdays": [0, 1, 2, 3, 4, 5],
                               "start": "09:00", "end": "21:00"}  # fmt: skip
    assert steps[1].config["action"] == "group_message"
