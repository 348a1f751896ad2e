"""The audience DSL node by node, its errors, and the preview API."""

from datetime import UTC, datetime, timedelta

import pytest

from customers.identities import normalize_identity
from customers.models import Customer, Event
from customers.services import consent_set, customer_resolve
from tags.dsl import DslError, audience_queryset, compile_definition, validate_definition
from tags.services import customer_tags_change

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def people(channels):
    def person(name, *identities, city="", revenue=0, attributes=None):
        keys = [normalize_identity(k, v, s) for k, v, s in identities]
        customer = customer_resolve(
            identities=keys, profile={"name": name, "city": city}, attributes=attributes
        ).customer
        customer.total_revenue = revenue
        customer.save(update_fields=["total_revenue"])
        return customer

    def events(customer, *rows):
        Event.objects.bulk_create(
            [
                Event(customer=customer, channel_account=channels[ch], name=name,
                      occurred_at=NOW - timedelta(days=days), properties=props)
                for name, ch, days, props in rows
            ]
        )  # fmt: skip

    wang = person("王", ("phone", "13800000001", ""), ("wechat_openid", "o1", "oa"), city="上海",
                  revenue=800, attributes={"vip": "gold", "points": 120})  # fmt: skip
    li = person("李", ("phone", "13800000002", ""), city="北京", revenue=90,
                attributes={"vip": "silver", "points": 15})  # fmt: skip
    zhao = person("赵", ("app_user_id", "a3", "app"), city="")
    customer_tags_change(customer=wang, add=["高价值", "绿茶"])
    customer_tags_change(customer=li, add=["绿茶"])
    consent_set(customer=li, channel="sms", status="revoked")
    events(wang, ("add_to_cart", "tmall", 3, {"sku": "GT-01"}),
           ("order_paid", "tmall", 2, {"amount": 300, "category": "绿茶"}),
           ("order_paid", "mini", 40, {"amount": 250, "category": "零食"}))  # fmt: skip
    events(li, ("add_to_cart", "mini", 5, {"sku": "SN-01"}),
           ("order_paid", "mini", 100, {"amount": 60}))  # fmt: skip
    return {"wang": wang, "li": li, "zhao": zhao}


def names(definition) -> set[str]:
    return set(audience_queryset(definition, now=NOW).values_list("name", flat=True))


def test_the_architecture_example(people):
    definition = {
        "all": [
            {"attr": "city", "op": "in", "value": ["上海", "北京"]},
            {"tag": "绿茶"},
            {"event": "add_to_cart", "within": "30d", "count": {"gte": 1}},
            {"not": {"event": "order_paid", "within": "30d"}},
        ]
    }
    assert names(definition) == {"李"}  # carts without payment in 30 days


@pytest.mark.parametrize(
    "definition, expected",
    [
        ({"attr": "city", "op": "eq", "value": "上海"}, {"王"}),
        ({"attr": "city", "op": "ne", "value": "上海"}, {"李", "赵"}),
        ({"attr": "city", "op": "is_null", "value": True}, {"赵"}),
        ({"attr": "city", "op": "startswith", "value": "北"}, {"李"}),
        ({"attr": "total_revenue", "op": "between", "value": [50, 100]}, {"李"}),
        ({"attr": "attributes.vip", "op": "eq", "value": "gold"}, {"王"}),
        ({"attr": "attributes.points", "op": "gte", "value": 100}, {"王"}),
        ({"attr": "attributes.vip", "op": "is_null", "value": True}, {"赵"}),
        ({"tag": {"all": ["绿茶", "高价值"]}}, {"王"}),
        ({"tag": {"any": ["绿茶", "高价值"]}}, {"王", "李"}),
        ({"tag": {"none": ["绿茶"]}}, {"赵"}),
        ({"event": "order_paid", "count": {"gte": 2}}, {"王"}),
        ({"event": "order_paid", "count": {"lt": 1}}, {"赵"}),
        ({"event": "order_paid", "within": "90d", "sum": {"prop": "amount", "gte": 500}}, {"王"}),
        ({"event": "order_paid", "sum": {"prop": "amount", "lt": 100}}, {"李"}),
        ({"event": "order_paid", "avg": {"prop": "amount", "gte": 275}}, {"王"}),
        ({"event": "order_paid", "where": [{"prop": "category", "op": "eq", "value": "零食"}]},
         {"王"}),
        ({"event": "order_paid", "first": {"lt": "60d"}}, {"李"}),
        ({"event": "order_paid", "last": {"gte": "7d"}}, {"王"}),
        ({"event": "add_to_cart", "channel": "mini"}, {"李"}),
        ({"event": "order_paid",
          "between": ["2026-07-01T00:00:00+08:00", "2026-08-31T00:00:00+08:00"]}, {"李"}),
        ({"identity": "wechat_openid", "scope": "oa"}, {"王"}),
        ({"identity": "phone"}, {"王", "李"}),
        ({"consent": "sms", "status": "revoked"}, {"李"}),
        ({"any": [{"all": [{"tag": "绿茶"}, {"not": {"tag": "高价值"}}]},
                  {"identity": "app_user_id"}]}, {"李", "赵"}),
        ({"all": []}, {"王", "李", "赵"}),
        ({"any": []}, set()),
    ],
)  # fmt: skip
def test_nodes(people, definition, expected):
    assert names(definition) == expected


