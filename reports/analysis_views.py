"""Console: behaviour analysis pages — funnel, retention, event analysis, distribution and
user paths. Each reads its filters from the URL (reports.analysis_forms), asks one selector of
reports.analysis and shows plotly charts that export as PNG and CSV (`?export=<chart id>`)."""

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render
from django.utils.translation import gettext as _

from common.charts import figure
from reports.analysis import (
    PATH_SAMPLE,
    distribution,
    event_label,
    event_series,
    funnel,
    retention,
    top_paths,
)
from reports.analysis_forms import (
    DistributionForm,
    EventForm,
    FunnelForm,
    PathForm,
    RetentionForm,
)
from reports.charts import Chart, export_response
from tags.catalogue import catalogue_events

PERMISSION = "reports.view_channelday"


def _page(request, template: str, tab: str, form, report_range, charts: list[Chart], **extra):
    response = export_response(request, charts)
    if response:
        return response
    context = {"filter_form": form, "report_range": report_range, "tab": tab,
               "charts": charts, **extra}  # fmt: skip
    return render(request, template, context)


# --- funnel ----------------------------------------------------------------------------------


def _funnel_charts(data: dict) -> list[Chart]:
    steps = data["steps"]
    labels = [f"{s['index']}. {s['label']}" for s in steps]
    has_data = data["entered"] > 0
    main = Chart(
        id="funnel",
        title=_("转化漏斗"),
        figure=figure(
            [{"type": "funnel", "y": labels, "x": [s["count"] for s in steps],
              "textinfo": "value+percent initial", "marker": {"color": "#0d6efd"}}],
            margin={"l": 140, "r": 16, "t": 16, "b": 24},
        ) if has_data else None,
        columns=[_("步骤"), _("事件"), _("人数"), _("较上一步转化率(%)"), _("总转化率(%)"),
                 _("流失人数")],
        rows=[[s["index"], s["name"], s["count"], s["from_previous"], s["from_first"],
               s["drop"]] for s in steps] if has_data else [],
    )  # fmt: skip
    charts = [main]
    if data["breakdown"]:
        rows = data["breakdown"]
        charts.append(Chart(
            id="funnel-channel",
            title=_("按渠道拆分（第一步所在渠道）"),
            figure=figure(
                [{"type": "bar", "name": label, "x": [r["account"] for r in rows],
                  "y": [r["counts"][i] for r in rows]} for i, label in enumerate(labels)],
                barmode="group", yaxis_title=_("人数"),
            ),
            columns=[_("渠道"), *labels, _("总转化率(%)")],
            rows=[[r["account"], *r["counts"], r["conversion"]] for r in rows],
        ))  # fmt: skip
    return charts


@login_required
@permission_required(PERMISSION, raise_exception=True)
def funnel_report(request):
    """Ordered steps within a conversion window, with drop-off and a split by channel."""
    form = FunnelForm(request.GET)
    report_range = form.report_range()
    params = form.params()
    data = funnel(steps=params["steps"], start=report_range.start, end=report_range.end,
                  window_hours=params["window_hours"], account_ids=report_range.account_ids,
                  breakdown=params["breakdown"])  # fmt: skip
    return _page(request, "reports/funnel.html", "funnel", form, report_range,
                 _funnel_charts(data), data=data, params=params,
                 events=catalogue_events())  # fmt: skip


# --- retention -------------------------------------------------------------------------------


def _period_label(period: str, index: int) -> str:
    if period == "week":
        return _("第 %(n)s 周") % {"n": index}
    return _("第 %(n)s 月") % {"n": index}


def _retention_chart(data: dict) -> Chart:
    period = data["period"]
    heads = [_period_label(period, i) for i in data["periods"]]
    cohorts = [c for c in data["cohorts"] if c["size"]]
    names = [c["cohort"].isoformat() for c in cohorts]
    fig = figure(
        [{"type": "heatmap", "x": heads, "y": names, "z": [c["rates"] for c in cohorts],
          "text": [["" if r is None else f"{r:.1f}%" for r in c["rates"]] for c in cohorts],
          "texttemplate": "%{text}", "colorscale": "Blues", "zmin": 0, "zmax": 100,
          "hoverongaps": False, "colorbar": {"ticksuffix": "%"}}],
        yaxis={"autorange": "reversed", "type": "category"}, xaxis={"side": "top"},
        margin={"l": 96, "r": 16, "t": 40, "b": 16},
    ) if cohorts else None  # fmt: skip
    columns = [_("群组开始"), _("人数")]
    for head in heads:
        columns += [head, f"{head} (%)"]
    rows = []
    for c in data["cohorts"]:
        cells = []
        for count, rate in zip(c["counts"], c["rates"], strict=True):
            cells += [count, rate]
        rows.append([c["cohort"].isoformat(), c["size"], *cells])
    return Chart(id="retention", title=_("留存三角"), figure=fig, columns=columns,
                 rows=rows if cohorts else [], height=max(320, 32 * len(cohorts) + 80))  # fmt: skip


@login_required
@permission_required(PERMISSION, raise_exception=True)
def retention_report(request):
    """Weekly or monthly cohorts and the share of each that came back, as a triangle."""
    form = RetentionForm(request.GET)
    report_range = form.report_range()
    params = form.params()
    data = retention(start=report_range.start, end=report_range.end, period=params["period"],
                     first_event=params["first_event"], return_event=params["return_event"],
                     account_ids=report_range.account_ids)  # fmt: skip
    chart = _retention_chart(data)
    heads = [_period_label(data["period"], i) for i in data["periods"]]
    return _page(request, "reports/retention.html", "retention", form, report_range, [chart],
                 data=data, params=params, heads=heads,
                 first_label=event_label(params["first_event"]),
                 return_label=event_label(params["return_event"]) if params["return_event"]
                 else _("任意行为"))  # fmt: skip


