"""Analysis pages: render for analysts, filters live in the URL, bad input is a form error,
every chart exports its CSV, and roles without report permissions get a 403."""

import csv
import io
from datetime import datetime

import pytest
import time_machine
from django.utils import timezone

from customers.models import Customer, Event
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 20, 4)  # UTC, 12:00 in Shanghai
RANGE = "start=2026-03-02&end=2026-03-08"


def at(day: int, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime(2026, 3, day, hour))


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def console(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def shop(channels):
    """Two buyers on the mini program, one viewer on the OA."""
    mini, oa = channels["mini"], channels["oa"]
    rows = []
    for i, account in enumerate([mini, mini, oa]):
        who = Customer.objects.create(name=f"buyer{i}", first_seen_at=at(2))
        rows += [(who, account, "view_product", at(3), {"sku": "A"})]
        if account == mini:
            rows += [(who, account, "add_to_cart", at(3, 11), {}),
                     (who, account, "checkout", at(3, 12), {}),
                     (who, account, "order_paid", at(3, 13), {"amount": 100 + i * 50}),
                     (who, account, "sign_in", at(10), {})]  # fmt: skip
    Event.objects.bulk_create(
        Event(customer=c, channel_account=a, name=n, occurred_at=t, properties=p,
              source_id=f"p{k}")
        for k, (c, a, n, t, p) in enumerate(rows)
    )  # fmt: skip
    return channels


def export(console, url: str, chart: str) -> list[list[str]]:
    response = console.get(f"{url}&export={chart}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_funnel_page_filters_and_exports(console, shop):
    url = f"/reports/funnel/?{RANGE}&breakdown=channel"
    page = console.get(url)
    assert page.status_code == 200
    assert page.context["tab"] == "funnel"
    assert [s["count"] for s in page.context["data"]["steps"]] == [3, 2, 2, 2]
    assert b'data-testid="chart-funnel"' in page.content
    assert export(console, url, "funnel")[1:] == [
        ["1", "view_product", "3", "100.0", "100.0", "0"],
        ["2", "add_to_cart", "2", "66.67", "66.67", "1"],
        ["3", "checkout", "2", "100.0", "66.67", "0"],
        ["4", "order_paid", "2", "100.0", "66.67", "0"],
    ]
    rows = export(console, url, "funnel-channel")
    assert rows[0][0] == "渠道"
    assert rows[1:] == [["品牌小程序", "2", "2", "2", "2", "100.0"],
                        ["品牌公众号", "1", "0", "0", "0", "0.0"]]  # fmt: skip
    # the channel and the steps come from the URL
    only_oa = console.get(f"/reports/funnel/?{RANGE}&channel=oa&steps=view_product,add_to_cart")
    assert [s["count"] for s in only_oa.context["data"]["steps"]] == [1, 0]


def test_funnel_bad_input_is_a_form_error(console, shop):
    page = console.get("/reports/funnel/?steps=view_product&window_hours=abc")
    assert page.status_code == 200
    assert b'data-testid="filter-errors"' in page.content
    assert set(page.context["filter_form"].errors) == {"steps", "window_hours"}
    # the page falls back to the default four steps
    assert len(page.context["data"]["steps"]) == 4


def test_funnel_empty_state(console, channels):
    page = console.get(f"/reports/funnel/?{RANGE}")
    assert page.status_code == 200
    assert b'data-testid="empty-state"' in page.content


def test_retention_page(console, shop):
    url = f"/reports/retention/?{RANGE}&first_event=view_product&return_event=sign_in"
    page = console.get(url)
    assert page.status_code == 200
    cohort = page.context["data"]["cohorts"][0]
    assert (cohort["size"], cohort["counts"]) == (3, [0, 2, 0])
    rows = export(console, url, "retention")
    assert rows[0][:4] == ["群组开始", "人数", "第 0 周", "第 0 周 (%)"]
    assert rows[1] == ["2026-03-02", "3", "0", "0.0", "2", "66.67", "0", "0.0"]
    monthly = console.get(f"{url}&period=month")
    assert monthly.context["data"]["period"] == "month"
    assert console.get(f"{url}&period=year").context["filter_form"].errors


def test_event_page(console, shop):
    url = f"/reports/events/?{RANGE}&event=order_paid&measure=sum&prop=amount"
    page = console.get(url)
    assert page.status_code == 200
    assert page.context["total"] == 250.0
    rows = export(console, url, "events")
    assert rows[0] == ["日期", "全部"]
    assert rows[2] == ["2026-03-03", "250.0"]
    assert len(rows) == 8
    by_channel = export(console, f"{url}&breakdown=channel&where=amount=150", "events")
    assert by_channel[0] == ["日期", "品牌小程序"]
    assert by_channel[2] == ["2026-03-03", "150.0"]
    bad = console.get("/reports/events/?measure=sum&where=oops")
    assert bad.status_code == 200
    assert set(bad.context["filter_form"].errors) == {"prop", "where"}


def test_distribution_page(console, shop):
    url = f"/reports/distribution/?{RANGE}&event=view_product"
    page = console.get(url)
    assert page.status_code == 200
    assert export(console, url, "distribution")[1:3] == [["1", "3", "100.0"], ["2", "0", "0.0"]]
    by_amount = export(console, f"/reports/distribution/?{RANGE}&by=prop&prop=amount",
                       "distribution")  # fmt: skip
    assert by_amount[1:] == [["100–105", "1", "1", "50.0"], ["150–155", "1", "1", "50.0"]]
    assert console.get(f"{url}&by=prop&prop=a__b").context["filter_form"].errors


def test_paths_page(console, shop):
    url = f"/reports/paths/?{RANGE}&start_event=view_product&depth=2"
    page = console.get(url)
    assert page.status_code == 200
    assert b'data-testid="chart-paths-flow"' in page.content
    # the OA viewer did nothing after viewing: a path of one step
    assert export(console, url, "paths")[1:] == [
        ["浏览商品 → 加入购物车 → 提交订单", "2", "66.67"], ["浏览商品", "1", "33.33"]]  # fmt: skip
    assert console.get(f"{url}&depth=9").context["filter_form"].errors
    empty = console.get(f"/reports/paths/?{RANGE}&start_event=refund")
    assert b'data-testid="empty-state"' in empty.content


@pytest.mark.parametrize("page", ["funnel", "retention", "events", "distribution", "paths"])
def test_every_page_renders_and_unknown_export_is_404(console, shop, page):
    response = console.get(f"/reports/{page}/?{RANGE}")
    assert response.status_code == 200
    assert response.context["tab"] == page
    assert b'data-testid="report-note"' in response.content
    assert console.get(f"/reports/{page}/?export=nope").status_code == 404


@pytest.mark.parametrize("page", ["funnel", "retention", "events", "distribution", "paths"])
def test_staff_cannot_see_analysis(client, django_user_model, page):
    client.force_login(make_user(django_user_model, "staff1", "staff"))
    assert client.get(f"/reports/{page}/").status_code == 403
