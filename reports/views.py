"""Console: the dashboards (home KPIs, channel KPIs, campaigns, the ROI matrix) — all read
the daily rollups, never raw events — and the rollup runs (backfill with progress)."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.choices import GoalMetric
from campaigns.models import Campaign
from channels.choices import ChannelKind
from channels.models import ChannelAccount
from common.charts import figure
from reports import metrics
from reports.charts import Chart, export_response
from reports.choices import AlertStatus, AttributionModel, RollupTrigger
from reports.filters import ReportFilterForm, ReportRange
from reports.models import (
    AlertEvent,
    AttributionDay,
    CampaignDay,
    ChannelDay,
    PushDay,
    RollupRun,
)
from reports.roi import roi_matrix, top_campaigns
from reports.rollups import rollup_run_create, rollups_coverage

VIEW = "reports.view_channelday"
PALETTE = ["#0d6efd", "#20c997", "#fd7e14", "#6f42c1", "#d63384", "#198754", "#0dcaf0",
           "#ffc107", "#6c757d", "#dc3545", "#6610f2", "#adb5bd"]  # fmt: skip


def _page(request, template: str, context: dict, charts: list[Chart]):
    """Render a report page, or the CSV of one of its charts (`?export=<id>`)."""
    response = export_response(request, charts)
    if response:
        return response
    last = RollupRun.objects.filter(status="done").order_by("-finished_at").first()
    context.update(charts={c.id: c for c in charts if c}, last_rollup=last)
    return render(request, template, context)


def _date_axis(rng: ReportRange) -> list[str]:
    return [d.isoformat() for d in rng.dates()]


def _kpi_series(key: str, daily: dict, rng: ReportRange) -> list:
    empty = metrics.Totals(days=1)
    return [metrics.kpi_value(key, daily.get(d, empty)) for d in rng.dates()]


# --- home -------------------------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def report_home(request):
    """KPI cards with the change vs the previous period, trends, open alerts, top campaigns."""
    form = ReportFilterForm(request.GET or None)
    rng = form.report_range()
    ids = rng.account_ids or None
    cards = metrics.kpi_cards(metrics.HOME_KPIS, start=rng.start, end=rng.end, account_ids=ids)
    daily = metrics.channel_daily(start=rng.start, end=rng.end, account_ids=ids)
    by_account = metrics.channel_daily(
        start=rng.start, end=rng.end, account_ids=ids, by_account=True
    )
    accounts = {a.pk: a for a in ChannelAccount.objects.all()}
    axis = _date_axis(rng)
    gmv = _kpi_series("gmv", daily, rng)
    orders = _kpi_series("orders", daily, rng)
    trend = Chart(
        "gmv_trend",
        _("成交额与订单（按天）"),
        figure(
            [
                {
                    "type": "bar",
                    "x": axis,
                    "y": [float(v or 0) for v in gmv],
                    "name": _("成交额"),
                    "marker": {"color": "#0d6efd"},
                },
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "x": axis,
                    "y": orders,
                    "name": _("订单"),
                    "yaxis": "y2",
                    "line": {"color": "#fd7e14"},
                },
            ],  # fmt: skip
            yaxis_title=_("成交额（元）"),
            yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero"},
        )
        if any(gmv) or any(orders)
        else None,
        [_("日期"), _("成交额"), _("订单")],
        [[d, g, o] for d, g, o in zip(axis, gmv, orders, strict=True)],
    )
    new_users = _per_account_series("new_users", by_account, rng, accounts)
    users_chart = Chart(
        "new_users",
        _("各渠道新用户（按天）"),
        figure(
            [
                {
                    "type": "bar",
                    "x": axis,
                    "y": ys,
                    "name": name,
                    "marker": {"color": PALETTE[i % len(PALETTE)]},
                }
                for i, (name, ys) in enumerate(new_users)
            ],  # fmt: skip
            barmode="stack",
        )
        if new_users
        else None,
        [_("日期"), *(name for name, _ys in new_users)],
        [[d, *(ys[i] for _n, ys in new_users)] for i, d in enumerate(axis)],
    )
    model = AttributionModel.LAST_TOUCH
    top = top_campaigns(start=rng.start, end=rng.end, model=model)
    top_chart = Chart(
        "top_campaigns",
        _("活动归因销售额 Top 5（末次触点）"),
        figure(
            [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [c["campaign_name"] for c in top][::-1],
                    "x": [float(c["revenue"]) for c in top][::-1],
                    "marker": {"color": "#20c997"},
                }
            ],
            xaxis_title=_("归因销售额（元）"),
        )  # fmt: skip
        if top
        else None,
        [_("活动"), _("花费"), _("归因销售额"), _("归因订单"), "ROI", "ROAS"],
        [
            [c["campaign_name"], c["spend"], c["revenue"], c["orders"], c["roi"], c["roas"]]
            for c in top
        ],  # fmt: skip
        height=260,
    )
    alerts = AlertEvent.objects.filter(status=AlertStatus.OPEN).select_related(
        "rule", "channel_account"
    )[:5]
    return _page(
        request,
        "reports/home.html",
        {
            "tab": "home",
            "filter_form": form,
            "report_range": rng,
            "cards": cards,
            "has_rollups": ChannelDay.objects.exists(),
            "alerts": alerts,
            "top": top,
        },  # fmt: skip
        [trend, users_chart, top_chart],
    )


def _per_account_series(key, by_account: dict, rng: ReportRange, accounts: dict) -> list:
    """[(account name, [value per day])] for the accounts with any non-zero value."""
    empty = metrics.Totals(days=1)
    series = []
    for account_id in sorted({a for _d, a in by_account}, key=lambda a: accounts[a].code):
        ys = [metrics.kpi_value(key, by_account.get((d, account_id), empty)) for d in rng.dates()]
        if any(ys):
            series.append((accounts[account_id].name, ys))
    return series


# --- channel KPIs ----------------------------------------------------------------------------


class ChannelFilterForm(ReportFilterForm):
    metric = forms.ChoiceField(label=gettext_lazy("趋势指标"), required=False)

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        accounts = ChannelAccount.objects.filter(kind=kind).order_by("code")
        self.fields["channel"].choices = [("", _("该类型全部账号"))] + [
            (a.code, a.name) for a in accounts
        ]
        self.fields["metric"].choices = [
            (key, metrics.KPIS[key].label) for key in metrics.KIND_KPIS.get(kind, ())
        ]


@login_required
@permission_required(VIEW, raise_exception=True)
def channel_report(request, kind: str | None = None):
    """One channel kind's KPIs (the seeds' list for OA, WeCom, Mini Program, Douyin, app and
    stores), their trend and each account's figures."""
    kinds_present = list(
        ChannelAccount.objects.order_by("kind").values_list("kind", flat=True).distinct()
    )
    labels = dict(ChannelKind.choices)
    if kind is None:
        if not kinds_present:
            return render(request, "reports/channels.html", {"tab": "channels", "kinds": []})
        return redirect("reports:channel", kind=kinds_present[0])
    if kind not in labels:
        raise Http404(kind)
    form = ChannelFilterForm(request.GET or None, kind=kind)
    rng = form.report_range()
    kind_accounts = list(ChannelAccount.objects.filter(kind=kind).order_by("code"))
    ids = rng.account_ids or [a.pk for a in kind_accounts]
    keys = metrics.KIND_KPIS.get(kind, metrics.MESSAGE_KPIS)
    cards = metrics.kpi_cards(keys, start=rng.start, end=rng.end, account_ids=ids or [0])
    chosen = (form.cleaned_data.get("metric") if form.is_valid() else "") or keys[0]
    by_account = metrics.channel_daily(
        start=rng.start, end=rng.end, account_ids=ids or [0], by_account=True
    )
    accounts = {a.pk: a for a in kind_accounts}
    axis = _date_axis(rng)
    series = _per_account_series(chosen, by_account, rng, accounts)
    kpi = metrics.KPIS[chosen]
    trend = Chart(
        f"{kind}_{chosen}",
        _("%(kpi)s（按天）") % {"kpi": kpi.label},
        figure(
            [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "x": axis,
                    "y": [None if v is None else float(v) for v in ys],
                    "name": name,
                    "line": {"color": PALETTE[i % len(PALETTE)]},
                }
                for i, (name, ys) in enumerate(series)
            ],  # fmt: skip
            yaxis_title=str(kpi.label),
            yaxis_tickformat=".1%" if kpi.unit == "percent" else None,
        )
        if series
        else None,
        [_("日期"), *(name for name, _ys in series)],
        [[d, *(ys[i] for _n, ys in series)] for i, d in enumerate(axis)],
    )
    table = []
    shown = [a for a in kind_accounts if not rng.account_ids or a.pk in rng.account_ids]
    per_account = metrics.totals_by_account(
        start=rng.start, end=rng.end, account_ids=[a.pk for a in shown]
    )
    for account in shown:
        totals = per_account[account.pk]
        table.append(
            {
                "account": account,
                "values": [(metrics.kpi_value(k, totals), metrics.KPIS[k].unit) for k in keys],
            }
        )
    table_chart = Chart(
        f"{kind}_accounts",
        _("各账号指标"),
        None,
        [_("账号"), *(str(metrics.KPIS[k].label) for k in keys)],
        [[row["account"].name, *(v for v, _u in row["values"])] for row in table],
    )
    return _page(
        request,
        "reports/channels.html",
        {
            "tab": "channels",
            "filter_form": form,
            "report_range": rng,
            "kind": kind,
            "kind_label": labels[kind],
            "kinds": [(k, labels[k]) for k in kinds_present],
            "cards": cards,
            "trend": trend,
            "table": table,
            "headers": [metrics.KPIS[k] for k in keys],
        },  # fmt: skip
        [trend, table_chart],
    )


