"""Writes on pushes: save, estimate, approve, launch (now, at a time, periodic), pause, resume,
cancel, the runs they start, and the A/B result with its winner (docs/campaigns.md)."""

import json
import math
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, OuterRef, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.choices import (
    AbMetric,
    DeliveryStatus,
    PushStatus,
    RunStatus,
    ScheduleKind,
    SkipReason,
)
from campaigns.delivery import SENDABLE_KINDS, push_estimate, run_materialise
from campaigns.models import (
    Delivery,
    LinkClick,
    MessagingSettings,
    Push,
    PushChannel,
    PushRun,
    PushVariant,
)
from campaigns.results import ATTRIBUTION_WINDOW
from common.audit import audit_record
from customers.choices import REVENUE_STATUSES
from customers.models import Order

EDITABLE = (PushStatus.DRAFT, PushStatus.AWAITING_APPROVAL)
LAUNCHABLE = EDITABLE
OPEN_ROWS = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)
LIVE_RUNS = (RunStatus.MATERIALISING, RunStatus.SENDING, RunStatus.PAUSED)
SIGNIFICANCE = 0.05
MAX_DECIDE_HOURS = 720  # a timed A/B test decides within 30 days


def periodic_task_name(push: Push) -> str:
    return f"push:{push.pk}"


# --- save and estimate ---------------------------------------------------------------------


def _content_check(content, field: str, errors: dict) -> None:
    from campaigns.content import content_check

    try:
        content_check(content=content)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(f"{key}: {m}" for m in messages)


def _schedule_check(schedule_kind: str, send_at, cron: str, errors: dict) -> None:
    from django_celery_beat.validators import crontab_validator

    if schedule_kind not in ScheduleKind.values:
        errors["schedule_kind"] = [_("未知的发送方式")]
    elif schedule_kind == ScheduleKind.AT and (send_at is None or send_at <= timezone.now()):
        errors["send_at"] = [_("定时发送需要一个将来的时间")]
    elif schedule_kind == ScheduleKind.PERIODIC:
        try:
            if len(cron.split()) != 5:
                raise ValidationError("")
            crontab_validator(cron)
        except (ValidationError, ValueError):
            errors["cron"] = [_("请填写 5 段 crontab，例如 0 10 * * 1")]


def _variants_check(
    variants: list[dict],
    ab_test_percent: int,
    errors: dict,
    ab_metric: str = "",
    ab_decide_after_hours: int | None = None,
) -> None:
    if not variants:
        return
    labels = [v["label"] for v in variants]
    if len(set(labels)) != len(labels) or len(variants) < 2:
        errors["variants"] = [_("A/B 测试至少需要两个不同的版本")]
    elif sum(v["share"] for v in variants) != 100 or any(v["share"] <= 0 for v in variants):
        errors["variants"] = [_("各版本的分配比例之和必须为 100%")]
    if not 1 <= ab_test_percent <= 100:
        errors["ab_test_percent"] = [_("测试比例必须在 1 到 100 之间")]
    if ab_metric and ab_metric not in AbMetric.values:
        errors["ab_metric"] = [_("未知的胜出指标")]
    if ab_decide_after_hours is not None and not 1 <= ab_decide_after_hours <= MAX_DECIDE_HOURS:
        errors["ab_decide_after_hours"] = [
            _("测试时长必须在 1 到 %(n)s 小时之间") % {"n": MAX_DECIDE_HOURS}
        ]


