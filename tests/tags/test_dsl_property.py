"""Property: for random DSL trees over random customers, the one SQL query selects exactly
the customers a plain-Python reading of the same tree selects."""

import os
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.models import ChannelAccount
from customers.models import Consent, Customer, Event, Identity
from tags.dsl import audience_count, audience_queryset
from tags.models import CustomerTag, Tag, TagGroup

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CITIES = ["上海", "北京", "杭州", ""]
TAGS = ["绿茶", "红茶", "花茶"]
EVENTS = ["order_paid", "view_product"]
CATEGORIES = ["绿茶", "零食"]

pytestmark = pytest.mark.django_db


# --- the world: random customers, tags, events, identities, consents -----------------------


def build_world(seed: int) -> list[dict]:
    """Write a small random world; returns plain-Python copies of what was written."""
    rng = random.Random(seed)
    account = ChannelAccount.objects.get_or_create(
        code="oa", defaults={"kind": "wechat_oa", "name": "OA"}
    )[0]
    group = TagGroup.objects.get_or_create(name="兴趣")[0]
    tags = {name: Tag.objects.get_or_create(group=group, name=name)[0] for name in TAGS}
    people = []
    for i in range(rng.randint(3, 9)):
        person = {
            "city": rng.choice(CITIES),
            "total_orders": rng.randint(0, 6),
            "rfm_recency": rng.choice([None, 1, 3, 5]),
            "lifecycle": rng.choice(["new", "active", "sleeping"]),
            "tags": set(rng.sample(TAGS, rng.randint(0, 3))),
            "identities": {("phone", "")}
            | ({("wechat_openid", "oa")} if rng.random() < 0.5 else set()),
            "consent": rng.choice([None, "granted", "revoked"]),
            "events": [
                {
                    "name": rng.choice(EVENTS),
                    "at": NOW - timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23)),
                    "props": {
                        k: v
                        for k, v in (
                            ("amount", rng.choice([None, 20, 50, 120, 300])),
                            ("category", rng.choice([None, *CATEGORIES])),
                        )
                        if v is not None
                    },
                }
                for _ in range(rng.randint(0, 5))
            ],
        }
        customer = Customer.objects.create(
            name=f"c{i}",
            city=person["city"],
            total_orders=person["total_orders"],
            rfm_recency=person["rfm_recency"],
            lifecycle=person["lifecycle"],
        )
        person["id"] = customer.pk
        CustomerTag.objects.bulk_create(
            [CustomerTag(customer=customer, tag=tags[t]) for t in person["tags"]]
        )
        Identity.objects.bulk_create(
            [
                Identity(customer=customer, kind=k, scope=s, value=f"{k}-{seed}-{i}")
                for k, s in person["identities"]
            ]
        )
        if person["consent"]:
            Consent.objects.create(customer=customer, channel="sms", status=person["consent"])
        Event.objects.bulk_create(
            [
                Event(customer=customer, channel_account=account, name=e["name"],
                      occurred_at=e["at"], properties=e["props"])
                for e in person["events"]
            ]
        )  # fmt: skip
        people.append(person)
    return people


# --- random trees ----------------------------------------------------------------------------

ops_text = st.sampled_from(["eq", "ne", "in", "nin", "is_null", "startswith"])
ops_num = st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "nin", "is_null"])


def _num_value(op):
    if op == "is_null":
        return st.booleans()
    if op == "between":
        return st.tuples(st.integers(0, 6), st.integers(0, 6)).map(sorted).map(list)
    if op in ("in", "nin"):
        return st.lists(st.integers(0, 6), min_size=1, max_size=3)
    return st.integers(0, 6)


def _text_value(op):
    if op == "is_null":
        return st.booleans()
    if op in ("in", "nin"):
        return st.lists(st.sampled_from(CITIES[:3]), min_size=1, max_size=2)
    if op == "startswith":
        return st.sampled_from(["上", "北", "杭州"])
    return st.sampled_from(CITIES[:3])


attr_city = ops_text.flatmap(
    lambda op: _text_value(op).map(lambda v: {"attr": "city", "op": op, "value": v})
)
attr_num = st.tuples(st.sampled_from(["total_orders", "rfm_recency"]), ops_num).flatmap(
    lambda fo: _num_value(fo[1]).map(lambda v: {"attr": fo[0], "op": fo[1], "value": v})
)
attr_lifecycle = st.sampled_from(["new", "active", "sleeping"]).map(
    lambda v: {"attr": "lifecycle", "op": "eq", "value": v}
)
tag_node = st.one_of(
    st.sampled_from(TAGS).map(lambda t: {"tag": t}),
    st.tuples(
        st.sampled_from(["any", "all", "none"]),
        st.lists(st.sampled_from(TAGS), min_size=1, max_size=3),
    ).map(lambda mt: {"tag": {mt[0]: mt[1]}}),
)
comparison = st.tuples(st.sampled_from(["gte", "lte", "gt", "lt", "eq"]), st.integers(0, 3))
where = st.one_of(
    st.sampled_from(CATEGORIES).map(lambda c: {"prop": "category", "op": "eq", "value": c}),
    st.tuples(st.sampled_from(["gte", "lt"]), st.sampled_from([20, 50, 120])).map(
        lambda ov: {"prop": "amount", "op": ov[0], "value": ov[1]}
    ),
)