@pytest.mark.parametrize(
    "definition, path, message",
    [
        ({"all": [{"attr": "city"}, {"event": "x", "within": "30 days"}]}, "all[1].within",
         "expected a duration like 30d"),
        ({"attr": "nope", "op": "eq", "value": 1}, "attr", "unknown field"),
        ({"attr": "city", "op": "like", "value": "x"}, "op", "unknown operator"),
        ({"attr": "total_revenue", "op": "gte", "value": "lots"}, "value", "expected a number"),
        ({"any": [{"tag": "没有这个标签"}]}, "any[0].tag", "没有这个标签"),
        ({"not": {"foo": 1}}, "not", "expected one of the keys"),
        ({"event": "order_paid", "sum": {"gte": 5}}, "sum.prop", "sum needs the property"),
        ({"event": "order_paid", "count": {"gte": -1}}, "count.gte", "whole number"),
        ({"identity": "qq"}, "identity", "unknown identity kind"),
        ({"all": {"tag": "x"}}, "all", "expected a list"),
        ([], "$", "expected an object"),
        ({"attr": "city", "op": "eq", "value": "x", "extra": 1}, "extra", "unknown key"),
    ],
)  # fmt: skip
def test_errors_name_the_path(people, definition, path, message):
    errors = validate_definition(definition)
    assert path in errors, errors
    assert message in errors[path]
    with pytest.raises(DslError):
        compile_definition(definition)


def test_depth_is_limited(people):
    node = {"tag": "绿茶"}
    for _ in range(20):
        node = {"not": node}
    assert "nested too deep" in " ".join(validate_definition(node).values())


def test_preview_api(api, people):
    response = api.post(
        "/api/v1/audiences/preview",
        {"definition": {"tag": {"any": ["绿茶", "高价值"]}}},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and {c["name"] for c in body["sample"]} == {"王", "李"}
    bad = api.post(
        "/api/v1/audiences/preview",
        {"definition": {"all": [{"event": "x", "within": "soon"}]}},
        format="json",
    )
    assert bad.status_code == 400
    assert "all[0].within" in bad.json()["definition"]
    assert api.post("/api/v1/audiences/preview", {}, format="json").status_code == 400


def test_preview_masks_phones_for_analysts(analyst_api, people):
    response = analyst_api.post(
        "/api/v1/audiences/preview", {"definition": {"attr": "city", "op": "eq", "value": "上海"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["sample"][0]["phone"] == "138****0001"


def _sql(definition) -> str:
    return str(audience_queryset(definition, now=NOW).query).upper()


def test_sets_combine_the_way_one_writes_them_by_hand(people):
    """Any-of sets is a UNION, all-of narrows one set, negated conditions are anti-joins,
    and a definition that is one set is counted on the set itself."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tags.dsl import audience_count

    either = {"any": [{"tag": "绿茶"}, {"event": "add_to_cart", "count": {"gte": 2}}]}
    assert "UNION" in _sql(either)
    narrowed = {"all": [{"event": "add_to_cart"}, {"not": {"event": "order_paid"}}]}
    assert "NOT EXISTS" in _sql(narrowed) or "NOT (EXISTS" in _sql(narrowed)
    with CaptureQueriesContext(connection) as queries:
        counted = audience_count(narrowed, now=NOW)
    assert counted == audience_queryset(narrowed, now=NOW).count()
    assert "CUSTOMERS_CUSTOMER" not in queries.captured_queries[-1]["sql"].upper()
    with CaptureQueriesContext(connection) as queries:
        audience_count({"attr": "city", "op": "eq", "value": "上海"}, now=NOW)
    assert "CUSTOMERS_CUSTOMER" in queries.captured_queries[-1]["sql"].upper()


def test_an_aggregate_minus_a_negated_set_is_an_except(people):
    from tags.dsl import audience_count

    definition = {"all": [{"event": "order_paid", "count": {"gte": 1, "lte": 9}},
                          {"not": {"tag": "绿茶"}}]}  # fmt: skip
    assert "EXCEPT" in _sql(definition)
    members = set(audience_queryset(definition, now=NOW).values_list("pk", flat=True))
    paid = set(Event.objects.filter(name="order_paid").values_list("customer", flat=True))
    green = set(
        Customer.objects.filter(customer_tags__tag__name="绿茶").values_list("pk", flat=True)
    )
    assert members == paid - green and audience_count(definition, now=NOW) == len(members)
