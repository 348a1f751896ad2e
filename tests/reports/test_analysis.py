"""Behaviour analysis selectors on small, hand-counted event sets (local days, Asia/Shanghai)."""

from datetime import date, datetime
from itertools import count
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from customers.models import Customer, Event
from reports.analysis import distribution, event_series, funnel, retention, top_paths

pytestmark = pytest.mark.django_db
STEPS = ["view_product", "add_to_cart", "checkout"]
_ids = count()


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A local (Asia/Shanghai) moment in 2026."""
    return timezone.make_aware(datetime(2026, month, day, hour, minute))


def customer(name: str = "", **fields) -> Customer:
    return Customer.objects.create(name=name, **fields)


def events(who: Customer, account, *rows) -> None:
    """rows: (name, occurred_at) or (name, occurred_at, properties)."""
    Event.objects.bulk_create(
        Event(customer=who, channel_account=account, name=row[0], occurred_at=row[1],
              properties=row[2] if len(row) > 2 else {}, source_id=f"t{next(_ids)}")
        for row in rows
    )  # fmt: skip


@pytest.fixture
def funnel_events(channels):
    oa, mini = channels["oa"], channels["mini"]
    # c1: all three steps in order
    events(customer("c1"), oa, ("view_product", at(3, 2, 10)), ("add_to_cart", at(3, 2, 11)),
           ("checkout", at(3, 3, 9)))  # fmt: skip
    # c2: the cart comes 96 h after the view (outside the 72 h window); checkout before cart
    events(customer("c2"), mini, ("view_product", at(3, 3, 10)), ("checkout", at(3, 3, 12)),
           ("add_to_cart", at(3, 7, 10)))  # fmt: skip
    # c3: a cart before the view does not count; the checkout comes before the (later) cart
    events(customer("c3"), mini, ("add_to_cart", at(3, 4, 9)), ("view_product", at(3, 4, 10)),
           ("checkout", at(3, 4, 11)), ("add_to_cart", at(3, 4, 12)))  # fmt: skip
    # c4: a view before the range; enters at the first view inside it
    events(customer("c4"), oa, ("view_product", at(3, 1, 23)), ("view_product", at(3, 5, 10)),
           ("add_to_cart", at(3, 5, 11)), ("checkout", at(3, 6, 10)))  # fmt: skip
    # c5: enters on the last day; the cart after the range end still counts (inside the window)
    events(customer("c5"), oa, ("view_product", at(3, 8, 23, 30)), ("add_to_cart", at(3, 9, 1)))
    # c6: never views a product
    events(customer("c6"), channels["app"], ("add_to_cart", at(3, 3)), ("checkout", at(3, 3, 11)))
    # c7: first view on the OA, a second view on the mini program
    c7 = customer("c7")
    events(c7, oa, ("view_product", at(3, 2, 10)), ("add_to_cart", at(3, 2, 11)))
    events(c7, mini, ("view_product", at(3, 2, 12)))
    # c8: 00:30 local on the first day is still the 1st in UTC
    events(customer("c8"), mini, ("view_product", at(3, 2, 0, 30)))
    return channels


def test_funnel_counts_ordered_steps_within_the_window(funnel_events):
    result = funnel(steps=STEPS, start=date(2026, 3, 2), end=date(2026, 3, 8), window_hours=72,
                    account_ids=[], breakdown="")  # fmt: skip
    assert [s["count"] for s in result["steps"]] == [7, 5, 2]
    second, third = result["steps"][1], result["steps"][2]
    assert (second["from_previous"], second["drop"], second["drop_rate"]) == (71.43, 2, 28.57)
    assert (third["from_previous"], third["from_first"], third["drop"]) == (40.0, 28.57, 3)
    assert result["breakdown"] == []


def test_funnel_breakdown_by_the_channel_of_step_one(funnel_events):
    oa, mini = funnel_events["oa"], funnel_events["mini"]
    result = funnel(steps=STEPS, start=date(2026, 3, 2), end=date(2026, 3, 8), window_hours=72,
                    account_ids=[], breakdown="channel")  # fmt: skip
    rows = {r["account_id"]: (r["account"], r["counts"], r["conversion"])
            for r in result["breakdown"]}  # fmt: skip
    assert rows == {oa.pk: (oa.name, [4, 4, 2], 50.0), mini.pk: (mini.name, [3, 1, 0], 0.0)}


def test_funnel_channel_filter_and_shorter_window(funnel_events):
    mini = funnel_events["mini"]
    only_mini = funnel(steps=STEPS, start=date(2026, 3, 2), end=date(2026, 3, 8),
                       window_hours=72, account_ids=[mini.pk])  # fmt: skip
    assert [s["count"] for s in only_mini["steps"]] == [4, 1, 0]
    # with a 12 h window c1's checkout (23 h after the view) and c4's (24 h) fall out
    short = funnel(steps=STEPS, start=date(2026, 3, 2), end=date(2026, 3, 8), window_hours=12,
                   account_ids=[])  # fmt: skip
    assert [s["count"] for s in short["steps"]] == [7, 5, 0]


def test_funnel_with_nobody_in_it(channels):
    result = funnel(steps=STEPS, start=date(2026, 3, 2), end=date(2026, 3, 8), window_hours=72,
                    account_ids=[])  # fmt: skip
    assert [s["count"] for s in result["steps"]] == [0, 0, 0]
    assert result["steps"][1]["from_previous"] is None


@pytest.fixture
def cohorts(channels):
    oa = channels["oa"]
    events(customer("a"), oa, ("sign_in", at(3, 3)), ("page_view", at(3, 10)),
           ("page_view", at(3, 24)))  # fmt: skip
    events(customer("b"), oa, ("sign_in", at(3, 4)), ("sign_in", at(3, 5)))
    # c: Sunday 23:00 is still the first week; Monday 00:30 is the next one
    events(customer("c"), oa, ("page_view", at(3, 2)), ("sign_in", at(3, 8, 23)),
           ("page_view", at(3, 9, 0, 30)))  # fmt: skip
    events(customer("d"), oa, ("sign_in", at(3, 10)), ("page_view", at(3, 17)))
    events(customer("e"), oa, ("sign_in", at(3, 16)))  # after the range
    events(customer("f"), oa, ("sign_in", at(2, 27)), ("sign_in", at(3, 11)))


@time_machine.travel(datetime(2026, 3, 25, 4), tick=False)
def test_weekly_retention_triangle(cohorts):
    result = retention(start=date(2026, 3, 2), end=date(2026, 3, 15), period="week",
                       first_event="sign_in", return_event="", account_ids=[])  # fmt: skip
    assert result["periods"] == [0, 1, 2, 3]
    rows = [(r["cohort"], r["size"], r["counts"], r["rates"]) for r in result["cohorts"]]
    assert rows == [
        (date(2026, 3, 2), 3, [3, 2, 0, 1], [100.0, 66.67, 0.0, 33.33]),
        (date(2026, 3, 9), 2, [2, 1, 0, None], [100.0, 50.0, 0.0, None]),
    ]


@time_machine.travel(datetime(2026, 3, 25, 4), tick=False)
def test_weekly_retention_of_a_return_event(cohorts):
    result = retention(start=date(2026, 3, 2), end=date(2026, 3, 15), period="week",
                       first_event="sign_in", return_event="page_view", account_ids=[])  # fmt: skip
    # c's page view before its first sign-in is not a return
    assert [r["counts"] for r in result["cohorts"]] == [[0, 2, 0, 1], [0, 1, 0, None]]


@time_machine.travel(datetime(2026, 3, 25, 4), tick=False)
def test_retention_counts_only_the_chosen_channels(cohorts, channels):
    a = Customer.objects.get(name="a")
    events(a, channels["mini"], ("page_view", at(3, 17)))
    kwargs = {"start": date(2026, 3, 2), "end": date(2026, 3, 15), "period": "week",
              "first_event": "sign_in", "return_event": "page_view"}  # fmt: skip
    assert retention(**kwargs, account_ids=[])["cohorts"][0]["counts"] == [0, 2, 1, 1]
    assert retention(**kwargs, account_ids=[channels["oa"].pk])["cohorts"][0]["counts"] == [
        0, 2, 0, 1]  # fmt: skip
    assert retention(**kwargs, account_ids=[channels["mini"].pk])["customers"] == 0


@time_machine.travel(datetime(2026, 3, 25, 4), tick=False)
def test_monthly_retention_of_new_customers(channels):
    g = customer("g", first_seen_at=at(1, 15))
    events(g, channels["app"], ("page_view", at(2, 3)), ("sign_in", at(3, 20)))
    h = customer("h", first_seen_at=at(2, 10))
    events(h, channels["app"], ("page_view", at(2, 11)))
    customer("later", first_seen_at=at(3, 2))
    result = retention(start=date(2026, 1, 1), end=date(2026, 2, 28), period="month",
                       first_event="", return_event="", account_ids=[])  # fmt: skip
    rows = [(r["cohort"], r["size"], r["counts"]) for r in result["cohorts"]]
    assert rows == [(date(2026, 1, 1), 1, [0, 1, 1]), (date(2026, 2, 1), 1, [1, 0, None])]
    assert result["customers"] == 2


@pytest.fixture
def orders(channels):
    oa, mini = channels["oa"], channels["mini"]
    c1, c2 = customer("o1"), customer("o2")
    events(c1, oa, ("order_paid", at(3, 2, 10), {"amount": 100, "city": "上海"}),
           ("order_paid", at(3, 2, 11), {"amount": 50.5, "city": "上海"}),
           ("order_paid", at(3, 4, 1), {"amount": 10, "city": "上海"}),
           ("page_view", at(3, 2, 10), {"amount": 999}))  # fmt: skip
    events(c2, mini, ("order_paid", at(3, 2, 12), {"amount": 30, "city": "北京"}),
           ("order_paid", at(3, 4, 9), {"amount": 20, "city": "北京"}),
           ("order_paid", at(3, 5, 9), {"amount": 70, "city": "北京"}))  # fmt: skip
    return channels


def _series(**kwargs):
    base = {
        "event": "order_paid",
        "measure": "count",
        "prop": "",
        "start": date(2026, 3, 2),
        "end": date(2026, 3, 4),
        "account_ids": [],
        "breakdown": "",
        "where": {},
    }
    result = event_series(**{**base, **kwargs})
    return result, {s["label"]: (s["values"], s["total"]) for s in result["series"]}


def test_event_series_measures(orders):
    result, series = _series()
    assert result["days"] == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    assert list(series.values()) == [([3, 0, 2], 5)]
    _result, series = _series(measure="customers")
    assert list(series.values()) == [([2, 0, 2], 2)]
    result, series = _series(measure="sum", prop="amount")
    assert list(series.values()) == [([180.5, 0, 30.0], 210.5)]
    # a text property has nothing to add up (and is no database error)
    _result, series = _series(measure="sum", prop="city")
    assert list(series.values()) == [([0, 0, 0], 0)]


def test_event_series_breakdown_and_filters(orders):
    oa, mini = orders["oa"], orders["mini"]
    _result, series = _series(breakdown="channel")
    assert series == {oa.name: ([2, 0, 1], 3), mini.name: ([1, 0, 1], 2)}
    _result, series = _series(where={"city": "上海"})
    assert list(series.values()) == [([2, 0, 1], 3)]
    _result, series = _series(measure="customers", breakdown="prop:city")
    assert series == {"上海": ([1, 0, 1], 1), "北京": ([1, 0, 1], 1)}
    _result, series = _series(account_ids=[mini.pk], measure="sum", prop="amount")
    assert list(series.values()) == [([30.0, 0, 20.0], 50.0)]
    _result, series = _series(where={"amount": "100"})
    assert list(series.values()) == [([1, 0, 0], 1)]


def test_event_series_keeps_the_top_eight_values(channels):
    who = customer("sku")
    rows = [("page_view", at(3, 2), {"sku": "k0"})] * 3
    rows += [("page_view", at(3, 3), {"sku": f"k{i}"}) for i in range(1, 10)]
    events(who, channels["app"], *rows)
    _result, series = _series(event="page_view", breakdown="prop:sku")
    assert list(series) == ["k0", *(f"k{i}" for i in range(1, 8)), "其他"]
    assert series["k0"] == ([3, 0, 0], 3)
    assert series["其他"] == ([0, 2, 0], 2)


def test_distribution_by_times_and_by_amount(channels):
    app = channels["app"]
    for n, name in [(1, "x1"), (1, "x2"), (2, "x3"), (3, "x4"), (5, "x5"), (7, "x6"), (12, "x7")]:
        events(customer(name), app, *[("order_paid", at(3, 2 + i % 3)) for i in range(n)])
    events(customer("late"), app, ("order_paid", at(3, 9)))
    result = distribution(event="order_paid", start=date(2026, 3, 2), end=date(2026, 3, 8),
                          account_ids=[], by="times")  # fmt: skip
    assert [(b["label"], b["customers"]) for b in result["buckets"]] == [
        ("1", 2), ("2", 1), ("3", 1), ("4-5", 1), ("6-10", 1), ("11+", 1)]  # fmt: skip
    Event.objects.all().delete()
    y, z = customer("y"), customer("z")
    events(y, app, ("order_paid", at(3, 2), {"amount": 5}), ("order_paid", at(3, 3),
                                                            {"amount": 12}))  # fmt: skip
    events(z, app, ("order_paid", at(3, 2), {"amount": 18}), ("order_paid", at(3, 3),
                                                             {"amount": 95}),
           ("order_paid", at(3, 3), {"note": "no amount"}))  # fmt: skip
    result = distribution(event="order_paid", start=date(2026, 3, 2), end=date(2026, 3, 8),
                          account_ids=[], by="prop:amount")  # fmt: skip
    assert [(b["label"], b["events"], b["customers"]) for b in result["buckets"]] == [
        ("0–10", 1, 1), ("10–20", 2, 2), ("90–100", 1, 1)]  # fmt: skip
    assert distribution(event="order_paid", start=date(2026, 3, 2), end=date(2026, 3, 8),
                        account_ids=[], by="prop:note")["buckets"] == []  # fmt: skip


@pytest.fixture
def journeys(channels):
    app = channels["app"]
    events(customer("p1"), app, ("page_view", at(3, 2, 9)), ("view_product", at(3, 2, 10)),
           ("view_product", at(3, 2, 11)), ("add_to_cart", at(3, 2, 12)),
           ("add_to_cart", at(3, 2, 13)), ("checkout", at(3, 2, 14)),
           ("order_paid", at(3, 2, 15)))  # fmt: skip
    events(customer("p2"), app, ("view_product", at(3, 3)), ("add_to_cart", at(3, 3, 11)),
           ("checkout", at(3, 3, 12)))  # fmt: skip
    events(customer("p3"), app, ("view_product", at(3, 4)), ("page_view", at(3, 4, 11)),
           ("view_product", at(3, 4, 12)))  # fmt: skip
    events(customer("p4"), app, ("view_product", at(3, 5)), ("add_to_cart", at(3, 5, 11)),
           ("checkout", at(3, 5, 12)), ("order_paid", at(3, 5, 13)), ("refund", at(3, 6)),
           ("checkout", at(3, 9)))  # fmt: skip


def test_top_paths_collapse_repeats_and_stop_at_the_depth(journeys):
    result = top_paths(start_event="view_product", start=date(2026, 3, 2), end=date(2026, 3, 8),
                       account_ids=[], depth=3)  # fmt: skip
    assert [(p["steps"], p["customers"], p["share"]) for p in result["paths"]] == [
        (["view_product", "add_to_cart", "checkout", "order_paid"], 2, 50.0),
        (["view_product", "add_to_cart", "checkout"], 1, 25.0),
        (["view_product", "page_view", "view_product"], 1, 25.0),
    ]
    links = {(a, b): n for a, b, n in
             ((x["source"], x["target"], x["customers"]) for x in result["links"])}  # fmt: skip
    assert links == {
        ((0, "view_product"), (1, "add_to_cart")): 3,
        ((1, "add_to_cart"), (2, "checkout")): 3,
        ((2, "checkout"), (3, "order_paid")): 2,
        ((0, "view_product"), (1, "page_view")): 1,
        ((1, "page_view"), (2, "view_product")): 1,
    }
    assert (result["customers"], result["sampled"]) == (4, 4)


def test_top_paths_sample_the_first_customers(journeys):
    result = top_paths(start_event="view_product", start=date(2026, 3, 2), end=date(2026, 3, 8),
                       account_ids=[], depth=1, sample=2)  # fmt: skip
    assert (result["customers"], result["sampled"]) == (4, 2)
    assert [(p["steps"], p["customers"]) for p in result["paths"]] == [
        (["view_product", "add_to_cart"], 2)]  # fmt: skip


def test_local_days_across_a_daylight_saving_change(channels):
    """In a zone whose offset changes inside the range, days are still local days."""
    berlin = ZoneInfo("Europe/Berlin")
    who = customer("dst")
    with timezone.override(berlin):
        # 23:30 on the 29th is 21:30 UTC after the change (UTC+2), 22:30 UTC before it
        events(who, channels["app"],
               ("sign_in", datetime(2026, 3, 28, 23, 30, tzinfo=berlin)),
               ("sign_in", datetime(2026, 3, 29, 23, 30, tzinfo=berlin)),
               ("sign_in", datetime(2026, 3, 30, 0, 30, tzinfo=berlin)))  # fmt: skip
        _result, series = _series(event="sign_in", start=date(2026, 3, 28), end=date(2026, 3, 30))
        assert list(series.values()) == [([1, 1, 1], 3)]
        with time_machine.travel(datetime(2026, 4, 8, 12, tzinfo=berlin), tick=False):
            result = retention(start=date(2026, 3, 28), end=date(2026, 3, 30), period="week",
                               first_event="sign_in", return_event="", account_ids=[])  # fmt: skip
        # Saturday and Sunday are the week of the 23rd; Monday the 30th starts the next
        assert [(r["cohort"], r["size"], r["counts"]) for r in result["cohorts"]] == [
            (date(2026, 3, 23), 1, [1, 1, 0]), (date(2026, 3, 30), 0, [0, 0, None])]  # fmt: skip
