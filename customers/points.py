"""The points ledger: earn and redeem, idempotent and safe under concurrency.

Every change is one append-only `PointsEntry`; `Customer.points_balance` is the sum of the
customer's entries, updated in the same transaction while the customer's row is locked, so
parallel redemptions serialise on that row and can never overdraw. An idempotency key makes
a re-sent request (a store system retrying, an order delivered twice) return the entry it
already made instead of earning or redeeming again.
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.choices import PointsKind
from customers.models import Customer, PointsEntry

TENTH = Decimal("0.1")


class PointsShort(ValidationError):
    """A redemption larger than the balance (the API answers 409)."""


@dataclass
class PointsResult:
    entry: PointsEntry | None  # None: a capped earning had nothing left to give
    created: bool
    balance: Decimal


def points_earn(
    *,
    customer: Customer,
    points,
    channel_account=None,
    reason: str = "",
    source_ref: str = "",
    idempotency_key: str | None = None,
    actor_label: str = "",
) -> PointsResult:
    """Add points (a positive whole number) to a customer's balance."""
    return _post(
        customer=customer,
        kind=PointsKind.EARN,
        points=_positive(points),
        channel_account=channel_account,
        reason=reason,
        source_ref=source_ref,
        idempotency_key=idempotency_key,
        actor_label=actor_label,
    )


def points_redeem(
    *,
    customer: Customer,
    points,
    channel_account=None,
    reason: str = "",
    source_ref: str = "",
    idempotency_key: str | None = None,
    actor_label: str = "",
) -> PointsResult:
    """Take points off a balance; raises PointsShort when the balance does not cover them."""
    return _post(
        customer=customer,
        kind=PointsKind.REDEEM,
        points=-_positive(points),
        channel_account=channel_account,
        reason=reason,
        source_ref=source_ref,
        idempotency_key=idempotency_key,
        actor_label=actor_label,
    )


def _positive(points) -> Decimal:
    """A positive amount of points with at most one decimal place (0.5 for a sign-in)."""
    try:
        if isinstance(points, bool) or isinstance(points, float):
            raise InvalidOperation
        value = Decimal(str(points))
    except (InvalidOperation, ValueError):
        value = None
    if value is None or not value.is_finite() or value <= 0 or value != value.quantize(TENTH):
        raise ValidationError({"points": _("积分必须是正数，最多一位小数")})
    return value


def _post(*, customer: Customer, kind: str, points: Decimal, idempotency_key, cap=None, **fields):
    """`cap(customer)`, evaluated under the row lock, bounds what may still be earned."""
    try:
        with transaction.atomic():
            locked = Customer.objects.select_for_update().only("pk", "points_balance")
            locked = locked.get(pk=customer.pk)
            if idempotency_key:
                earlier = PointsEntry.objects.filter(idempotency_key=idempotency_key).first()
                if earlier is not None:
                    return _replay(earlier, customer, kind, points, locked.points_balance)
            if cap is not None:
                points = min(points, cap(locked))
                if points <= 0:
                    return PointsResult(None, False, locked.points_balance)
            if kind == PointsKind.REDEEM and locked.points_balance + points < 0:
                raise PointsShort(
                    _("积分不足：余额 %(balance)s，需要 %(need)s")
                    % {"balance": locked.points_balance, "need": -points}
                )
            entry = PointsEntry.objects.create(
                customer=locked, kind=kind, points=points, idempotency_key=idempotency_key,
                **fields,
            )  # fmt: skip
            Customer.objects.filter(pk=locked.pk).update(
                points_balance=F("points_balance") + points
            )
            return PointsResult(entry, True, locked.points_balance + points)
    except IntegrityError:
        # the same key, posted for another customer at the same moment, won the race
        earlier = PointsEntry.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is None:
            raise
        balance = Customer.objects.values_list("points_balance", flat=True).get(pk=customer.pk)
        return _replay(earlier, customer, kind, points, balance)


def _replay(earlier: PointsEntry, customer, kind, points, balance) -> PointsResult:
    if (earlier.customer_id, earlier.kind, earlier.points) != (customer.pk, kind, points):
        raise ValidationError(
            {"idempotency_key": _("这个幂等键已用于另一笔积分变动（#%(id)s）") % {"id": earlier.pk}}
        )
    return PointsResult(earlier, False, balance)


