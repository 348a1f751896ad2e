"""The quarterly review (《多渠道营销效果白皮书》): one quarter's KPIs against the previous
quarter, the channel × campaign ROI matrix, campaign goals against actuals, the funnel,
cohort retention, top campaigns and rule-based path suggestions, collected once by
`review_data` and rendered as an XLSX workbook (`review_xlsx`) or an A4 PDF (`review_pdf`).

Every number comes from the shared sources: reports.metrics (rollups), reports.roi,
campaigns.results and reports.analysis; nothing here recomputes them differently.
"""

import functools
import logging
from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO
from xml.sax.saxutils import escape

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from campaigns.models import Campaign
from campaigns.results import campaign_results
from reports import analysis
from reports.analysis_forms import DEFAULT_STEPS
from reports.metrics import KPIS, channel_totals, kpi_cards
from reports.roi import roi_matrix, top_campaigns

logger = logging.getLogger(__name__)

FIRST_YEAR = 2000
REVIEW_KPIS = ("gmv", "orders", "aov", "buyers", "conversion", "repeat_rate", "refund_amount",
               "active_users", "new_users", "retention_rate", "shares", "sent", "click_rate",
               "spend")  # fmt: skip
FUNNEL_WINDOW_HOURS = 72
PATH_DEPTH, PATH_LIMIT = 4, 10
MAX_GOAL_CAMPAIGNS = 50
TOP_CAMPAIGNS = 5
# thresholds of the path suggestions (see docs/review.md)
DROP_ALERT = 30.0  # a funnel step losing at least this % of the previous step
ROI_SPREAD = 0.5  # a channel's ROI this far (× |mean|) from the channels' mean
LOW_REPEAT = 0.2  # repeat rate under 20 %
LOW_SHARE = 0.02  # share events under 2 % of all events
LOW_RETENTION = 20.0  # first-period cohort retention under 20 %


# --- quarters --------------------------------------------------------------------------------


