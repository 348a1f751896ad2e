"""Writes on the unified profile: identity resolution, merges, profile upserts, aggregates."""

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone
from django.utils.translation import gettext as _

from common.audit import audit_record
from common.models import AuditLog
from customers.choices import (
    REVENUE_STATUSES,
    SYSTEM_EVENTS,
    ConsentStatus,
    Gender,
    IdentityKind,
)
from customers.identities import IdentityKey
from customers.models import Consent, Customer, Event, Identity, MergeLog, Order
from customers.points import points_after_merge, points_balances_refresh
from customers.signals import customer_merging

logger = logging.getLogger(__name__)

PROFILE_FIELDS = ("name", "gender", "city", "province", "birthday")
RESOLVE_ATTEMPTS = 6


@dataclass
class ResolveResult:
    customer: Customer
    created: bool = False
    merged_ids: list[int] = field(default_factory=list)


def _identity_q(keys: Iterable[IdentityKey]) -> Q:
    q = Q(pk__in=[])
    for key in keys:
        q |= Q(kind=key.kind, scope=key.scope, value=key.value)
    return q


def profile_clean(profile: dict | None) -> dict:
    """Keep the known profile fields that carry a value; validate their types."""
    clean = {}
    for name, value in (profile or {}).items():
        if name not in PROFILE_FIELDS:
            raise ValidationError({"profile": _("未知的资料字段：%(name)s") % {"name": name}})
        if value in (None, ""):
            continue
        if name == "gender" and value not in Gender.values:
            raise ValidationError(
                {"profile": _("gender 只能是 %(v)s") % {"v": ", ".join(Gender.values)}}
            )
        if name == "birthday" and not isinstance(value, date):
            try:
                value = date.fromisoformat(str(value))
            except ValueError:
                raise ValidationError({"profile": _("birthday 必须是 YYYY-MM-DD 日期")})
        if name != "birthday":
            value = str(value)[:100]
        clean[name] = value
    return clean


def _mirror_contacts(customer: Customer, keys: Iterable[IdentityKey]) -> list[str]:
    """Fill the profile's primary phone/email from identities where it has none."""
    changed = []
    for key in keys:
        if key.kind == IdentityKind.PHONE and not customer.phone:
            customer.phone = key.value
            changed.append("phone")
        elif key.kind == IdentityKind.EMAIL and not customer.email:
            customer.email = key.value
            changed.append("email")
    return changed


def customer_resolve(
    *,
    identities: Iterable[IdentityKey],
    profile: dict | None = None,
    attributes: dict | None = None,
    actor_label: str = "system",
) -> ResolveResult:
    """Find the one customer these identities belong to.

    None known → a new customer; one → the new identities are attached to it; several → they
    are merged into the oldest. Safe under concurrent calls: the identity key is unique, a
    losing insert rolls back to its savepoint and the resolution is tried again.
    """
    keys = sorted(set(identities))
    if not keys:
        raise ValidationError({"identities": _("至少需要一个身份标识")})
    clean_profile = profile_clean(profile)
    if attributes is not None and not isinstance(attributes, dict):
        raise ValidationError({"attributes": _("attributes 必须是对象")})
    for attempt in range(RESOLVE_ATTEMPTS):
        try:
            with transaction.atomic():
                return _resolve_once(keys, clean_profile, attributes or {}, actor_label)
        except IntegrityError:
            if attempt == RESOLVE_ATTEMPTS - 1:
                raise
        except OperationalError as exc:  # a deadlock or a busy SQLite file: try again
            if attempt == RESOLVE_ATTEMPTS - 1 or not _is_retryable(exc):
                raise
    raise AssertionError("unreachable")


def customers_create_bulk(*, key_groups: list[set[IdentityKey]]) -> list[int | None]:
    """New customers, one per group of identities none of which is known yet, set-wise.

    The bulk paths (event batches, syncs) call this for first-time visitors. A group whose
    identity a concurrent writer took in the meantime gets None, for the caller to resolve
    one by one; the empty customer made for it is removed.
    """
    try:
        return _customers_create_bulk(key_groups)
    except OperationalError as exc:  # a deadlock with a concurrent batch: go one by one
        if not _is_retryable(exc):
            raise
        return [None] * len(key_groups)


