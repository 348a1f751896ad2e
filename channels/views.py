"""Console: channel accounts (settings, health, syncs, callbacks), live codes, OA QR codes,
OA auto replies, and the WeCom staff and group chats they use."""

from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from channels.adapters import PlatformError
from channels.callbacks import callback_replay as replay
from channels.choices import CallbackStatus, ChannelKind, HitKind, ReplyKind, SyncKind
from channels.fields import masked
from channels.forms import (
    WEEKDAYS,
    AutoReplyForm,
    ChannelAccountForm,
    LiveCodeForm,
    QrCodeForm,
)
from channels.livecodes import live_code_create, live_code_stats
from channels.models import (
    AutoReply,
    CallbackLog,
    ChannelAccount,
    CodeHit,
    GroupChat,
    LiveCode,
    LiveCodeStaff,
    QrCode,
    Staff,
)
from channels.qrcodes import qr_code_create, qr_code_stats
from channels.services import (
    SECRET_FIELDS,
    account_sync_request,
    auto_reply_save,
    callback_url,
    channel_account_create,
    channel_account_update,
    sync_kinds,
)
from common.charts import figure
from common.forms import errors_to_form
from common.permissions import require_perms

PAGE = 25
SERIES_COLORS = {"scans": "#adb5bd", "adds": "#2b7de9", "deletes": "#dc3545"}


def _count(queryset, field: str):
    """A per-row count as a subquery (no join fan-out across several counted relations)."""
    rows = queryset.filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(Subquery(rows.annotate(n=Count("*")).values("n")[:1]), 0,
                    output_field=IntegerField())  # fmt: skip


def _page(request, queryset, size: int = PAGE):
    return Paginator(queryset, size).get_page(request.GET.get("page"))


def _today_start():
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


# --- accounts ------------------------------------------------------------------------------


@login_required
@permission_required("channels.view_channelaccount", raise_exception=True)
def channel_index(request):
    """Every account with its health: token, last sync and error, live codes and staff."""
    accounts = ChannelAccount.objects.annotate(
        live_code_count=_count(LiveCode.objects, "account"),
        staff_count=_count(Staff.objects.filter(active=True), "account"),
    ).order_by("kind", "code")
    return render(request, "channels/index.html", {"accounts": accounts, "tab": "accounts"})


@login_required
def account_edit(request, pk: int | None = None):
    """Create an account or change its settings (secrets are write-only)."""
    account = get_object_or_404(ChannelAccount, pk=pk) if pk else None
    require_perms(request, f"channels.{'change' if account else 'add'}_channelaccount")
    form = ChannelAccountForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        fields = {**form.cleaned_data, "require_callback": True}
        try:
            if account:
                account = channel_account_update(account=account, **fields)
            else:
                account = channel_account_create(**fields)
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            messages.success(request, _("已保存渠道账号 %(n)s") % {"n": account.name})
            return redirect("channels:account", pk=account.pk)
    if account and form.errors:
        account.refresh_from_db()  # the page title shows what is stored, not the bad input
    status = 400 if form.errors else 200
    context = {"form": form, "account": account, "tab": "accounts"}
    return render(request, "channels/account_form.html", context, status=status)


def _sync_kind_choices(account: ChannelAccount) -> list[tuple[str, str]]:
    labels = dict(SyncKind.choices)
    return [(kind, labels.get(kind, kind)) for kind in sync_kinds(account)]


def _with_durations(page):
    """Each finished run's duration, as “0.8 秒” or “3 分 12 秒”."""
    for run in page.object_list:
        run.duration = ""
        if run.finished_at:
            seconds = (run.finished_at - run.started_at).total_seconds()
            minutes, rest = divmod(round(seconds), 60)
            run.duration = (
                _("%(m)s 分 %(s)s 秒") % {"m": minutes, "s": rest}
                if minutes
                else _("%(s)s 秒") % {"s": f"{seconds:.1f}"}
            )
    return page