# --- campaigns -------------------------------------------------------------------------------


class ModelFilterForm(ReportFilterForm):
    model = forms.ChoiceField(
        label=gettext_lazy("归因模型"), required=False, choices=AttributionModel.choices
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].widget.attrs.update(
            {"class": "form-select form-select-sm", "data-testid": "filter-model"}
        )

    def attribution_model(self) -> str:
        if self.is_valid() and self.cleaned_data.get("model"):
            return self.cleaned_data["model"]
        return AttributionModel.LAST_TOUCH


def campaign_numbers(*, campaign_ids, start, end, model, account_ids=None) -> dict:
    """campaign id → spend, sent, clicks, clickers, attributed revenue/orders/new buyers."""
    days = CampaignDay.objects.filter(campaign__in=campaign_ids, day__gte=start, day__lte=end)
    credit = AttributionDay.objects.filter(
        campaign__in=campaign_ids, day__gte=start, day__lte=end, model=model
    )
    if account_ids:
        days, credit = (
            days.filter(channel_account__in=account_ids),
            credit.filter(channel_account__in=account_ids),
        )
    numbers = {pk: {"spend": 0, "sent": 0, "clicks": 0, "clickers": 0, "revenue": 0,
                    "orders": 0, "new_buyers": 0} for pk in campaign_ids}  # fmt: skip
    for r in days.values("campaign").annotate(
        spend=Sum("spend"), sent=Sum("sent"), clicks=Sum("clicks"), clickers=Sum("clickers")
    ):
        numbers[r["campaign"]].update(
            {k: r[k] or 0 for k in ("spend", "sent", "clicks", "clickers")}
        )
    for r in credit.values("campaign").annotate(
        revenue=Sum("revenue"), orders=Sum("orders"), new_buyers=Sum("new_buyers")
    ):
        numbers[r["campaign"]].update({k: r[k] or 0 for k in ("revenue", "orders", "new_buyers")})
    for n in numbers.values():
        n["roi"] = float((n["revenue"] - n["spend"]) / n["spend"]) if n["spend"] else None
        n["roas"] = float(n["revenue"] / n["spend"]) if n["spend"] else None
    return numbers


