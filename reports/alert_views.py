"""Console: alerts — the history of firings, one firing (acknowledge, resolve, resume the
pushes it paused), and the rules (list, form, evaluate now). Services: reports/alerts.py."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from campaigns.choices import PushStatus
from campaigns.models import Push
from channels.choices import ChannelKind
from common.forms import errors_to_form
from reports.alert_forms import AlertFilterForm, AlertRuleForm
from reports.alerts import (
    alert_acknowledge,
    alert_resolve,
    alert_resume_pushes,
    alert_rule_evaluate,
    alert_rule_save,
    shown,
)
from reports.metrics import KPIS
from reports.models import AlertEvent, AlertRule

PAGE_SIZE = 50
KINDS = dict(ChannelKind.choices)
ACTIONS = {"acknowledge": alert_acknowledge, "resolve": alert_resolve,
           "resume": alert_resume_pushes}  # fmt: skip


def _with_numbers(event: AlertEvent) -> AlertEvent:
    """The event's value and baseline as people read them (percent KPIs in percent)."""
    kpi = KPIS.get(event.rule.metric)
    event.value_shown = shown(kpi, event.value) if kpi else event.value
    event.baseline_shown = shown(kpi, event.baseline) if kpi else event.baseline
    event.kpi_label = kpi.label if kpi else event.rule.metric
    return event


@login_required
@permission_required("reports.view_alertevent", raise_exception=True)
def alert_list(request):
    """The history of firings, newest first, filtered by status and rule."""
    form = AlertFilterForm(request.GET or None)
    events = AlertEvent.objects.select_related("rule", "channel_account")
    if form.is_valid():
        if form.cleaned_data["status"]:
            events = events.filter(status=form.cleaned_data["status"])
        if form.cleaned_data["rule"]:
            events = events.filter(rule=form.cleaned_data["rule"])
    filtered = form.is_bound and form.is_valid() and any(form.cleaned_data.values())
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    for event in page.object_list:
        _with_numbers(event)
    context = {"tab": "alerts", "form": form, "page_obj": page, "events": page.object_list,
               "filtered": filtered}  # fmt: skip
    return render(request, "reports/alerts.html", context)


@login_required
@permission_required("reports.view_alertevent", raise_exception=True)
def alert_detail(request, pk: int):
    """One firing: its numbers and message, the pushes it paused, how people were told."""
    event = get_object_or_404(
        AlertEvent.objects.select_related("rule", "channel_account", "resumed_by"), pk=pk
    )
    _with_numbers(event)
    pushes = Push.objects.in_bulk(event.paused_pushes)
    # a deleted push is still listed, by its id
    paused = [{"pk": push_id, "push": pushes.get(push_id)} for push_id in event.paused_pushes]
    still_paused = any(p["push"] and p["push"].status == PushStatus.PAUSED for p in paused)
    context = {"tab": "alerts", "event": event, "paused": paused, "still_paused": still_paused}
    return render(request, "reports/alert_detail.html", context)


@login_required
@require_POST
@permission_required("reports.change_alertevent", raise_exception=True)
def alert_action(request, pk: int, action: str):
    """Acknowledge, resolve, or resume the pushes the alert paused (which needs the right to
    change pushes too)."""
    if action not in ACTIONS:
        raise Http404
    if action == "resume" and not request.user.has_perm("campaigns.change_push"):
        raise PermissionDenied
    event = get_object_or_404(AlertEvent, pk=pk)
    try:
        result = ACTIONS[action](event=event, user=request.user)
    except ValidationError as exc:
        messages.error(request, "；".join(exc.messages))
    else:
        if action == "resume":
            messages.success(request, _("已恢复 %(n)s 个推送") % {"n": len(result)})
        else:
            messages.success(request, _("预警已标记为%(s)s") % {"s": result.get_status_display()})
    return redirect("reports:alert", pk=event.pk)


@login_required
@permission_required("reports.view_alertrule", raise_exception=True)
def rule_list(request):
    """The rules with how often each fired and when it last ran."""
    rules = AlertRule.objects.select_related("wecom_account").annotate(
        fired=Count("events"), last_fired=Max("events__fired_at")
    )
    for rule in rules:
        kpi = KPIS.get(rule.metric)
        rule.kpi_label = kpi.label if kpi else rule.metric
        rule.kind_label = KINDS.get(rule.channel_kind, rule.channel_kind)
    return render(request, "reports/alert_rules.html", {"tab": "alerts", "rules": rules})


@login_required
def rule_edit(request, pk: int | None = None):
    """Create or change a rule; the service's errors are shown on the form."""
    rule = get_object_or_404(AlertRule, pk=pk) if pk else AlertRule()
    perm = "reports.change_alertrule" if pk else "reports.add_alertrule"
    if not request.user.has_perm(perm):
        raise PermissionDenied
    form = AlertRuleForm(request.POST or None, rule=rule)
    if request.method == "POST" and form.is_valid():
        try:
            rule = alert_rule_save(rule=rule, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            messages.success(request, _("预警规则已保存"))
            return redirect("reports:alert_rules")
    return render(request, "reports/alert_rule_form.html", {"tab": "alerts", "form": form,
                                                             "rule": rule})  # fmt: skip


@login_required
@require_POST
@permission_required("reports.change_alertrule", raise_exception=True)
def rule_evaluate(request, pk: int):
    """Evaluate one rule now (the window ending yesterday), even a disabled one."""
    rule = get_object_or_404(AlertRule.objects.select_related("wecom_account"), pk=pk)
    if rule.metric not in KPIS:
        messages.error(request, _("规则的指标已不存在，请修改规则"))
        return redirect("reports:alert_rules")
    fired = alert_rule_evaluate(rule=rule, today=timezone.localdate())
    messages.success(
        request,
        ngettext("评估完成：触发 %(n)s 条预警", "评估完成：触发 %(n)s 条预警", len(fired))
        % {"n": len(fired)},
    )
    return redirect("reports:alert_rules")
