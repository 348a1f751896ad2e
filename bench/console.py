"""Server time of the console's customer list and profile, beside hand-written SQL.

Pages are rendered in-process through Django's test client (the full view, template and
query path, no network), timed around the request. Each baseline is the SQL a careful
engineer would write by hand for the same page: the same rows, counted the same way.
"""

import statistics
import time

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from customers.models import Customer


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm caches and connections
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _client() -> Client:
    user, _created = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    return client


def _get(client: Client, url: str, params: dict) -> None:
    response = client.get(url, params)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def list_baseline_sql(*, tag_id: int, channel: str) -> tuple[int, list]:
    """Customers with a tag who are known on a channel: count + first page of 50 with tags."""
    from django.apps import apps

    ChannelAccount = apps.get_model("channels", "ChannelAccount")
    CustomerTag = apps.get_model("tags", "CustomerTag")
    Tag = apps.get_model("tags", "Tag")
    from customers.models import Event, Identity, Order

    where = f"""
        FROM {_table(Customer)} c
        WHERE EXISTS (SELECT 1 FROM {_table(CustomerTag)} ct
                      WHERE ct.customer_id = c.id AND ct.tag_id = %s)
          AND (EXISTS (SELECT 1 FROM {_table(Identity)} i
                       WHERE i.customer_id = c.id AND i.scope = %s)
            OR EXISTS (SELECT 1 FROM {_table(Event)} e JOIN {_table(ChannelAccount)} a
                       ON a.id = e.channel_account_id
                       WHERE e.customer_id = c.id AND a.code = %s)
            OR EXISTS (SELECT 1 FROM {_table(Order)} o JOIN {_table(ChannelAccount)} a
                       ON a.id = o.channel_account_id
                       WHERE o.customer_id = c.id AND a.code = %s))"""
    params = [tag_id, channel, channel, channel]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {where}", params)
        total = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT c.id, c.name, c.phone, c.city, c.lifecycle, c.rfm_segment, c.total_orders,"
            f" c.total_revenue, c.last_seen_at {where} ORDER BY c.id DESC LIMIT 50",
            params,
        )
        rows = cursor.fetchall()
        ids = [r[0] for r in rows] or [0]
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(
            f"SELECT ct.customer_id, t.name, t.color FROM {_table(CustomerTag)} ct"
            f" JOIN {_table(Tag)} t ON t.id = ct.tag_id WHERE ct.customer_id IN ({marks})",
            ids,
        )
        cursor.fetchall()
    return total, rows


def profile_baseline_sql(*, customer_id: int) -> int:
    """One profile: the customer, identities, tags, consents, 20 orders, 100 latest events."""
    from django.apps import apps

    from customers.models import Consent, Event, Identity, Order

    CustomerTag = apps.get_model("tags", "CustomerTag")
    Tag = apps.get_model("tags", "Tag")
    ChannelAccount = apps.get_model("channels", "ChannelAccount")
    queries = [
        f"SELECT * FROM {_table(Customer)} WHERE id = %s",
        f"SELECT * FROM {_table(Identity)} WHERE customer_id = %s ORDER BY kind, scope",
        f"SELECT ct.*, t.name, t.color FROM {_table(CustomerTag)} ct"
        f" JOIN {_table(Tag)} t ON t.id = ct.tag_id WHERE ct.customer_id = %s",
        f"SELECT * FROM {_table(Consent)} WHERE customer_id = %s",
        f"SELECT * FROM {_table(Order)} WHERE customer_id = %s ORDER BY paid_at DESC LIMIT 20",
        f"SELECT e.*, a.name, a.kind FROM {_table(Event)} e"
        f" LEFT JOIN {_table(ChannelAccount)} a ON a.id = e.channel_account_id"
        f" WHERE e.customer_id = %s ORDER BY e.occurred_at DESC, e.id DESC LIMIT 100",
    ]
    rows = 0
    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(sql, [customer_id])
            rows += len(cursor.fetchall())
    return rows


def measure_list(*, tag_id: int, channel: str, repeats: int) -> dict:
    client = _client()
    params = {"tag": str(tag_id), "channel": channel}
    response = client.get("/customers/", params)
    ours_count = response.context["paginator"].count
    base_count, _rows = list_baseline_sql(tag_id=tag_id, channel=channel)
    if ours_count != base_count:
        raise AssertionError(f"list count differs: ours {ours_count}, SQL {base_count}")
    return {
        "ours_ms": _median_ms(lambda: _get(client, "/customers/", params), repeats),
        "baseline_ms": _median_ms(
            lambda: list_baseline_sql(tag_id=tag_id, channel=channel), repeats
        ),
        "rows": ours_count,
    }


def measure_profile(*, customer_id: int, repeats: int) -> dict:
    client = _client()
    url = f"/customers/{customer_id}/"
    return {
        "ours_ms": _median_ms(lambda: _get(client, url, {}), repeats),
        "baseline_ms": _median_ms(lambda: profile_baseline_sql(customer_id=customer_id), repeats),
        "rows": profile_baseline_sql(customer_id=customer_id),
    }