@login_required
@permission_required(VIEW, raise_exception=True)
def campaign_report_list(request):
    """Every campaign's spend, reach, clicks and attributed revenue in the range."""
    form = ModelFilterForm(request.GET or None)
    rng = form.report_range()
    model = form.attribution_model()
    campaigns = list(Campaign.objects.exclude(status="archived").order_by("-starts_on", "name"))
    numbers = campaign_numbers(
        campaign_ids=[c.pk for c in campaigns], start=rng.start, end=rng.end, model=model,
        account_ids=rng.account_ids or None,
    )  # fmt: skip
    rows = [{"campaign": c, **numbers[c.pk]} for c in campaigns]
    shown = [r for r in rows if r["spend"] or r["revenue"]]
    chart = Chart(
        "campaign_revenue_spend",
        _("活动花费与归因销售额"),
        figure(
            [
                {"type": "bar", "x": [r["campaign"].name for r in shown],
                 "y": [float(r["spend"]) for r in shown], "name": _("花费"),
                 "marker": {"color": "#adb5bd"}},
                {"type": "bar", "x": [r["campaign"].name for r in shown],
                 "y": [float(r["revenue"]) for r in shown], "name": _("归因销售额"),
                 "marker": {"color": "#20c997"}},
            ],  # fmt: skip
            barmode="group",
            yaxis_title=_("元"),
        )
        if shown
        else None,
        [_("活动"), _("花费"), _("发送消息"), _("点击人数"), _("归因订单"), _("归因销售额"),
         "ROI", "ROAS"],
        [[r["campaign"].name, r["spend"], r["sent"], r["clickers"], r["orders"], r["revenue"],
          r["roi"], r["roas"]] for r in rows],
    )  # fmt: skip
    return _page(
        request,
        "reports/campaigns.html",
        {
            "tab": "campaigns",
            "filter_form": form,
            "report_range": rng,
            "rows": rows,
            "model_label": AttributionModel(model).label,
        },  # fmt: skip
        [chart],
    )


