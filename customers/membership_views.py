"""Console: the points dashboard, membership rules, the reward catalogue and redemptions,
and the member card's actions (redeem an item, adjust points) on the customer profile."""

import csv
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import ProtectedError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from common.charts import figure
from common.permissions import require_perms
from customers.choices import PointsKind, RedemptionStatus
from customers.forms import (
    MembershipSettingsForm,
    MemberTierForm,
    PointsAdjustForm,
    PointsEarnRuleForm,
    PointsEventRuleForm,
    PointsPromotionForm,
    RedeemForm,
    RedemptionCancelForm,
    RewardItemForm,
)
from customers.membership import (
    RedemptionRefused,
    redemption_cancel,
    redemption_create,
    redemption_fulfil,
    tier_progress,
)
from customers.models import (
    Customer,
    MembershipSettings,
    MemberTier,
    PointsEarnRule,
    PointsEventRule,
    PointsPromotion,
    Redemption,
    RewardItem,
)
from customers.points import PointsShort, points_adjust
from customers.selectors import points_flow, points_liability, reward_ranking, tier_distribution

LEDGER_PAGE = 50
KIND_COLORS = {
    PointsKind.EARN: "#198754",
    PointsKind.REDEEM: "#0d6efd",
    PointsKind.EXPIRE: "#adb5bd",
    PointsKind.REVERSE: "#dc3545",
    PointsKind.ADJUST: "#fd7e14",
}

# what the rules page edits: kind in the URL → model, form, title
EDITABLE = {
    "tier": (MemberTier, MemberTierForm, gettext_lazy("会员等级")),
    "earn-rule": (PointsEarnRule, PointsEarnRuleForm, gettext_lazy("消费积分规则")),
    "event-rule": (PointsEventRule, PointsEventRuleForm, gettext_lazy("行为积分规则")),
    "promotion": (PointsPromotion, PointsPromotionForm, gettext_lazy("积分倍率活动")),
    "reward": (RewardItem, RewardItemForm, gettext_lazy("兑换商品")),
}


