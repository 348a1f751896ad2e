"""Alerts: rules watching one KPI (reports.metrics) over the daily rollups, evaluated after
the nightly rollups; a rule that fires records an AlertEvent (the console notification),
optionally pauses the pushes on that channel and tells people by email and WeCom app
message. Resuming from the alert undoes exactly the pauses it made. Formulas: docs/alerts.md.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.choices import PushStatus
from campaigns.models import Push
from campaigns.pushes import push_pause, push_resume
from channels import adapters
from channels.choices import ChannelKind
from channels.models import ChannelAccount
from common.audit import audit_record
from reports.choices import AlertComparison, AlertScope, AlertStatus
from reports.metrics import KPIS, Kpi, Totals, channel_totals, kpi_value, previous_period
from reports.models import AlertEvent, AlertRule, ChannelDay

logger = logging.getLogger(__name__)

SEED_RULE_NAME = "渠道转化率低于均值 5% · 暂停推送"
MAX_WINDOW_DAYS = 90
MAX_BASELINE_DAYS = 365
VALUE_COMPARISONS = (AlertComparison.BELOW_VALUE, AlertComparison.ABOVE_VALUE)
MEAN_COMPARISONS = (AlertComparison.BELOW_MEAN, AlertComparison.ABOVE_MEAN)
BELOW = (AlertComparison.BELOW_VALUE, AlertComparison.BELOW_MEAN, AlertComparison.BELOW_PREVIOUS)
PAUSABLE = (PushStatus.SCHEDULED, PushStatus.RUNNING)
# how the message names the comparison that fired
REASONS = {
    AlertComparison.BELOW_VALUE: gettext_lazy("低于阈值 %(baseline)s"),
    AlertComparison.ABOVE_VALUE: gettext_lazy("高于阈值 %(baseline)s"),
    AlertComparison.BELOW_MEAN: gettext_lazy(
        "比前 %(days)s 天（%(b_start)s 至 %(b_end)s）的均值 %(baseline)s 低 %(change)s，"
        "超过规则的 %(threshold)s%%"
    ),
    AlertComparison.ABOVE_MEAN: gettext_lazy(
        "比前 %(days)s 天（%(b_start)s 至 %(b_end)s）的均值 %(baseline)s 高 %(change)s，"
        "超过规则的 %(threshold)s%%"
    ),
    AlertComparison.BELOW_PREVIOUS: gettext_lazy(
        "比上一周期（%(b_start)s 至 %(b_end)s）的 %(baseline)s 下降 %(change)s，"
        "超过规则的 %(threshold)s%%"
    ),
    AlertComparison.ABOVE_PREVIOUS: gettext_lazy(
        "比上一周期（%(b_start)s 至 %(b_end)s）的 %(baseline)s 上升 %(change)s，"
        "超过规则的 %(threshold)s%%"
    ),
}


# --- rules ---------------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    """Recipients typed with commas, semicolons, spaces or WeCom's `|`."""
    for sep in ";|，；\n ":
        text = text.replace(sep, ",")
    return [part.strip() for part in text.split(",") if part.strip()]


def _threshold_errors(comparison: str, threshold, kpi: Kpi | None) -> list:
    """The threshold in its unit: a metric value (percent KPIs in percent) for the value
    comparisons, a percentage change otherwise."""
    try:
        threshold = Decimal(str(threshold))
    except (InvalidOperation, TypeError, ValueError):
        return [_("请输入数字")]
    if not threshold.is_finite():
        return [_("请输入数字")]
    if comparison in VALUE_COMPARISONS:
        if threshold < 0:
            return [_("阈值不能为负数")]
        if kpi is not None and kpi.unit == "percent" and threshold > 100:
            return [_("百分比指标的阈值应在 0 到 100 之间")]
        return []
    if threshold <= 0:
        return [_("变化幅度应大于 0%")]
    if comparison in BELOW and threshold >= 100:
        return [_("下降幅度应小于 100%")]
    if threshold > 10_000:
        return [_("上升幅度不能超过 10000%")]
    return []