@transaction.atomic
def push_save(
    *,
    name: str,
    audience,
    content,
    channels: list,
    schedule_kind: str = ScheduleKind.NOW,
    send_at: datetime | None = None,
    cron: str = "",
    respect_quiet_hours: bool = True,
    apply_frequency_cap: bool = True,
    campaign=None,
    variants: list[dict] | None = None,
    ab_metric: str = "",
    ab_test_percent: int = 100,
    ab_auto_winner: bool = False,
    ab_decide_after_hours: int | None = None,
    push: Push | None = None,
    actor=None,
) -> Push:
    """Create or change a draft push. `channels` are accounts in fallback order; `variants`
    are `{"label", "content", "share"}` dicts (none: no A/B test); `ab_decide_after_hours`
    set, the leader by `ab_metric` wins that long after the test is sent. Changing a push drops its
    approval: what was approved is no longer what would be sent."""
    variants = variants or []
    errors: dict[str, list] = {}
    if push is not None and push.status not in EDITABLE:
        raise ValidationError(_("只有草稿或待审批的推送可以修改"))
    if not (name or "").strip():
        errors["name"] = [_("名称不能为空")]
    if audience is None:
        errors["audience"] = [_("请选择人群包")]
    if not channels:
        errors["channels"] = [_("至少选择一个渠道")]
    elif any(a.kind not in SENDABLE_KINDS for a in channels) or len(set(channels)) != len(channels):
        errors["channels"] = [_("所选渠道不能发送消息或有重复")]
    if content is None:
        errors["content"] = [_("请选择内容")]
    else:
        _content_check(content, "content", errors)
    for variant in variants:
        _content_check(variant["content"], "variants", errors)
    _schedule_check(schedule_kind, send_at, cron, errors)
    _variants_check(variants, ab_test_percent, errors, ab_metric, ab_decide_after_hours)
    if errors:
        raise ValidationError(errors)
    push = push or Push(created_by=actor if getattr(actor, "is_authenticated", False) else None)
    push.name, push.audience, push.content, push.campaign = (
        name.strip(),
        audience,
        content,
        campaign,
    )
    push.schedule_kind, push.send_at, push.cron = schedule_kind, send_at, cron.strip()
    if schedule_kind != ScheduleKind.AT:
        push.send_at = None
    if schedule_kind != ScheduleKind.PERIODIC:
        push.cron = ""
    push.respect_quiet_hours, push.apply_frequency_cap = respect_quiet_hours, apply_frequency_cap
    push.ab_metric = (ab_metric or "click_rate") if variants else ""
    push.ab_test_percent = ab_test_percent if variants else 100
    push.ab_auto_winner = ab_auto_winner and bool(variants)
    push.ab_decide_after_hours = ab_decide_after_hours if variants else None
    push.status, push.approved_by, push.approved_at = PushStatus.DRAFT, None, None
    push.save()
    push.channels.all().delete()
    PushChannel.objects.bulk_create(
        PushChannel(push=push, channel_account=account, position=i)
        for i, account in enumerate(channels)
    )
    push.variants.all().delete()
    PushVariant.objects.bulk_create(
        PushVariant(push=push, label=v["label"], content=v["content"], share=v["share"])
        for v in variants
    )
    return push


def push_estimate_refresh(*, push: Push) -> dict:
    """`push_estimate` now, its total reach kept on the push (what approval is judged on)."""
    estimate = push_estimate(push=push)
    estimate["reach"] = sum(estimate["by_channel"].values())
    push.estimated_reach = estimate["reach"]
    push.save(update_fields=["estimated_reach"])
    return estimate


def push_needs_approval(push: Push) -> bool:
    threshold = MessagingSettings.load().approval_threshold
    return push.estimated_reach > threshold and push.approved_by_id is None


# --- approval and launch -------------------------------------------------------------------


@transaction.atomic
def push_approve(*, push: Push, user) -> Push:
    """Approve a push for sending: someone other than its creator, allowed to change pushes."""
    if not user.has_perm("campaigns.change_push"):
        raise PermissionDenied
    if push.created_by_id is not None and push.created_by_id == user.pk:
        raise ValidationError(_("推送需要由创建人以外的运营审批"))
    if push.status not in EDITABLE:
        raise ValidationError(_("这个推送已经启动，无需审批"))
    push.approved_by, push.approved_at = user, timezone.now()
    push.status = PushStatus.DRAFT
    push.save(update_fields=["approved_by", "approved_at", "status"])
    audit_record(
        action="push.approve",
        summary=_("审批推送 %(name)s（预计触达 %(n)s）")
        % {"name": push.name, "n": push.estimated_reach},
        actor=user,
        obj=push,
        details={"estimated_reach": push.estimated_reach},
    )
    return push


