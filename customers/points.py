"""The points ledger: earn and redeem, idempotent and safe under concurrency.

Every change is one append-only `PointsEntry`; `Customer.points_balance` is the sum of the
customer's entries, updated in the same transaction while the customer's row is locked, so
parallel redemptions serialise on that row and can never overdraw. An idempotency key makes
a re-sent request (a store system retrying, an order delivered twice) return the entry it
already made instead of earning or redeeming again.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, DecimalField, F, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.choices import ExpiryPolicy, PointsKind, PointsRounding
from customers.models import Customer, PointsEntry

TENTH = Decimal("0.1")
ZERO = Value(Decimal(0))
POINTS = DecimalField(max_digits=12, decimal_places=1)
# entries that must not take the balance below zero (a refund's reversal may)
SPENDING_KINDS = (PointsKind.REDEEM, PointsKind.ADJUST)
# entries that change what counts towards a tier
TIER_KINDS = (PointsKind.EARN, PointsKind.REVERSE)


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
    occurred_at=None,
) -> PointsResult:
    """Add points (positive, one decimal place) to a customer's balance; `occurred_at` is
    when they were earned (it dates the lot's expiry), now by default."""
    return _post(
        customer=customer,
        occurred_at=occurred_at,
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


def points_adjust(*, customer: Customer, points, reason: str, actor=None) -> PointsResult:
    """A staff adjustment (signed), with a required reason; audit logged. A negative
    adjustment may not take the balance below zero."""
    from common.audit import audit_record

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("调整积分必须填写原因")})
    text = str(points).strip()
    value = -_positive(text[1:]) if text.startswith("-") else _positive(text)
    actor_label = actor.get_username() if actor is not None else "system"
    with transaction.atomic():
        result = _post(
            customer=customer, kind=PointsKind.ADJUST, points=value, reason=reason,
            idempotency_key=None, actor_label=actor_label,
        )  # fmt: skip
        audit_record(
            action="points.adjust",
            summary=_("调整客户 #%(id)s 积分 %(points)s：%(reason)s")
            % {"id": customer.pk, "points": f"{value:+}", "reason": reason},
            actor=actor,
            obj=customer,
            details={"points": f"{value:+}", "reason": reason, "entry": result.entry.pk},
        )
    return result


def _post(
    *, customer: Customer, kind: str, points: Decimal, idempotency_key, cap=None,
    first_lot=None, occurred_at=None, refresh=True, **fields,
) -> PointsResult:  # fmt: skip
    """Write one ledger entry under the customer's row lock and keep the lots in step.

    `cap(customer)`, evaluated under the lock, bounds what may still be earned; `first_lot`
    is the lot a reversal takes back from before any other. Batch callers pass
    `refresh=False` and refresh expiring points and tiers once, set-wise, at the end.
    """
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
            balance = locked.points_balance
            if kind in SPENDING_KINDS and balance + points < 0:
                raise PointsShort(
                    _("积分不足：余额 %(balance)s，需要 %(need)s")
                    % {"balance": balance, "need": -points}
                )
            occurred_at = occurred_at or timezone.now()
            lot = {}
            if points > 0:  # a new lot; a negative balance (refund debt) is repaid first
                lot = {"remaining": max(points + min(balance, 0), 0),
                       "expires_at": expiry_for(occurred_at)}  # fmt: skip
            else:
                _consume(locked.pk, -points, first_lot=first_lot)
            entry = PointsEntry.objects.create(
                customer=locked, kind=kind, points=points, idempotency_key=idempotency_key,
                occurred_at=occurred_at, **lot, **fields,
            )  # fmt: skip
            Customer.objects.filter(pk=locked.pk).update(
                points_balance=F("points_balance") + points
            )
            if refresh:
                _refresh([locked.pk], tiers=kind in TIER_KINDS)
            return PointsResult(entry, True, balance + points)
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


def _refresh(customer_ids, *, tiers: bool = True) -> None:
    from customers.membership import tiers_refresh

    points_expiring_refresh(customer_ids=customer_ids)
    if tiers:
        tiers_refresh(customer_ids=customer_ids)


def points_after_merge(*, customer_ids) -> None:
    """Expiring points and tier for customers whose ledgers were just joined."""
    _refresh(customer_ids)