def _rule_errors(fields: dict) -> dict[str, list]:
    errors: dict[str, list] = {}
    if not (fields.get("name") or "").strip():
        errors["name"] = [_("名称不能为空")]
    kpi = KPIS.get(fields.get("metric") or "")
    if kpi is None:
        errors["metric"] = [_("请选择一个指标")]
    if fields.get("channel_kind") and fields["channel_kind"] not in ChannelKind.values:
        errors["channel_kind"] = [_("未知的渠道类型")]
    if fields.get("scope") not in AlertScope.values:
        errors["scope"] = [_("请选择范围")]
    comparison = fields.get("comparison")
    if comparison not in AlertComparison.values:
        errors["comparison"] = [_("请选择比较方式")]
    elif problems := _threshold_errors(comparison, fields.get("threshold"), kpi):
        errors["threshold"] = problems
    for name, most in (("window_days", MAX_WINDOW_DAYS), ("baseline_days", MAX_BASELINE_DAYS)):
        days = fields.get(name)
        if not isinstance(days, int) or not 1 <= days <= most:
            errors[name] = [_("应为 1 到 %(n)s 天") % {"n": most}]
    if fields.get("notify_email"):
        recipients = _split(fields.get("email_to") or "")
        if not recipients:
            errors["email_to"] = [_("开启邮件通知时请填写收件人")]
        for address in recipients:
            try:
                validate_email(address)
            except ValidationError:
                errors.setdefault("email_to", []).append(_("邮箱地址无效：%(a)s") % {"a": address})
    account = fields.get("wecom_account")
    if account is not None and account.kind != ChannelKind.WECOM:
        errors["wecom_account"] = [_("请选择企业微信类型的账号")]
    if fields.get("notify_wecom"):
        if account is None:
            errors["wecom_account"] = [_("开启企业微信通知时请选择企业微信账号")]
        if not _split(fields.get("wecom_userids") or ""):
            errors["wecom_userids"] = [_("请填写接收成员的 UserID（或 @all）")]
    return errors


RULE_FIELDS = (
    "name", "metric", "channel_kind", "scope", "comparison", "threshold", "window_days",
    "baseline_days", "pause_pushes", "notify_console", "notify_email", "email_to",
    "notify_wecom", "wecom_account", "wecom_userids", "enabled",
)  # fmt: skip