def push_launch(*, push: Push, user) -> PushRun | None:
    """Start a push: now → a run and its task; at a time → scheduled (the minute Beat task
    starts it); periodic → a django-celery-beat task on its crontab. A push whose estimated
    reach is above the approval threshold needs an approver first (it is left awaiting
    approval). Returns the run started now, if any."""
    push.refresh_from_db(fields=["status", "approved_by"])
    if push.status not in LAUNCHABLE:
        raise ValidationError(_("只有草稿或待审批的推送可以启动"))
    push_estimate_refresh(push=push)
    if push_needs_approval(push):
        push.status = PushStatus.AWAITING_APPROVAL
        push.save(update_fields=["status"])
        raise ValidationError(_("预计触达超过审批人数，需要其他运营审批后才能发送"))
    with transaction.atomic():
        # two clicks on "launch": the second finds the push no longer launchable
        locked = Push.objects.select_for_update().filter(pk=push.pk, status__in=LAUNCHABLE)
        if not locked.exists():
            raise ValidationError(_("只有草稿或待审批的推送可以启动"))
        return _launch(push, user)


def _launch(push: Push, user) -> PushRun | None:
    run = None
    if push.schedule_kind == ScheduleKind.NOW:
        run = PushRun.objects.create(push=push)
        push.status = PushStatus.RUNNING
        _enqueue_run(push, run_id=run.pk)
    elif push.schedule_kind == ScheduleKind.AT:
        push.status = PushStatus.SCHEDULED
    else:
        push.periodic_task = _periodic_task(push)
        push.status = PushStatus.SCHEDULED
    push.save(update_fields=["status", "periodic_task"])
    audit_record(
        action="push.launch",
        summary=_("启动推送 %(name)s（%(kind)s）")
        % {"name": push.name, "kind": push.get_schedule_kind_display()},
        actor=user,
        obj=push,
        details={"estimated_reach": push.estimated_reach, "run": run.pk if run else None},
    )
    return run


def _periodic_task(push: Push):
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    minute, hour, day_of_month, month_of_year, day_of_week = push.cron.split()
    schedule, _created = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=MessagingSettings.load().timezone,
    )
    task, _created = PeriodicTask.objects.update_or_create(
        name=periodic_task_name(push),
        defaults={
            "task": "campaigns.run_push",
            "crontab": schedule,
            "args": json.dumps([push.pk]),
            "enabled": True,
            "description": f"{push.name}",
        },
    )
    return task


def _enqueue_run(push: Push, **kwargs) -> None:
    from campaigns.tasks import push_run_task

    transaction.on_commit(lambda: push_run_task.delay(push.pk, **kwargs))


def _enqueue_dispatch(run: PushRun) -> None:
    """Hand the run to the dispatch task (campaigns.dispatch), after this transaction."""
    from campaigns.dispatch import dispatch_run_task

    transaction.on_commit(lambda: dispatch_run_task.delay(run.pk))


def push_run_start(
    *, push: Push, scheduled_for: datetime | None = None, run_id: int | None = None
) -> PushRun | None:
    """Materialise one run of a push and hand it to dispatch. A given `run_id` is the run a
    launch made; otherwise a run for the occurrence `scheduled_for` is made, once: a second
    call for the same occurrence (Beat twice, a retry) returns None."""
    if run_id is not None:
        run = PushRun.objects.filter(pk=run_id, push=push).first()
        if run is None or run.status != RunStatus.MATERIALISING:
            return None
    else:
        try:
            with transaction.atomic():
                run = PushRun.objects.create(push=push, scheduled_for=scheduled_for)
        except IntegrityError:
            return None
    try:
        run_materialise(run=run)
    except Exception as exc:
        PushRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )  # fmt: skip
        raise
    PushRun.objects.filter(pk=run.pk, status=RunStatus.MATERIALISING).update(
        status=RunStatus.SENDING
    )
    if push.status == PushStatus.SCHEDULED and push.schedule_kind == ScheduleKind.AT:
        Push.objects.filter(pk=push.pk).update(status=PushStatus.RUNNING)
    with transaction.atomic():
        _enqueue_dispatch(run)
    return run