def _consume(customer_id: int, amount: Decimal, *, first_lot=None) -> None:
    """Spend `amount` from the customer's open lots, soonest to expire first. What the lots
    cannot cover (a refund of points already spent) leaves the balance negative."""
    lots = PointsEntry.objects.select_for_update().filter(customer_id=customer_id, remaining__gt=0)
    order = [F("expires_at").asc(nulls_last=True), "id"]
    if first_lot is not None:
        order.insert(0, Case(When(pk=first_lot, then=Value(0)), default=Value(1)))
    for lot in lots.order_by(*order).only("pk", "remaining").iterator(chunk_size=200):
        if amount <= 0:
            break
        take = min(lot.remaining, amount)
        PointsEntry.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
        amount -= take


def expiry_for(occurred_at):
    """When a lot earned at `occurred_at` expires, by the membership settings (None: never)."""
    from customers.models import MembershipSettings

    settings = MembershipSettings.load()
    if settings.expiry_policy == ExpiryPolicy.END_OF_NEXT_YEAR:
        year = timezone.localtime(occurred_at).year + 1
        end = datetime(year, 12, 31, 23, 59, 59)
        return timezone.make_aware(end)
    if settings.expiry_policy == ExpiryPolicy.AFTER_MONTHS:
        return occurred_at + relativedelta(months=settings.expiry_months)
    return None


def points_expiring_refresh(*, customer_ids=None, now=None) -> int:
    """Points due to expire within the reminder window, and the next expiry date."""
    from customers.models import MembershipSettings

    now = now or timezone.now()
    horizon = now + timedelta(days=MembershipSettings.load().reminder_days)
    lots = PointsEntry.objects.filter(customer=OuterRef("pk"), remaining__gt=0).order_by()
    expiring = lots.filter(expires_at__lte=horizon).values("customer").annotate(s=Sum("remaining"))
    customers = Customer.objects.all()
    if customer_ids is not None:
        customers = customers.filter(pk__in=list(customer_ids))
    return customers.update(
        points_expiring=Coalesce(Subquery(expiring.values("s"), output_field=POINTS), ZERO),
        points_expire_at=Subquery(
            lots.exclude(expires_at=None).order_by("expires_at").values("expires_at")[:1]
        ),
    )


def points_expire(*, now=None, chunk: int = 500) -> int:
    """Expire what is left of every lot past its date (Beat, nightly); returns entries made.

    Customers are locked in id order a chunk at a time, so a redemption running meanwhile
    either spends a lot before it expires or finds it gone; each lot expires once
    (key `expire:<lot id>`), on its own expiry date.
    """
    now = now or timezone.now()
    due = PointsEntry.objects.filter(remaining__gt=0, expires_at__lte=now)
    customer_ids = sorted(set(due.values_list("customer_id", flat=True)))
    made = 0
    for start in range(0, len(customer_ids), chunk):
        ids = customer_ids[start : start + chunk]
        with transaction.atomic():
            list(Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk")
                 .values_list("pk", flat=True))  # fmt: skip
            lots = list(due.filter(customer_id__in=ids).select_for_update())
            PointsEntry.objects.bulk_create(
                PointsEntry(
                    customer_id=lot.customer_id, kind=PointsKind.EXPIRE, points=-lot.remaining,
                    channel_account_id=lot.channel_account_id, reason=_("积分到期"),
                    source_ref=f"lot:{lot.pk}", idempotency_key=f"expire:{lot.pk}",
                    actor_label="system", occurred_at=lot.expires_at,
                )
                for lot in lots
            )  # fmt: skip
            PointsEntry.objects.filter(pk__in=[lot.pk for lot in lots]).update(remaining=0)
            lost: dict[int, Decimal] = {}
            for lot in lots:
                lost[lot.customer_id] = lost.get(lot.customer_id, Decimal(0)) + lot.remaining
            for customer_id, amount in lost.items():
                Customer.objects.filter(pk=customer_id).update(
                    points_balance=F("points_balance") - amount
                )
            points_expiring_refresh(customer_ids=ids, now=now)
            made += len(lots)
    return made


def points_balances_refresh(*, customer_ids=None) -> int:
    """Set balances to the sum of their ledgers (after merges; a repair for drift)."""
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
    return customers.update(points_balance=Coalesce(Subquery(total, output_field=POINTS), ZERO))