@transaction.atomic
def alert_rule_save(*, rule: AlertRule, actor=None, **fields) -> AlertRule:
    """Create (an unsaved `rule`) or change a rule; fields not given keep the rule's values.
    Raises ValidationError with field errors."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown alert rule fields: {sorted(unknown)}")
    merged = {name: getattr(rule, name) for name in RULE_FIELDS}
    merged.update(fields)
    errors = _rule_errors(merged)
    if errors:
        raise ValidationError(errors)
    merged["name"] = merged["name"].strip()
    merged["threshold"] = Decimal(str(merged["threshold"]))
    merged["email_to"] = ", ".join(_split(merged["email_to"] or ""))
    merged["wecom_userids"] = "|".join(_split(merged["wecom_userids"] or ""))
    for name, value in merged.items():
        setattr(rule, name, value)
    created = rule.pk is None
    if created and getattr(actor, "is_authenticated", False):
        rule.created_by = actor
    rule.save()
    audit_record(
        action="alert_rule.create" if created else "alert_rule.change",
        summary=_("保存预警规则 %(n)s") % {"n": rule.name},
        actor=actor,
        obj=rule,
    )
    return rule


def _admin_emails() -> str:
    """settings.ADMINS as a recipients line ((name, address) pairs or bare addresses)."""
    return ", ".join(a[1] if isinstance(a, list | tuple) else a for a in settings.ADMINS)


def alert_rules_seed() -> AlertRule:
    """The seed's rule — a channel's conversion rate 5% under its mean pauses that channel's
    pushes and notifies — created once (found again by its name)."""
    existing = AlertRule.objects.filter(name=SEED_RULE_NAME).first()
    if existing is not None:
        return existing
    emails = _admin_emails()
    wecom = ChannelAccount.objects.filter(kind=ChannelKind.WECOM).order_by("pk").first()
    return alert_rule_save(
        rule=AlertRule(),
        name=SEED_RULE_NAME,
        metric="conversion",
        channel_kind="",
        scope=AlertScope.EACH_ACCOUNT,
        comparison=AlertComparison.BELOW_MEAN,
        threshold=Decimal(5),
        window_days=7,
        baseline_days=28,
        pause_pushes=True,
        notify_console=True,
        notify_email=bool(emails),
        email_to=emails,
        notify_wecom=wecom is not None,
        wecom_account=wecom,
        wecom_userids="@all" if wecom else "",
        enabled=True,
    )


# --- evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Periods:
    """The days a rule looks at: the window (the last complete days) and, for the relative
    comparisons, the baseline period."""

    start: date
    end: date
    baseline_start: date | None = None
    baseline_end: date | None = None


def rule_periods(rule: AlertRule, today: date) -> Periods:
    """The window ends yesterday; the mean's baseline is the `baseline_days` before it, the
    previous period the `window_days` before it."""
    end = today - timedelta(days=1)
    start = end - timedelta(days=rule.window_days - 1)
    if rule.comparison in MEAN_COMPARISONS:
        baseline_end = start - timedelta(days=1)
        return Periods(start, end, baseline_end - timedelta(days=rule.baseline_days - 1),
                       baseline_end)  # fmt: skip
    if rule.comparison in VALUE_COMPARISONS:
        return Periods(start, end)
    return Periods(start, end, *previous_period(start, end))


def _scaled(totals: Totals, days: int) -> Totals:
    """A period's totals as if it lasted `days`: sums scaled to that length, so a count over
    28 days becomes its 7-day mean; ratios are unchanged and daily means stay daily means."""
    factor = days / totals.days
    return Totals(
        days=days,
        values={k: float(v) * factor for k, v in totals.values.items()},
        event_counts={k: n * factor for k, n in totals.event_counts.items()},
        event_users={k: n * factor for k, n in totals.event_users.items()},
    )


def _as_float(value) -> float | None:
    return None if value is None else float(value)


def rule_baseline(rule: AlertRule, periods: Periods, account_ids: list[int] | None):
    """What the window's value is compared with: the threshold itself (percent KPIs in
    percent, so divided by 100), or the KPI over the baseline period — the mean scaled to
    the window's length, the previous period as it is."""
    kpi = KPIS[rule.metric]
    if rule.comparison in VALUE_COMPARISONS:
        threshold = float(rule.threshold)
        return threshold / 100 if kpi.unit == "percent" else threshold
    totals = channel_totals(
        start=periods.baseline_start, end=periods.baseline_end, account_ids=account_ids
    )
    if rule.comparison in MEAN_COMPARISONS:
        totals = _scaled(totals, rule.window_days)
    return _as_float(kpi_value(rule.metric, totals))


def rule_fires(rule: AlertRule, value: float | None, baseline: float | None) -> bool:
    """Below/above the threshold; or below baseline × (1 − t%) / above baseline × (1 + t%).
    No value, or no baseline to be relative to, never fires."""
    if value is None or baseline is None:
        return False
    if rule.comparison == AlertComparison.BELOW_VALUE:
        return value < baseline
    if rule.comparison == AlertComparison.ABOVE_VALUE:
        return value > baseline
    if baseline == 0:
        return False
    share = float(rule.threshold) / 100
    if rule.comparison in BELOW:
        return value < baseline * (1 - share)
    return value > baseline * (1 + share)


def _scopes(rule: AlertRule, periods: Periods) -> list[tuple[ChannelAccount | None, list | None]]:
    """(account, account ids) per scope: each account of the rule's kind with rollup rows in
    the days looked at, or (None, the kind's accounts) for the total."""
    accounts = ChannelAccount.objects.order_by("kind", "code")
    if rule.channel_kind:
        accounts = accounts.filter(kind=rule.channel_kind)
    if rule.scope == AlertScope.TOTAL:
        if not rule.channel_kind:
            return [(None, None)]
        ids = list(accounts.values_list("pk", flat=True))
        return [(None, ids)] if ids else []  # an empty list would mean every account
    with_rows = ChannelDay.objects.filter(
        day__gte=periods.baseline_start or periods.start, day__lte=periods.end
    ).values("channel_account")
    return [(a, [a.pk]) for a in accounts.filter(pk__in=with_rows)]


