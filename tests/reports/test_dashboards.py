"""Dashboard pages and the reports API: numbers from the rollups, filters in the URL, CSV
exports, attribution model switch, clear errors, permissions."""

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Campaign, SpendEntry
from customers.ingest import events_ingest, orders_ingest
from reports.rollups import rollups_refresh

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 20)
TZ = timezone.get_current_timezone()


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(datetime(2026, 11, 20, 18, 0, tzinfo=TZ), tick=False):
        yield


def at(days_ago: int, hour: int = 10) -> str:
    return (
        datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time())
        .replace(hour=hour, tzinfo=TZ)
        .isoformat()
    )


@pytest.fixture
def data(channels):
    """Five OA followers (two this week), three Mini Program buyers, a campaign with spend."""
    events = []
    for i in range(5):
        ident = [{"kind": "wechat_openid", "value": f"oa-{i}", "scope": "oa"}]
        events.append({"event_id": f"s{i}", "name": "subscribe", "occurred_at": at(40 - i * 9),
                       "channel": "oa", "identities": ident, "properties": {}})  # fmt: skip
    events.append({"event_id": "u1", "name": "unsubscribe", "occurred_at": at(2), "channel": "oa",
                   "identities": [{"kind": "wechat_openid", "value": "oa-0", "scope": "oa"}],
                   "properties": {}})  # fmt: skip
    orders = []
    for i, (days_ago, amount) in enumerate([(3, "100.00"), (5, "50.50"), (35, "80.00")]):
        ident = [{"kind": "wechat_openid", "value": f"mp-{i}", "scope": "mini"}]
        events.append({"event_id": f"v{i}", "name": "page_view", "occurred_at": at(days_ago, 9),
                       "channel": "mini", "identities": ident, "properties": {}})  # fmt: skip
        orders.append({"order_id": f"o{i}", "amount": amount, "currency": "CNY", "status": "paid",
                       "paid_at": at(days_ago, 11), "channel": "mini", "identities": ident,
                       "items": []})  # fmt: skip
    assert not events_ingest(rows=events, actor_label="test").errors
    assert not orders_ingest(rows=orders, actor_label="test").errors
    campaign = Campaign.objects.create(
        name="春茶", utm_code="spring", budget=Decimal("1000"),
        starts_on=TODAY - timedelta(days=20), ends_on=TODAY,
    )  # fmt: skip
    SpendEntry.objects.create(
        campaign=campaign, channel_account=channels["mini"],
        spent_on=TODAY - timedelta(days=4), amount=Decimal("60.00"),
    )  # fmt: skip
    rollups_refresh(start=TODAY - timedelta(days=60), end=TODAY)
    return campaign


def test_home_shows_kpis_with_the_change_vs_the_previous_period(client, analyst, data):
    client.force_login(analyst)
    page = client.get("/reports/", {"start": "2026-11-14", "end": "2026-11-20"})
    assert page.status_code == 200
    cards = {c["key"]: c for c in page.context["cards"]}
    assert cards["gmv"]["value"] == Decimal("150.50")
    assert cards["orders"]["value"] == 2 and cards["orders"]["previous"] == 0
    assert cards["aov"]["value"] == pytest.approx(75.25)
    assert "¥150.5" in page.content.decode()
    month = client.get("/reports/", {"start": "2026-10-22", "end": "2026-11-20"})
    previous = {c["key"]: c for c in month.context["cards"]}["gmv"]
    assert previous["value"] == Decimal("150.50") and previous["previous"] == Decimal("80.00")
    assert previous["change"] == pytest.approx(70.5 / 80)