def _customers_create_bulk(key_groups: list[set[IdentityKey]]) -> list[int | None]:
    now = timezone.now()
    with transaction.atomic():
        customers = []
        for keys in key_groups:
            customer = Customer(first_seen_at=now)
            _mirror_contacts(customer, sorted(keys))
            customers.append(customer)
        Customer.objects.bulk_create(customers, batch_size=1000)
        rows = sorted(  # one lock order for every writer
            (k, c) for c, keys in zip(customers, key_groups, strict=True) for k in keys
        )
        Identity.objects.bulk_create(
            [Identity(customer=c, kind=k.kind, scope=k.scope, value=k.value) for k, c in rows],
            batch_size=1000,
            ignore_conflicts=True,
        )
        ids = [c.pk for c in customers]
        held: dict[int, int] = defaultdict(int)
        for start in range(0, len(ids), 1000):
            for customer_id in Identity.objects.filter(
                customer_id__in=ids[start : start + 1000]
            ).values_list("customer_id", flat=True):
                held[customer_id] += 1
        result = [
            c.pk if held[c.pk] == len(keys) else None
            for c, keys in zip(customers, key_groups, strict=True)
        ]
        lost = [c.pk for c, pk in zip(customers, result, strict=True) if pk is None]
        Customer.objects.filter(pk__in=lost).delete()
    return result


def identities_attach_bulk(*, attach: dict[int, set[IdentityKey]]) -> set[int]:
    """Give each customer its new identities (none of them known yet), set-wise.

    The bulk paths call this for returning people who reveal another identity (a Mini
    Program user authorising a phone). Returns the customers that now hold all their keys;
    the others (merged away meanwhile, or a key taken concurrently) are left to the caller
    to resolve one by one.
    """
    try:
        return _identities_attach_bulk(attach)
    except OperationalError as exc:  # a deadlock with a concurrent batch: go one by one
        if not _is_retryable(exc):
            raise
        return set()


