"""customer_resolve, one call per identity set, beside the same lookups in hand-written SQL."""

from django.db import connection, transaction
from django.utils import timezone

from bench.timing import case, same_rows, timed_ms
from customers.identities import IdentityKey, normalize_identity
from customers.models import Customer, Identity
from customers.services import customer_resolve


def identity_sets(*, count: int, tag: str) -> list[list[IdentityKey]]:
    """Half name a known customer (by phone) with a new OA openid; half are new people."""
    phones = list(
        Identity.objects.filter(kind="phone").order_by("id").values_list("value", flat=True)
    )
    sets = []
    for n in range(count):
        if n % 2 and phones:
            sets.append(
                [
                    normalize_identity("phone", phones[n % len(phones)]),
                    normalize_identity("wechat_openid", f"bench-{tag}-o{n}", "oa"),
                ]
            )
        else:
            sets.append(
                [
                    normalize_identity("wechat_unionid", f"bench-{tag}-u{n}"),
                    normalize_identity("app_user_id", f"bench-{tag}-a{n}", "app"),
                ]
            )
    return sets


def resolve_ours(sets: list[list[IdentityKey]]) -> int:
    """Resolve each set; returns how many found an existing customer."""
    return sum(not customer_resolve(identities=keys, actor_label="bench").created for keys in sets)


def resolve_sql(sets: list[list[IdentityKey]]) -> int:
    """Look the keys up; attach the new ones to the owner or to a new customer (no merges)."""
    identity = connection.ops.quote_name(Identity._meta.db_table)
    customer = connection.ops.quote_name(Customer._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    known_sets = 0
    with connection.cursor() as cursor:
        for keys in sets:
            with transaction.atomic():
                where = " OR ".join(["(kind = %s AND scope = %s AND value = %s)"] * len(keys))
                params = [part for k in keys for part in (k.kind, k.scope, k.value)]
                cursor.execute(
                    f"SELECT customer_id, kind, scope, value FROM {identity} WHERE {where}{lock}",
                    params,
                )
                found = cursor.fetchall()
                if found:
                    owner = found[0][0]
                    known_sets += 1
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
                cursor.executemany(
                    f"INSERT INTO {identity} (customer_id, kind, scope, value, created_at)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    [
                        (owner, k.kind, k.scope, k.value, now)
                        for k in keys
                        if (k.kind, k.scope, k.value) not in known
                    ],
                )
    return known_sets


def measure_resolution(*, count: int, repeats: int) -> dict:
    """`count` identity sets, half known and half new, resolved one call at a time."""
    found_ours, found_sql = [], []
    ours_sets = [identity_sets(count=count, tag=f"orm{run}") for run in range(repeats)]
    sql_sets = [identity_sets(count=count, tag=f"sql{run}") for run in range(repeats)]
    ours = timed_ms(lambda run: found_ours.append(resolve_ours(ours_sets[run])), repeats=repeats)
    base = timed_ms(lambda run: found_sql.append(resolve_sql(sql_sets[run])), repeats=repeats)
    return case(
        name=f"customer_resolve_{count}",
        ours_ms=ours,
        baseline_ms=base,
        repeats=repeats,
        rows=same_rows("customer_resolve", found_ours[0], found_sql[0]),
        what="SELECT the keys (FOR UPDATE on PostgreSQL), INSERT customer/identities per set",
    )