def shown(kpi: Kpi, value) -> str:
    """A KPI value as people read it (percent KPIs in percent)."""
    if value is None:
        return "—"
    value = float(value)
    if kpi.unit == "percent":
        return f"{value * 100:.2f}%"
    if kpi.unit == "money":
        return f"¥{value:,.2f}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _message(rule, account, periods: Periods, value: float, baseline: float) -> str:
    kpi = KPIS[rule.metric]
    change = abs(value - baseline) / abs(baseline) * 100 if baseline else 0
    reason = REASONS[rule.comparison] % {
        "baseline": shown(kpi, baseline),
        "days": rule.baseline_days,
        "b_start": periods.baseline_start,
        "b_end": periods.baseline_end,
        "change": f"{change:.1f}%",
        "threshold": f"{rule.threshold.normalize():f}",
    }
    return _("%(rule)s：%(scope)s的%(kpi)s在 %(start)s 至 %(end)s 为 %(value)s，%(reason)s。") % {
        "rule": rule.name,
        "scope": account.name if account else _("所有渠道合计"),
        "kpi": kpi.label,
        "start": periods.start,
        "end": periods.end,
        "value": shown(kpi, value),
        "reason": reason,
    }


def _pause(account: ChannelAccount | None, account_ids: list | None) -> list[int]:
    """Pause the scope's scheduled and running pushes (the total with no kind: every push);
    ids of those paused."""
    on_scope = Push.objects.filter(status__in=PAUSABLE)
    if account is not None:
        on_scope = on_scope.filter(channels__channel_account=account)
    elif account_ids is not None:
        on_scope = on_scope.filter(channels__channel_account__in=account_ids)
    # locked without DISTINCT (PostgreSQL refuses FOR UPDATE with it)
    pushes = Push.objects.filter(pk__in=on_scope.values("pk"), status__in=PAUSABLE)
    paused = []
    for push in pushes.select_for_update().order_by("pk"):
        push_pause(push=push, user=None)
        paused.append(push.pk)
    return paused


def _notify_email(rule: AlertRule, event: AlertEvent) -> str:
    subject = _("【预警】%(rule)s") % {"rule": rule.name}
    send_mail(subject, event.message, None, _split(rule.email_to), fail_silently=False)
    return "sent"


def _notify_wecom(rule: AlertRule, event: AlertEvent) -> str:
    account = rule.wecom_account
    if account is None or account.kind != ChannelKind.WECOM:
        return "error: " + _("未设置企业微信账号")
    if not account.options.get("agent_id"):  # no app to send from
        return "error: " + _("该企业微信账号未配置应用 agent_id")
    answer = adapters.adapter_for(account).send_app_message(_split(rule.wecom_userids),
                                                           event.message)  # fmt: skip
    invalid = answer.get("invaliduser")
    return "sent" + (f" (invalid: {invalid})" if invalid else "")


def _notify(rule: AlertRule, event: AlertEvent) -> dict:
    """Each channel's outcome; a failure is recorded, never raised: the alert stands."""
    outcomes = {}
    if rule.notify_console:
        outcomes["console"] = "shown"
    senders = (("email", rule.notify_email, _notify_email),
               ("wecom", rule.notify_wecom, _notify_wecom))  # fmt: skip
    for name, wanted, sender in senders:
        if not wanted:
            continue
        try:
            outcomes[name] = sender(rule, event)
        except Exception as exc:  # whatever a notifier raises is only recorded
            logger.warning("alert %s: %s notification failed", event.pk, name, exc_info=True)
            outcomes[name] = f"error: {exc}"[:500]
    return outcomes


def _fire(rule, account, account_ids, periods, value, baseline) -> AlertEvent | None:
    """Record the firing once per rule, scope and window (a re-evaluation finds the key) and
    pause in the same transaction; notify after it commits."""
    key = f"{rule.pk}:{account.pk if account else 'all'}:{periods.end.isoformat()}"
    with transaction.atomic():
        event, created = AlertEvent.objects.get_or_create(
            key=key,
            defaults={
                "rule": rule, "channel_account": account, "window_start": periods.start,
                "window_end": periods.end, "value": Decimal(f"{value:.6f}"),
                "baseline": Decimal(f"{baseline:.6f}"),
                "message": _message(rule, account, periods, value, baseline),
            },
        )  # fmt: skip
        if not created:
            return None
        if rule.pause_pushes:
            event.paused_pushes = _pause(account, account_ids)
            event.save(update_fields=["paused_pushes"])
    event.notifications = _notify(rule, event)
    event.save(update_fields=["notifications"])
    return event


