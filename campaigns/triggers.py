"""Real-time triggers: "event A, then no event B within N minutes, and the customer matches a
condition" → an action (docs/journeys.md, "Real-time triggers").

`triggers_scan` turns each new event A into a `TriggerWait` with its deadline (one per rule and
event: unique, so scans that look back over the same events add nothing). `triggers_fire`
takes the waits whose deadline passed: B since A cancels them (set-wise), the others are
claimed (`running`, committed) and checked against the condition, then the action runs once.
Beat runs both every 15 seconds (`campaigns.triggers_tick`), so an action follows its
deadline within about 15 seconds.
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DurationField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.actions import action_clean, action_perform
from campaigns.choices import TriggerStatus, WaitStatus
from campaigns.models import TriggerRule, TriggerWait
from common.audit import audit_record
from customers.models import Customer, Event

LOOKBACK = timedelta(minutes=10)
STALE_EVENTS = timedelta(days=1)
SCAN_LIMIT = 50_000
FIRE_BATCH = 200
MAX_MINUTES = 7 * 24 * 60


def trigger_rule_save(*, rule: TriggerRule, user=None, **fields) -> TriggerRule:
    """Check and save a rule (fields: name, status, event_a, event_a_channel, event_b,
    within_minutes, condition, action)."""
    from tags.dsl import validate_definition

    for name, value in fields.items():
        setattr(rule, name, value)
    errors: dict[str, str] = {}
    if not (rule.name or "").strip():
        errors["name"] = _("请填写名称")
    rule.event_a = (rule.event_a or "").strip()
    rule.event_b = (rule.event_b or "").strip()
    if not rule.event_a:
        errors["event_a"] = _("请填写事件 A")
    if rule.event_b and rule.event_b == rule.event_a:
        errors["event_b"] = _("事件 B 不能与事件 A 相同")
    if not isinstance(rule.within_minutes, int) or not 1 <= rule.within_minutes <= MAX_MINUTES:
        errors["within_minutes"] = _("等待时间必须在 1 到 %(n)s 分钟之间") % {"n": MAX_MINUTES}
    if rule.condition in ({}, "", []):
        rule.condition = None
    if rule.condition is not None:
        for key, message in validate_definition(rule.condition).items():
            errors[f"condition{'.' + key if key else ''}"] = message
    try:
        rule.action = action_clean(rule.action)
    except ValidationError as exc:
        errors.update({f"action.{k}" if k != "action" else k: " ".join(v)
                       for k, v in exc.message_dict.items()})  # fmt: skip
    if errors:
        raise ValidationError(errors)
    creating = rule.pk is None
    if creating:
        rule.created_by = user
        rule.scanned_until = timezone.now()
    rule.save()
    audit_record(
        action="trigger.create" if creating else "trigger.update",
        summary=_("保存实时触发：%(name)s") % {"name": rule.name},
        actor=user,
        obj=rule,
    )
    return rule


def triggers_scan(*, now: datetime | None = None) -> int:
    """New events A of every active rule → waits; returns how many were added."""
    now = now or timezone.now()
    added = 0
    for rule_id in TriggerRule.objects.filter(status=TriggerStatus.ACTIVE).values_list(
        "pk", flat=True
    ):
        added += _scan(rule_id, now)
    return added


def _scan(rule_id: int, now: datetime) -> int:
    with transaction.atomic():
        rule = (
            TriggerRule.objects.select_for_update(skip_locked=True)
            .filter(pk=rule_id, status=TriggerStatus.ACTIVE)
            .first()
        )
        if rule is None:
            return 0
        since = (rule.scanned_until or rule.created_at) - LOOKBACK
        events = Event.objects.filter(
            name=rule.event_a, created_at__gt=since, created_at__lte=now, customer__isnull=False
        )
        if rule.event_a_channel_id:
            events = events.filter(channel_account_id=rule.event_a_channel_id)
        # events from before the rule existed, or a backfill, start no waits (and the scan
        # reads the (name, occurred_at) index)
        events = events.filter(
            occurred_at__gte=max(rule.created_at - LOOKBACK, since - STALE_EVENTS)
        )
        window = timedelta(minutes=rule.within_minutes)
        rows = list(
            events.order_by("id").values_list("pk", "customer_id", "occurred_at")[:SCAN_LIMIT]
        )
        made = TriggerWait.objects.bulk_create(
            [
                TriggerWait(
                    rule=rule,
                    customer_id=customer_id,
                    source_event_id=pk,
                    started_at=at,
                    deadline=at + window,
                )  # fmt: skip
                for pk, customer_id, at in rows
            ],
            ignore_conflicts=True,
            batch_size=2000,
        )
        # a full page: the next scan carries on from the last event taken
        scanned = rows[-1][2] if len(rows) == SCAN_LIMIT else now
        TriggerRule.objects.filter(pk=rule.pk).update(scanned_until=max(scanned, since))
    return len(made)


def _b_arrived() -> Q:
    """Waits whose customer did event B between A and the deadline."""
    b = Event.objects.filter(
        customer=OuterRef("customer"),
        name=OuterRef("rule__event_b"),
        occurred_at__gte=OuterRef("started_at"),
        occurred_at__lte=OuterRef("deadline"),
    )
    return Q(Exists(b))


def triggers_fire(*, now: datetime | None = None, batch: int = FIRE_BATCH) -> dict:
    """Settle the waits whose deadline has passed: cancelled by B, not matched, or fired
    (the action carried out once). Returns the counts."""
    now = now or timezone.now()
    counts = {"cancelled": 0, "not_matched": 0, "fired": 0, "failed": 0}
    due = TriggerWait.objects.filter(status=WaitStatus.WAITING, deadline__lte=now)
    counts["cancelled"] = (
        due.exclude(rule__event_b="")
        .filter(_b_arrived())
        .update(status=WaitStatus.CANCELLED, fired_at=now, detail=_("等待期间发生了事件 B"))
    )
    while True:
        claimed = _claim(batch, now)
        if not claimed:
            return counts
        for wait in claimed:
            status = _settle(wait, now)
            counts[status] = counts.get(status, 0) + 1


def _claim(batch: int, now: datetime) -> list[TriggerWait]:
    with transaction.atomic():
        ids = list(
            TriggerWait.objects.select_for_update(skip_locked=True)
            .filter(status=WaitStatus.WAITING, deadline__lte=now)
            .order_by("deadline", "id")
            .values_list("pk", flat=True)[:batch]
        )
        # waiting still: SQLite has no row locks, another ticker may have taken some
        TriggerWait.objects.filter(pk__in=ids, status=WaitStatus.WAITING).update(
            status=WaitStatus.RUNNING, fired_at=now
        )
    claimed = TriggerWait.objects.filter(pk__in=ids, status=WaitStatus.RUNNING, fired_at=now)
    return list(claimed.select_related("rule", "customer").order_by("deadline", "id"))


def _settle(wait: TriggerWait, now: datetime) -> str:
    from tags.dsl import compile_definition

    rule = wait.rule
    if rule.event_b and TriggerWait.objects.filter(pk=wait.pk).filter(_b_arrived()).exists():
        status, detail = WaitStatus.CANCELLED, _("等待期间发生了事件 B")
        TriggerWait.objects.filter(pk=wait.pk).update(status=status, detail=detail)
        return "cancelled"
    if (
        rule.condition
        and not Customer.objects.filter(
            compile_definition(rule.condition, now=now), pk=wait.customer_id
        ).exists()
    ):
        TriggerWait.objects.filter(pk=wait.pk).update(status=WaitStatus.NOT_MATCHED)
        return "not_matched"
    result = action_perform(rule.action, customer=wait.customer, key=f"t{wait.pk}")
    status = WaitStatus.FIRED if result.status in ("done", "skipped") else WaitStatus.FAILED
    detail = result.outcome if result.status == "skipped" else result.detail
    TriggerWait.objects.filter(pk=wait.pk).update(
        status=status, detail=(detail or "")[:300], channel_account=result.channel_account,
        fired_at=timezone.now(),
    )  # fmt: skip
    return "fired" if status == WaitStatus.FIRED else "failed"


def triggers_sweep(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Waits left `running` by a worker that died: failed, never fired again."""
    return TriggerWait.objects.filter(
        status=WaitStatus.RUNNING, fired_at__lt=timezone.now() - older_than
    ).update(status=WaitStatus.FAILED, detail=_("执行中断，结果未知，不再重试"))


def triggers_tick(*, now: datetime | None = None) -> dict:
    triggers_sweep()
    added = triggers_scan(now=now)
    counts = triggers_fire(now=now)
    return {"waits": added, **counts}


def trigger_stats(rule: TriggerRule) -> dict:
    from django.db.models import Avg, Count

    rows = dict(rule.waits.values_list("status").annotate(n=Count("id")))
    lag = rule.waits.filter(status=WaitStatus.FIRED).aggregate(
        lag=Avg(ExpressionWrapper(F("fired_at") - F("deadline"), output_field=DurationField()))
    )["lag"]
    return {"by_status": rows, "total": sum(rows.values()), "avg_lag": lag}
