"""Lifecycle stages and RFM scores, recomputed set-wise (Beat nightly and on demand)."""

from datetime import timedelta

from django.db.models import Case, F, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.choices import Lifecycle, RfmSegment
from customers.models import Customer, ScoringSettings


def _score(field: str, breaks: list, *, recency: bool = False, now=None) -> Case:
    """1..5: each breakpoint passed adds one. Recency breakpoints are days ago, descending."""
    whens = []
    for score, brk in sorted(enumerate(breaks, start=2), reverse=True):
        if recency:
            whens.append(When(**{f"{field}__gte": now - timedelta(days=brk)}, then=Value(score)))
        else:
            whens.append(When(**{f"{field}__gte": brk}, then=Value(score)))
    return Case(*whens, default=Value(1), output_field=IntegerField())


# (segment, condition on the R and F+M scores), first match wins.
SEGMENT_RULES = [
    (RfmSegment.CHAMPIONS, Q(rfm_recency__gte=4, rfm_frequency__gte=4)),
    (RfmSegment.LOYAL, Q(rfm_recency__gte=3, rfm_frequency__gte=3)),
    (RfmSegment.NEW_CUSTOMERS, Q(rfm_recency__gte=4, rfm_frequency__lte=1)),
    (RfmSegment.POTENTIAL, Q(rfm_recency__gte=3)),
    (RfmSegment.AT_RISK, Q(rfm_recency__lte=2, rfm_frequency__gte=3)),
    (RfmSegment.HIBERNATING, Q(rfm_recency=2)),
    (RfmSegment.LOST, Q(rfm_recency__lte=1)),
]


def customers_score(*, customer_ids=None, now=None) -> int:
    """Recompute lifecycle, RFM scores and RFM segment for all (or some) customers."""
    now = now or timezone.now()
    settings = ScoringSettings.load()
    qs = Customer.objects.all()
    if customer_ids is not None:
        qs = qs.filter(pk__in=list(customer_ids))
    activity = Case(
        When(last_seen_at__isnull=False, then=F("last_seen_at")), default=F("created_at")
    )
    first = Case(
        When(first_seen_at__isnull=False, then=F("first_seen_at")), default=F("created_at")
    )
    qs.annotate(activity=activity, first=first).update(
        lifecycle=Case(
            When(first__gte=now - timedelta(days=settings.new_days), then=Value(Lifecycle.NEW)),
            When(
                activity__gte=now - timedelta(days=settings.active_days),
                then=Value(Lifecycle.ACTIVE),
            ),
            When(
                activity__gte=now - timedelta(days=settings.churn_days),
                then=Value(Lifecycle.SLEEPING),
            ),
            default=Value(Lifecycle.CHURNED),
        )
    )
    buyers = qs.filter(total_orders__gt=0, last_order_at__isnull=False)
    buyers.update(
        rfm_recency=_score("last_order_at", settings.recency_days, recency=True, now=now),
        rfm_frequency=_score("total_orders", settings.frequency_breaks),
        rfm_monetary=_score("total_revenue", settings.monetary_breaks),
    )
    buyers.update(
        rfm_segment=Case(
            *(When(cond, then=Value(seg)) for seg, cond in SEGMENT_RULES),
            default=Value(RfmSegment.LOST),
        )
    )
    qs.filter(Q(total_orders=0) | Q(last_order_at__isnull=True)).update(
        rfm_recency=None, rfm_frequency=None, rfm_monetary=None, rfm_segment=RfmSegment.PROSPECTS
    )
    return qs.count()


def scoring_settings_update(*, values: dict, actor=None) -> ScoringSettings:
    """Save new thresholds, audit the change and rescore everyone in a worker."""
    from django.db import transaction

    from common.audit import audit_record
    from common.models import AuditLog

    settings = ScoringSettings.load()
    before = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save(update_fields=[*values, "updated_at"])
    audit_record(
        action=AuditLog.Action.UPDATE,
        summary=str(_("修改生命周期与 RFM 设置")),
        actor=actor,
        obj=settings,
        details={"before": before, "after": values},
    )
    from customers.tasks import customers_score_task

    transaction.on_commit(customers_score_task.delay)
    return settings
