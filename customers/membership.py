"""Membership around the points ledger: tiers with automatic grading, the reward catalogue
and redemptions, and the nightly expiry run."""

from dataclasses import dataclass
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    DecimalField,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.choices import (
    REVENUE_STATUSES,
    PointsKind,
    RedemptionStatus,
    RewardKind,
    TierBasis,
)
from customers.models import (
    Customer,
    Event,
    MembershipSettings,
    MemberTier,
    Order,
    PointsEntry,
    Redemption,
    RewardItem,
)
from customers.points import PointsShort, _post, points_redeem

SCORE = DecimalField(max_digits=14, decimal_places=2)
# coupons are issued the moment they are redeemed; merchandise waits for staff to ship it
ISSUED_AT_ONCE = (RewardKind.COUPON, RewardKind.FREE_SHIPPING)


class RedemptionRefused(ValidationError):
    """Out of stock or over the per-member limit (the API answers 409, like a short balance)."""


# --- tiers ---------------------------------------------------------------------------------


def _score(settings: MembershipSettings, since):
    if settings.tier_basis == TierBasis.SPEND:
        rows = Order.objects.filter(
            customer=OuterRef("pk"), status__in=REVENUE_STATUSES, paid_at__gte=since
        )
        total = Sum("amount")
    else:
        # what was earned, less what refunds took back (not points returned by a cancellation)
        rows = PointsEntry.objects.filter(
            Q(kind=PointsKind.EARN) | Q(kind=PointsKind.REVERSE, points__lt=0),
            customer=OuterRef("pk"),
            occurred_at__gte=since,
        )
        total = Sum("points")
    rows = rows.order_by().values("customer").annotate(s=total).values("s")
    return Coalesce(Subquery(rows, output_field=SCORE), Value(Decimal(0)), output_field=SCORE)


def tiers_refresh(*, customer_ids=None, now=None) -> int:
    """Score members over the rolling window and grade them up or down, set-wise.

    Each change is written as a `tier_changed` event (from, to, direction) so that the
    timeline shows it and journeys can start from it. Returns how many members changed tier.
    """
    settings = MembershipSettings.load()
    now = now or timezone.now()
    since = now - relativedelta(months=settings.tier_window_months)
    customers = Customer.objects.all()
    if customer_ids is not None:
        customers = customers.filter(pk__in=list(customer_ids))
    customers.update(tier_score=_score(settings, since))
    tiers = list(MemberTier.objects.order_by("-threshold"))
    graded = Case(
        *[When(tier_score__gte=t.threshold, then=Value(t.code)) for t in tiers],
        default=Value(""),
        output_field=CharField(),
    )
    changed = list(
        customers.annotate(graded=graded)
        .exclude(tier=F("graded"))
        .values_list("pk", "tier", "graded")
    )
    if not changed:
        return 0
    rank = {t.code: t.threshold for t in tiers}
    for start in range(0, len(changed), 1000):
        chunk = changed[start : start + 1000]
        Customer.objects.filter(pk__in=[pk for pk, _old, _new in chunk]).update(tier=graded)
        Event.objects.bulk_create(
            Event(
                customer_id=pk, name="tier_changed", occurred_at=now,
                properties={"from": old, "to": new,
                            "direction": "up" if rank.get(new, -1) > rank.get(old, -1) else "down"},
            )
            for pk, old, new in chunk
        )  # fmt: skip
    return len(changed)


def tier_progress(customer: Customer) -> dict:
    """The member's tier, the next one and how far there is to go (for the member card)."""
    tiers = list(MemberTier.objects.all())
    current = next((t for t in tiers if t.code == customer.tier), None)
    above = [t for t in tiers if t.threshold > customer.tier_score]
    following = above[0] if above else None
    progress = 100
    if following is not None:
        floor = current.threshold if current else Decimal(0)
        span = following.threshold - floor
        progress = int(max(0, min(100, (customer.tier_score - floor) * 100 / span))) if span else 0
    return {
        "current": current,
        "next": following,
        "to_go": following.threshold - customer.tier_score if following else None,
        "progress": progress,
        "basis": MembershipSettings.load().get_tier_basis_display(),
    }


# --- rewards and redemptions ---------------------------------------------------------------


@dataclass
class RedemptionResult:
    redemption: Redemption
    created: bool
    balance: Decimal


def reward_items_for(channel_account) -> list[RewardItem]:
    """Items on the shelf for a channel: those offered everywhere and those offered there."""
    items = RewardItem.objects.filter(enabled=True).prefetch_related("channel_accounts")
    return [
        item
        for item in items
        if not item.channel_accounts.all()
        or (channel_account is not None and channel_account in item.channel_accounts.all())
    ]