def pushes_launch_due(*, now: datetime | None = None) -> int:
    """Beat, every minute: start the scheduled pushes whose time has come (each once)."""
    now = now or timezone.now()
    due = Push.objects.filter(
        status=PushStatus.SCHEDULED, schedule_kind=ScheduleKind.AT, send_at__lte=now
    )
    started = 0
    for push in due.order_by("send_at"):
        with transaction.atomic():
            claimed = Push.objects.filter(pk=push.pk, status=PushStatus.SCHEDULED).update(
                status=PushStatus.RUNNING
            )
            if claimed:
                _enqueue_run(push, scheduled_for=push.send_at.isoformat())
                started += 1
    return started


# --- pause, resume, cancel -----------------------------------------------------------------


def _periodic_enable(push: Push, enabled: bool) -> None:
    if push.periodic_task_id:
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(pk=push.periodic_task_id).update(enabled=enabled)


@transaction.atomic
def push_pause(*, push: Push, user) -> Push:
    """Stop sending: live runs pause (dispatch stops after its batch), Beat stops starting."""
    if push.status not in (PushStatus.RUNNING, PushStatus.SCHEDULED):
        raise ValidationError(_("只有发送中或已排期的推送可以暂停"))
    push.runs.filter(status__in=(RunStatus.MATERIALISING, RunStatus.SENDING)).update(
        status=RunStatus.PAUSED
    )
    _periodic_enable(push, False)
    push.status = PushStatus.PAUSED
    push.save(update_fields=["status"])
    audit_record(action="push.pause", summary=_("暂停推送 %(n)s") % {"n": push.name},
                 actor=user, obj=push)  # fmt: skip
    return push


@transaction.atomic
def push_resume(*, push: Push, user) -> Push:
    """Carry on: paused runs are dispatched again; a schedule waits for its time again."""
    if push.status != PushStatus.PAUSED:
        raise ValidationError(_("只有已暂停的推送可以继续"))
    for run in push.runs.filter(status=RunStatus.PAUSED):
        if run.deliveries.exists():
            PushRun.objects.filter(pk=run.pk).update(status=RunStatus.SENDING)
            _enqueue_dispatch(run)
        else:  # paused before its list was made
            PushRun.objects.filter(pk=run.pk).update(status=RunStatus.MATERIALISING)
            _enqueue_run(push, run_id=run.pk)
    _periodic_enable(push, True)
    waiting = push.schedule_kind == ScheduleKind.PERIODIC or (
        push.schedule_kind == ScheduleKind.AT and not push.runs.exists()
    )
    push.status = PushStatus.SCHEDULED if waiting else PushStatus.RUNNING
    push.save(update_fields=["status"])
    audit_record(action="push.resume", summary=_("继续推送 %(n)s") % {"n": push.name},
                 actor=user, obj=push)  # fmt: skip
    return push


@transaction.atomic
def push_cancel(*, push: Push, user) -> Push:
    """Stop for good: unsent rows are skipped (cancelled), runs end, Beat stops."""
    if push.status in (PushStatus.DONE, PushStatus.CANCELLED):
        raise ValidationError(_("这个推送已经结束"))
    runs = push.runs.filter(status__in=LIVE_RUNS)
    Delivery.objects.filter(run__in=runs, status__in=OPEN_ROWS).update(
        status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.CANCELLED
    )
    runs.update(status=RunStatus.CANCELLED, finished_at=timezone.now())
    _periodic_enable(push, False)
    push.status = PushStatus.CANCELLED
    push.save(update_fields=["status"])
    audit_record(action="push.cancel", summary=_("取消推送 %(n)s") % {"n": push.name},
                 actor=user, obj=push)  # fmt: skip
    return push


