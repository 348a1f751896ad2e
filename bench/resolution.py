"""Identity resolution, one call per identity set, beside the same work in hand-written SQL."""

import time
from datetime import UTC, datetime

from django.db import connection, transaction

from bench.dataset import db_time, phone_of
from customers.identities import IdentityKey, normalize_identity
from customers.models import Customer, Identity
from customers.services import customer_resolve


def identity_sets(*, count: int, customers: int, offset: str) -> list[list[IdentityKey]]:
    """Half of the sets name a known customer (by phone) with a new openid; half are new."""
    sets = []
    for n in range(count):
        if n % 2:
            sets.append(
                [
                    normalize_identity("phone", phone_of((n * 7919) % customers)),
                    normalize_identity("wechat_openid", f"r{offset}-{n}", "oa"),
                ]
            )
        else:
            sets.append(
                [
                    normalize_identity("wechat_unionid", f"r{offset}-u{n}"),
                    normalize_identity("app_user_id", f"r{offset}-a{n}", "app"),
                ]
            )
    return sets


def resolve_with_orm(sets: list[list[IdentityKey]]) -> float:
    started = time.perf_counter()
    for keys in sets:
        customer_resolve(identities=keys, actor_label="bench")
    return time.perf_counter() - started


def resolve_with_sql(sets: list[list[IdentityKey]]) -> float:
    """Look the keys up; attach the new ones to the owner or to a new customer (no merges)."""
    identity = connection.ops.quote_name(Identity._meta.db_table)
    customer = connection.ops.quote_name(Customer._meta.db_table)
    now = db_time(datetime.now(UTC))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for keys in sets:
            with transaction.atomic():
                where = " OR ".join(["(kind = %s AND scope = %s AND value = %s)"] * len(keys))
                params = [part for k in keys for part in (k.kind, k.scope, k.value)]
                lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
                cursor.execute(
                    f"SELECT customer_id, kind, scope, value FROM {identity} WHERE {where}{lock}",
                    params,
                )
                found = cursor.fetchall()
                if found:
                    owner = found[0][0]
                else:
                    cursor.execute(
                        f"INSERT INTO {customer} (name, gender, city, province, phone, email,"
                        " attributes, lifecycle, rfm_segment, total_orders, total_revenue,"
                        " created_at, updated_at, first_seen_at)"
                        " VALUES ('', 'unknown', '', '', '', '', '{}', 'new', 'prospects', 0, 0,"
                        " %s, %s, %s) RETURNING id",
                        [now, now, now],
                    )
                    owner = cursor.fetchone()[0]
                known = {(k, s, v) for _c, k, s, v in found}
                new = [k for k in keys if (k.kind, k.scope, k.value) not in known]
                cursor.executemany(
                    f"INSERT INTO {identity} (customer_id, kind, scope, value, created_at)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    [(owner, k.kind, k.scope, k.value, now) for k in new],
                )
    return time.perf_counter() - started


def measure_resolution(*, count: int, customers: int) -> dict:
    ours = resolve_with_orm(identity_sets(count=count, customers=customers, offset="orm"))
    base = resolve_with_sql(identity_sets(count=count, customers=customers, offset="sql"))
    identities = count * 2
    return {
        "ours_per_second": identities / ours,
        "baseline_per_second": identities / base,
        "identities": identities,
    }