@st.composite
def event_node(draw):
    node = {"event": draw(st.sampled_from(EVENTS))}
    if draw(st.booleans()):
        node["within"] = draw(st.sampled_from(["7d", "30d", "12h", "900m"]))
    if draw(st.booleans()):
        node["where"] = draw(st.lists(where, min_size=1, max_size=2))
    agg = draw(st.sampled_from([None, "count", "sum", "avg", "first", "last"]))
    if agg == "count":
        op, value = draw(comparison)
        node["count"] = {op: value}
    elif agg in ("sum", "avg"):
        op = draw(st.sampled_from(["gte", "lt"]))
        node[agg] = {"prop": "amount", op: draw(st.sampled_from([50, 150, 400]))}
    elif agg in ("first", "last"):
        node[agg] = {draw(st.sampled_from(["gte", "lt"])): draw(st.sampled_from(["10d", "40d"]))}
    return node


leaf = st.one_of(
    attr_city,
    attr_num,
    attr_lifecycle,
    tag_node,
    event_node(),
    st.sampled_from([{"identity": "wechat_openid", "scope": "oa"}, {"identity": "phone"}]),
    st.sampled_from(["granted", "revoked"]).map(lambda s: {"consent": "sms", "status": s}),
)
tree = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=8,
)


# --- the plain-Python reading ---------------------------------------------------------------


def compare(value, op, target) -> bool:
    if op == "is_null":
        empty = value is None or value == ""
        return empty if target else not empty
    if value is None:
        return False
    if op == "eq":
        return value == target
    if op == "ne":
        return value != target
    if op == "in":
        return value in target
    if op == "nin":
        return value not in target
    if op == "between":
        return target[0] <= value <= target[1]
    if op == "startswith":
        return isinstance(value, str) and value.startswith(target)
    return {"gt": value > target, "gte": value >= target, "lt": value < target,
            "lte": value <= target}[op]  # fmt: skip


def duration(text: str) -> timedelta:
    number, unit = int(text[:-1]), text[-1]
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: number})


def matches(node: dict, p: dict) -> bool:
    if "all" in node:
        return all(matches(c, p) for c in node["all"])
    if "any" in node:
        return any(matches(c, p) for c in node["any"])
    if "not" in node:
        return not matches(node["not"], p)
    if "attr" in node:
        return compare(p[node["attr"]], node["op"], node["value"])
    if "tag" in node:
        spec = node["tag"]
        if isinstance(spec, str):
            return spec in p["tags"]
        mode, names = next(iter(spec.items()))
        has = [n in p["tags"] for n in names]
        return {"any": any(has), "all": all(has), "none": not any(has)}[mode]
    if "identity" in node:
        return any(
            k == node["identity"] and (s == node.get("scope", s)) for k, s in p["identities"]
        )
    if "consent" in node:
        return p["consent"] == node["status"]
    return event_matches(node, p)


def event_matches(node: dict, p: dict) -> bool:
    events = [e for e in p["events"] if e["name"] == node["event"]]
    if "within" in node:
        events = [e for e in events if e["at"] >= NOW - duration(node["within"])]
    for cond in node.get("where", []):
        events = [
            e for e in events if compare(e["props"].get(cond["prop"]), cond["op"], cond["value"])
        ]
    if "count" in node:
        ((op, target),) = node["count"].items()
        return compare(len(events), op, target)
    for agg in ("sum", "avg"):
        if agg in node:
            spec = dict(node[agg])
            prop = spec.pop("prop")
            ((op, target),) = spec.items()
            values = [e["props"][prop] for e in events if prop in e["props"]]
            if not values:
                return False
            total = sum(values) if agg == "sum" else sum(values) / len(values)
            return compare(total, op, target)
    for agg, pick in (("first", min), ("last", max)):
        if agg in node:
            ((op, target),) = node[agg].items()
            if not events:
                return False
            return compare(pick(e["at"] for e in events), op, NOW - duration(target))
    return bool(events)


@settings(
    max_examples=int(os.environ.get("DSL_EXAMPLES", "80")),  # more: DSL_EXAMPLES=1000
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 10_000), definition=tree)
def test_sql_equals_python(seed, definition):
    with transaction.atomic():
        people = build_world(seed)
        ours = set(audience_queryset(definition, now=NOW).values_list("pk", flat=True))
        counted = audience_count(definition, now=NOW)
        expected = {p["id"] for p in people if matches(definition, p)}
        transaction.set_rollback(True)
    assert ours == expected, definition
    assert counted == len(expected), definition