def redemption_create(
    *, customer: Customer, item: RewardItem, channel_account=None, idempotency_key: str,
    actor_label: str = "",
) -> RedemptionResult:  # fmt: skip
    """Redeem one reward item: checks shelf, channel, stock, per-member limit and balance, in
    one transaction, the item's row locked first and then the member's, so parallel
    redemptions can neither oversell the stock nor overdraw the balance. A re-sent key
    returns the redemption it made."""
    with transaction.atomic():
        item = RewardItem.objects.select_for_update().get(pk=item.pk)
        earlier = _earlier_redemption(idempotency_key, customer, item)
        if earlier is not None:
            return earlier
        _check_shelf(item, customer, channel_account)
        try:
            result = points_redeem(
                customer=customer, points=item.points_price, channel_account=channel_account,
                reason=_("兑换：%(item)s") % {"item": item.name}, source_ref=f"reward:{item.pk}",
                idempotency_key=idempotency_key, actor_label=actor_label,
            )  # fmt: skip
        except PointsShort as exc:
            raise PointsShort(
                _("积分不足，无法兑换「%(item)s」：%(why)s")
                % {"item": item.name, "why": exc.messages[0]}
            ) from exc
        if item.stock is not None:
            item.stock -= 1
        item.redeemed_count += 1
        item.save(update_fields=["stock", "redeemed_count"])
        redemption = Redemption.objects.create(
            customer_id=customer.pk, item=item, channel_account=channel_account,
            points=item.points_price, entry=result.entry, actor_label=actor_label,
            status=RedemptionStatus.FULFILLED if item.kind in ISSUED_AT_ONCE
            else RedemptionStatus.PENDING,
        )  # fmt: skip
        return RedemptionResult(redemption, True, result.balance)


def _earlier_redemption(key: str, customer: Customer, item: RewardItem):
    earlier = Redemption.objects.filter(entry__idempotency_key=key).first()
    if earlier is None:
        if PointsEntry.objects.filter(idempotency_key=key).exists():
            raise ValidationError({"idempotency_key": _("这个幂等键已用于另一笔积分变动")})
        return None
    if (earlier.customer_id, earlier.item_id) != (customer.pk, item.pk):
        raise ValidationError({"idempotency_key": _("这个幂等键已用于另一笔兑换")})
    balance = Customer.objects.values_list("points_balance", flat=True).get(pk=customer.pk)
    return RedemptionResult(earlier, False, balance)


def _check_shelf(item: RewardItem, customer: Customer, channel_account) -> None:
    if not item.enabled:
        raise ValidationError({"item": _("「%(item)s」已下架") % {"item": item.name}})
    offered = list(item.channel_accounts.all())
    if offered and channel_account not in offered:
        raise ValidationError(
            {
                "channel": _("「%(item)s」只能在这些渠道兑换：%(channels)s")
                % {"item": item.name, "channels": "、".join(a.name for a in offered)}
            }
        )
    if item.stock is not None and item.stock <= 0:
        raise RedemptionRefused(_("「%(item)s」已兑完") % {"item": item.name})
    if item.per_customer_limit is not None:
        taken = (
            Redemption.objects.filter(customer_id=customer.pk, item=item)
            .exclude(status=RedemptionStatus.CANCELLED)
            .count()
        )
        if taken >= item.per_customer_limit:
            limit = {"item": item.name, "limit": item.per_customer_limit}
            raise RedemptionRefused(_("「%(item)s」每人限兑 %(limit)s 次") % limit)


def redemption_fulfil(*, redemption: Redemption, actor=None, note: str = "") -> Redemption:
    """Mark a pending redemption as handed over (shipped, issued)."""
    from common.audit import audit_record

    with transaction.atomic():
        redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
        if redemption.status != RedemptionStatus.PENDING:
            raise ValidationError(_("只有待发放的兑换可以标记为已发放"))
        redemption.status = RedemptionStatus.FULFILLED
        redemption.note = note or redemption.note
        redemption.save(update_fields=["status", "note", "updated_at"])
        audit_record(
            action="redemption.fulfil", summary=_("兑换 #%(id)s 已发放") % {"id": redemption.pk},
            actor=actor, obj=redemption,
        )  # fmt: skip
    return redemption


def redemption_cancel(*, redemption: Redemption, reason: str, actor=None) -> Redemption:
    """Cancel a redemption: the points go back to the member and the item back on the shelf."""
    from common.audit import audit_record

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("取消兑换必须填写原因")})
    with transaction.atomic():
        item = RewardItem.objects.select_for_update().get(pk=redemption.item_id)
        redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
        if redemption.status == RedemptionStatus.CANCELLED:
            raise ValidationError(_("这笔兑换已经取消"))
        _post(
            customer=Customer(pk=redemption.customer_id), kind=PointsKind.REVERSE,
            points=redemption.points, idempotency_key=f"cancel:redemption:{redemption.pk}",
            channel_account_id=redemption.channel_account_id,
            reason=_("取消兑换「%(item)s」，积分退回") % {"item": item.name},
            source_ref=f"redemption:{redemption.pk}",
            actor_label=actor.get_username() if actor else "system",
        )  # fmt: skip
        if item.stock is not None:
            item.stock += 1
        item.redeemed_count = max(item.redeemed_count - 1, 0)
        item.save(update_fields=["stock", "redeemed_count"])
        redemption.status = RedemptionStatus.CANCELLED
        redemption.note = reason
        redemption.save(update_fields=["status", "note", "updated_at"])
        audit_record(
            action="redemption.cancel",
            summary=_("取消兑换 #%(id)s：%(reason)s") % {"id": redemption.pk, "reason": reason},
            actor=actor, obj=redemption,
        )  # fmt: skip
    return redemption