def alert_rule_evaluate(*, rule: AlertRule, today: date) -> list[AlertEvent]:
    """One rule over the window ending yesterday: the events it fired now (none for a window
    it already fired for)."""
    periods = rule_periods(rule, today)
    fired = []
    for account, account_ids in _scopes(rule, periods):
        totals = channel_totals(start=periods.start, end=periods.end, account_ids=account_ids)
        value = _as_float(kpi_value(rule.metric, totals))
        baseline = rule_baseline(rule, periods, account_ids)
        if rule_fires(rule, value, baseline):
            event = _fire(rule, account, account_ids, periods, value, baseline)
            if event is not None:
                fired.append(event)
    rule.last_evaluated_at = timezone.now()
    rule.save(update_fields=["last_evaluated_at"])
    return fired


def alerts_evaluate(*, today: date | None = None, rules=None) -> list[AlertEvent]:
    """Evaluate the enabled rules (or the `rules` given) as of `today` (the window ends the
    day before); the events fired. Run after the nightly rollups; re-running is harmless."""
    today = today or timezone.localdate()
    if rules is None:
        rules = AlertRule.objects.filter(enabled=True).select_related("wecom_account")
    fired = []
    for rule in rules:
        if rule.metric not in KPIS:  # a KPI since removed: nothing to compute
            logger.warning("alert rule %s: unknown metric %r", rule.pk, rule.metric)
            continue
        fired.extend(alert_rule_evaluate(rule=rule, today=today))
    return fired


# --- handling an alert ---------------------------------------------------------------------


@transaction.atomic
def alert_resume_pushes(*, event: AlertEvent, user) -> list[Push]:
    """Un-pause the pushes this alert paused that are still paused (not those paused or
    cancelled since by someone else); the pushes resumed."""
    event = AlertEvent.objects.select_for_update().get(pk=event.pk)
    if event.resumed_at is not None:
        raise ValidationError(_("这条预警暂停的推送已经恢复过"))
    if not event.paused_pushes:
        raise ValidationError(_("这条预警没有暂停推送"))
    resumed = []
    pushes = Push.objects.filter(pk__in=event.paused_pushes, status=PushStatus.PAUSED)
    for push in pushes.select_for_update().order_by("pk"):
        resumed.append(push_resume(push=push, user=user))
    event.resumed_at, event.resumed_by = timezone.now(), user
    event.save(update_fields=["resumed_at", "resumed_by"])
    audit_record(
        action="alert.resume_pushes",
        summary=_("从预警恢复 %(n)s 个推送") % {"n": len(resumed)},
        actor=user,
        obj=event,
        details={"pushes": [p.pk for p in resumed]},
    )
    return resumed


def _status_change(event: AlertEvent, status: str, user, allowed: tuple) -> AlertEvent:
    if event.status not in allowed:
        raise ValidationError(_("这条预警已经是“%(s)s”") % {"s": event.get_status_display()})
    event.status = status
    fields = ["status"]
    if status == AlertStatus.RESOLVED:
        event.resolved_at = timezone.now()
        fields.append("resolved_at")
    event.save(update_fields=fields)
    audit_record(
        action=f"alert.{status}",
        summary=_("预警 #%(id)s 标记为%(s)s") % {"id": event.pk, "s": event.get_status_display()},
        actor=user,
        obj=event,
    )
    return event


def alert_acknowledge(*, event: AlertEvent, user) -> AlertEvent:
    """Someone has seen it: it leaves the console's open count."""
    return _status_change(event, AlertStatus.ACKNOWLEDGED, user, (AlertStatus.OPEN,))


def alert_resolve(*, event: AlertEvent, user) -> AlertEvent:
    """Dealt with (the pushes stay as they are: resuming is its own action)."""
    return _status_change(
        event, AlertStatus.RESOLVED, user, (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
    )