# --- event analysis --------------------------------------------------------------------------


def _number(value):
    return round(value, 2) if isinstance(value, float) else value


@login_required
@permission_required(PERMISSION, raise_exception=True)
def event_report(request):
    """One event by day: times, customers or a property's sum, split by channel or a
    property's value."""
    form = EventForm(request.GET)
    report_range = form.report_range()
    params = form.params()
    data = event_series(event=params["event"], measure=params["measure"], prop=params["prop"],
                        start=report_range.start, end=report_range.end,
                        account_ids=report_range.account_ids,
                        breakdown=form.series_breakdown(params), where=params["where"])  # fmt: skip
    days = [d.isoformat() for d in data["days"]]
    has_data = any(any(s["values"]) for s in data["series"])
    chart = Chart(
        id="events",
        title=_("%(event)s · 按天") % {"event": event_label(params["event"])},
        figure=figure(
            [{"type": "scatter", "mode": "lines+markers", "name": s["label"], "x": days,
              "y": [_number(v) for v in s["values"]]} for s in data["series"]],
            yaxis_title=str(dict(form.fields["measure"].choices)[params["measure"]]),
        ) if has_data else None,
        columns=[_("日期"), *(s["label"] for s in data["series"])],
        rows=[[day, *(_number(s["values"][i]) for s in data["series"])]
              for i, day in enumerate(days)] if has_data else [],
    )  # fmt: skip
    return _page(request, "reports/events.html", "events", form, report_range, [chart],
                 data=data, params=params, has_data=has_data,
                 total=_number(data["total"]))  # fmt: skip


# --- distribution ----------------------------------------------------------------------------


@login_required
@permission_required(PERMISSION, raise_exception=True)
def distribution_report(request):
    """Customers by how often they did an event, or events by a numeric property's value."""
    form = DistributionForm(request.GET)
    report_range = form.report_range()
    params = form.params()
    by = "times" if params["by"] == "times" else f"prop:{params['prop']}"
    data = distribution(event=params["event"], start=report_range.start, end=report_range.end,
                        account_ids=report_range.account_ids, by=by)  # fmt: skip
    buckets = data["buckets"]
    if by == "times":
        columns = [_("次数"), _("人数"), _("占比(%)")]
        rows = [[b["label"], b["customers"], b["share"]] for b in buckets]
        values, axis = [b["customers"] for b in buckets], _("人数")
    else:
        columns = [_("区间"), _("事件数"), _("人数"), _("占比(%)")]
        rows = [[b["label"], b["events"], b["customers"], b["share"]] for b in buckets]
        values, axis = [b["events"] for b in buckets], _("事件数")
    has_data = any(values)
    chart = Chart(
        id="distribution",
        title=_("%(event)s · 分布") % {"event": event_label(params["event"])},
        figure=figure([{"type": "bar", "x": [b["label"] for b in buckets], "y": values,
                        "marker": {"color": "#0d6efd"}}],
                      yaxis_title=axis, xaxis={"type": "category"}) if has_data else None,
        columns=columns,
        rows=rows if has_data else [],
    )  # fmt: skip
    return _page(request, "reports/distribution.html", "distribution", form, report_range,
                 [chart], data=data, params=params, has_data=has_data, columns=columns,
                 rows=rows)  # fmt: skip


# --- paths -----------------------------------------------------------------------------------


def _sankey(data: dict) -> dict | None:
    if not data["links"]:
        return None
    nodes: dict = {}
    for link in data["links"]:
        for node in (link["source"], link["target"]):
            nodes.setdefault(node, len(nodes))
    labels = [f"{event_label(name)}" for (_step, name) in nodes]
    return figure(
        [{"type": "sankey", "arrangement": "snap",
          "node": {"label": labels, "pad": 12, "thickness": 14},
          "link": {"source": [nodes[x["source"]] for x in data["links"]],
                   "target": [nodes[x["target"]] for x in data["links"]],
                   "value": [x["customers"] for x in data["links"]]}}],
    )  # fmt: skip


@login_required
@permission_required(PERMISSION, raise_exception=True)
def path_report(request):
    """What customers did next after a start event: a sankey and the most common paths."""
    form = PathForm(request.GET)
    report_range = form.report_range()
    params = form.params()
    data = top_paths(start_event=params["start_event"], start=report_range.start,
                     end=report_range.end, account_ids=report_range.account_ids,
                     depth=params["depth"])  # fmt: skip
    has_data = data["sampled"] > 0
    charts = [
        Chart(
            id="paths-flow",
            title=_("路径流向"),
            figure=_sankey(data),
            columns=[_("第几步"), _("从"), _("到"), _("人数")],
            rows=[
                [
                    x["target"][0],
                    event_label(x["source"][1]),
                    event_label(x["target"][1]),
                    x["customers"],
                ]
                for x in data["links"]
            ],
            height=420,
        ),
        Chart(
            id="paths",
            title=_("最常见路径"),
            figure=None,
            columns=[_("路径"), _("人数"), _("占比(%)")],
            rows=[[" → ".join(p["labels"]), p["customers"], p["share"]] for p in data["paths"]],
        ),
    ]
    return _page(request, "reports/paths.html", "paths", form, report_range, charts,
                 data=data, params=params, has_data=has_data, sample=PATH_SAMPLE)  # fmt: skip
