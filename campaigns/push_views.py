"""Console: pushes — the list, the form, the confirmation before launch (reach per channel,
every skip reason, approval), and a run's live progress with its deliveries."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.choices import DeliveryStatus, PushStatus, RunStatus, SkipReason
from campaigns.delivery import push_estimate
from campaigns.models import Delivery, MessagingSettings, Push, PushRun
from campaigns.push_forms import PushForm
from campaigns.pushes import (
    EDITABLE,
    LAUNCHABLE,
    ab_decide_at,
    ab_pick_winner,
    ab_result,
    push_approve,
    push_cancel,
    push_launch,
    push_pause,
    push_resume,
    push_save,
    push_sync_status,
    run_progress,
)
from channels.models import ChannelAccount
from common.forms import errors_to_form
from common.permissions import require_perms

DELIVERIES_PAGE = 50
FAILED_ROWS = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN)
ACTIONS = {"pause": push_pause, "resume": push_resume, "cancel": push_cancel}


def _error_message(request, exc: ValidationError) -> None:
    messages.error(request, "；".join(exc.messages))


@login_required
@permission_required("campaigns.view_push", raise_exception=True)
def push_list(request):
    """Pushes with their status and the progress of their latest run."""
    latest = PushRun.objects.filter(push=OuterRef("pk")).order_by("-started_at", "-id")
    pushes = Push.objects.select_related("audience", "created_by").annotate(
        latest_run_id=Subquery(latest.values("id")[:1])
    )
    status = request.GET.get("status", "")
    if status in PushStatus.values:
        pushes = pushes.filter(status=status)
    page = Paginator(pushes.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    runs = PushRun.objects.in_bulk([p.latest_run_id for p in page.object_list if p.latest_run_id])
    counts: dict = {}
    for row in (
        Delivery.objects.filter(run__in=list(runs))
        .values("run", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts.setdefault(row["run"], {})[row["status"]] = row["n"]
    for push in page.object_list:
        push.latest_run = runs.get(push.latest_run_id)
        if push.latest_run:
            push.progress = _percent(counts.get(push.latest_run.pk, {}))
    context = {"page_obj": page, "pushes": page.object_list, "status": status,
               "statuses": PushStatus.choices}  # fmt: skip
    return render(request, "campaigns/pushes/list.html", context)


def _percent(by_status: dict) -> int:
    total = sum(by_status.values())
    open_rows = sum(
        by_status.get(s, 0)
        for s in (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING)
    )
    return round((total - open_rows) * 100 / total) if total else 100


def _channel_rows(form, push: Push | None) -> list[tuple]:
    """(account, checked) in the order on screen: the chosen ones first, in their order."""
    accounts = list(form.fields["channels"].queryset.order_by("kind", "code"))
    if form.is_bound:
        chosen = [int(v) for v in form.data.getlist("channels") if v.isdigit()]
    else:
        chosen = [int(v) for v in form.initial.get("channels", [])]
    by_pk = {a.pk: a for a in accounts}
    first = [(by_pk[pk], True) for pk in dict.fromkeys(chosen) if pk in by_pk]
    return first + [(a, False) for a in accounts if a.pk not in chosen]


@login_required
def push_edit(request, pk: int | None = None):
    """Create or change a draft push; saving leads to the confirmation page."""
    push = get_object_or_404(Push, pk=pk) if pk else None
    require_perms(request, "campaigns.change_push" if push else "campaigns.add_push")
    if push is not None and push.status not in EDITABLE:
        messages.error(request, _("只有草稿或待审批的推送可以修改"))
        return redirect("pushes:detail", pk=push.pk)
    initial = PushForm.initial_for(push) if push else None
    form = PushForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            push = push_save(**form.service_kwargs(), push=push, actor=request.user)
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            messages.success(request, _("已保存推送 %(n)s，请确认后启动") % {"n": push.name})
            return redirect("pushes:detail", pk=push.pk)
    context = {"form": form, "push": push, "channel_rows": _channel_rows(form, push)}
    return render(
        request, "campaigns/pushes/form.html", context, status=400 if form.errors else 200
    )


@login_required
@permission_required("campaigns.view_push", raise_exception=True)
def push_detail(request, pk: int):
    """The confirmation before launch (reach per channel, every skip reason, approval), and
    the runs once launched."""
    push = get_object_or_404(
        Push.objects.select_related("audience", "content", "created_by", "approved_by"), pk=pk
    )
    channels = list(push.channels.select_related("channel_account").order_by("position"))
    runs = push.runs.annotate(
        sent=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SENT)),
        skipped=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SKIPPED)),
        failed=Count("deliveries", filter=Q(deliveries__status__in=FAILED_ROWS)),
    )[:20]
    context = {"push": push, "channels": channels, "runs": runs,
               "variants": list(push.variants.select_related("content"))}  # fmt: skip
    if push.status in LAUNCHABLE:
        estimate = push_estimate(push=push)
        reach = sum(estimate["by_channel"].values())
        threshold = MessagingSettings.load().approval_threshold
        context.update(
            estimate=estimate,
            reach=reach,
            reach_rows=[(c.channel_account, estimate["by_channel"].get(c.channel_account_id, 0))
                        for c in channels],
            skip_rows=[(SkipReason(r).label, n) for r, n in sorted(estimate["skips"].items())],
            skipped=sum(estimate["skips"].values()),
            threshold=threshold,
            needs_approval=reach > threshold and push.approved_by_id is None,
            can_approve=request.user.has_perm("campaigns.change_push")
            and request.user.pk != push.created_by_id,
        )  # fmt: skip
    if context["variants"] and push.runs.exists():
        context["ab"] = ab_result(push)
        if not any(v.winner for v in context["variants"]):
            context["ab_decide_at"] = ab_decide_at(push)
    return render(request, "campaigns/pushes/detail.html", context)


@login_required
@require_POST
def push_approve_view(request, pk: int):
    push = get_object_or_404(Push, pk=pk)
    try:
        push_approve(push=push, user=request.user)
    except ValidationError as exc:
        _error_message(request, exc)
    else:
        messages.success(request, _("已审批，可以启动发送"))
    return redirect("pushes:detail", pk=push.pk)


@login_required
@require_POST
@permission_required("campaigns.change_push", raise_exception=True)
def push_launch_view(request, pk: int):
    push = get_object_or_404(Push, pk=pk)
    try:
        run = push_launch(push=push, user=request.user)
    except ValidationError as exc:
        _error_message(request, exc)
        return redirect("pushes:detail", pk=push.pk)
    if run is not None:
        return redirect("pushes:run", pk=run.pk)
    messages.success(request, _("已排期：到时间自动发送"))
    return redirect("pushes:detail", pk=push.pk)


@login_required
@require_POST
@permission_required("campaigns.change_push", raise_exception=True)
def push_action(request, pk: int, action: str):
    """Pause, resume or cancel; back to the page the button was on."""
    if action not in ACTIONS:
        raise Http404
    push = get_object_or_404(Push, pk=pk)
    try:
        ACTIONS[action](push=push, user=request.user)
    except ValidationError as exc:
        _error_message(request, exc)
    run_id = request.POST.get("run", "")
    if run_id.isdigit() and push.runs.filter(pk=int(run_id)).exists():
        return redirect("pushes:run", pk=int(run_id))
    return redirect("pushes:detail", pk=push.pk)


@login_required
@require_POST
@permission_required("campaigns.change_push", raise_exception=True)
def push_winner(request, pk: int):
    push = get_object_or_404(Push, pk=pk)
    variant = push.variants.filter(pk=request.POST.get("variant") or 0).first()
    try:
        ab_pick_winner(push=push, variant=variant, send_rest=True, user=request.user)
    except ValidationError as exc:
        _error_message(request, exc)
    return redirect("pushes:detail", pk=push.pk)


@login_required
@permission_required("campaigns.view_push", raise_exception=True)
def run_detail(request, pk: int):
    """One run: the live progress bar and the deliveries, filtered by status and channel."""
    run = get_object_or_404(PushRun.objects.select_related("push"), pk=pk)
    deliveries = run.deliveries.select_related("customer", "channel_account", "variant")
    status, channel = request.GET.get("status", ""), request.GET.get("channel", "")
    if status in DeliveryStatus.values:
        deliveries = deliveries.filter(status=status)
    if channel.isdigit():
        deliveries = deliveries.filter(channel_account_id=int(channel))
    page = Paginator(deliveries.order_by("id"), DELIVERIES_PAGE).get_page(request.GET.get("page"))
    used = run.push.channels.values_list("channel_account", flat=True)
    context = {
        **_progress_context(run),
        "push": run.push,
        "has_variants": run.push.variants.exists(),
        "page_obj": page,
        "deliveries": page.object_list,
        "status": status,
        "channel": channel,
        "statuses": DeliveryStatus.choices,
        "accounts": ChannelAccount.objects.filter(pk__in=used).order_by("kind", "code"),
    }
    return render(request, "campaigns/pushes/run.html", context)


@login_required
@permission_required("campaigns.view_push", raise_exception=True)
def run_progress_view(request, pk: int):
    """htmx: the progress bar, polled while the run is open."""
    run = get_object_or_404(PushRun.objects.select_related("push"), pk=pk)
    return render(request, "campaigns/pushes/_progress.html", _progress_context(run))


def _progress_context(run: PushRun) -> dict:
    progress = run_progress(run)
    push_sync_status(push=run.push)
    return {
        "run": run,
        "progress": progress,
        "polling": run.status in (RunStatus.MATERIALISING, RunStatus.SENDING),
        "status_rows": [
            (value, label, progress["by_status"][value])
            for value, label in DeliveryStatus.choices
            if progress["by_status"].get(value)
        ],
        "skip_rows": [(SkipReason(r).label if r in SkipReason.values else r, n)
                      for r, n in sorted(progress["skips"].items())],
    }  # fmt: skip