GOAL_NUMBERS = {
    GoalMetric.REVENUE: "revenue",
    GoalMetric.ORDERS: "orders",
    GoalMetric.REACH: "sent",
    GoalMetric.CLICKS: "clickers",
    GoalMetric.ROI: "roi",
}


@login_required
@permission_required(VIEW, raise_exception=True)
def campaign_report(request, pk: int):
    """One campaign over its whole life: SMART goals vs actuals with progress, spend vs
    budget over time, daily results, channels and pushes."""
    campaign = get_object_or_404(Campaign, pk=pk)
    today = timezone.localdate()
    start = campaign.starts_on or campaign.created_at.date()
    end = min(campaign.ends_on or today, today)
    if end < start:
        end = start
    initial = {"start": start, "end": end}
    form = ModelFilterForm(request.GET or initial)
    rng = form.report_range() if request.GET else ReportRange(start=start, end=end)
    model = form.attribution_model()
    numbers = campaign_numbers(campaign_ids=[pk], start=rng.start, end=rng.end, model=model)[pk]
    goals = []
    for goal in campaign.goals.all():
        key = GOAL_NUMBERS.get(goal.metric)
        actual = numbers.get(key) if key else None
        progress = None
        if actual is not None and goal.target > 0:
            progress = max(0, min(100, int(float(actual) * 100 / float(goal.target))))
        goals.append({"goal": goal, "actual": actual, "progress": progress,
                      "overdue": goal.deadline < today and (progress or 0) < 100})  # fmt: skip
    axis = _date_axis(rng)
    spend_by_day = dict(
        CampaignDay.objects.filter(campaign=campaign, day__gte=rng.start, day__lte=rng.end)
        .values("day").annotate(total=Sum("spend")).values_list("day", "total")
    )  # fmt: skip
    revenue_by_day = dict(
        AttributionDay.objects.filter(campaign=campaign, model=model, day__gte=rng.start,
                                      day__lte=rng.end)
        .values("day").annotate(total=Sum("revenue")).values_list("day", "total")
    )  # fmt: skip
    cumulative, running = [], 0.0
    for d in rng.dates():
        running += float(spend_by_day.get(d) or 0)
        cumulative.append(running)
    budget_chart = Chart(
        "spend_vs_budget",
        _("累计花费与预算"),
        figure(
            [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": axis,
                    "y": cumulative,
                    "name": _("累计花费"),
                    "fill": "tozeroy",
                    "line": {"color": "#0d6efd"},
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": [axis[0], axis[-1]],
                    "y": [float(campaign.budget)] * 2,
                    "name": _("预算"),
                    "line": {"color": "#dc3545", "dash": "dash"},
                },
            ],  # fmt: skip
            yaxis_title=_("元"),
        )
        if campaign.budget or running
        else None,
        [_("日期"), _("当日花费"), _("累计花费"), _("预算")],
        [
            [d, spend_by_day.get(rng.dates()[i]) or 0, cumulative[i], campaign.budget]
            for i, d in enumerate(axis)
        ],  # fmt: skip
        height=260,
    )
    revenue = [float(revenue_by_day.get(d) or 0) for d in rng.dates()]
    revenue_chart = Chart(
        "campaign_revenue",
        _("归因销售额（按天，%(model)s）") % {"model": AttributionModel(model).label},
        figure([{"type": "bar", "x": axis, "y": revenue, "marker": {"color": "#20c997"}}],
               yaxis_title=_("元")) if any(revenue) else None,
        [_("日期"), _("归因销售额")],
        [[d, v] for d, v in zip(axis, revenue, strict=True)],
        height=260,
    )  # fmt: skip
    matrix = roi_matrix(start=rng.start, end=rng.end, model=model)
    channel_rows = [r for r in matrix["rows"] if r["campaign"] == campaign.pk]
    pushes = (
        PushDay.objects.filter(push__campaign=campaign, day__gte=rng.start, day__lte=rng.end)
        .values("push", "push__name")
        .annotate(sent=Sum("sent"), failed=Sum("failed"), skipped=Sum("skipped"),
                  clicks=Sum("clicks"), orders=Sum("orders"), revenue=Sum("revenue"))
        .order_by("-sent")
    )  # fmt: skip
    return _page(
        request,
        "reports/campaign.html",
        {
            "tab": "campaigns",
            "filter_form": form,
            "report_range": rng,
            "campaign": campaign,
            "numbers": numbers,
            "goals": goals,
            "channel_rows": channel_rows,
            "pushes": pushes,
            "budget_used": int(float(numbers["spend"]) * 100 / float(campaign.budget))
            if campaign.budget
            else None,
            "model_label": AttributionModel(model).label,
        },  # fmt: skip
        [budget_chart, revenue_chart],
    )


