"""A synthetic benchmark dataset, written fast: COPY on PostgreSQL, executemany on SQLite.

Not the demo (that goes through the product's ingestion and is slower by design); this is
bulk volume to measure the product's paths against: N customers, M events, identities on
every channel, orders and tags, shaped like the demo (same channel codes and event names).
"""

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from channels.services import channel_account_create
from customers.models import Customer, Event, Identity, Order
from tags.models import CustomerTag, Tag
from tags.services import tag_create, tag_group_lookup

ACCOUNTS = [
    ("wechat_oa", "oa", "公众号"),
    ("wecom", "wecom", "企业微信"),
    ("wechat_mini", "mini", "小程序"),
    ("douyin", "douyin", "抖音"),
    ("app", "app", "自有App"),
    ("tmall", "tmall", "天猫旗舰店"),
]
EVENT_NAMES = [
    ("page_view", 40),
    ("view_product", 25),
    ("add_to_cart", 10),
    ("sign_in", 8),
    ("share", 4),
    ("checkout", 5),
    ("order_paid", 4),
    ("video_play", 3),
    ("coupon_redeem", 2),
]
TAGS = ["绿茶", "红茶", "花茶", "零食", "价格敏感", "品质追求", "办公室", "送礼"]
CATEGORIES = ["绿茶", "红茶", "花茶", "零食", "茶具"]
SEGMENTS = ["champions", "loyal", "potential", "new_customers", "at_risk", "hibernating", "lost",
            "prospects"]  # fmt: skip
CITIES = ["上海", "北京", "杭州", "广州", "深圳", "成都", "南京", "武汉", "西安", "苏州"]
CHUNK = 50_000
EVENT_COLUMNS = [
    "customer",
    "channel_account",
    "name",
    "occurred_at",
    "properties",
    "source_id",
    "created_at",
]


@dataclass
class Dataset:
    customers: int
    events: int
    identities: int
    orders: int
    first_customer_id: int
    tag_ids: list[int]