@login_required
@permission_required("channels.view_channelaccount", raise_exception=True)
def account_detail(request, pk: int):
    """An account's health, callback URL, sync history and recent callbacks."""
    account = get_object_or_404(ChannelAccount, pk=pk)
    callback_status = request.GET.get("callbacks", "")
    callbacks = account.callbacks.all()
    if callback_status in CallbackStatus.values:
        callbacks = callbacks.filter(status=callback_status)
    context = {
        "account": account,
        "tab": "accounts",
        "callback_url": callback_url(account),
        "secrets": [
            (ChannelAccount._meta.get_field(name).verbose_name, masked(getattr(account, name)))
            for name in SECRET_FIELDS
        ],
        "sync_kinds": _sync_kind_choices(account),
        "runs": _with_durations(_page(request, account.sync_runs.all(), 20)),
        "callbacks": callbacks[:20],
        "callback_status": callback_status,
        "callback_statuses": CallbackStatus.choices,
        "failed_callbacks": account.callbacks.filter(status=CallbackStatus.FAILED).count(),
    }
    return render(request, "channels/account_detail.html", context)


@login_required
@require_POST
def account_sync(request, pk: int):
    """“立即同步”: queue one sync of the account; the history shows it when it runs."""
    require_perms(request, "channels.add_syncrun")
    account = get_object_or_404(ChannelAccount, pk=pk)
    kind = request.POST.get("kind", "")
    try:
        account_sync_request(account=account, kind=kind, full=bool(request.POST.get("full")))
    except ValidationError as exc:
        messages.error(request, "；".join(exc.messages))
    else:
        label = dict(SyncKind.choices).get(kind, kind)
        messages.success(request, _("已开始同步%(kind)s，稍后刷新查看结果") % {"kind": label})
    return redirect("channels:account", pk=account.pk)


@login_required
@require_POST
def callback_replay(request, pk: int):
    """Process a failed callback again (its handler is idempotent)."""
    require_perms(request, "channels.change_callbacklog")
    log = get_object_or_404(CallbackLog.objects.select_related("account"), pk=pk)
    if log.status != CallbackStatus.FAILED:
        messages.error(request, _("只有处理失败的回调可以重放"))
    else:
        replay(log)
        log.refresh_from_db()
        if log.status == CallbackStatus.FAILED:
            messages.error(request, _("重放后仍然失败：%(e)s") % {"e": log.error[:200]})
        else:
            messages.success(request, _("已重放回调 #%(id)s") % {"id": log.pk})
    return redirect("channels:account", pk=log.account_id)


# --- live codes ----------------------------------------------------------------------------


def _with_stats(codes, stats) -> list:
    """The page's codes, each with its totals (no per-day or per-staff detail)."""
    codes = list(codes)
    for code in codes:
        code.stats = stats(code, detail=False)
    return codes


@login_required
@permission_required("channels.view_livecode", raise_exception=True)
def live_code_list(request):
    """Live codes with their adds, net adds and 7-day keep."""
    search = request.GET.get("q", "").strip()
    codes = LiveCode.objects.select_related("account").prefetch_related(
        Prefetch("seats", LiveCodeStaff.objects.select_related("staff")), "groups"
    )
    if search:
        codes = codes.filter(Q(name__icontains=search) | Q(state__icontains=search))
    page = _page(request, codes)
    context = {
        "page": page,
        "codes": _with_stats(page.object_list, live_code_stats),
        "search": search,
        "has_wecom": ChannelAccount.objects.filter(kind=ChannelKind.WECOM).exists(),
        "tab": "livecodes",
    }
    return render(request, "channels/live_codes.html", context)


@login_required
def live_code_new(request):
    """Create a live code: WeCom makes its “contact me” code, we keep the rules."""
    require_perms(request, "channels.add_livecode")
    form = LiveCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            code = live_code_create(
                account=data["account"], name=data["name"], staff=data["seats"],
                strategy=data["strategy"], tags=list(data["tags"]),
                welcome_text=data["welcome_text"], schedule=data["schedule"], kind=data["kind"],
                groups=data["groups"], skip_verify=data["skip_verify"], user=request.user,
            )  # fmt: skip
        except ValidationError as exc:
            errors_to_form(form, exc, {"schedule": "end"})
        except PlatformError as exc:
            form.add_error(None, _("企业微信返回错误：%(e)s") % {"e": exc})
        else:
            messages.success(request, _("已创建活码 %(n)s") % {"n": code.name})
            return redirect("channels:live_code", pk=code.pk)
    status = 400 if form.errors else 200
    context = {"form": form, "tab": "livecodes"}
    return render(request, "channels/live_code_form.html", context, status=status)