# --- ROI matrix ------------------------------------------------------------------------------

MEASURES = {
    "roi": gettext_lazy("ROI"),
    "roas": gettext_lazy("ROAS"),
    "revenue": gettext_lazy("归因销售额"),
    "orders": gettext_lazy("归因订单"),
    "spend": gettext_lazy("花费"),
    "cac": gettext_lazy("获客成本 CAC"),
}


class RoiFilterForm(ModelFilterForm):
    by = forms.ChoiceField(
        label=gettext_lazy("渠道维度"),
        required=False,
        choices=[("account", gettext_lazy("渠道账号")), ("kind", gettext_lazy("渠道类型"))],
    )
    measure = forms.ChoiceField(
        label=gettext_lazy("热力图指标"), required=False, choices=list(MEASURES.items())
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("by", "measure"):
            self.fields[name].widget.attrs.update(
                {"class": "form-select form-select-sm", "data-testid": f"filter-{name}"}
            )


def _num(value):
    return None if value is None else float(value)


@login_required
@permission_required(VIEW, raise_exception=True)
def roi_report(request):
    """Channel × campaign: spend, attributed revenue and orders, ROI, ROAS, CAC; a table and a
    heatmap; the attribution model and the channel dimension switchable."""
    form = RoiFilterForm(request.GET or None)
    rng = form.report_range()
    model = form.attribution_model()
    data = form.cleaned_data if form.is_valid() else {}
    by = data.get("by") or "account"
    measure = data.get("measure") or "roi"
    matrix = roi_matrix(
        start=rng.start, end=rng.end, model=model, account_ids=rng.account_ids or None, by=by
    )
    channels = [c["channel_name"] for c in matrix["channels"]]
    campaigns = [c["campaign_name"] for c in matrix["campaigns"]]
    cell = {(r["channel_name"], r["campaign_name"]): r for r in matrix["rows"]}
    z = [[_num(cell.get((ch, ca), {}).get(measure)) for ca in campaigns] for ch in channels]
    text = [["" if v is None else (f"{v:.2f}" if measure in ("roi", "roas") else f"{v:,.0f}")
             for v in row] for row in z]  # fmt: skip
    heatmap = Chart(
        "roi_heatmap",
        _("渠道 × 活动：%(measure)s") % {"measure": MEASURES[measure]},
        figure(
            [
                {
                    "type": "heatmap",
                    "x": campaigns,
                    "y": channels,
                    "z": z,
                    "text": text,
                    "texttemplate": "%{text}",
                    "hoverongaps": False,
                    # green is good: high ROI/ROAS, low CAC; plain volumes in blue
                    "colorscale": "RdYlGn" if measure in ("roi", "roas", "cac") else "Blues",
                    "reversescale": measure == "cac",
                }
            ],
            xaxis_type="category",
            yaxis_type="category",
            yaxis_autorange="reversed",
        )  # fmt: skip
        if matrix["rows"]
        else None,
        [_("渠道"), *campaigns],
        [[ch, *row] for ch, row in zip(channels, z, strict=True)],
        height=max(260, 60 + 42 * len(channels)),
    )
    table = Chart(
        "roi_table",
        _("ROI 矩阵明细"),
        None,
        [_("渠道"), _("活动"), _("花费"), _("归因销售额"), _("归因订单"), _("归因新客"), "ROI",
         "ROAS", "CAC"],
        [[r["channel_name"], r["campaign_name"], r["spend"], r["revenue"], r["orders"],
          r["new_buyers"], r["roi"], r["roas"], r["cac"]] for r in matrix["rows"]],
    )  # fmt: skip
    return _page(
        request,
        "reports/roi.html",
        {
            "tab": "roi",
            "filter_form": form,
            "report_range": rng,
            "matrix": matrix,
            "model_label": AttributionModel(model).label,
            "measure_label": MEASURES[measure],
        },  # fmt: skip
        [heatmap, table],
    )


# --- rollup runs -------------------------------------------------------------------------------


class BackfillForm(forms.Form):
    start = forms.DateField(
        label=gettext_lazy("开始日期"),
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=gettext_lazy("结束日期"),
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d"),
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                self.add_error("end", _("结束日期不能早于开始日期"))
            elif (end - start).days > 3 * 366:
                self.add_error("end", _("一次最多回填 3 年"))
            elif end > timezone.localdate():
                self.add_error("end", _("不能晚于今天"))
        return data


@login_required
@permission_required("reports.view_rolluprun", raise_exception=True)
def rollup_runs(request):
    """The rollup runs (Beat and backfills) with progress, and a backfill form."""
    form = BackfillForm(
        request.POST or None,
        initial={"start": timezone.localdate() - timedelta(days=29), "end": timezone.localdate()},
    )
    if request.method == "POST":
        if not request.user.has_perm("reports.add_rolluprun"):
            raise PermissionDenied
        if form.is_valid():
            run = rollup_run_create(start=form.cleaned_data["start"], end=form.cleaned_data["end"],
                                    trigger=RollupTrigger.MANUAL, user=request.user)  # fmt: skip
            from reports.tasks import rollup_run_task

            transaction.on_commit(lambda: rollup_run_task.delay(run.pk))
            messages.success(
                request, _("已开始回填 %(s)s 至 %(e)s") % {"s": run.start, "e": run.end}
            )
            return redirect("reports:rollup_run", pk=run.pk)
    first, last = rollups_coverage()
    runs = RollupRun.objects.select_related("created_by")[:30]
    return render(request, "reports/rollups.html", {"tab": "rollups", "form": form, "runs": runs,
                                                    "first": first, "last": last})  # fmt: skip


@login_required
@permission_required("reports.view_rolluprun", raise_exception=True)
def rollup_run_detail(request, pk: int):
    run = get_object_or_404(RollupRun, pk=pk)
    template = "reports/_rollup_progress.html" if request.headers.get("HX-Request") else (
        "reports/rollup_run.html"
    )  # fmt: skip
    return render(request, template, {"tab": "rollups", "run": run})
