"""Alerts: the seed rule on the demo brand (a channel's conversion drops → its pushes pause,
people are told, resuming undoes it), the comparisons on hand-made rollups, WeCom app
messages against the sandbox platform, the rule form's errors and who may do what."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse

from campaigns.choices import PushStatus, ScheduleKind
from campaigns.models import Push
from campaigns.pushes import push_launch
from channels.models import ChannelAccount
from channels.services import channel_account_create
from common.models import AuditLog
from config.demo import demo_load
from customers.choices import OrderStatus
from customers.models import Order
from reports.alerts import (
    SEED_RULE_NAME,
    alert_acknowledge,
    alert_resolve,
    alert_resume_pushes,
    alert_rule_save,
    alert_rules_seed,
    alerts_evaluate,
)
from reports.choices import AlertComparison, AlertScope, AlertStatus
from reports.context_processors import open_alerts
from reports.metrics import channel_totals
from reports.models import AlertEvent, AlertRule, ChannelDay
from reports.rollups import day_bounds, rollups_refresh
from tests.campaigns.test_materialise import bulk_customers, make_push
from tests.conftest import make_user

pytest_plugins = ["tests.channels.test_adapters"]
pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 9, 16, 9, 0, tzinfo=SHANGHAI)
# The demo's App (400 customers) has ~30 active customer-days a week, so its weekly
# conversion swings; the rule is evaluated as of a day when the App sells as usual.
TODAY = NOW.date() - timedelta(days=9)
YESTERDAY = TODAY - timedelta(days=1)
WINDOW_START = TODAY - timedelta(days=7)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def conversion(account: ChannelAccount, start: date, end: date) -> float:
    """Buyers ÷ active users over the days, straight from the rollup rows."""
    rows = ChannelDay.objects.filter(channel_account=account, day__gte=start, day__lte=end)
    return sum(r.buyers for r in rows) / sum(r.active_users for r in rows)


# --- the done-means scenario on the demo brand ---------------------------------------------


def test_seed_rule_pauses_the_dropping_channel_and_resumes_on_request(
    frozen, settings, client, django_user_model
):
    settings.ADMINS = [("运营值班", "ops@example.com")]
    demo_load(customers=400)
    accounts = {a.code: a for a in ChannelAccount.objects.all()}
    operator = make_user(django_user_model, "alert-op", "operator")
    bulk_customers(3)
    later = NOW + timedelta(days=3)
    app_push = make_push([accounts["app"]], name="App 秋季上新", actor=operator,
                         schedule_kind=ScheduleKind.AT, send_at=later)  # fmt: skip
    sms_push = make_push([accounts["sms"]], name="短信 秋季上新", actor=operator,
                         schedule_kind=ScheduleKind.AT, send_at=later)  # fmt: skip
    for push in (app_push, sms_push):
        push_launch(push=push, user=operator)
    rollups_refresh(start=TODAY - timedelta(days=40), end=YESTERDAY)
    rule = alert_rules_seed()
    assert alert_rules_seed() == rule and AlertRule.objects.count() == 1
    assert (rule.metric, rule.comparison, rule.threshold) == ("conversion", "below_mean", 5)
    assert rule.email_to == "ops@example.com" and rule.notify_email and rule.pause_pushes

    baseline_start, baseline_end = TODAY - timedelta(days=35), TODAY - timedelta(days=8)
    app_before = conversion(accounts["app"], WINDOW_START, YESTERDAY)
    app_mean = conversion(accounts["app"], baseline_start, baseline_end)
    assert app_before >= app_mean * 0.95  # the demo's app converts as usual
    fired = alerts_evaluate(today=TODAY)
    assert accounts["app"].pk not in {e.channel_account_id for e in fired}
    app_push.refresh_from_db()
    assert app_push.status == PushStatus.SCHEDULED

    # the app's sales of the last week fall through: its paid orders are cancelled
    lo, hi = day_bounds(WINDOW_START, YESTERDAY)
    dropped = Order.objects.filter(
        channel_account=accounts["app"], paid_at__gte=lo, paid_at__lt=hi,
        status__in=(OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED),
    )  # fmt: skip
    keep = list(dropped.values_list("pk", flat=True)[:1])  # one order left: a drop, not zero
    assert dropped.exclude(pk__in=keep).update(status=OrderStatus.CANCELLED) > 1
    rollups_refresh(start=WINDOW_START, end=YESTERDAY)
    app_after = conversion(accounts["app"], WINDOW_START, YESTERDAY)
    assert app_after < app_mean * 0.95

    mail.outbox.clear()
    fired = alerts_evaluate(today=TODAY)
    (event,) = [e for e in fired if e.channel_account_id == accounts["app"].pk]
    assert event.rule == rule and event.status == AlertStatus.OPEN
    assert (event.window_start, event.window_end) == (WINDOW_START, YESTERDAY)
    assert float(event.value) == pytest.approx(app_after, abs=1e-6)
    assert float(event.baseline) == pytest.approx(app_mean, abs=1e-6)
    assert event.key == f"{rule.pk}:{accounts['app'].pk}:{YESTERDAY.isoformat()}"
    assert "茶小满 App" in event.message and f"{app_after * 100:.2f}%" in event.message
    app_push.refresh_from_db()
    sms_push.refresh_from_db()
    assert app_push.status == PushStatus.PAUSED and sms_push.status == PushStatus.SCHEDULED
    assert event.paused_pushes == [app_push.pk]
    assert event.notifications["email"] == "sent" and event.notifications["console"] == "shown"
    assert event.notifications["wecom"].startswith("error")  # the demo's WeCom has no app
    assert any(m.to == ["ops@example.com"] and event.message in m.body for m in mail.outbox)
    assert alerts_evaluate(today=TODAY) == []  # the same window never fires twice

    client.force_login(operator)
    page = client.get(reverse("reports:alerts"))
    assert page.status_code == 200 and "茶小满 App" in page.content.decode()
    request = RequestFactory().get("/")
    request.user = operator
    assert open_alerts(request) == {
        "open_alert_count": AlertEvent.objects.filter(status="open").count()
    }
    detail = client.get(reverse("reports:alert", args=[event.pk])).content.decode()
    assert (
        reverse("pushes:detail", args=[app_push.pk]) in detail
        and 'data-testid="alert-resume"' in detail
    )

    response = client.post(reverse("reports:alert_action", args=[event.pk, "resume"]))
    assert response.status_code == 302
    app_push.refresh_from_db()
    event.refresh_from_db()
    assert app_push.status == PushStatus.SCHEDULED
    assert event.resumed_by == operator and event.resumed_at is not None
    assert AuditLog.objects.filter(action="alert.resume_pushes", actor=operator).exists()
    with pytest.raises(ValidationError):  # resuming twice does nothing more
        alert_resume_pushes(event=event, user=operator)


# --- the comparisons on hand-made rollups --------------------------------------------------

DAY = date(2026, 5, 20)  # "today": the window is May 13–19


def rows(account, first: date, days: int, **values) -> None:
    """`days` rollup rows from `first` on with the same figures."""
    ChannelDay.objects.bulk_create(
        ChannelDay(channel_account=account, day=first + timedelta(days=i), **values)
        for i in range(days)
    )


def rule(**fields) -> AlertRule:
    fields = {"name": "测试规则", "metric": "conversion", "channel_kind": "app",
              "scope": AlertScope.EACH_ACCOUNT, "comparison": AlertComparison.BELOW_VALUE,
              "threshold": Decimal(5), "window_days": 7, "baseline_days": 28, **fields}  # fmt: skip
    return alert_rule_save(rule=AlertRule(), **fields)


@pytest.fixture
def apps(db):
    return [channel_account_create(kind="app", code=f"app{i}", name=f"App {i}") for i in (1, 2)]


def test_below_a_threshold_in_percent(apps):
    first, second = apps
    window = DAY - timedelta(days=7)
    rows(first, window, 7, active_users=100, buyers=4)  # 4% < 5%
    rows(second, window, 7, active_users=100, buyers=6)  # 6%
    (event,) = alerts_evaluate(today=DAY, rules=[rule()])
    assert event.channel_account == first and event.value == Decimal("0.04")
    assert event.baseline == Decimal("0.05") and "4.00%" in event.message
    assert not event.paused_pushes and event.notifications == {"console": "shown"}


def test_above_a_threshold_on_a_count_over_the_window(apps):
    first, _second = apps
    rows(first, DAY - timedelta(days=7), 7, orders=3)  # 21 orders in the window
    assert alerts_evaluate(today=DAY, rules=[rule(metric="orders", comparison="above_value",
                                                  threshold=21)]) == []  # fmt: skip
    (event,) = alerts_evaluate(
        today=DAY, rules=[rule(metric="orders", comparison="above_value", threshold=20)]
    )
    assert (event.value, event.baseline) == (21, 20)


def test_against_the_previous_period(apps):
    first, second = apps
    rows(first, DAY - timedelta(days=14), 7, gmv=Decimal("1000"))
    rows(first, DAY - timedelta(days=7), 7, gmv=Decimal("800"))  # −20%
    rows(second, DAY - timedelta(days=14), 14, gmv=Decimal("1000"))
    fired = alerts_evaluate(today=DAY, rules=[rule(metric="gmv", comparison="below_previous",
                                                   threshold=25)])  # fmt: skip
    assert fired == []
    (event,) = alerts_evaluate(
        today=DAY, rules=[rule(metric="gmv", comparison="below_previous", threshold=10)]
    )
    assert (event.channel_account, event.value, event.baseline) == (first, 5600, 7000)
    assert "2026-05-06 至 2026-05-12" in event.message  # the previous period
    # rising needs a rise: the same figures do not fire "above the previous period"
    assert alerts_evaluate(today=DAY, rules=[rule(metric="gmv", comparison="above_previous",
                                                  threshold=10)]) == []  # fmt: skip


def test_mean_of_a_count_is_scaled_to_the_window(apps):
    first, _second = apps
    rows(first, DAY - timedelta(days=35), 28, orders=10)  # 70 orders a week on average
    rows(first, DAY - timedelta(days=7), 7, orders=12)  # 84: +20%
    above = rule(metric="orders", comparison="above_mean", threshold=15)
    (event,) = alerts_evaluate(today=DAY, rules=[above])
    assert (event.value, event.baseline) == (84, 70)
    assert alerts_evaluate(today=DAY, rules=[above]) == []  # the same window once
    assert alerts_evaluate(today=DAY, rules=[rule(metric="orders", comparison="above_mean",
                                                  threshold=25)]) == []  # fmt: skip
    # a daily mean KPI is not scaled again: 50 active a day before, 40 now
    ChannelDay.objects.filter(channel_account=first, day__lt=DAY - timedelta(days=7)).update(
        active_users=50
    )
    ChannelDay.objects.filter(channel_account=first, day__gte=DAY - timedelta(days=7)).update(
        active_users=40
    )
    (event,) = alerts_evaluate(
        today=DAY, rules=[rule(metric="active_users", comparison="below_mean", threshold=10)]
    )
    assert (event.value, event.baseline) == (40, 50)


def test_total_scope_and_nothing_to_compare_with(apps):
    first, second = apps
    rows(first, DAY - timedelta(days=7), 7, active_users=50, buyers=1)
    rows(second, DAY - timedelta(days=7), 7, active_users=50, buyers=4)  # together 5%
    totals = channel_totals(start=DAY - timedelta(days=7), end=DAY - timedelta(days=1))
    assert totals["buyers"] / totals["active_users"] == 0.05
    total = rule(scope="total", threshold=Decimal("5.5"))
    (event,) = alerts_evaluate(today=DAY, rules=[total])
    assert event.channel_account is None and event.value == Decimal("0.05")
    assert event.key.endswith(":all:2026-05-19") and "所有渠道合计" in event.message
    # a kind with no accounts is nothing, not every account
    assert alerts_evaluate(today=DAY, rules=[rule(scope="total", channel_kind="douyin")]) == []
    # no baseline days: a relative rule has nothing to be relative to
    assert alerts_evaluate(today=DAY, rules=[rule(comparison="below_mean")]) == []
    # a disabled rule is skipped unless asked for by name
    total.enabled = False
    total.save(update_fields=["enabled"])
    AlertEvent.objects.all().delete()
    assert alerts_evaluate(today=DAY) == []


def test_pauses_only_that_channels_pushes_and_resumes_only_those(apps, django_user_model):
    first, second = apps
    operator = make_user(django_user_model, "op-pause", "operator")
    bulk_customers(2)
    send_at = datetime(2026, 5, 21, 10, tzinfo=SHANGHAI)
    with time_machine.travel(datetime(2026, 5, 20, 9, tzinfo=SHANGHAI), tick=False):
        on_first = make_push([first], name="一号", schedule_kind="at", send_at=send_at)
        on_both = make_push([second, first], name="两个", schedule_kind="at", send_at=send_at)
        on_second = make_push([second], name="二号", schedule_kind="at", send_at=send_at)
        for push in (on_first, on_both, on_second):
            push_launch(push=push, user=operator)
        rows(first, DAY - timedelta(days=7), 7, active_users=100, buyers=1)
        (event,) = alerts_evaluate(today=DAY, rules=[rule(pause_pushes=True)])
        assert sorted(event.paused_pushes) == sorted([on_first.pk, on_both.pk])
        statuses = dict(Push.objects.values_list("pk", "status"))
        assert statuses == {on_first.pk: "paused", on_both.pk: "paused", on_second.pk: "scheduled"}
        # someone cancels one meanwhile: resuming leaves it cancelled
        from campaigns.pushes import push_cancel

        push_cancel(push=Push.objects.get(pk=on_both.pk), user=operator)
        resumed = alert_resume_pushes(event=event, user=operator)
    assert [p.pk for p in resumed] == [on_first.pk]
    statuses = dict(Push.objects.values_list("pk", "status"))
    assert statuses == {on_first.pk: "scheduled", on_both.pk: "cancelled",
                        on_second.pk: "scheduled"}  # fmt: skip
    alert_acknowledge(event=event, user=operator)
    with pytest.raises(ValidationError):
        alert_acknowledge(event=event, user=operator)
    alert_resolve(event=event, user=operator)
    event.refresh_from_db()
    assert event.status == AlertStatus.RESOLVED and event.resolved_at is not None


# --- notifications -------------------------------------------------------------------------


def test_wecom_app_message_to_the_rules_members(sandbox, account, apps):
    from tests.channels.test_adapters import wecom

    adapter = wecom(account)
    staff = adapter.follow_users()
    rows(apps[0], DAY - timedelta(days=7), 7, active_users=100, buyers=1)
    watch = rule(notify_wecom=True, wecom_account=adapter.account,
                 wecom_userids=f"{staff[0]}, {staff[1]}")  # fmt: skip
    assert watch.wecom_userids == f"{staff[0]}|{staff[1]}"
    (event,) = alerts_evaluate(today=DAY, rules=[watch])
    assert event.notifications["wecom"] == "sent"
    sent = sandbox.messages(appid=adapter.account.app_id, kind="app")
    assert sorted(m["to"] for m in sent) == sorted(staff[:2])
    assert all(m["content"]["text"]["content"] == event.message for m in sent)


def test_a_failing_notification_is_recorded_and_the_alert_stands(apps, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    rows(apps[0], DAY - timedelta(days=7), 7, active_users=100, buyers=1)
    wecom_account = channel_account_create(kind="wecom", code="wecom-noapp", name="企业微信")
    watch = rule(notify_email=True, email_to="ops@example.com", notify_wecom=True,
                 wecom_account=wecom_account, wecom_userids="@all")  # fmt: skip
    (event,) = alerts_evaluate(today=DAY, rules=[watch])
    event.refresh_from_db()
    assert event.notifications["email"].startswith("error: ")
    assert event.notifications["wecom"].startswith("error: ")  # no agent_id: no app to send
    assert event.status == AlertStatus.OPEN


# --- rules: validation, seed ---------------------------------------------------------------


def test_rule_validation_names_each_field(apps):
    store = channel_account_create(kind="tmall", code="tmall", name="天猫")
    with pytest.raises(ValidationError) as caught:
        rule(name=" ", metric="nope", channel_kind="fax", comparison="below_mean",
             threshold=Decimal(100), window_days=0, baseline_days=400, notify_email=True,
             email_to="ops@example.com, not-an-address", notify_wecom=True,
             wecom_account=store)  # fmt: skip
    errors = caught.value.message_dict
    assert set(errors) == {
        "name", "metric", "channel_kind", "threshold", "window_days", "baseline_days",
        "email_to", "wecom_account", "wecom_userids",
    }  # fmt: skip
    assert "not-an-address" in errors["email_to"][0]
    for comparison, threshold in (("below_value", -1), ("above_mean", 0), ("below_value", 120)):
        with pytest.raises(ValidationError) as caught:
            rule(comparison=comparison, threshold=threshold)
        assert set(caught.value.message_dict) == {"threshold"}
    assert rule(metric="orders", comparison="below_value", threshold=120).threshold == 120
    assert AlertRule.objects.count() == 1


def test_seed_rule_without_admins_or_wecom(db, settings):
    settings.ADMINS = []
    seeded = alert_rules_seed()
    assert seeded.name == SEED_RULE_NAME and not seeded.notify_email and not seeded.notify_wecom
    assert (seeded.window_days, seeded.baseline_days, seeded.scope) == (7, 28, "each")
    assert alert_rules_seed().pk == seeded.pk


# --- console: pages, forms, permissions ----------------------------------------------------


@pytest.fixture
def fired(apps):
    rows(apps[0], DAY - timedelta(days=7), 7, active_users=100, buyers=1)
    return alerts_evaluate(today=DAY, rules=[rule(pause_pushes=True)])[0]


def test_rule_form_shows_errors_and_saves(client, operator):
    client.force_login(operator)
    url = reverse("reports:alert_rule_new")
    assert client.get(url).status_code == 200
    data = {"name": "GMV 下降", "metric": "gmv", "channel_kind": "", "scope": "each",
            "comparison": "below_previous", "threshold": "150", "window_days": "7",
            "baseline_days": "28", "notify_console": "on", "notify_email": "on",
            "email_to": "bad@", "enabled": "on"}  # fmt: skip
    page = client.post(url, data)
    assert page.status_code == 200 and not AlertRule.objects.exists()
    errors = page.context["form"].errors
    assert set(errors) == {"threshold", "email_to"}
    assert 'data-testid="field-error"' in page.content.decode()
    page = client.post(url, {**data, "threshold": "150x"})
    assert page.status_code == 200 and "threshold" in page.context["form"].errors
    response = client.post(url, {**data, "threshold": "15", "email_to": "a@example.com"})
    assert response.status_code == 302
    saved = AlertRule.objects.get()
    assert (saved.metric, saved.threshold, saved.created_by) == ("gmv", 15, operator)
    edit = reverse("reports:alert_rule_edit", args=[saved.pk])
    assert client.get(edit).context["form"].initial["email_to"] == "a@example.com"
    assert (
        client.post(edit, {**data, "threshold": "20", "email_to": "a@example.com"}).status_code
        == 302
    )
    saved.refresh_from_db()
    assert saved.threshold == 20
    rules_page = client.get(reverse("reports:alert_rules")).content.decode()
    assert "GMV 下降" in rules_page and "成交额" in rules_page


def test_evaluate_now_from_the_rules_page(client, operator, apps):
    rows(apps[0], date(2026, 5, 13), 7, active_users=100, buyers=1)
    watch = rule()
    client.force_login(operator)
    with time_machine.travel(datetime(2026, 5, 20, 9, tzinfo=SHANGHAI), tick=False):
        response = client.post(reverse("reports:alert_rule_evaluate", args=[watch.pk]),
                               follow=True)  # fmt: skip
    assert "触发 1 条预警" in response.content.decode()
    watch.refresh_from_db()
    assert watch.last_evaluated_at is not None and watch.events.count() == 1


def test_analyst_views_alerts_but_cannot_act(client, analyst, fired):
    client.force_login(analyst)
    listing = client.get(reverse("reports:alerts"))
    assert listing.status_code == 200 and len(listing.context["events"]) == 1
    detail = client.get(reverse("reports:alert", args=[fired.pk]))
    assert (
        detail.status_code == 200 and 'data-testid="alert-actions"' not in detail.content.decode()
    )
    assert client.get(reverse("reports:alert_rules")).status_code == 200
    for action in ("acknowledge", "resolve", "resume"):
        assert (
            client.post(reverse("reports:alert_action", args=[fired.pk, action])).status_code == 403
        )
    assert client.get(reverse("reports:alert_rule_new")).status_code == 403
    assert client.get(reverse("reports:alert_rule_edit", args=[fired.rule_id])).status_code == 403
    assert (
        client.post(reverse("reports:alert_rule_evaluate", args=[fired.rule_id])).status_code == 403
    )
    request = RequestFactory().get("/")
    request.user = analyst
    assert open_alerts(request) == {"open_alert_count": 1}


def test_alert_list_filters_paginates_and_acts(client, operator, fired, django_user_model):
    client.force_login(operator)
    url = reverse("reports:alerts")
    assert list(client.get(url, {"status": "resolved"}).context["events"]) == []
    assert 'data-testid="empty-filter"' in client.get(url, {"status": "resolved"}).content.decode()
    assert len(client.get(url, {"status": "open", "rule": fired.rule_id}).context["events"]) == 1
    assert client.get(url, {"status": "bogus", "rule": "x", "page": "9"}).status_code == 200
    response = client.post(reverse("reports:alert_action", args=[fired.pk, "acknowledge"]))
    assert response.status_code == 302
    fired.refresh_from_db()
    assert fired.status == "acknowledged"
    assert (
        client.post(reverse("reports:alert_action", args=[fired.pk, "explode"])).status_code == 404
    )
    # no pushes were paused: resuming says so instead of failing
    page = client.post(reverse("reports:alert_action", args=[fired.pk, "resume"]), follow=True)
    assert "没有暂停推送" in page.content.decode()
    request = RequestFactory().get("/")
    request.user = operator
    assert open_alerts(request) == {"open_alert_count": 0}
    nobody = make_user(django_user_model, "nobody")
    request.user = nobody
    assert open_alerts(request) == {}


def test_empty_history(client, operator):
    client.force_login(operator)
    page = client.get(reverse("reports:alerts"))
    assert 'data-testid="empty-state"' in page.content.decode()
