"""Reads: the customer list (filter set via the selector) and the 360° profile, beside SQL."""

from django.apps import apps
from django.db import connection

from bench.timing import case, median_ms, same_rows
from customers.models import Consent, Customer, Event, Identity, Order
from customers.selectors import customer_detail, customer_list, customer_timeline

PAGE = 50
TIMELINE = 100


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def list_ours(*, tag_id: int, channel: str) -> tuple[int, list[int]]:
    """The console's list: the shared filter set through the selector, count + first page."""
    customers = customer_list(filters={"tag": str(tag_id), "channel": channel})
    return customers.count(), [c.pk for c in customers[:PAGE]]


def list_baseline(*, tag_id: int, channel: str) -> tuple[int, list[int]]:
    """The same question in hand-written SQL: tagged, and known on the channel by code."""
    ChannelAccount = apps.get_model("channels", "ChannelAccount")
    CustomerTag = apps.get_model("tags", "CustomerTag")
    accounts = f"SELECT id FROM {_table(ChannelAccount)} WHERE code = %s OR kind = %s"
    where = f"""
        FROM {_table(Customer)} c
        WHERE EXISTS (SELECT 1 FROM {_table(CustomerTag)} ct
                      WHERE ct.customer_id = c.id AND ct.tag_id = %s)
          AND (EXISTS (SELECT 1 FROM {_table(Identity)} i WHERE i.customer_id = c.id
                       AND i.scope IN (SELECT code FROM {_table(ChannelAccount)}
                                       WHERE code = %s OR kind = %s))
            OR EXISTS (SELECT 1 FROM {_table(Event)} e WHERE e.customer_id = c.id
                       AND e.channel_account_id IN ({accounts}))
            OR EXISTS (SELECT 1 FROM {_table(Order)} o WHERE o.customer_id = c.id
                       AND o.channel_account_id IN ({accounts})))"""
    params = [tag_id, *[channel] * 6]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {where}", params)
        total = cursor.fetchone()[0]
        cursor.execute(f"SELECT c.* {where} ORDER BY c.id DESC LIMIT {PAGE}", params)
        page = [row[0] for row in cursor.fetchall()]
    return total, page


def measure_list(*, tag_id: int, channel: str, repeats: int) -> dict:
    """Customers with a tag who are known on a channel: COUNT + first page of 50."""
    ours = list_ours(tag_id=tag_id, channel=channel)
    baseline = list_baseline(tag_id=tag_id, channel=channel)
    if ours != baseline:
        raise AssertionError(f"customer_list: ours {ours[0]} / SQL {baseline[0]}, or pages differ")
    return case(
        name="customer_list_tag_channel",
        ours_ms=median_ms(lambda: list_ours(tag_id=tag_id, channel=channel), repeats=repeats),
        baseline_ms=median_ms(
            lambda: list_baseline(tag_id=tag_id, channel=channel), repeats=repeats
        ),
        repeats=repeats,
        rows=ours[0],
        what="COUNT + first page of 50 with EXISTS subqueries",
    )


def detail_ours(*, customer_id: int) -> int:
    """The 360° view: profile with identities, orders, tags, consents; the latest events."""
    customer = customer_detail(pk=customer_id)
    related = (customer.identities, customer.orders, customer.customer_tags, customer.consents)
    events = customer_timeline(customer=customer, limit=TIMELINE)
    return 1 + sum(len(r.all()) for r in related) + len(events)


def detail_baseline(*, customer_id: int) -> int:
    """The same rows by hand: one query per section, joins where the page shows names."""
    ChannelAccount = apps.get_model("channels", "ChannelAccount")
    CustomerTag = apps.get_model("tags", "CustomerTag")
    Tag = apps.get_model("tags", "Tag")
    TagGroup = apps.get_model("tags", "TagGroup")
    queries = [
        f"SELECT * FROM {_table(Customer)} WHERE id = %s",
        f"SELECT * FROM {_table(Identity)} WHERE customer_id = %s ORDER BY kind, scope",
        f"SELECT o.*, a.name FROM {_table(Order)} o"
        f" LEFT JOIN {_table(ChannelAccount)} a ON a.id = o.channel_account_id"
        f" WHERE o.customer_id = %s ORDER BY o.paid_at DESC, o.id DESC",
        f"SELECT ct.*, t.name, g.name FROM {_table(CustomerTag)} ct"
        f" JOIN {_table(Tag)} t ON t.id = ct.tag_id JOIN {_table(TagGroup)} g"
        f" ON g.id = t.group_id WHERE ct.customer_id = %s ORDER BY g.name, t.name",
        f"SELECT * FROM {_table(Consent)} WHERE customer_id = %s",
        f"SELECT e.*, a.name, a.kind FROM {_table(Event)} e"
        f" LEFT JOIN {_table(ChannelAccount)} a ON a.id = e.channel_account_id"
        f" WHERE e.customer_id = %s ORDER BY e.occurred_at DESC, e.id DESC LIMIT {TIMELINE}",
    ]
    rows = 0
    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(sql, [customer_id])
            rows += len(cursor.fetchall())
    return rows


def measure_detail(*, customer_id: int, repeats: int) -> dict:
    """One busy customer's 360° profile and timeline."""
    rows = same_rows(
        "customer_detail",
        detail_ours(customer_id=customer_id),
        detail_baseline(customer_id=customer_id),
    )
    return case(
        name="customer_detail_timeline",
        ours_ms=median_ms(lambda: detail_ours(customer_id=customer_id), repeats=repeats),
        baseline_ms=median_ms(lambda: detail_baseline(customer_id=customer_id), repeats=repeats),
        repeats=repeats,
        rows=rows,
        what="six SELECTs (profile, identities, orders, tags, consents, 100 events)",
    )