def quarter_of(day: date) -> tuple[int, int]:
    """(year, quarter) of a day: Q1 = January–March, …, Q4 = October–December."""
    return day.year, (day.month - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """The first and last day of the quarter."""
    start = date(year, 3 * (quarter - 1) + 1, 1)
    following = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, following - timedelta(days=1)


def previous_quarter(year: int, quarter: int) -> tuple[int, int]:
    """The quarter before (year, quarter)."""
    return (year - 1, 4) if quarter == 1 else (year, quarter - 1)


def last_complete_quarter(today: date | None = None) -> tuple[int, int]:
    """The latest quarter that has ended (the review page's default)."""
    return previous_quarter(*quarter_of(today or timezone.localdate()))


def validate_quarter(year, quarter) -> tuple[int, int]:
    """(year, quarter) as ints, or ValueError: a quarter is 1–4, the year from 2000 and the
    quarter not in the future (the current one is allowed: 截至今日)."""
    try:
        year, quarter = int(year), int(quarter)
    except (TypeError, ValueError):
        raise ValueError(_("无效的季度")) from None
    if quarter not in (1, 2, 3, 4):
        raise ValueError(_("季度必须是 1 到 4"))
    if year < FIRST_YEAR or (year, quarter) > quarter_of(timezone.localdate()):
        raise ValueError(_("没有这个季度的数据"))
    return year, quarter


def quarter_label(year: int, quarter: int) -> str:
    """ "2026-Q3": how files and the page name a quarter."""
    return f"{year}-Q{quarter}"


# --- collecting ------------------------------------------------------------------------------


def _kpis(start: date, end: date, prev_start: date, prev_end: date) -> list[dict]:
    cards = kpi_cards(REVIEW_KPIS, start=start, end=end, compare_to=(prev_start, prev_end))
    return [{**card, "label": str(card["label"])} for card in cards]


def _goals(start: date, end: date) -> list[dict]:
    """Goals of the campaigns that ran in the quarter or have a goal due in it. Actuals are
    the campaign's results to date (campaigns.results), not only the quarter's."""
    campaigns = (
        Campaign.objects.filter(goals__isnull=False)
        .filter(
            Q(goals__deadline__gte=start, goals__deadline__lte=end)
            | (
                (Q(starts_on__lte=end) | Q(starts_on__isnull=True))
                & (Q(ends_on__gte=start) | Q(ends_on__isnull=True))
            )
        )
        .distinct()
        .order_by("starts_on", "pk")[:MAX_GOAL_CAMPAIGNS]
    )
    rows = []
    today = timezone.localdate()
    for campaign in campaigns:
        results = campaign_results(campaign=campaign)
        for goal in results["goals"]:
            obj, actual = goal["goal"], goal["actual"]
            if actual is None:
                state = _("暂无数据")
            elif Decimal(str(actual)) >= obj.target:
                state = _("已达成")
            elif obj.deadline < today:
                state = _("未达成")
            else:
                state = _("进行中")
            rows.append({"campaign": campaign.name, "metric": str(obj.get_metric_display()),
                         "metric_key": obj.metric, "target": obj.target, "actual": actual,
                         "progress": goal["progress"], "deadline": obj.deadline,
                         "state": str(state)})  # fmt: skip
    return rows


def _guarded(name: str, compute):
    """A section from reports.analysis, or {"error": message} when it fails: the review is
    still produced, with a note in place of the section."""
    try:
        return compute()
    except Exception:  # an analysis failure must not break the whole export
        logger.exception("review section %s failed", name)
        return {"error": _("该部分暂时无法生成（分析模块出错），其他部分不受影响。")}


def review_data(*, year: int, quarter: int) -> dict:
    """Everything the review shows for one quarter (ValueError for an invalid one). The
    current quarter runs to today; it is compared with the same number of days of the
    previous quarter so that sums stay comparable."""
    year, quarter = validate_quarter(year, quarter)
    start, full_end = quarter_bounds(year, quarter)
    today = timezone.localdate()
    end = min(full_end, today)
    prev_start, prev_full_end = quarter_bounds(*previous_quarter(year, quarter))
    prev_end = min(prev_full_end, prev_start + (end - start))
    kpis = _kpis(start, end, prev_start, prev_end)
    totals = channel_totals(start=start, end=end)
    roi = roi_matrix(start=start, end=end, by="kind")
    span = {"start": start, "end": end, "account_ids": []}
    funnel = _guarded(
        "funnel",
        lambda: analysis.funnel(
            steps=list(DEFAULT_STEPS), window_hours=FUNNEL_WINDOW_HOURS, breakdown="", **span
        ),
    )
    retention = _guarded(
        "retention",
        lambda: analysis.retention(period="month", first_event="", return_event="", **span),
    )
    paths = _guarded("paths", lambda: analysis.top_paths(
        start_event=DEFAULT_STEPS[0], depth=PATH_DEPTH, limit=PATH_LIMIT, **span))  # fmt: skip
    data = {
        "year": year, "quarter": quarter, "label": quarter_label(year, quarter),
        "start": start, "end": end, "partial": end < full_end,
        "previous": {"label": quarter_label(*previous_quarter(year, quarter)),
                     "start": prev_start, "end": prev_end},
        "generated_at": timezone.localtime(),
        "kpis": kpis,
        "events": totals["events"],
        "roi": roi,
        "top_campaigns": top_campaigns(start=start, end=end, limit=TOP_CAMPAIGNS),
        "goals": _goals(start, end),
        "funnel": funnel, "retention": retention, "paths": paths,
    }  # fmt: skip
    data["has_data"] = bool(totals["events"] or totals["orders"] or roi["rows"])
    data["suggestions"] = suggestions(data, totals)
    return data


# --- suggestions -----------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value:.1f}%"


def _funnel_suggestion(funnel: dict) -> list[dict]:
    steps = funnel.get("steps") or []
    if not funnel.get("entered") or len(steps) < 2:
        return []
    worst = max(steps[1:], key=lambda s: s["drop_rate"] or 0)
    if (worst["drop_rate"] or 0) < DROP_ALERT:
        return []
    before = steps[worst["index"] - 2]
    return [{
        "topic": _("漏斗"),
        "title": _("%(a)s→%(b)s 流失 %(rate)s：建议对%(a)s后未%(b)s的客户启用实时触发旅程")
        % {"a": before["label"], "b": worst["label"], "rate": _pct(worst["drop_rate"])},
        "basis": _("%(a)s %(n)s 人，其中 %(m)s 人未%(b)s")
        % {"a": before["label"], "n": before["count"], "m": worst["drop"], "b": worst["label"]},
    }]  # fmt: skip


def _roi_suggestions(roi: dict) -> list[dict]:
    channels = [c for c in roi["channels"] if c["roi"] is not None and c["channel"]]
    if len(channels) < 2:
        return []
    mean = sum(c["roi"] for c in channels) / len(channels)
    spread = ROI_SPREAD * max(abs(mean), 1.0)
    found = []
    for c in channels:
        numbers = {"channel": c["channel_name"], "roi": f"{c['roi']:.2f}", "mean": f"{mean:.2f}"}
        if c["roi"] < mean - spread:
            found.append({"topic": _("预算"), "title": _(
                "%(channel)s ROI %(roi)s，明显低于渠道均值 %(mean)s：建议削减或转移该渠道预算，"
                "并复查素材与定向") % numbers,
                "basis": _("花费 %(spend)s，归因收入 %(revenue)s")
                % {"spend": c["spend"], "revenue": c["campaign_revenue"]}})  # fmt: skip
        elif c["roi"] > mean + spread:
            found.append({"topic": _("预算"), "title": _(
                "%(channel)s ROI %(roi)s，明显高于渠道均值 %(mean)s：建议向该渠道追加预算")
                % numbers,
                "basis": _("花费 %(spend)s，归因收入 %(revenue)s")
                % {"spend": c["spend"], "revenue": c["campaign_revenue"]}})  # fmt: skip
    return found


def _repeat_suggestion(totals) -> list[dict]:
    rate = KPIS["repeat_rate"].compute(totals)
    if rate is None or rate >= LOW_REPEAT:
        return []
    return [{
        "topic": _("复购"),
        "title": _("复购率仅 %(rate)s：建议上线会员积分与复购提醒旅程（首单后 7/30 天触达）")
        % {"rate": _pct(rate * 100)},
        "basis": _("购买人次 %(buyers)s，其中复购 %(returning)s")
        % {"buyers": totals["buyers"], "returning": totals["returning_buyers"]},
    }]  # fmt: skip


def _share_suggestion(totals) -> list[dict]:
    events = totals["events"]
    if not events:
        return []
    shares = totals.event("share")
    if shares / events >= LOW_SHARE:
        return []
    return [{
        "topic": _("社交裂变"),
        "title": _("分享仅占全部行为的 %(rate)s：建议在商品页、支付完成页增加社交平台分享节点"
                   "（分享得积分/优惠券）") % {"rate": _pct(shares * 100 / events)},
        "basis": _("分享 %(shares)s 次 / 事件 %(events)s 次") % {"shares": shares,
                                                                "events": events},
    }]  # fmt: skip


def _retention_suggestion(retention: dict) -> list[dict]:
    cohorts = [c for c in retention.get("cohorts") or [] if c["size"] and len(c["counts"]) > 1
               and c["counts"][1] is not None]  # fmt: skip
    size = sum(c["size"] for c in cohorts)
    if not size:
        return []
    back = sum(c["counts"][1] for c in cohorts)
    rate = back * 100 / size
    if rate >= LOW_RETENTION:
        return []
    return [{
        "topic": _("留存"),
        "title": _("新客次月回访率 %(rate)s：建议为新客建立 30 天培育旅程（欢迎、首购券、"
                   "使用指引）") % {"rate": _pct(rate)},
        "basis": _("%(size)s 位新客中 %(back)s 位在次月回访") % {"size": size, "back": back},
    }]  # fmt: skip


def suggestions(data: dict, totals) -> list[dict]:
    """Rule-based path suggestions, each with the number it rests on (`basis`)."""
    found = []
    if "error" not in data["funnel"]:
        found += _funnel_suggestion(data["funnel"])
    found += _roi_suggestions(data["roi"])
    found += _repeat_suggestion(totals)
    found += _share_suggestion(totals)
    if "error" not in data["retention"]:
        found += _retention_suggestion(data["retention"])
    return [{k: str(v) for k, v in s.items()} for s in found]


# --- shared formatting -----------------------------------------------------------------------


def kpi_text(value, unit: str) -> str:
    """A KPI value as the review prints it."""
    if value is None:
        return "–"
    if unit == "money":
        return f"¥{float(value):,.2f}"
    if unit == "percent":
        return f"{float(value) * 100:.1f}%"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def change_text(change) -> str:
    """A relative change as "+12.3%" (– when there is nothing to compare with)."""
    return "–" if change is None else f"{change * 100:+.1f}%"


def _ratio_text(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _money_text(value) -> str:
    return "–" if value is None else f"{float(value):,.2f}"


def _roi_columns() -> list[str]:
    return [_("渠道"), _("活动"), _("花费"), _("销售额"), _("活动归因收入"), _("归因订单"),
            _("新客"), "ROI", "ROAS", "CAC"]  # fmt: skip


def _goal_columns() -> list[str]:
    return [_("活动"), _("指标"), _("目标值"), _("实际（累计）"), _("进度"), _("截止日期"),
            _("状态")]  # fmt: skip


def _funnel_columns() -> list[str]:
    return [_("步骤"), _("事件"), _("人数"), _("较上一步"), _("总转化"), _("流失人数")]


def _period_head(index: int) -> str:
    return _("第 %(n)s 月") % {"n": index}


# --- XLSX ------------------------------------------------------------------------------------

MONEY_FORMAT, COUNT_FORMAT, SHARE_FORMAT = "#,##0.00", "#,##0", "#,##0.00"
PERCENT_FORMAT, RATIO_FORMAT, CHANGE_FORMAT = "0.0%", "0.00", "+0.0%;-0.0%;0.0%"
UNIT_FORMATS = {"money": MONEY_FORMAT, "count": "#,##0.##", "percent": PERCENT_FORMAT,
                "ratio": RATIO_FORMAT}  # fmt: skip


def _cell_value(value):
    """What openpyxl writes: numbers stay numbers (Decimal as is), dates as dates."""
    return "" if value is None else value


def _sheet(book, title: str, columns: list[str], widths: list[int]):
    sheet = book.create_sheet(title)
    sheet.append([str(c) for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="0D6EFD")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = width
    return sheet


def _append(sheet, values: list, formats: list[str | None], *, bold: bool = False) -> None:
    sheet.append([_cell_value(v) for v in values])
    for cell, fmt in zip(sheet[sheet.max_row], formats, strict=False):
        if fmt:
            cell.number_format = fmt
        if bold:
            cell.font = Font(bold=True)


def _note(sheet, text: str) -> None:
    sheet.append([text])
    sheet.cell(row=sheet.max_row, column=1).font = Font(italic=True, color="6C757D")


def _xlsx_overview(book, data: dict) -> None:
    sheet = _sheet(book, _("概览"), [_("指标"), data["label"], data["previous"]["label"],
                                     _("变化")], [22, 18, 18, 12])  # fmt: skip
    for k in data["kpis"]:
        fmt = UNIT_FORMATS[k["unit"]]
        _append(sheet, [k["label"], k["value"], k["previous"], k["change"]],
                [None, fmt, fmt, CHANGE_FORMAT])  # fmt: skip
    total = data["roi"]["total"]
    _append(sheet, [_("整体 ROI"), total["roi"], None, None], [None, RATIO_FORMAT])
    _append(sheet, [_("整体 ROAS"), total["roas"], None, None], [None, RATIO_FORMAT])
    sheet.append([])
    _note(sheet, _("统计期 %(start)s – %(end)s；对比期 %(ps)s – %(pe)s") % {
        "start": data["start"], "end": data["end"], "ps": data["previous"]["start"],
        "pe": data["previous"]["end"]})  # fmt: skip


def _roi_values(row: dict, channel: str, campaign: str) -> list:
    return [channel, campaign, row["spend"], row["revenue"], row["campaign_revenue"],
            row["orders"], row["new_buyers"], row["roi"], row["roas"], row["cac"]]  # fmt: skip


ROI_FORMATS = [None, None, MONEY_FORMAT, MONEY_FORMAT, MONEY_FORMAT, SHARE_FORMAT, SHARE_FORMAT,
               RATIO_FORMAT, RATIO_FORMAT, MONEY_FORMAT]  # fmt: skip


def _xlsx_roi(book, data: dict) -> None:
    roi = data["roi"]
    sheet = _sheet(book, _("ROI 矩阵"), _roi_columns(), [16, 24, 14, 14, 12, 10, 10, 10, 12])
    for row in roi["rows"]:
        _append(sheet, _roi_values(row, row["channel_name"], row["campaign_name"]), ROI_FORMATS)
    _append(sheet, _roi_values(roi["total"], _("合计"), ""), ROI_FORMATS, bold=True)
    sheet.append([])
    _append(sheet, [_("按渠道汇总")], [None], bold=True)
    for row in roi["channels"]:
        _append(sheet, _roi_values(row, row["channel_name"], _("全部活动")), ROI_FORMATS)
    sheet.append([])
    _note(sheet, _("渠道按渠道类型汇总；归因模型：最终触点。ROI = (收入 − 花费) ÷ 花费。"))


def _xlsx_top(book, data: dict) -> None:
    sheet = _sheet(book, _("热门活动"), _roi_columns()[1:], [24, 14, 14, 12, 10, 10, 10, 12])
    for row in data["top_campaigns"]:
        _append(sheet, _roi_values(row, "", row["campaign_name"])[1:], ROI_FORMATS[1:])


def _xlsx_goals(book, data: dict) -> None:
    sheet = _sheet(book, _("活动目标"), _goal_columns(), [24, 16, 14, 14, 10, 14, 10])
    for g in data["goals"]:
        fmt = RATIO_FORMAT if g["metric_key"] == "roi" else MONEY_FORMAT
        progress = None if g["progress"] is None else g["progress"] / 100
        _append(sheet, [g["campaign"], g["metric"], g["target"], g["actual"], progress,
                        g["deadline"], g["state"]],
                [None, None, fmt, fmt, PERCENT_FORMAT, "yyyy-mm-dd", None])  # fmt: skip
    if not data["goals"]:
        _note(sheet, _("本季度没有设定目标的活动"))


def _fraction(percent) -> float | None:
    return None if percent is None else percent / 100


FUNNEL_FORMATS = [None, None, COUNT_FORMAT, PERCENT_FORMAT, PERCENT_FORMAT, COUNT_FORMAT]


def _xlsx_funnel(book, data: dict) -> None:
    sheet = _sheet(book, _("漏斗"), _funnel_columns(), [20, 16, 10, 12, 12, 12])
    funnel = data["funnel"]
    if "error" in funnel:
        _note(sheet, funnel["error"])
        return
    for s in funnel["steps"]:
        _append(sheet, [f"{s['index']}. {s['label']}", s["name"], s["count"],
                        _fraction(s["from_previous"]), _fraction(s["from_first"]),
                        s["drop"] if s["index"] > 1 else None],
                FUNNEL_FORMATS)  # fmt: skip
    sheet.append([])
    _note(sheet, _("转化窗口 %(h)s 小时，统计期内第一次做第一步的客户进入漏斗。")
          % {"h": FUNNEL_WINDOW_HOURS})  # fmt: skip


def _xlsx_retention(book, data: dict) -> None:
    retention = data["retention"]
    periods = retention.get("periods") or [0]
    sheet = _sheet(book, _("留存"), [_("群组（首次出现月）"), _("人数"),
                                     *[_period_head(i) for i in periods]],
                   [20, 10, *[10] * len(periods)])  # fmt: skip
    if "error" in retention:
        _note(sheet, retention["error"])
        return
    for c in retention["cohorts"]:
        _append(sheet, [c["cohort"], c["size"], *[_fraction(r) for r in c["rates"]]],
                ["yyyy-mm", COUNT_FORMAT, *[PERCENT_FORMAT] * len(c["rates"])])  # fmt: skip
    sheet.append([])
    _note(sheet, _("按客户首次出现的月份分群；第 n 月 = 之后第 n 个月内有任意行为的比例。"))


def _xlsx_suggestions(book, data: dict) -> None:
    sheet = _sheet(book, _("路径建议"), [_("主题"), _("建议"), _("依据")], [12, 70, 40])
    for s in data["suggestions"]:
        _append(sheet, [s["topic"], s["title"], s["basis"]], [None, None, None])
        sheet.cell(row=sheet.max_row, column=2).alignment = Alignment(wrap_text=True)
    if not data["suggestions"]:
        _note(sheet, _("本季度的数据没有触发任何建议规则"))
    sheet.append([])
    _append(sheet, [_("热门路径"), _("路径"), _("人数 / 占比")], [None, None, None], bold=True)
    paths = data["paths"]
    if "error" in paths:
        _note(sheet, paths["error"])
        return
    for p in paths["paths"]:
        _append(sheet, ["", " → ".join(p["labels"]), f"{p['customers']} / {_pct(p['share'] or 0)}"],
                [None, None, None])  # fmt: skip


def review_xlsx(data: dict) -> bytes:
    """The review as an XLSX workbook (built in memory): 概览, ROI 矩阵, 热门活动, 活动目标,
    漏斗, 留存, 路径建议."""
    book = Workbook()
    book.remove(book.active)
    for write in (_xlsx_overview, _xlsx_roi, _xlsx_top, _xlsx_goals, _xlsx_funnel,
                  _xlsx_retention, _xlsx_suggestions):  # fmt: skip
        write(book, data)
    book.properties.title = _("多渠道营销效果白皮书 %(q)s") % {"q": data["label"]}
    out = BytesIO()
    book.save(out)
    return out.getvalue()


# --- PDF -------------------------------------------------------------------------------------

FONT = "STSong-Light"
PDF_MAX_ROWS = 40
BLUE, GREY = colors.HexColor("#0D6EFD"), colors.HexColor("#6C757D")


@functools.cache
def _styles() -> dict:
    # the built-in CID font: Chinese without shipping a font file
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    base = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=14)
    return {
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "num": ParagraphStyle("num", parent=base, fontSize=8.5, leading=11, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", parent=base, fontSize=8.5, leading=11,
                               textColor=colors.white),
        "note": ParagraphStyle("note", parent=base, fontSize=8, leading=11, textColor=GREY),
        "h1": ParagraphStyle("h1", parent=base, fontSize=15, leading=22, spaceBefore=10,
                             spaceAfter=6, textColor=BLUE),
        "title": ParagraphStyle("title", parent=base, fontSize=26, leading=36,
                                alignment=TA_CENTER),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=13, leading=22,
                                   alignment=TA_CENTER, textColor=GREY),
    }  # fmt: skip


def _p(text, style: str = "cell") -> Paragraph:
    return Paragraph(escape(str(text)), _styles()[style])


def _table(columns: list[str], rows: list[list], widths: list[float], numeric: set[int]):
    """A table with a blue header row; columns in `numeric` are right-aligned."""
    body = [[_p(c, "head") for c in columns]]
    for row in rows:
        body.append([_p(v, "num" if i in numeric else "cell") for i, v in enumerate(row)])
    table = Table(body, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), BLUE),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#DEE2E6")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F8F9FA")]),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))  # fmt: skip
    return table