# --- earning by rules ------------------------------------------------------------------------


def earn_multiplier(*, customer_id: int, channel_account_id, at) -> Decimal:
    """The member's tier multiplier times the best promotion running at `at` on the channel."""
    from django.db.models import Max, Q

    from customers.models import MemberTier, PointsPromotion

    tier = Customer.objects.filter(pk=customer_id).values_list("tier", flat=True).first()
    by_tier = MemberTier.objects.filter(code=tier).values_list("earn_multiplier", flat=True)
    promotions = PointsPromotion.objects.filter(
        Q(channel_account=None) | Q(channel_account_id=channel_account_id),
        enabled=True, starts_at__lte=at, ends_at__gt=at,
    )  # fmt: skip
    best = promotions.aggregate(m=Max("multiplier"))["m"]
    return (by_tier.first() or Decimal(1)) * (best or Decimal(1))


ROUNDING = {
    PointsRounding.DOWN_TENTH: (TENTH, ROUND_DOWN),
    PointsRounding.DOWN_WHOLE: (Decimal(1), ROUND_DOWN),
    PointsRounding.HALF_UP_WHOLE: (Decimal(1), ROUND_HALF_UP),
}


def points_for_amount(*, rule, amount: Decimal, multiplier: Decimal) -> Decimal:
    """What `amount` yuan earns under a spending rule, rounded the rule's way."""
    step, mode = ROUNDING[rule.rounding]
    return (amount * rule.points_per_yuan * multiplier).quantize(step, mode)


def earn_rule_for(channel_account):
    """The spending rule of a channel, else the rule for channels without their own."""
    from customers.models import PointsEarnRule

    rules = PointsEarnRule.objects.filter(enabled=True)
    if channel_account is not None:
        own = rules.filter(channel_account=channel_account).first()
        if own is not None:
            return own
    return rules.filter(channel_account=None).first()


def _reason(rule_name: str, multiplier: Decimal) -> str:
    return rule_name if multiplier == 1 else f"{rule_name} ×{multiplier.normalize()}"


def points_earn_for_amount(
    *, customer: Customer, amount, channel_account, reason: str = "", source_ref: str = "",
    idempotency_key: str, actor_label: str = "",
) -> PointsResult:  # fmt: skip
    """Earn for a purchase reported by amount (a store till): the channel's rule, times the
    tier and promotion multipliers."""
    rule = earn_rule_for(channel_account)
    if rule is None:
        raise ValidationError({"channel": _("这个渠道没有消费积分规则，请直接给出积分数")})
    earlier = PointsEntry.objects.filter(idempotency_key=idempotency_key).first()
    if earlier is not None:  # re-sent: answer with what it earned, whatever the rules now say
        return _replay(earlier, customer, PointsKind.EARN, earlier.points,
                       Customer.objects.values_list("points_balance", flat=True)
                       .get(pk=customer.pk))  # fmt: skip
    now = timezone.now()
    multiplier = earn_multiplier(
        customer_id=customer.pk, channel_account_id=getattr(channel_account, "pk", None), at=now
    )
    points = points_for_amount(rule=rule, amount=Decimal(str(amount)), multiplier=multiplier)
    if points <= 0:
        raise ValidationError({"amount": _("这笔金额不足以获得积分")})
    return points_earn(
        customer=customer, points=points, channel_account=channel_account,
        reason=reason or _reason(rule.name, multiplier), source_ref=source_ref,
        idempotency_key=idempotency_key, actor_label=actor_label,
    )  # fmt: skip