# --- progress and A/B ----------------------------------------------------------------------


def push_sync_status(*, push: Push) -> Push:
    """A one-off push (now / at a time) whose runs have all ended is done. Idempotent: one
    conditional UPDATE, safe to call whenever a run's progress is read or a run ends."""
    push.refresh_from_db(fields=["status"])  # a run ending elsewhere may have moved it on
    if push.schedule_kind != ScheduleKind.PERIODIC and push.status == PushStatus.RUNNING:
        ended = push.runs.exists() and not push.runs.filter(status__in=LIVE_RUNS).exists()
        if ended and Push.objects.filter(pk=push.pk, status=PushStatus.RUNNING).update(
            status=PushStatus.DONE
        ):
            push.status = PushStatus.DONE
    return push


def run_progress(run: PushRun) -> dict:
    """The run's rows by status and skipped rows by reason, with the share finished."""
    by_status = dict(
        run.deliveries.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    skips = dict(
        run.deliveries.filter(status=DeliveryStatus.SKIPPED)
        .order_by()
        .values_list("skip_reason")
        .annotate(n=Count("id"))
        .values_list("skip_reason", "n")
    )
    total = sum(by_status.values())
    open_rows = sum(by_status.get(s, 0) for s in (*OPEN_ROWS, DeliveryStatus.SENDING))
    return {
        "total": total,
        "by_status": by_status,
        "skips": skips,
        "finished": total - open_rows,
        "percent": round((total - open_rows) * 100 / total) if total else 100,
    }


def _z_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Two-proportion z-test: (z, two-sided p-value); (0, 1) when it cannot be computed."""
    if not n1 or not n2:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def _metric_hits(push: Push, variant: PushVariant, sent, metric: str) -> int:
    """Distinct customers who clicked a link of the variant's deliveries, or who (among
    `sent`, its sent deliveries) paid an order within the attribution window after theirs."""
    if metric == AbMetric.CONVERSION_RATE:
        paid = Order.objects.filter(
            customer=OuterRef("customer"),
            status__in=REVENUE_STATUSES,
            paid_at__gte=OuterRef("sent_at"),
            paid_at__lte=ExpressionWrapper(
                OuterRef("sent_at") + Value(ATTRIBUTION_WINDOW), output_field=DateTimeField()
            ),
        )
        converted = sent.filter(sent_at__isnull=False).filter(Exists(paid))
        return converted.values("customer").distinct().count()
    return (
        LinkClick.objects.filter(delivery__variant=variant, delivery__run__push=push)
        .exclude(customer=None)
        .values("customer")
        .distinct()
        .count()
    )


def ab_result(push: Push) -> dict:
    """Each variant's sent count, the customers who did what the push's metric counts
    (`hits`), their rate, and a two-proportion z-test of the best against the runner-up.
    Click rate: distinct clicking customers / sent; conversion rate: distinct customers with
    a paid order within `ATTRIBUTION_WINDOW` after their sent delivery of the variant / sent."""
    metric = push.ab_metric or AbMetric.CLICK_RATE
    rows = []
    for variant in push.variants.order_by("label").select_related("content"):
        sent = Delivery.objects.filter(run__push=push, variant=variant, status=DeliveryStatus.SENT)
        n = sent.count()
        x = _metric_hits(push, variant, sent, metric) if n else 0
        rate = x / n if n else 0.0
        rows.append({"variant": variant, "sent": n, "hits": x, "rate": rate, "percent": rate * 100})
    ranked = sorted(rows, key=lambda r: r["rate"], reverse=True)
    z, p = (0.0, 1.0)
    if len(ranked) >= 2:
        best, second = ranked[0], ranked[1]
        z, p = _z_test(best["hits"], best["sent"], second["hits"], second["sent"])
    return {
        "metric": metric,
        "metric_label": AbMetric(metric).label,
        "variants": rows,
        "z": z,
        "p_value": p,
        "significant": p < SIGNIFICANCE,
        "leader": ranked[0]["variant"] if ranked and ranked[0]["sent"] else None,
        "has_winner": any(r["variant"].winner for r in rows),
    }


@transaction.atomic
def ab_pick_winner(
    *, push: Push, variant: PushVariant | None = None, send_rest: bool | None = None, user=None
) -> PushVariant:
    """Mark the winning variant (given, or the leader of `ab_result`). With `send_rest`
    (by default the push's `ab_auto_winner`) the rest of the audience, outside the test
    share, gets the winner in the latest run."""
    if variant is None:
        variant = ab_result(push)["leader"]
        if variant is None:
            raise ValidationError(_("还没有可以比较的发送结果"))
    push.variants.update(winner=False)
    PushVariant.objects.filter(pk=variant.pk).update(winner=True)
    variant.winner = True
    run = push.runs.exclude(status=RunStatus.CANCELLED).order_by("-started_at", "-id").first()
    send_rest = push.ab_auto_winner if send_rest is None else send_rest
    if send_rest and push.ab_test_percent < 100 and run is not None:
        run_materialise(run=run, winner=variant)
        PushRun.objects.filter(pk=run.pk).update(status=RunStatus.SENDING, finished_at=None)
        if push.schedule_kind != ScheduleKind.PERIODIC:  # done again when the rest is sent
            Push.objects.filter(pk=push.pk, status=PushStatus.DONE).update(
                status=PushStatus.RUNNING
            )
        _enqueue_dispatch(run)
    audit_record(
        action="push.ab_winner",
        summary=_("A/B 胜出版本：%(push)s %(label)s") % {"push": push.name, "label": variant.label},
        actor=user,
        obj=push,
    )
    return variant


def _test_sent_at(run: PushRun) -> datetime | None:
    """When the run's test sends were done: it finished, or no row is left to send (the time
    of its last send); None while it is still sending."""
    if run.finished_at is not None:
        return run.finished_at
    if run.status == RunStatus.MATERIALISING:
        return None
    if run.deliveries.filter(status__in=(*OPEN_ROWS, DeliveryStatus.SENDING)).exists():
        return None
    last = run.deliveries.exclude(sent_at=None).order_by("-sent_at").first()
    return last.sent_at if last else None


def ab_decide_at(push: Push) -> datetime | None:
    """When a timed A/B test picks its winner: `ab_decide_after_hours` after its test sends
    were done; None when it is not timed or its test is still being sent."""
    if push.ab_decide_after_hours is None:
        return None
    run = push.runs.exclude(status=RunStatus.CANCELLED).order_by("-started_at", "-id").first()
    sent_at = _test_sent_at(run) if run is not None else None
    return sent_at + timedelta(hours=push.ab_decide_after_hours) if sent_at else None


def ab_decide_due(*, now: datetime | None = None) -> int:
    """Beat, every few minutes: for each timed A/B test (`ab_decide_after_hours`) sent that
    many hours ago with no winner yet, pick the leader by the push's metric (and, with
    `ab_auto_winner`, send it to the rest). Returns how many winners were picked."""
    now = now or timezone.now()
    pushes = (
        Push.objects.filter(ab_decide_after_hours__isnull=False, variants__isnull=False)
        .exclude(status__in=(*EDITABLE, PushStatus.PAUSED, PushStatus.CANCELLED))
        .exclude(variants__winner=True)
        .distinct()
    )
    picked = 0
    for push in pushes:
        decide_at = ab_decide_at(push)
        if decide_at is None or decide_at > now:
            continue
        with transaction.atomic():
            # Beat and a slow earlier tick at once: the second finds the winner picked
            locked = Push.objects.select_for_update().get(pk=push.pk)
            if locked.variants.filter(winner=True).exists():
                continue
            try:
                ab_pick_winner(push=locked)
            except ValidationError:  # nothing sent to compare yet
                continue
        picked += 1
    return picked