def _section(story: list, title: str) -> None:
    story.append(_p(title, "h1"))


def _channel_chart(roi: dict) -> Drawing:
    """Attributed revenue and spend per channel kind, side by side."""
    channels = roi["channels"][:10]
    drawing = Drawing(170 * mm, 70 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 18 * mm, 14 * mm, 145 * mm, 48 * mm
    chart.data = [
        [float(c["campaign_revenue"]) for c in channels],
        [float(c["spend"]) for c in channels],
    ]
    chart.categoryAxis.categoryNames = [str(c["channel_name"])[:8] for c in channels]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = BLUE
    chart.bars[1].fillColor = colors.HexColor("#FD7E14")
    legend = Legend()
    legend.x, legend.y = 120 * mm, 68 * mm
    legend.fontName, legend.fontSize = FONT, 7
    legend.alignment = "right"
    legend.colorNamePairs = [(BLUE, _("活动归因收入")), (colors.HexColor("#FD7E14"), _("花费"))]
    drawing.add(chart)
    drawing.add(legend)
    drawing.add(String(0, 66 * mm, _("各渠道活动归因收入与花费（元）"), fontName=FONT, fontSize=9))
    return drawing


def _roi_row_text(row: dict, channel: str, campaign: str) -> list[str]:
    return [channel, campaign, _money_text(row["spend"]), _money_text(row["revenue"]),
            _money_text(row["campaign_revenue"]), f"{float(row['orders']):,.2f}",
            f"{float(row['new_buyers']):,.2f}",
            _ratio_text(row["roi"]), _ratio_text(row["roas"]), _money_text(row["cac"])]  # fmt: skip


ROI_WIDTHS = [20, 30, 17, 18, 18, 14, 12, 12, 12, 17]


def _pdf_cover(story: list, data: dict) -> None:
    story.append(Spacer(1, 60 * mm))
    story.append(_p(_("全域 Quanyu"), "subtitle"))
    story.append(Spacer(1, 6 * mm))
    story.append(_p(_("多渠道营销效果白皮书"), "title"))
    story.append(Spacer(1, 6 * mm))
    period = _("%(q)s（%(start)s – %(end)s）") % {"q": data["label"], "start": data["start"],
                                                "end": data["end"]}  # fmt: skip
    if data["partial"]:
        period += _("，截至今日")
    story.append(_p(period, "subtitle"))
    story.append(_p(_("生成时间：%(t)s") % {"t": data["generated_at"].strftime("%Y-%m-%d %H:%M")},
                    "subtitle"))  # fmt: skip
    if not data["has_data"]:
        story.append(Spacer(1, 20 * mm))
        story.append(_p(_("本季度没有数据：各部分为空。"), "subtitle"))
    story.append(PageBreak())


def _pdf_kpis(story: list, data: dict) -> None:
    _section(story, _("一、核心指标（与上季度对比）"))
    rows = [[k["label"], kpi_text(k["value"], k["unit"]), kpi_text(k["previous"], k["unit"]),
             change_text(k["change"])] for k in data["kpis"]]  # fmt: skip
    story.append(_table([_("指标"), data["label"], data["previous"]["label"], _("变化")], rows,
                        [60, 40, 40, 30], {1, 2, 3}))  # fmt: skip
    story.append(
        _p(
            _("对比期：%(s)s – %(e)s。")
            % {"s": data["previous"]["start"], "e": data["previous"]["end"]},
            "note",
        )
    )


def _pdf_roi(story: list, data: dict) -> None:
    roi = data["roi"]
    _section(story, _("二、渠道 ROI 矩阵"))
    if not roi["rows"]:
        story.append(_p(_("本季度没有归因收入或花费。"), "note"))
        return
    story.append(_channel_chart(roi))
    rows = [_roi_row_text(c, c["channel_name"], _("全部活动")) for c in roi["channels"]]
    rows.append(_roi_row_text(roi["total"], _("合计"), ""))
    story.append(_table(_roi_columns(), rows, ROI_WIDTHS, set(range(2, 10))))
    story.append(Spacer(1, 4 * mm))
    story.append(_p(_("渠道 × 活动"), "body"))
    rows = [_roi_row_text(r, r["channel_name"], r["campaign_name"])
            for r in roi["rows"][:PDF_MAX_ROWS]]  # fmt: skip
    story.append(_table(_roi_columns(), rows, ROI_WIDTHS, set(range(2, 10))))
    if len(roi["rows"]) > PDF_MAX_ROWS:
        story.append(_p(_("只列出前 %(n)s 行，完整矩阵见 XLSX。") % {"n": PDF_MAX_ROWS}, "note"))


def _pdf_campaigns(story: list, data: dict) -> None:
    _section(story, _("三、热门活动与目标达成"))
    rows = [_roi_row_text(c, "", c["campaign_name"])[1:] for c in data["top_campaigns"]]
    if rows:
        story.append(_table(_roi_columns()[1:], rows, ROI_WIDTHS[1:], set(range(1, 8))))
    else:
        story.append(_p(_("本季度没有带来归因收入的活动。"), "note"))
    story.append(Spacer(1, 4 * mm))
    rows = [[g["campaign"], g["metric"], _money_text(g["target"]),
             _money_text(g["actual"]) if g["metric_key"] != "roi" else _ratio_text(
                 None if g["actual"] is None else float(g["actual"])),
             "–" if g["progress"] is None else f"{g['progress']}%", g["deadline"], g["state"]]
            for g in data["goals"][:PDF_MAX_ROWS]]  # fmt: skip
    if rows:
        story.append(_table(_goal_columns(), rows, [38, 26, 22, 24, 16, 22, 18], {2, 3, 4}))
    else:
        story.append(_p(_("本季度没有设定目标的活动。"), "note"))


def _pdf_funnel(story: list, data: dict) -> None:
    _section(story, _("四、转化漏斗"))
    funnel = data["funnel"]
    if "error" in funnel:
        story.append(_p(funnel["error"], "note"))
        return
    rows = [[f"{s['index']}. {s['label']}", s["name"], s["count"],
             "–" if s["from_previous"] is None else _pct(s["from_previous"]),
             "–" if s["from_first"] is None else _pct(s["from_first"]),
             s["drop"] if s["index"] > 1 else "–"] for s in funnel["steps"]]  # fmt: skip
    story.append(_table(_funnel_columns(), rows, [40, 32, 22, 25, 25, 22], {2, 3, 4, 5}))
    story.append(_p(_("转化窗口 %(h)s 小时。") % {"h": FUNNEL_WINDOW_HOURS}, "note"))


def _pdf_retention(story: list, data: dict) -> None:
    _section(story, _("五、新客留存（按月）"))
    retention = data["retention"]
    if "error" in retention:
        story.append(_p(retention["error"], "note"))
        return
    cohorts = retention["cohorts"]
    if not any(c["size"] for c in cohorts):
        story.append(_p(_("本季度没有新客。"), "note"))
        return
    periods = retention["periods"][:8]
    rows = [[c["cohort"].strftime("%Y-%m"), c["size"],
             *["" if r is None else _pct(r) for r in c["rates"][:len(periods)]]]
            for c in cohorts]  # fmt: skip
    width = min(18, 130 / len(periods))
    story.append(
        _table(
            [_("群组"), _("人数"), *[_period_head(i) for i in periods]],
            rows,
            [24, 16, *[width] * len(periods)],
            set(range(1, 2 + len(periods))),
        )
    )


def _pdf_suggestions(story: list, data: dict) -> None:
    _section(story, _("六、用户路径优化建议"))
    if data["suggestions"]:
        rows = [[s["topic"], s["title"], s["basis"]] for s in data["suggestions"]]
        story.append(_table([_("主题"), _("建议"), _("依据")], rows, [20, 100, 50], set()))
    else:
        story.append(_p(_("本季度的数据没有触发任何建议规则。"), "note"))
    paths = data["paths"]
    story.append(Spacer(1, 4 * mm))
    story.append(_p(_("热门路径（从浏览商品开始）"), "body"))
    if "error" in paths:
        story.append(_p(paths["error"], "note"))
    elif paths["paths"]:
        rows = [[" → ".join(p["labels"]), p["customers"], _pct(p["share"] or 0)]
                for p in paths["paths"]]  # fmt: skip
        story.append(_table([_("路径"), _("人数"), _("占比")], rows, [130, 20, 20], {1, 2}))
    else:
        story.append(_p(_("没有路径数据。"), "note"))


def _page_decor(label: str):
    def draw(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(GREY)
        width, _height = A4
        canvas.drawString(18 * mm, 10 * mm, _("全域 Quanyu · 多渠道营销效果白皮书 %(q)s")
                          % {"q": label})  # fmt: skip
        canvas.drawRightString(width - 18 * mm, 10 * mm, _("第 %(n)s 页") % {"n": doc.page})
        canvas.restoreState()

    return draw


def review_pdf(data: dict, *, compress: bool = True) -> bytes:
    """The review as an A4 PDF (built in memory): a title page, then KPIs, the ROI matrix
    with a chart, campaigns and goals, funnel, retention and path suggestions, with page
    numbers. `compress=False` leaves the text streams readable (tests)."""
    _styles()
    out = BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
        bottomMargin=18 * mm, title=_("多渠道营销效果白皮书 %(q)s") % {"q": data["label"]},
        author=_("全域 Quanyu"), pageCompression=1 if compress else 0, invariant=not compress,
    )  # fmt: skip
    story: list = []
    _pdf_cover(story, data)
    for write in (_pdf_kpis, _pdf_roi, _pdf_campaigns, _pdf_funnel, _pdf_retention,
                  _pdf_suggestions):  # fmt: skip
        write(story, data)
    decor = _page_decor(data["label"])
    doc.build(story, onFirstPage=decor, onLaterPages=decor)
    return out.getvalue()