def rows_insert(model, columns: list[str], rows) -> int:
    """Insert rows (tuples in `columns` order) as fast as the database allows."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        marks = ", ".join(["%s"] * len(columns))
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == CHUNK:
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", batch)
                count, batch = count + len(batch), []
        if batch:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", batch)
            count += len(batch)
    return count


def db_time(value: datetime):
    """A datetime as the backend stores it (SQLite: naive UTC text)."""
    if connection.vendor == "postgresql":
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def phone_of(index: int) -> str:
    return f"+86138{index:08d}"


def accounts_ensure() -> dict:
    from django.apps import apps

    ChannelAccount = apps.get_model("channels", "ChannelAccount")
    existing = {a.code: a for a in ChannelAccount.objects.all()}
    for kind, code, name in ACCOUNTS:
        if code not in existing:
            existing[code] = channel_account_create(kind=kind, code=code, name=name)
    return existing


def _customer_rows(first_id: int, count: int, rng: random.Random, now: datetime):
    for i in range(count):
        created = now - timedelta(days=rng.randrange(365), seconds=rng.randrange(86_400))
        yield (
            first_id + i,
            f"客户{i}",
            rng.choice(["male", "female", "unknown"]),
            rng.choice(CITIES),
            "",
            phone_of(i),
            "",
            "{}",
            rng.choice(["new", "active", "sleeping", "churned"]),
            rng.choice(SEGMENTS),
            orders := rng.choice([0, 0, 0, 1, 1, 2, 3, 5, 8]),
            orders * rng.randrange(30, 400),
            rng.randrange(0, 3000),
            rng.choice(["", "", "silver", "gold"]),
            "",
            db_time(created),
            db_time(now),
            db_time(created),
            db_time(now - timedelta(days=rng.randrange(180))),
        )


CUSTOMER_COLUMNS = [
    "id",
    "name",
    "gender",
    "city",
    "province",
    "phone",
    "email",
    "attributes",
    "lifecycle",
    "rfm_segment",
    "total_orders",
    "total_revenue",
    "points_balance",
    "tier",
    "value_cluster",
    "created_at",
    "updated_at",
    "first_seen_at",
    "last_seen_at",
]


def _identity_rows(first_id: int, count: int, rng: random.Random, now: datetime):
    stamp = db_time(now)
    for i in range(count):
        cid = first_id + i
        yield (cid, "phone", "", phone_of(i), stamp)
        if rng.random() < 0.6:
            yield (cid, "wechat_unionid", "", f"u{i}", stamp)
            yield (cid, "wechat_openid", "oa", f"o{i}", stamp)
        if rng.random() < 0.4:
            yield (cid, "app_user_id", "app", f"a{i}", stamp)
        if rng.random() < 0.3:
            yield (cid, "platform_buyer_id", "tmall", f"tb{i}", stamp)
        if rng.random() < 0.2:
            yield (cid, "wecom_external_userid", "wecom", f"wm{i}", stamp)


def _event_rows(first_id, customers, count, accounts, rng, now):
    names, weights = zip(*EVENT_NAMES, strict=True)
    account_ids = [a.pk for a in accounts.values()]
    for n in range(count):
        occurred = now - timedelta(seconds=rng.randrange(180 * 86_400))
        sku, price = rng.randrange(200), rng.randrange(10, 300)
        category = rng.choice(CATEGORIES)
        props = json.dumps(
            {"sku": f"SKU-{sku}", "price": price, "amount": price, "category": category},
            ensure_ascii=False,
        )
        yield (
            first_id + rng.randrange(customers),
            rng.choice(account_ids),
            rng.choices(names, weights)[0],
            db_time(occurred),
            props,
            f"bench-{n}",
            db_time(now),
        )


def _order_rows(first_id, customers, count, accounts, rng, now):
    stores = [accounts[c].pk for c in ("tmall", "mini", "app")]
    for n in range(count):
        paid = now - timedelta(seconds=rng.randrange(180 * 86_400))
        amount = rng.randrange(1_000, 60_000) / 100
        items = json.dumps([{"sku": f"SKU-{rng.randrange(200)}", "qty": 1}])
        stamp = db_time(now)
        status = "paid" if rng.random() < 0.95 else "refunded"
        yield (
            first_id + rng.randrange(customers),
            rng.choice(stores),
            f"bo-{n}",
            amount,
            "CNY",
            status,
            db_time(paid),
            items,
            stamp,
            stamp,
        )


def _tag_rows(first_id, customers, tag_ids, rng, now):
    stamp = db_time(now)
    for i in range(customers):
        if rng.random() < 0.3:
            for tag_id in rng.sample(tag_ids, rng.randint(1, 2)):
                yield (first_id + i, tag_id, "import", "bench", stamp)


def dataset_build(*, customers: int, events: int, seed: int = 7) -> Dataset:
    """Write the synthetic dataset into the (empty) current database."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    accounts = accounts_ensure()
    group = tag_group_lookup("基准测试")
    tag_ids = [
        (
            Tag.objects.filter(group=group, name=name).first() or tag_create(name=name, group=group)
        ).pk
        for name in TAGS
    ]
    first = (Customer.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    with transaction.atomic():
        rows_insert(Customer, CUSTOMER_COLUMNS, _customer_rows(first, customers, rng, now))
        identities = rows_insert(
            Identity,
            ["customer", "kind", "scope", "value", "created_at"],
            _identity_rows(first, customers, rng, now),
        )
        rows_insert(
            Event,
            EVENT_COLUMNS,
            _event_rows(first, customers, events, accounts, rng, now),
        )
        orders = rows_insert(
            Order,
            [
                "customer",
                "channel_account",
                "external_id",
                "amount",
                "currency",
                "status",
                "paid_at",
                "items",
                "created_at",
                "updated_at",
            ],
            _order_rows(first, customers, customers // 2, accounts, rng, now),
        )
        rows_insert(
            CustomerTag,
            ["customer", "tag", "source", "source_ref", "created_at"],
            _tag_rows(first, customers, tag_ids, rng, now),
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{Customer._meta.db_table}', 'id'), "
                f"(SELECT MAX(id) FROM {Customer._meta.db_table}))"
            )
            # as autovacuum would have by the time anyone queries: statistics and the
            # visibility map (index-only scans)
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return Dataset(customers, events, identities, orders, first, tag_ids)
