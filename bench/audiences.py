"""The reference audiences (docs/audiences.md) counted by the DSL beside hand-written SQL.

Each audience is counted the way the product counts it (`audience_count`: the compiled ORM
query, as the preview, the size history and the tag rules count) and by the query an
engineer would write by hand for the same set. Both must return the same number; the bench
fails loudly if they do not.
"""

import statistics
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from tags.dsl import audience_count

REFERENCE = {
    "price_sensitive": {"event": "coupon_redeem", "within": "90d", "count": {"gte": 2}},
    "quality_seeking": {
        "all": [
            {"event": "order_paid", "within": "180d", "avg": {"prop": "amount", "gte": 150}},
            {"not": {"event": "coupon_redeem", "within": "180d", "count": {"gte": 2}}},
        ]
    },
    "scenario_office": {
        "any": [
            {"tag": "办公室"},
            {
                "event": "view_product",
                "within": "30d",
                "where": [{"prop": "category", "op": "eq", "value": "零食"}],
                "count": {"gte": 3},
            },
        ]
    },
    "high_value": {
        "any": [
            {"attr": "rfm_segment", "op": "in", "value": ["champions", "loyal"]},
            {"attr": "total_revenue", "op": "gte", "value": 1000},
        ]
    },
    "sleeping_or_churned": {"attr": "lifecycle", "op": "in", "value": ["sleeping", "churned"]},
    "cart_without_payment_30d": {
        "all": [
            {"event": "add_to_cart", "within": "30d", "count": {"gte": 1}},
            {"not": {"event": "order_paid", "within": "30d"}},
        ]
    },
    "deep_nested": {
        "all": [
            {"attr": "city", "op": "in", "value": ["上海", "北京", "杭州"]},
            {
                "any": [
                    {"tag": "绿茶"},
                    {
                        "all": [
                            {"event": "view_product", "within": "30d", "count": {"gte": 2}},
                            {"not": {"consent": "sms", "status": "revoked"}},
                        ]
                    },
                ]
            },
            {
                "not": {
                    "any": [
                        {"identity": "wecom_external_userid"},
                        {"attr": "lifecycle", "op": "eq", "value": "churned"},
                    ]
                }
            },
            {
                "any": [
                    {"attr": "total_orders", "op": "gte", "value": 1},
                    {"event": "add_to_cart", "within": "7d"},
                ]
            },  # fmt: skip
        ]
    },
}


def _num(prop: str) -> str:
    if connection.vendor == "postgresql":
        return f"(e.properties ->> '{prop}')::float"
    return f"CAST(json_extract(e.properties, '$.{prop}') AS REAL)"


def _text(prop: str) -> str:
    if connection.vendor == "postgresql":
        return f"(e.properties ->> '{prop}')"
    return f"json_extract(e.properties, '$.{prop}')"


def baseline_sql(name: str, now) -> tuple[str, list]:
    """The hand-written COUNT for one reference audience, with its parameters."""
    t = connection.ops.adapt_datetimefield_value

    def ago(days):
        return t(now - timedelta(days=days))

    def tag_id(tag):
        from tags.models import Tag

        return Tag.objects.get(name=tag).pk

    if name == "price_sensitive":
        return (
            "SELECT COUNT(*) FROM (SELECT e.customer_id FROM customers_event e "
            "WHERE e.name = 'coupon_redeem' AND e.occurred_at >= %s "
            "GROUP BY e.customer_id HAVING COUNT(*) >= 2) t",
            [ago(90)],
        )
    if name == "quality_seeking":
        return (
            "SELECT COUNT(*) FROM (SELECT e.customer_id FROM customers_event e "
            f"WHERE e.name = 'order_paid' AND e.occurred_at >= %s "
            f"GROUP BY e.customer_id HAVING AVG({_num('amount')}) >= 150) q "
            "WHERE q.customer_id NOT IN (SELECT e.customer_id FROM customers_event e "
            "WHERE e.name = 'coupon_redeem' AND e.occurred_at >= %s "
            "GROUP BY e.customer_id HAVING COUNT(*) >= 2)",
            [ago(180), ago(180)],
        )
    if name == "scenario_office":
        return (
            "SELECT COUNT(*) FROM (SELECT ct.customer_id FROM tags_customertag ct "
            "WHERE ct.tag_id = %s UNION SELECT e.customer_id FROM customers_event e "
            f"WHERE e.name = 'view_product' AND e.occurred_at >= %s AND {_text('category')} = %s "
            "GROUP BY e.customer_id HAVING COUNT(*) >= 3) u",
            [tag_id("办公室"), ago(30), "零食"],
        )
    if name == "high_value":
        return (
            "SELECT COUNT(*) FROM customers_customer "
            "WHERE rfm_segment IN ('champions', 'loyal') OR total_revenue >= 1000",
            [],
        )
    if name == "sleeping_or_churned":
        return (
            "SELECT COUNT(*) FROM customers_customer WHERE lifecycle IN ('sleeping', 'churned')",
            [],
        )
    if name == "cart_without_payment_30d":
        return (
            "SELECT COUNT(*) FROM (SELECT DISTINCT e.customer_id FROM customers_event e "
            "WHERE e.name = 'add_to_cart' AND e.occurred_at >= %s) c "
            "WHERE NOT EXISTS (SELECT 1 FROM customers_event p WHERE p.customer_id = c.customer_id "
            "AND p.name = 'order_paid' AND p.occurred_at >= %s)",
            [ago(30), ago(30)],
        )
    if name == "deep_nested":
        return (
            "SELECT COUNT(*) FROM customers_customer c "
            "WHERE c.city IN ('上海', '北京', '杭州') "
            "AND (EXISTS (SELECT 1 FROM tags_customertag ct WHERE ct.customer_id = c.id "
            "AND ct.tag_id = %s) "
            "OR (c.id IN (SELECT e.customer_id FROM customers_event e "
            "WHERE e.name = 'view_product' AND e.occurred_at >= %s "
            "GROUP BY e.customer_id HAVING COUNT(*) >= 2) "
            "AND NOT EXISTS (SELECT 1 FROM customers_consent s WHERE s.customer_id = c.id "
            "AND s.channel = 'sms' AND s.status = 'revoked'))) "
            "AND NOT EXISTS (SELECT 1 FROM customers_identity i WHERE i.customer_id = c.id "
            "AND i.kind = 'wecom_external_userid') "
            "AND c.lifecycle <> 'churned' "
            "AND (c.total_orders >= 1 OR EXISTS (SELECT 1 FROM customers_event e "
            "WHERE e.customer_id = c.id AND e.name = 'add_to_cart' AND e.occurred_at >= %s))",
            [tag_id("绿茶"), ago(30), ago(7)],
        )
    raise KeyError(name)


def _best_ms(fn, repeats: int) -> tuple[float, object]:
    value = fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        value = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), value


def measure_audiences(*, repeats: int) -> list[dict]:
    """Median milliseconds of the DSL count and of the hand-written count, per audience."""
    now = timezone.now()
    rows = []
    for name, definition in REFERENCE.items():
        sql, params = baseline_sql(name, now)

        def by_hand(sql=sql, params=params):
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()[0]

        def by_dsl(definition=definition):
            return audience_count(definition, now=now)

        ours_ms, ours = _best_ms(by_dsl, repeats)
        base_ms, expected = _best_ms(by_hand, repeats)
        if ours != expected:
            raise AssertionError(f"{name}: the DSL counted {ours}, hand-written SQL {expected}")
        rows.append({"name": name, "ours_ms": ours_ms, "baseline_ms": base_ms, "rows": ours})
    return rows