def points_for_orders(*, keys) -> int:
    """Earn for paid orders and take back what refunded or cancelled ones earned.

    `keys` are (channel account id, external id) of orders just written. Each order earns
    once (key `order:<id>`, dated when it was paid, multiplied by the tier and any promotion
    running then) and is reversed once (`reverse:order:<id>`), however often it is re-sent.
    Returns how many ledger entries were made.
    """
    from customers.choices import REVENUE_STATUSES, OrderStatus
    from customers.models import Order, PointsEarnRule

    rules = {r.channel_account_id: r for r in PointsEarnRule.objects.filter(enabled=True)}
    if not keys:
        return 0
    by_channel: dict = {}
    for channel_id, external_id in keys:
        by_channel.setdefault(channel_id, []).append(external_id)
    made, touched = 0, set()
    for channel_id, external_ids in by_channel.items():
        rule = rules.get(channel_id) or rules.get(None)
        orders = Order.objects.filter(channel_account_id=channel_id, external_id__in=external_ids)
        for order in orders.select_related("customer", "channel_account"):
            if order.status in REVENUE_STATUSES and rule is not None:
                made += _earn_order(order, rule)
            elif order.status in (OrderStatus.REFUNDED, OrderStatus.CANCELLED):
                made += _reverse_order(order)
            touched.add(order.customer_id)
    if touched:  # spend-based tiers move with every order, earned or not
        _refresh(touched)
    return made


def _earn_order(order, rule) -> bool:
    key = f"order:{order.pk}"
    if PointsEntry.objects.filter(idempotency_key=key).exists():
        return False
    at = order.paid_at or order.created_at
    multiplier = earn_multiplier(
        customer_id=order.customer_id, channel_account_id=order.channel_account_id, at=at
    )
    points = points_for_amount(rule=rule, amount=order.amount, multiplier=multiplier)
    if points <= 0:
        return False
    return _post(
        customer=order.customer, kind=PointsKind.EARN, points=points, idempotency_key=key,
        channel_account=order.channel_account, reason=_reason(rule.name, multiplier),
        source_ref=order.external_id, actor_label="order", occurred_at=at, refresh=False,
    ).created  # fmt: skip


def _reverse_order(order) -> bool:
    earned = PointsEntry.objects.filter(idempotency_key=f"order:{order.pk}").first()
    if earned is None:
        return False
    return _post(
        customer=order.customer,
        kind=PointsKind.REVERSE,
        points=-earned.points,
        first_lot=earned.pk,
        channel_account_id=earned.channel_account_id,
        reason=_("订单退款，冲回积分"),
        source_ref=order.external_id,
        idempotency_key=f"reverse:order:{order.pk}",
        actor_label="order",
        refresh=False,
    ).created


# --- earning from behaviour ----------------------------------------------------------------


def points_for_events(*, rows) -> int:
    """Earn by the behaviour rules for events just written.

    `rows` are (customer id, event name, channel account id, occurred at, source id). An event
    with a source id earns once however often it is re-sent; the tier and promotion
    multipliers apply, and daily and monthly caps bound what the rule gives the customer
    that (local) day or month.
    """
    from customers.models import PointsEventRule

    rules: dict = {}
    for rule in PointsEventRule.objects.filter(enabled=True).select_related("channel_account"):
        rules.setdefault(rule.event_name, []).append(rule)
    made, touched = 0, set()
    for customer_id, name, channel_id, occurred_at, source_id in rows if rules else ():
        for rule in rules.get(name, ()):
            if rule.channel_account_id not in (None, channel_id):
                continue
            day = timezone.localtime(occurred_at).date()
            key = f"event:{channel_id}:{source_id}:{rule.pk}" if source_id else None
            if key and PointsEntry.objects.filter(idempotency_key=key).exists():
                continue  # re-sent: it earned (or was capped) the first time
            multiplier = earn_multiplier(
                customer_id=customer_id, channel_account_id=channel_id, at=occurred_at
            )
            wrote = _post(
                customer=Customer(pk=customer_id),
                kind=PointsKind.EARN,
                points=(rule.points * multiplier).quantize(TENTH, ROUND_DOWN),
                idempotency_key=key,
                cap=_caps(rule, day),
                channel_account_id=channel_id,
                reason=_reason(rule.name, multiplier),
                source_ref=f"event-rule:{rule.pk}:{day.isoformat()}",
                actor_label="event",
                occurred_at=occurred_at,
                refresh=False,
            ).created
            made += wrote
            if wrote:
                touched.add(customer_id)
    if touched:
        _refresh(touched)
    return made


def _caps(rule, day):
    def room(customer: Customer) -> Decimal:
        prefix = f"event-rule:{rule.pk}:"
        given = PointsEntry.objects.filter(customer=customer, kind=PointsKind.EARN)
        left = Decimal("Infinity")
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