def _series_chart(series: list[dict], labels: dict) -> dict | None:
    """The stats' daily series (last 30 days) as lines: scans, adds and losses."""
    if not any(day[key] for day in series for key in labels):
        return None
    days = [day["date"] for day in series]
    traces = [
        {"type": "scatter", "mode": "lines+markers", "name": str(label), "x": days,
         "y": [day[key] for day in series], "line": {"color": SERIES_COLORS[key]}}
        for key, label in labels.items()
    ]  # fmt: skip
    peak = max(day[key] for day in series for key in labels)
    return figure(
        traces, yaxis_title=_("人数"), xaxis_type="date", xaxis_tickformat="%m-%d",
        yaxis_rangemode="tozero", yaxis_dtick=1 if peak <= 5 else None,
    )  # fmt: skip


def _schedule_label(schedule: dict) -> str:
    """“周一、周二 09:00–18:00”, “每天 09:00–18:00” or “全天”."""
    if not schedule:
        return _("全天")
    days = [str(label) for number, label in WEEKDAYS if number in schedule.get("days", [])]
    hours = f"{schedule['start']}–{schedule['end']}" if schedule.get("start") else _("全天")
    return f"{'、'.join(days) or _('每天')} {hours}"


@login_required
@permission_required("channels.view_livecode", raise_exception=True)
def live_code_detail(request, pk: int):
    """A live code: its QR image, stats, who serves it and how they fare, recent hits."""
    code = get_object_or_404(LiveCode.objects.select_related("account", "created_by"), pk=pk)
    stats = live_code_stats(code)
    by_staff = {row["staff_id"]: row for row in stats["staff"]}
    today = dict(
        code.hits.filter(kind=HitKind.ADD, occurred_at__gte=_today_start())
        .order_by()
        .values_list("staff")
        .annotate(n=Count("id"))
    )
    seats = list(code.seats.select_related("staff"))
    for seat in seats:
        seat.stats = by_staff.get(seat.staff_id, {"adds": 0, "deletes": 0, "net": 0})
        seat.adds_today = today.get(seat.staff_id, 0)
    labels = {"scans": _("扫码"), "adds": _("添加"), "deletes": _("删除/流失")}
    context = {
        "code": code,
        "stats": stats,
        "seats": seats,
        "schedule": _schedule_label(code.schedule),
        "groups": code.groups.all(),
        "tags": code.tags.select_related("group"),
        "chart": _series_chart(stats["series"], labels),
        "hits": code.hits.select_related("staff", "customer")[:20],
        "tab": "livecodes",
    }
    return render(request, "channels/live_code_detail.html", context)


# --- OA QR codes ---------------------------------------------------------------------------


@login_required
@permission_required("channels.view_qrcode", raise_exception=True)
def qr_code_list(request):
    search = request.GET.get("q", "").strip()
    codes = QrCode.objects.select_related("account").prefetch_related("tags")
    if search:
        codes = codes.filter(Q(name__icontains=search) | Q(scene__icontains=search))
    page = _page(request, codes)
    context = {
        "page": page,
        "codes": _with_stats(page.object_list, qr_code_stats),
        "search": search,
        "has_oa": ChannelAccount.objects.filter(kind=ChannelKind.WECHAT_OA).exists(),
        "now": timezone.now(),
        "tab": "qrcodes",
    }
    return render(request, "channels/qr_codes.html", context)


@login_required
def qr_code_new(request):
    """Create an OA parametric QR code through the platform."""
    require_perms(request, "channels.add_qrcode")
    form = QrCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            qr = qr_code_create(
                account=data["account"], name=data["name"], scene=data["scene"],
                permanent=data["permanent"], expire_seconds=data["expire_seconds"],
                tags=list(data["tags"]), reply_text=data["reply_text"],
            )  # fmt: skip
        except ValidationError as exc:
            errors_to_form(form, exc, {"expire_seconds": "expire_days"})
        except PlatformError as exc:
            form.add_error(None, _("公众号返回错误：%(e)s") % {"e": exc})
        else:
            messages.success(request, _("已创建渠道二维码 %(n)s") % {"n": qr.name})
            return redirect("channels:qr_code", pk=qr.pk)
    status = 400 if form.errors else 200
    return render(
        request, "channels/qr_code_form.html", {"form": form, "tab": "qrcodes"}, status=status
    )