def _perm(model, action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


# --- dashboard -----------------------------------------------------------------------------


def _period(request) -> tuple[date, date]:
    """The dashboard's date range from the URL (`from`, `to`), by default the last 12 months."""
    today = timezone.localdate()
    default_start = (today.replace(day=1) - timedelta(days=335)).replace(day=1)
    start = _date(request.GET.get("from")) or default_start
    end = _date(request.GET.get("to")) or today
    if end < start:
        start, end = end, start
    return start, end


def _date(text: str | None) -> date | None:
    try:
        return parse_date(text or "")
    except ValueError:  # well formed but impossible, like 2026-13-45
        return None


def _aware(day: date):
    return timezone.make_aware(datetime.combine(day, time.min))


@login_required
@permission_required("customers.view_pointsentry", raise_exception=True)
def points_dashboard(request):
    """Where points come from and go: by month, kind and channel, what is outstanding, and
    where members spend them."""
    from django.apps import apps

    accounts = {a.pk: a for a in apps.get_model("channels", "ChannelAccount").objects.all()}
    start, end = _period(request)
    code = request.GET.get("channel", "")
    channel = next((a for a in accounts.values() if a.code == code), None)
    rows = points_flow(
        start=_aware(start), end=_aware(end + timedelta(days=1)),
        channel_account_id=channel.pk if channel else None,
    )  # fmt: skip
    if request.GET.get("format") == "csv":
        return _flow_csv(rows, accounts)
    totals = {kind: Decimal(0) for kind in PointsKind.values}
    by_channel: dict = {}
    for row in rows:
        totals[row["kind"]] += row["points"]
        line = by_channel.setdefault(row["channel_account"], dict.fromkeys(PointsKind.values, 0))
        line[row["kind"]] += row["points"]
    spent = -totals[PointsKind.REDEEM]
    channel_rows = [
        {
            "account": accounts.get(pk),
            **{kind: abs(value) for kind, value in line.items()},
            "share": (-line[PointsKind.REDEEM] * 100 / spent) if spent else 0,
        }
        for pk, line in by_channel.items()
    ]
    channel_rows.sort(key=lambda r: (-r["share"], -r[PointsKind.EARN]))
    context = {
        "start": start,
        "end": end,
        "channel": code,
        "accounts": sorted(accounts.values(), key=lambda a: a.name),
        "totals": {kind: abs(value) for kind, value in totals.items()},
        "liability": points_liability(),
        "reminder_days": MembershipSettings.load().reminder_days,
        "channel_rows": channel_rows,
        "top_share": channel_rows[0] if channel_rows and spent else None,
        "rewards": reward_ranking(start=_aware(start), end=_aware(end + timedelta(days=1))),
        "tiers": tier_distribution(),
        "flow_chart": _flow_chart(rows),
        "channel_chart": _channel_chart(rows, accounts),
        "spend_chart": _spend_chart(channel_rows),
        "query": request.GET.urlencode(),
    }
    return render(request, "customers/membership/dashboard.html", context)


def _month(row) -> str:
    month = row["month"]
    return (timezone.localtime(month) if isinstance(month, datetime) else month).strftime("%Y-%m")


def _months(rows) -> list[str]:
    return sorted({_month(row) for row in rows})


def _flow_chart(rows) -> dict | None:
    if not rows:
        return None
    months = _months(rows)
    traces = []
    for kind, label in PointsKind.choices:
        sums = dict.fromkeys(months, 0.0)
        for row in rows:
            if row["kind"] == kind:
                sums[_month(row)] += float(row["points"])
        if any(sums.values()):
            bar = {"type": "bar", "name": str(label), "x": months, "y": list(sums.values())}
            traces.append({**bar, "marker": {"color": KIND_COLORS[kind]}})
    return figure(traces, barmode="relative", yaxis_title=_("积分"), xaxis_type="category")


def _channel_chart(rows, accounts) -> dict | None:
    earned = [r for r in rows if r["kind"] == PointsKind.EARN]
    if not earned:
        return None
    months = _months(earned)
    traces = []
    for pk in sorted({r["channel_account"] for r in earned}, key=lambda p: (p is None, p)):
        sums = dict.fromkeys(months, 0.0)
        for row in earned:
            if row["channel_account"] == pk:
                sums[_month(row)] += float(row["points"])
        name = accounts[pk].name if pk in accounts else _("未指定渠道")
        traces.append({"type": "bar", "name": name, "x": months, "y": list(sums.values())})
    return figure(traces, barmode="stack", yaxis_title=_("获得积分"), xaxis_type="category")


def _spend_chart(channel_rows) -> dict | None:
    spending = [r for r in channel_rows if r[PointsKind.REDEEM]]
    if not spending:
        return None
    pie = {
        "type": "pie",
        "hole": 0.5,
        "labels": [r["account"].name if r["account"] else _("未指定渠道") for r in spending],
        "values": [float(r[PointsKind.REDEEM]) for r in spending],
        "textinfo": "label+percent",
        "sort": False,
    }
    return figure([pie], showlegend=False)


def _flow_csv(rows, accounts) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="points-flow.csv"'
    response.write("\ufeff")  # Excel opens UTF-8 with a BOM
    writer = csv.writer(response)
    writer.writerow([_("月份"), _("类型"), _("渠道"), _("积分"), _("笔数")])
    labels = dict(PointsKind.choices)
    for row in rows:
        account = accounts.get(row["channel_account"])
        writer.writerow([_month(row), labels[row["kind"]], account.code if account else "",
                         row["points"], row["entries"]])  # fmt: skip
    return response


# --- rules and catalogue -------------------------------------------------------------------


@login_required
@permission_required("customers.view_membertier", raise_exception=True)
def membership_rules(request):
    """Expiry and tier settings, tiers, earning rules and promotions on one page."""
    settings = MembershipSettings.load()
    form = MembershipSettingsForm(request.POST or None, instance=settings)
    if request.method == "POST":
        require_perms(request, "customers.change_membershipsettings")
        if form.is_valid():
            form.save()
            messages.success(request, _("已保存会员设置；新的有效期规则只影响之后获得的积分"))
            return redirect("membership:rules")
    context = {
        "form": form,
        "tiers": MemberTier.objects.all(),
        "earn_rules": PointsEarnRule.objects.select_related("channel_account"),
        "event_rules": PointsEventRule.objects.select_related("channel_account"),
        "promotions": PointsPromotion.objects.select_related("channel_account"),
        "now": timezone.now(),
    }
    return render(
        request, "customers/membership/rules.html", context, status=400 if form.errors else 200
    )


@login_required
def membership_edit(request, kind: str, pk: int | None = None):
    """Create, edit or delete one tier, rule, promotion or reward item."""
    if kind not in EDITABLE:
        raise Http404
    model, form_class, title = EDITABLE[kind]
    obj = get_object_or_404(model, pk=pk) if pk else None
    require_perms(request, _perm(model, "change" if obj else "add"))
    back = reverse("membership:rewards" if kind == "reward" else "membership:rules")
    form = form_class(request.POST or None, instance=obj)
    if request.method == "POST":
        if "delete" in request.POST and obj:
            require_perms(request, _perm(model, "delete"))
            try:
                obj.delete()
            except ProtectedError:
                messages.error(
                    request, _("%(obj)s 已被使用，不能删除；可以停用或下架") % {"obj": obj}
                )
                return redirect(request.path)
            messages.success(request, _("已删除 %(obj)s") % {"obj": obj})
            return redirect(back)
        if form.is_valid():
            obj = form.save()
            messages.success(request, _("已保存 %(obj)s") % {"obj": obj})
            return redirect(back)
    context = {"form": form, "obj": obj, "title": title, "back": back}
    status = 400 if form.errors else 200
    return render(request, "customers/membership/edit.html", context, status=status)


@login_required
@permission_required("customers.view_rewarditem", raise_exception=True)
def rewards(request):
    """The reward catalogue and the redemptions to fulfil."""
    status = request.GET.get("status", "")
    redemptions = Redemption.objects.select_related("item", "customer", "channel_account")
    if status in RedemptionStatus.values:
        redemptions = redemptions.filter(status=status)
    page = Paginator(redemptions, LEDGER_PAGE).get_page(request.GET.get("page"))
    context = {
        "items": RewardItem.objects.prefetch_related("channel_accounts"),
        "page": page,
        "status": status,
        "statuses": RedemptionStatus.choices,
        "pending": Redemption.objects.filter(status=RedemptionStatus.PENDING).count(),
        "cancel_form": RedemptionCancelForm(),
    }
    return render(request, "customers/membership/rewards.html", context)


@login_required
@require_POST
def redemption_action(request, pk: int, action: str):
    """Fulfil or cancel a redemption (cancelling gives the points back)."""
    require_perms(request, "customers.change_redemption")
    redemption = get_object_or_404(Redemption, pk=pk)
    try:
        if action == "fulfil":
            redemption_fulfil(redemption=redemption, actor=request.user)
            messages.success(request, _("兑换 #%(id)s 已标记为已发放") % {"id": pk})
        else:
            redemption_cancel(
                redemption=redemption, reason=request.POST.get("reason", ""), actor=request.user
            )
            messages.success(request, _("兑换 #%(id)s 已取消，积分已退回") % {"id": pk})
    except ValidationError as exc:
        messages.error(request, "；".join(exc.messages))
    return redirect(request.POST.get("next") or "membership:rewards")


# --- the member card -----------------------------------------------------------------------


def member_card_context(customer: Customer, **forms) -> dict:
    """What the member card on the profile shows (also rendered again after an action)."""
    return {
        "customer": customer,
        "tier": tier_progress(customer),
        "points_entries": list(customer.points_entries.select_related("channel_account")[:10]),
        "redemptions": list(customer.redemptions.select_related("item")[:5]),
        "redeem_form": forms.get("redeem_form") or RedeemForm(prefix="redeem"),
        # one key per rendered form: a double click or a retried request redeems once
        "redeem_key": uuid.uuid4().hex,
        "adjust_form": forms.get("adjust_form") or PointsAdjustForm(prefix="adjust"),
    }


def _card(request, customer: Customer, status: int = 200, **forms):
    customer.refresh_from_db()
    context = {**member_card_context(customer, **forms), "flash": True}
    return render(request, "customers/membership/_member_card.html", context, status=status)


@login_required
@require_POST
def member_redeem(request, pk: int):
    """Redeem a reward item for the member, from the member card (htmx)."""
    require_perms(request, "customers.add_redemption")
    customer = get_object_or_404(Customer, pk=pk)
    form = RedeemForm(request.POST, prefix="redeem")
    if not form.is_valid():
        return _card(request, customer, 400, redeem_form=form)
    key = request.POST.get("redeem-key") or None
    try:
        made = redemption_create(
            customer=customer, item=form.cleaned_data["item"],
            channel_account=form.cleaned_data["channel_account"],
            idempotency_key=f"console:{key or uuid.uuid4().hex}",
            actor_label=request.user.get_username(),
        )  # fmt: skip
    except (PointsShort, RedemptionRefused) as exc:
        form.add_error(None, exc.messages[0])
        return _card(request, customer, 409, redeem_form=form)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error("channel_account" if field == "channel" else None, errors)
        return _card(request, customer, 400, redeem_form=form)
    messages.success(
        request,
        _("已兑换「%(item)s」，扣除 %(points)s 积分")
        % {"item": made.redemption.item.name, "points": f"{made.redemption.points.normalize():f}"},
    )
    return _card(request, customer)


@login_required
@require_POST
def member_adjust(request, pk: int):
    """A staff adjustment with a reason (audit logged), from the member card (htmx)."""
    require_perms(request, "customers.add_pointsentry")
    customer = get_object_or_404(Customer, pk=pk)
    form = PointsAdjustForm(request.POST, prefix="adjust")
    if not form.is_valid():
        return _card(request, customer, 400, adjust_form=form)
    try:
        points_adjust(
            customer=customer, points=form.cleaned_data["points"],
            reason=form.cleaned_data["reason"], actor=request.user,
        )  # fmt: skip
    except ValidationError as exc:
        form.add_error(None, exc.messages[0])
        return _card(request, customer, 409 if isinstance(exc, PointsShort) else 400,
                     adjust_form=form)  # fmt: skip
    messages.success(request, _("已调整积分"))
    return _card(request, customer)


@login_required
@permission_required("customers.view_pointsentry", raise_exception=True)
def member_ledger(request, pk: int):
    """The member's whole ledger, paginated, filterable by kind."""
    customer = get_object_or_404(Customer, pk=pk)
    kind = request.GET.get("kind", "")
    entries = customer.points_entries.select_related("channel_account")
    if kind in PointsKind.values:
        entries = entries.filter(kind=kind)
    context = {
        "customer": customer,
        "page": Paginator(entries, LEDGER_PAGE).get_page(request.GET.get("page")),
        "kind": kind,
        "kinds": PointsKind.choices,
        "redemptions": customer.redemptions.select_related("item", "channel_account"),
        "tier": tier_progress(customer),
    }
    return render(request, "customers/membership/ledger.html", context)
