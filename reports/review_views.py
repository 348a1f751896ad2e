"""Console: the quarterly review (《多渠道营销效果白皮书》) — pick a quarter, preview its main
numbers and suggestions, download it as PDF or XLSX (each download is audited)."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from common.audit import audit_record
from common.models import AuditLog
from reports.review import (
    change_text,
    kpi_text,
    last_complete_quarter,
    previous_quarter,
    quarter_label,
    quarter_of,
    review_data,
    review_pdf,
    review_xlsx,
    validate_quarter,
)

PERMISSION = "reports.view_channelday"
QUARTER_CHOICES = 8  # the current quarter and the seven before it
FORMATS = {
    "pdf": ("application/pdf", review_pdf),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", review_xlsx),
}
PREVIEW_KPIS = ("gmv", "orders", "aov", "conversion", "repeat_rate", "spend")


def _choices(today) -> list[dict]:
    current = quarter_of(today)
    quarter, found = current, []
    for _i in range(QUARTER_CHOICES):
        label = quarter_label(*quarter)
        if quarter == current:
            label = _("%(q)s（截至今日）") % {"q": label}
        found.append({"value": quarter_label(*quarter), "label": label, "quarter": quarter})
        quarter = previous_quarter(*quarter)
    return found


def _selected(value: str, today) -> tuple[tuple[int, int], str]:
    """The quarter the URL asks for (`?q=2026-Q3`), else the last complete one with an
    error message for a bad value."""
    if not value:
        return last_complete_quarter(today), ""
    try:
        year, quarter = value.upper().split("-Q")
        return validate_quarter(year, quarter), ""
    except ValueError:
        message = _("无效的季度“%(v)s”，已显示上一个完整季度。") % {"v": value[:20]}
        return last_complete_quarter(today), message


@login_required
@permission_required(PERMISSION, raise_exception=True)
def review(request):
    """Choose a quarter (default: the last complete one), preview it, download it."""
    today = timezone.localdate()
    (year, quarter), error = _selected(request.GET.get("q", "").strip(), today)
    data = review_data(year=year, quarter=quarter)
    kpis = [
        {**k, "text": kpi_text(k["value"], k["unit"]), "change_text": change_text(k["change"]),
         "previous_text": kpi_text(k["previous"], k["unit"])}
        for k in data["kpis"] if k["key"] in PREVIEW_KPIS
    ]  # fmt: skip
    context = {"tab": "review", "data": data, "kpis": kpis, "error": error,
               "choices": _choices(today), "selected": quarter_label(year, quarter),
               "year": year, "quarter": quarter}  # fmt: skip
    return render(request, "reports/review.html", context)


@login_required
@permission_required(PERMISSION, raise_exception=True)
def review_download(request, year: int, quarter: int, fmt: str):
    """The review of one quarter as a PDF or XLSX attachment; the export is audited."""
    if fmt not in FORMATS:
        raise Http404(fmt)
    try:
        data = review_data(year=year, quarter=quarter)
    except ValueError as error:
        raise Http404(str(error)) from None
    content_type, render_file = FORMATS[fmt]
    body = render_file(data)
    audit_record(
        action=AuditLog.Action.EXPORT,
        summary=_("导出季度复盘 %(q)s（%(fmt)s）") % {"q": data["label"], "fmt": fmt.upper()},
        actor=request.user,
        details={
            "report": "review",
            "year": data["year"],
            "quarter": data["quarter"],
            "format": fmt,
            "bytes": len(body),
        },  # fmt: skip
    )
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="quanyu-review-{data["label"]}.{fmt}"'
    return response