def _identities_attach_bulk(attach: dict[int, set[IdentityKey]]) -> set[int]:
    with transaction.atomic():
        locked = Customer.objects.select_for_update().filter(pk__in=attach).order_by("pk")
        present = {c.pk: c for c in locked}  # locked in id order, like every bulk path
        rows = sorted((k, cid) for cid, keys in attach.items() if cid in present for k in keys)
        Identity.objects.bulk_create(
            [
                Identity(customer_id=cid, kind=k.kind, scope=k.scope, value=k.value)
                for k, cid in rows
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        held: dict[int, int] = defaultdict(int)
        wanted = {k: cid for k, cid in rows}
        values = sorted({k.value for k in wanted})
        for start in range(0, len(values), 1000):
            for *key, customer_id in Identity.objects.filter(
                value__in=values[start : start + 1000]
            ).values_list("kind", "scope", "value", "customer_id"):
                if wanted.get(IdentityKey(*key)) == customer_id:
                    held[customer_id] += 1
        done = {cid for cid in present if held[cid] == len(attach[cid])}
        changed = [
            c
            for cid, c in present.items()
            if cid in done and _mirror_contacts(c, sorted(attach[cid]))
        ]
        for customer in changed:
            customer.updated_at = timezone.now()
        Customer.objects.bulk_update(changed, ["phone", "email", "updated_at"], batch_size=500)
    return done


def _is_retryable(exc: OperationalError) -> bool:
    text = str(exc).lower()
    return "deadlock" in text or "locked" in text or "could not serialize" in text


def _resolve_once(keys, profile, attributes, actor_label) -> ResolveResult:
    existing = list(Identity.objects.select_for_update().filter(_identity_q(keys)).order_by("id"))
    customer_ids = sorted({identity.customer_id for identity in existing})
    result = ResolveResult(customer=None)
    if not customer_ids:
        result.customer = Customer.objects.create(first_seen_at=timezone.now(), **profile)
        result.created = True
        profile = {}
    else:
        locked = list(
            Customer.objects.select_for_update().filter(pk__in=customer_ids).order_by("pk")
        )
        if len(locked) != len(customer_ids):  # a concurrent merge moved them: look again
            raise IntegrityError("customers changed during resolution")
        result.customer = locked[0]
        if len(locked) > 1:
            result.merged_ids = [c.pk for c in locked[1:]]
            _merge_locked(
                survivor=locked[0], losers=locked[1:], reason=_("身份识别"), actor_label=actor_label
            )
    known = {IdentityKey(i.kind, i.scope, i.value) for i in existing}
    new_keys = [key for key in keys if key not in known]
    Identity.objects.bulk_create(
        [
            Identity(customer=result.customer, kind=k.kind, scope=k.scope, value=k.value)
            for k in new_keys
        ]
    )
    customer = result.customer
    changed = _mirror_contacts(customer, keys)
    for name, value in profile.items():
        if getattr(customer, name) != value:
            setattr(customer, name, value)
            changed.append(name)
    if attributes:
        customer.attributes = {**customer.attributes, **attributes}
        changed.append("attributes")
    if changed and not result.created:
        customer.save(update_fields=[*set(changed), "updated_at"])
    elif changed:
        customer.save(update_fields=[*set(changed)])
    return result


def _unique_sets(model, fk_name: str) -> list[tuple[str, ...]]:
    """The other fields of each unique key of `model` that includes its customer FK."""
    sets = []
    for constraint in model._meta.constraints:
        fields = getattr(constraint, "fields", ())
        if fk_name in fields:
            sets.append(tuple(f for f in fields if f != fk_name))
    for together in model._meta.unique_together:
        if fk_name in together:
            sets.append(tuple(f for f in together if f != fk_name))
    if model._meta.get_field(fk_name).unique:
        sets.append(())
    return sets


def _repoint_related(survivor: Customer, loser_ids: list[int]) -> None:
    """Move every row that points at a loser to the survivor, set-wise, model by model.

    Rows that would break a unique key with the survivor (a tag both had, a consent on the
    same channel) are dropped from the loser's side first: the survivor's row stands.
    """
    for relation in Customer._meta.related_objects:
        if relation.many_to_many:
            continue
        model, fk_name = relation.related_model, relation.field.name
        manager = model._base_manager
        for loser_id in loser_ids:
            for others in _unique_sets(model, fk_name):
                twin = manager.filter(**{fk_name: survivor.pk}, **{o: OuterRef(o) for o in others})
                manager.filter(**{fk_name: loser_id}).filter(Exists(twin)).delete()
            manager.filter(**{fk_name: loser_id}).update(**{fk_name: survivor.pk})


def _snapshot(customer: Customer) -> dict:
    data = {name: getattr(customer, name) for name in (*PROFILE_FIELDS, "phone", "email")}
    data["birthday"] = customer.birthday.isoformat() if customer.birthday else None
    data["attributes"] = customer.attributes
    data["created_at"] = customer.created_at.isoformat()
    data["identities"] = list(customer.identities.values_list("kind", "scope", "value"))
    return data


def _merge_locked(
    *, survivor: Customer, losers: list[Customer], reason: str, actor_label: str, actor=None
):
    loser_ids = [c.pk for c in losers]
    snapshot = {str(c.pk): _snapshot(c) for c in losers}
    customer_merging.send(sender=Customer, survivor=survivor, loser_ids=loser_ids)
    _repoint_related(survivor, loser_ids)
    changed = []
    for loser in losers:  # fill what the survivor lacks, oldest loser first
        for name in (*PROFILE_FIELDS, "phone", "email"):
            if getattr(survivor, name) in ("", None, Gender.UNKNOWN) and getattr(
                loser, name
            ) not in ("", None, Gender.UNKNOWN):
                setattr(survivor, name, getattr(loser, name))
                changed.append(name)
        survivor.attributes = {**loser.attributes, **survivor.attributes}
    survivor.save(update_fields=[*set(changed), "attributes", "updated_at"])
    Customer.objects.filter(pk__in=loser_ids).delete()
    customers_refresh_aggregates(customer_ids=[survivor.pk])
    points_balances_refresh(customer_ids=[survivor.pk])  # the losers' ledgers moved over
    points_after_merge(customer_ids=[survivor.pk])
    survivor.refresh_from_db()
    MergeLog.objects.create(
        survivor=survivor,
        survivor_id_value=survivor.pk,
        merged_ids=loser_ids,
        snapshot=snapshot,
        reason=reason,
        actor_label=actor_label,
    )
    audit_record(
        action=AuditLog.Action.MERGE,
        summary=_("客户 %(losers)s 合并到 #%(survivor)s（%(reason)s）")
        % {
            "losers": ", ".join(f"#{i}" for i in loser_ids),
            "survivor": survivor.pk,
            "reason": reason,
        },
        actor=actor,
        actor_label=actor_label,
        obj=survivor,
        details={"merged_ids": loser_ids},
    )


@transaction.atomic
def customer_merge(
    *, survivor_id: int, other_ids: list[int], actor=None, reason: str = ""
) -> Customer:
    """Merge customers by hand (from the console or admin): the others fold into the survivor."""
    ids = sorted({survivor_id, *other_ids})
    locked = {
        c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    if survivor_id not in locked or len(locked) < 2:
        raise ValidationError(_("请选择至少两个存在的客户"))
    losers = [c for pk, c in locked.items() if pk != survivor_id]
    _merge_locked(
        survivor=locked[survivor_id],
        losers=losers,
        reason=reason or _("手动合并"),
        actor_label=actor.get_username() if actor else "system",
        actor=actor,
    )
    return locked[survivor_id]


def customers_refresh_aggregates(*, customer_ids: Iterable[int] | None = None) -> int:
    """Recompute order totals and first/last seen from orders and events, set-wise."""
    orders = Order.objects.filter(customer=OuterRef("pk"), status__in=REVENUE_STATUSES)
    # what the system records about a customer (a tier change) is not the customer being seen
    events = Event.objects.filter(customer=OuterRef("pk")).exclude(name__in=SYSTEM_EVENTS)
    decimal = models.DecimalField(max_digits=14, decimal_places=2)

    def agg(qs, expression, output_field=None):
        return Subquery(
            qs.order_by().values("customer").annotate(v=expression).values("v")[:1],
            output_field=output_field,
        )

    last_order = agg(orders, Max("paid_at"), models.DateTimeField())
    last_event = agg(events, Max("occurred_at"), models.DateTimeField())
    first_event = agg(events, Min("occurred_at"), models.DateTimeField())
    qs = Customer.objects.all()
    if customer_ids is not None:
        qs = qs.filter(pk__in=list(customer_ids))
    return qs.update(
        total_orders=Coalesce(agg(orders, Count("pk"), models.IntegerField()), Value(0)),
        total_revenue=Coalesce(agg(orders, Sum("amount"), decimal), Value(0), output_field=decimal),
        last_order_at=last_order,
        first_seen_at=Least(
            Coalesce(first_event, "first_seen_at", "created_at"),
            Coalesce("first_seen_at", first_event, "created_at"),
        ),
        last_seen_at=Greatest(
            Coalesce(last_event, last_order, "last_seen_at"),
            Coalesce(last_order, last_event, "last_seen_at"),
        ),
    )


def customers_profile_bulk(*, profiles: dict[int, dict]) -> int:
    """Fill in the profile fields (and email) of many customers at once: imports, demo data.

    Each profile names the same fields; one `UPDATE … FROM (VALUES …)` per 500 customers,
    since `bulk_update`'s CASE per row and field is slow at this size.
    """
    if not profiles:
        return 0
    fields = sorted(next(iter(profiles.values())))
    if not set(fields) <= {*PROFILE_FIELDS, "email"}:
        raise ValidationError({"profile": _("未知的资料字段")})
    table = connection.ops.quote_name(Customer._meta.db_table)
    columns = ", ".join(["id", *fields])
    assign = ", ".join(f"{f} = v.{f}" for f in [*fields, "updated_at"])
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    items = sorted(profiles.items())
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            marks = ", ".join(["(" + ", ".join(["%s"] * (len(fields) + 2)) + ")"] * len(chunk))
            params = [p for pk, row in chunk for p in (pk, *(row[f] for f in fields), now)]
            cursor.execute(
                f"WITH v ({columns}, updated_at) AS (VALUES {marks}) "
                f"UPDATE {table} SET {assign} FROM v WHERE {table}.id = v.id",
                params,
            )
    return len(items)


def consent_set(*, customer: Customer, channel: str, status: str, source: str = "") -> Consent:
    """Record that a customer granted or revoked marketing contact on a channel."""
    if status not in ConsentStatus.values:
        raise ValidationError({"status": _("未知的授权状态")})
    consent, _created = Consent.objects.update_or_create(
        customer=customer, channel=channel, defaults={"status": status, "source": source}
    )
    return consent