@login_required
@permission_required("channels.view_qrcode", raise_exception=True)
def qr_code_detail(request, pk: int):
    qr = get_object_or_404(QrCode.objects.select_related("account"), pk=pk)
    stats = qr_code_stats(qr)
    labels = {"scans": _("扫码"), "adds": _("扫码关注"), "deletes": _("取关")}
    context = {
        "qr": qr,
        "stats": stats,
        "tags": qr.tags.select_related("group"),
        "chart": _series_chart(stats["series"], labels),
        "hits": qr.hits.select_related("customer")[:20],
        "now": timezone.now(),
        "tab": "qrcodes",
    }
    return render(request, "channels/qr_code_detail.html", context)


# --- OA auto replies -----------------------------------------------------------------------


@login_required
@permission_required("channels.view_autoreply", raise_exception=True)
def auto_reply_list(request):
    """Each OA account's replies, by kind (follow, keywords, fallback)."""
    replies = AutoReply.objects.prefetch_related("tags")
    accounts = ChannelAccount.objects.filter(kind=ChannelKind.WECHAT_OA).prefetch_related(
        Prefetch("auto_replies", replies, to_attr="reply_list")
    )
    sections = [
        {
            "account": account,
            "kinds": [
                (kind, label, [r for r in account.reply_list if r.kind == kind])
                for kind, label in ReplyKind.choices
            ],
        }
        for account in accounts
    ]
    context = {"sections": sections, "tab": "replies"}
    return render(request, "channels/auto_replies.html", context)


@login_required
def auto_reply_edit(request, pk: int | None = None):
    """Create, change or delete an auto reply."""
    reply = get_object_or_404(AutoReply, pk=pk) if pk else None
    require_perms(request, "channels.change_autoreply" if reply else "channels.add_autoreply")
    initial = {key: request.GET[key] for key in ("kind", "account") if request.GET.get(key)}
    form = AutoReplyForm(request.POST or None, instance=reply, initial=initial)
    if request.method == "POST":
        if "delete" in request.POST and reply:
            require_perms(request, "channels.delete_autoreply")
            reply.delete()
            messages.success(request, _("已删除自动回复"))
            return redirect("channels:auto_replies")
        if form.is_valid():
            try:
                auto_reply_save(**form.cleaned_data, reply=reply)
            except ValidationError as exc:
                errors_to_form(form, exc)
            else:
                messages.success(request, _("已保存自动回复"))
                return redirect("channels:auto_replies")
    status = 400 if form.errors else 200
    context = {"form": form, "reply": reply, "tab": "replies"}
    return render(request, "channels/auto_reply_form.html", context, status=status)


# --- WeCom staff and group chats -----------------------------------------------------------


@login_required
@permission_required("channels.view_staff", raise_exception=True)
def staff_list(request):
    """Staff synced from WeCom, with their live codes and today's adds."""
    search = request.GET.get("q", "").strip()
    today = CodeHit.objects.filter(kind=HitKind.ADD, occurred_at__gte=_today_start())
    staff = (
        Staff.objects.select_related("account")
        .prefetch_related("live_codes")
        .annotate(adds_today=_count(today, "staff"))
    )
    if search:
        staff = staff.filter(Q(name__icontains=search) | Q(userid__icontains=search))
    context = {"page": _page(request, staff, 50), "search": search, "tab": "staff"}
    return render(request, "channels/staff.html", context)


@login_required
@permission_required("channels.view_groupchat", raise_exception=True)
def group_chat_list(request):
    """Customer group chats synced from WeCom."""
    search = request.GET.get("q", "").strip()
    groups = GroupChat.objects.select_related("account").prefetch_related("live_codes")
    if search:
        groups = groups.filter(
            Q(name__icontains=search) | Q(chat_id__icontains=search) | Q(owner__icontains=search)
        )
    context = {"page": _page(request, groups, 50), "search": search, "tab": "groups"}
    return render(request, "channels/group_chats.html", context)
