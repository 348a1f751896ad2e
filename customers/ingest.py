"""Bulk ingestion of events and orders (the events/batch and orders/batch API, CSV imports).

Rows are validated one by one (each bad row is reported with its index and field), then the
good rows are written set-wise: identities resolved per person, duplicates found with one
query per chunk, rows inserted with bulk_create.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from customers.choices import OrderStatus
from customers.identities import IdentityKey, normalize_identity
from customers.models import Event, Identity, Order
from customers.points import points_for_events, points_for_orders
from customers.services import (
    customer_resolve,
    customers_create_bulk,
    customers_refresh_aggregates,
    identities_attach_bulk,
)

MAX_BATCH = 10_000
CHUNK = 500


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    errors: list[dict] = field(default_factory=list)
    customer_ids: set[int] = field(default_factory=set)

    def as_dict(self, *, with_updated: bool = False) -> dict:
        data = {"accepted": self.accepted, "duplicates": self.duplicates, "errors": self.errors}
        if with_updated:
            data["updated"] = self.updated
        return data


def _channel_map(codes: set[str]) -> dict:
    from django.apps import apps

    ChannelAccount = apps.get_model("channels", "ChannelAccount")
    return {a.code: a for a in ChannelAccount.objects.filter(code__in=codes)}


def parse_identities(raw, errors: dict, known_scopes: set[str] | None = None) -> list[IdentityKey]:
    """Validate a list of `{"kind", "value", "scope"?}`; problems go into `errors`."""
    if not isinstance(raw, list) or not raw:
        errors["identities"] = [_("需要至少一个身份标识（列表）")]
        return []
    keys, problems = [], []
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(_("第 %(i)s 项必须是对象") % {"i": position})
            continue
        try:
            key = normalize_identity(item.get("kind", ""), item.get("value"), item.get("scope"))
        except ValidationError as exc:
            problems.append(f"[{position}] " + "; ".join(exc.messages))
            continue
        if key.scope and known_scopes is not None and key.scope not in known_scopes:
            problems.append(
                f"[{position}] " + _("未知的渠道账号代码 %(code)s") % {"code": key.scope}
            )
            continue
        keys.append(key)
    if problems:
        errors["identities"] = problems
    return keys


def parse_timestamp(value, errors: dict, name: str, *, required: bool = True) -> datetime | None:
    if value in (None, ""):
        if required:
            errors[name] = [_("必填")]
        return None
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        errors[name] = [_("需要 ISO 8601 时间，例如 2026-05-01T10:00:00+08:00")]
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _string(value, errors: dict, name: str, *, max_length: int, required: bool = True) -> str:
    if value in (None, ""):
        if required:
            errors[name] = [_("必填")]
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        errors[name] = [_("必须是字符串")]
        return ""
    value = str(value).strip()
    if len(value) > max_length:
        errors[name] = [_("最多 %(n)s 个字符") % {"n": max_length}]
    return value


def _referenced_codes(rows: list) -> set[str]:
    codes = set()
    for row in rows:
        if isinstance(row, dict):
            if isinstance(row.get("channel"), str):
                codes.add(row["channel"])
            for ident in row.get("identities") or []:
                if isinstance(ident, dict) and isinstance(ident.get("scope"), str):
                    codes.add(ident["scope"])
    return codes


def resolve_many(key_sets: list[list[IdentityKey]], actor_label: str) -> list[int]:
    """Map each row's identities to a customer id, resolving set-wise.

    Rows that share an identity (transitively) are one person and resolved together; groups
    whose identities all point to one existing customer need no write at all, and the new
    identities of a group known to one customer are attached set-wise. Only groups that
    span several customers (a merge) are resolved one by one.
    """
    all_keys = {key for keys in key_sets for key in keys}
    owner: dict[IdentityKey, int] = {}
    values = sorted({k.value for k in all_keys})
    for start in range(0, len(values), CHUNK):
        for ident in Identity.objects.filter(value__in=values[start : start + CHUNK]).values_list(
            "kind", "scope", "value", "customer_id"
        ):
            key = IdentityKey(*ident[:3])
            if key in all_keys:
                owner[key] = ident[3]
    # union-find over the keys of each row
    parent: dict[IdentityKey, IdentityKey] = {}

    def find(key):
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for keys in key_sets:
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    groups: dict[IdentityKey, set[IdentityKey]] = defaultdict(set)
    for key in all_keys:
        groups[find(key)].add(key)
    group_customer: dict[IdentityKey, int | None] = {}
    unknown, attach = [], {}
    for root, keys in groups.items():
        owners = {owner.get(k) for k in keys}
        if owners == {None}:
            unknown.append(root)
        elif len(owners - {None}) == 1:  # one person, maybe with identities new to us
            group_customer[root] = (owners - {None}).pop()
            if None in owners:
                attach[root] = {k for k in keys if k not in owner}
    created = customers_create_bulk(key_groups=[groups[r] for r in unknown]) if unknown else []
    group_customer.update(zip(unknown, created, strict=True))
    if attach:
        by_customer: dict[int, set[IdentityKey]] = defaultdict(set)
        for root, keys in attach.items():
            by_customer[group_customer[root]] |= keys
        done = identities_attach_bulk(attach=by_customer)
        group_customer.update({root: None for root in attach if group_customer[root] not in done})
    moved: dict[int, int] = {}  # customers merged away by this call → their survivor
    for root, keys in groups.items():
        if group_customer.get(root) is None:  # known to several customers, or lost a race
            result = customer_resolve(identities=keys, actor_label=actor_label)
            group_customer[root] = result.customer.pk
            moved.update(dict.fromkeys(result.merged_ids, result.customer.pk))

    def current(customer_id: int) -> int:
        while customer_id in moved:
            customer_id = moved[customer_id]
        return customer_id

    return [current(group_customer[find(keys[0])]) for keys in key_sets]


def _validate_event(row, channels) -> tuple[dict, dict]:
    errors: dict = {}
    if not isinstance(row, dict):
        return {}, {"non_field_errors": [_("每个事件必须是对象")]}
    clean = {
        "source_id": _string(
            row.get("event_id"), errors, "event_id", max_length=128, required=False
        )
        or None,
        "name": _string(row.get("name"), errors, "name", max_length=64),
        "occurred_at": parse_timestamp(row.get("occurred_at"), errors, "occurred_at"),
    }
    code = _string(row.get("channel"), errors, "channel", max_length=64)
    if code and code not in channels:
        errors["channel"] = [_("未知的渠道账号代码 %(code)s") % {"code": code}]
    clean["channel"] = channels.get(code)
    props = row.get("properties", {})
    if props is None:
        props = {}
    if not isinstance(props, dict):
        errors["properties"] = [_("必须是对象")]
    clean["properties"] = props
    clean["keys"] = parse_identities(row.get("identities"), errors, set(channels))
    return clean, errors


def events_validate(rows: list) -> tuple[list[dict], list[dict]]:
    """Check every event row; returns the clean rows and `{"index", "errors"}` for bad ones."""
    channels = _channel_map(_referenced_codes(rows))
    valid, problems = [], []
    for index, row in enumerate(rows):
        clean, errors = _validate_event(row, channels)
        if errors:
            problems.append({"index": index, "errors": errors})
        else:
            valid.append(clean)
    return valid, problems


def events_ingest(*, rows: list, actor_label: str = "api") -> BatchResult:
    """Write a batch of events; valid rows are kept even when others fail."""
    result = BatchResult()
    if not isinstance(rows, list):
        raise ValidationError({"events": _("必须是列表")})
    if len(rows) > MAX_BATCH:
        raise ValidationError({"events": _("每次最多 %(n)s 条") % {"n": MAX_BATCH}})
    valid, result.errors = events_validate(rows)
    # duplicates: already stored, or repeated inside this batch
    seen: set[tuple[int, str]] = set()
    by_channel = defaultdict(list)
    for clean in valid:
        if clean["source_id"]:
            by_channel[clean["channel"].pk].append(clean["source_id"])
    for channel_id, source_ids in by_channel.items():
        for start in range(0, len(source_ids), CHUNK):
            chunk = source_ids[start : start + CHUNK]
            seen.update(
                (channel_id, s)
                for s in Event.objects.filter(
                    channel_account_id=channel_id, source_id__in=chunk
                ).values_list("source_id", flat=True)
            )
    fresh = []
    for clean in valid:
        key = (clean["channel"].pk, clean["source_id"])
        if clean["source_id"] and key in seen:
            result.duplicates += 1
            continue
        if clean["source_id"]:
            seen.add(key)
        fresh.append(clean)
    # Resolution commits as it goes (outside the events' transaction) so that concurrent
    # batches naming the same people never hold each other's identity locks for long.
    customer_ids = resolve_many([c["keys"] for c in fresh], actor_label)
    with transaction.atomic():
        Event.objects.bulk_create(
            [
                Event(
                    customer_id=customer_id,
                    channel_account=c["channel"],
                    name=c["name"],
                    occurred_at=c["occurred_at"],
                    properties=c["properties"],
                    source_id=c["source_id"],
                )
                for c, customer_id in zip(fresh, customer_ids, strict=True)
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        _touch_seen(fresh, customer_ids)
    points_for_events(  # behaviour rules (sign-in, share…); nothing to do without rules
        rows=[
            (customer_id, c["name"], c["channel"].pk, c["occurred_at"], c["source_id"])
            for c, customer_id in zip(fresh, customer_ids, strict=True)
        ]
    )
    result.accepted = len(fresh)
    result.customer_ids = set(customer_ids)
    return result


def _touch_seen(rows: list[dict], customer_ids: list[int]) -> None:
    """Widen first/last seen of the customers these events belong to, set-wise.

    One `WITH span AS (VALUES …) UPDATE … FROM span` per thousand customers (PostgreSQL and
    SQLite ≥ 3.33 both have UPDATE … FROM): the batch's own earliest and latest times.
    """
    from customers.models import Customer

    span: dict[int, tuple[datetime, datetime]] = {}
    for row, customer_id in zip(rows, customer_ids, strict=True):
        at = row["occurred_at"]
        first, last = span.get(customer_id, (at, at))
        span[customer_id] = (min(first, at), max(last, at))
    table = connection.ops.quote_name(Customer._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    items = sorted(span.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            # Lock in id order first: concurrent batches touching the same customers then
            # queue behind each other instead of deadlocking in the UPDATE's join order.
            list(
                Customer.objects.select_for_update()
                .filter(pk__in=[cid for cid, _span in chunk])
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            values = ", ".join(["(%s, %s, %s)"] * len(chunk))
            params = [p for cid, (f, last) in chunk for p in (cid, adapt(f), adapt(last))]
            cursor.execute(
                f"WITH span (id, first_at, last_at) AS (VALUES {values}) "
                f"UPDATE {table} SET "
                f"first_seen_at = CASE WHEN {table}.first_seen_at IS NULL "
                f"OR span.first_at < {table}.first_seen_at "
                f"THEN span.first_at ELSE {table}.first_seen_at END, "
                f"last_seen_at = CASE WHEN {table}.last_seen_at IS NULL "
                f"OR span.last_at > {table}.last_seen_at "
                f"THEN span.last_at ELSE {table}.last_seen_at END "
                f"FROM span WHERE {table}.id = span.id",
                params,
            )


def _validate_order(row, channels) -> tuple[dict, dict]:
    errors: dict = {}
    if not isinstance(row, dict):
        return {}, {"non_field_errors": [_("每个订单必须是对象")]}
    clean = {"external_id": _string(row.get("order_id"), errors, "order_id", max_length=128)}
    code = _string(row.get("channel"), errors, "channel", max_length=64)
    if code and code not in channels:
        errors["channel"] = [_("未知的渠道账号代码 %(code)s") % {"code": code}]
    clean["channel"] = channels.get(code)
    amount = row.get("amount")
    try:
        if isinstance(amount, bool) or amount in (None, ""):
            raise InvalidOperation
        clean["amount"] = Decimal(str(amount)).quantize(Decimal("0.01"))
        if clean["amount"] < 0 or clean["amount"] >= Decimal("1e10"):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["amount"] = [_("需要 0 到 9999999999.99 之间的金额")]
    currency = row.get("currency") or "CNY"
    if not isinstance(currency, str) or len(currency) != 3:
        errors["currency"] = [_("需要三位币种代码，例如 CNY")]
    clean["currency"] = str(currency).upper()
    status = row.get("status") or OrderStatus.PAID
    if status not in OrderStatus.values:
        errors["status"] = [_("可选：%(v)s") % {"v": ", ".join(OrderStatus.values)}]
    clean["status"] = status
    clean["paid_at"] = parse_timestamp(
        row.get("paid_at"), errors, "paid_at", required=status != OrderStatus.CREATED
    )
    items = row.get("items") or []
    if not isinstance(items, list):
        errors["items"] = [_("必须是列表")]
    clean["items"] = items
    clean["keys"] = parse_identities(row.get("identities"), errors, set(channels))
    return clean, errors


ORDER_FIELDS = ("amount", "currency", "status", "paid_at", "items")


def orders_ingest(*, rows: list, actor_label: str = "api") -> BatchResult:
    """Upsert a batch of orders: new ones are created, changed ones (a refund) updated."""
    result = BatchResult()
    if not isinstance(rows, list):
        raise ValidationError({"orders": _("必须是列表")})
    if len(rows) > MAX_BATCH:
        raise ValidationError({"orders": _("每次最多 %(n)s 条") % {"n": MAX_BATCH}})
    channels = _channel_map(_referenced_codes(rows))
    valid = {}
    for index, row in enumerate(rows):
        clean, errors = _validate_order(row, channels)
        if errors:
            result.errors.append({"index": index, "errors": errors})
        else:  # the last row for an order wins within a batch
            if (clean["channel"].pk, clean["external_id"]) in valid:
                result.duplicates += 1
            valid[(clean["channel"].pk, clean["external_id"])] = clean
    existing: dict[tuple[int, str], Order] = {}
    by_channel = defaultdict(list)
    for channel_id, external_id in valid:
        by_channel[channel_id].append(external_id)
    for channel_id, ids in by_channel.items():
        for start in range(0, len(ids), CHUNK):
            for order in Order.objects.filter(
                channel_account_id=channel_id, external_id__in=ids[start : start + CHUNK]
            ):
                existing[(channel_id, order.external_id)] = order
    with transaction.atomic():
        new = [c for k, c in valid.items() if k not in existing]
        customer_ids = resolve_many([c["keys"] for c in new], actor_label)
        Order.objects.bulk_create(
            [
                Order(
                    customer_id=cid,
                    channel_account=c["channel"],
                    external_id=c["external_id"],
                    **{f: c[f] for f in ORDER_FIELDS},
                )
                for c, cid in zip(new, customer_ids, strict=True)
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        changed = []
        for key, order in existing.items():
            clean = valid[key]
            if any(getattr(order, f) != clean[f] for f in ORDER_FIELDS):
                for f in ORDER_FIELDS:
                    setattr(order, f, clean[f])
                changed.append(order)
            else:
                result.duplicates += 1
        now = timezone.now()
        for order in changed:
            order.updated_at = now
        Order.objects.bulk_update(changed, [*ORDER_FIELDS, "updated_at"], batch_size=1000)
        touched = set(customer_ids) | {o.customer_id for o in changed}
        customers_refresh_aggregates(customer_ids=touched)
    result.accepted = len(new)
    result.updated = len(changed)
    result.customer_ids = touched
    points_for_orders(keys=list(valid))  # earn for paid orders, reverse refunded ones
    return result