def points_balances_refresh(*, customer_ids=None) -> int:
    """Set balances to the sum of their ledgers (after merges; a repair for drift)."""
    from django.db.models import DecimalField, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    total = (
        PointsEntry.objects.filter(customer=OuterRef("pk"))
        .order_by()
        .values("customer")
        .annotate(s=Sum("points"))
        .values("s")
    )
    customers = Customer.objects.all()
    if customer_ids is not None:
        customers = customers.filter(pk__in=list(customer_ids))
    decimal = DecimalField(max_digits=12, decimal_places=1)
    return customers.update(
        points_balance=Coalesce(Subquery(total, output_field=decimal), Value(Decimal(0)))
    )


# --- earning from orders -------------------------------------------------------------------


def points_for_orders(*, keys) -> int:
    """Earn for paid orders and take back what refunded or cancelled ones earned.

    `keys` are (channel account id, external id) of orders just written. Each order earns
    once (key `order:<id>`) and is reversed once (`reverse:order:<id>`), however often it is
    re-sent. Returns how many ledger entries were made.
    """
    from customers.choices import REVENUE_STATUSES, OrderStatus
    from customers.models import Order, PointsEarnRule

    rules = {r.channel_account_id: r for r in PointsEarnRule.objects.filter(enabled=True)}
    if not rules or not keys:
        return 0
    by_channel: dict = {}
    for channel_id, external_id in keys:
        by_channel.setdefault(channel_id, []).append(external_id)
    made = 0
    for channel_id, external_ids in by_channel.items():
        rule = rules.get(channel_id) or rules.get(None)
        orders = Order.objects.filter(channel_account_id=channel_id, external_id__in=external_ids)
        for order in orders.select_related("customer", "channel_account"):
            if order.status in REVENUE_STATUSES and rule is not None:
                points = (order.amount * rule.points_per_yuan).quantize(TENTH, ROUND_DOWN)
                if points > 0:
                    made += points_earn(
                        customer=order.customer,
                        points=points,
                        channel_account=order.channel_account,
                        reason=rule.name,
                        source_ref=order.external_id,
                        idempotency_key=f"order:{order.pk}",
                        actor_label="order",
                    ).created
            elif order.status in (OrderStatus.REFUNDED, OrderStatus.CANCELLED):
                made += _reverse_order(order)
    return made


def _reverse_order(order) -> bool:
    earned = PointsEntry.objects.filter(idempotency_key=f"order:{order.pk}").first()
    if earned is None:
        return False
    return _post(
        customer=order.customer,
        kind=PointsKind.REVERSE,
        points=-earned.points,
        channel_account_id=earned.channel_account_id,
        reason=_("订单退款，冲回积分"),
        source_ref=order.external_id,
        idempotency_key=f"reverse:order:{order.pk}",
        actor_label="order",
    ).created


# --- earning from behaviour ----------------------------------------------------------------


def points_for_events(*, rows) -> int:
    """Earn by the behaviour rules for events just written.

    `rows` are (customer id, event name, channel account id, occurred at, source id). An event
    with a source id earns once however often it is re-sent; daily and monthly caps count
    what the rule already gave the customer that (local) day or month.
    """
    from customers.models import PointsEventRule

    rules: dict = {}
    for rule in PointsEventRule.objects.filter(enabled=True).select_related("channel_account"):
        rules.setdefault(rule.event_name, []).append(rule)
    made = 0
    for customer_id, name, channel_id, occurred_at, source_id in rows if rules else ():
        for rule in rules.get(name, ()):
            if rule.channel_account_id not in (None, channel_id):
                continue
            day = timezone.localtime(occurred_at).date()
            key = f"event:{channel_id}:{source_id}:{rule.pk}" if source_id else None
            if key and PointsEntry.objects.filter(idempotency_key=key).exists():
                continue  # re-sent: it earned (or was capped) the first time
            made += _post(
                customer=Customer(pk=customer_id),
                kind=PointsKind.EARN,
                points=rule.points,
                idempotency_key=key,
                cap=_caps(rule, day),
                channel_account_id=channel_id,
                reason=rule.name,
                source_ref=f"event-rule:{rule.pk}:{day.isoformat()}",
                actor_label="event",
            ).created
    return made


def _caps(rule, day):
    def room(customer: Customer) -> Decimal:
        prefix = f"event-rule:{rule.pk}:"
        given = PointsEntry.objects.filter(customer=customer, kind=PointsKind.EARN)
        left = rule.points
        for cap, stamp in (
            (rule.daily_cap, day.isoformat()),
            (rule.monthly_cap, day.isoformat()[:7]),
        ):
            if cap is not None:
                so_far = given.filter(source_ref__startswith=prefix + stamp).aggregate(
                    s=Sum("points")
                )
                left = min(left, cap - (so_far["s"] or 0))
        return left

    return room