def test_a_chart_downloads_as_csv_with_the_same_filters(client, analyst, data):
    client.force_login(analyst)
    answer = client.get("/reports/", {"start": "2026-11-14", "end": "2026-11-20",
                                      "export": "gmv_trend"})  # fmt: skip
    assert answer["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == ["日期", "成交额", "订单"] and len(rows) == 8
    assert dict((r[0], r[1]) for r in rows[1:])["2026-11-17"] == "100.00"
    assert client.get("/reports/", {"export": "nothing"}).status_code == 404


def test_bad_filters_show_an_error_and_the_default_range(client, analyst, data):
    client.force_login(analyst)
    page = client.get("/reports/", {"start": "2026-11-30", "end": "2026-11-01"})
    assert page.status_code == 200
    assert "结束日期不能早于开始日期" in page.content.decode()
    assert page.context["report_range"].end == TODAY
    assert client.get("/reports/roi/", {"start": "not-a-date", "model": "x"}).status_code == 200


def test_channel_kind_pages_show_the_seeds_kpis(client, analyst, data):
    client.force_login(analyst)
    assert client.get("/reports/channels/").status_code == 302
    oa = client.get("/reports/channels/wechat_oa/", {"start": "2026-10-01", "end": "2026-11-20"})
    cards = {c["key"]: c["value"] for c in oa.context["cards"]}
    # followers on days 40, 31, 22, 13, 4 before: four of them from 2026-10-11 on
    assert cards["follows"] == 5 and cards["unfollows"] == 1 and cards["net_follows"] == 4
    [row] = oa.context["table"]  # one OA account: its row is the cards' numbers
    assert [v for v, _unit in row["values"]] == [c["value"] for c in oa.context["cards"]]
    mini = client.get("/reports/channels/wechat_mini/", {"start": "2026-11-01", "end": "2026-11-20",
                                                         "metric": "gmv"})  # fmt: skip
    assert {c["key"]: c["value"] for c in mini.context["cards"]}["conversion"] == 1.0
    by_day = {row[0]: row[1] for row in mini.context["trend"].rows}
    assert by_day["2026-11-15"] == Decimal("50.50") and by_day["2026-11-16"] == 0
    assert client.get("/reports/channels/nowhere/").status_code == 404


def test_roi_matrix_page_switches_model_and_dimension(client, analyst, data):
    client.force_login(analyst)
    page = client.get("/reports/roi/", {"start": "2026-11-01", "end": "2026-11-20",
                                        "model": "linear", "by": "kind"})  # fmt: skip
    matrix = page.context["matrix"]
    assert matrix["model"] == "linear" and matrix["by"] == "kind"
    assert matrix["total"]["revenue"] == Decimal("150.50")
    assert matrix["total"]["spend"] == Decimal("60.00")
    spent = [r for r in matrix["rows"] if r["campaign"] == data.pk]
    assert spent[0]["channel"] == "wechat_mini" and spent[0]["roi"] == -1.0
    table = client.get("/reports/roi/", {"start": "2026-11-01", "end": "2026-11-20",
                                         "export": "roi_table"})  # fmt: skip
    assert "无活动（自然）" in table.content.decode("utf-8-sig")


def test_campaign_report_shows_spend_against_budget(client, analyst, data):
    client.force_login(analyst)
    page = client.get(f"/reports/campaigns/{data.pk}/")
    assert page.context["numbers"]["spend"] == Decimal("60.00")
    assert page.context["budget_used"] == 6
    assert client.get("/reports/campaigns/").status_code == 200


def test_staff_cannot_open_reports(client, django_user_model, data):
    from tests.conftest import make_user

    client.force_login(make_user(django_user_model, "guide", "staff"))
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/roi/").status_code == 403


def test_backfill_from_the_console_queues_a_run(
    client, operator, analyst, data, django_capture_on_commit_callbacks
):
    client.force_login(analyst)
    assert (
        client.post("/reports/rollups/", {"start": "2026-11-01", "end": "2026-11-20"}).status_code
        == 403
    )
    client.force_login(operator)
    bad = client.post("/reports/rollups/", {"start": "2026-11-20", "end": "2026-11-01"})
    assert "结束日期不能早于开始日期" in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post("/reports/rollups/", {"start": "2026-11-01", "end": "2026-11-20"})
    done = client.get(answer["Location"])
    assert done.context["run"].status == "done" and done.context["run"].days_done == 20


def test_api_roi_matrix_and_kpis(analyst_api, data):
    roi = analyst_api.get(
        "/api/v1/reports/roi-matrix?start=2026-11-01&end=2026-11-20&model=position"
    )
    assert roi.status_code == 200
    body = roi.json()
    assert body["total"]["revenue"] == "150.50" and body["total"]["spend"] == "60.00"
    # no message before those orders: organic revenue, so the spend earned nothing
    assert body["total"]["campaign_revenue"] == "0.00" and body["total"]["roas"] == 0
    assert {r["channel"] for r in body["rows"]} == {"mini"}
    kpis = analyst_api.get("/api/v1/reports/kpis?channel=oa&start=2026-10-01&end=2026-11-20").json()
    assert kpis["accounts"] == ["oa"] and kpis["kpis"]["follows"]["value"] == 5
    assert kpis["featured"][0] == "follows"
    assert analyst_api.get("/api/v1/reports/kpis?channel=wechat_mini").json()["kpis"]["gmv"][
        "value"
    ] == pytest.approx(150.5)
    assert analyst_api.get("/api/v1/reports/kpis?channel=ghost").json() == {
        "channel": ["unknown channel account code or kind: 'ghost'"]
    }
    assert (
        analyst_api.get("/api/v1/reports/roi-matrix?start=2026-11-20&end=2026-11-01").status_code
        == 400
    )
    assert "start" in analyst_api.get("/api/v1/reports/kpis?start=yesterday").json()
