"""A report chart: a plotly figure plus the table of numbers it draws, so that every chart can
be downloaded as PNG (plotly, in the browser) and as CSV (`?export=<chart id>`, the same URL
with the same filters)."""

import csv
from dataclasses import dataclass, field

from django.http import Http404, HttpResponse
from django.utils.text import slugify


@dataclass
class Chart:
    id: str
    title: str
    figure: dict | None
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    height: int = 320
    note: str = ""


def csv_response(chart: Chart, *, filename: str = "") -> HttpResponse:
    """The chart's rows as a UTF-8 CSV with a BOM, so Excel opens the Chinese correctly."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = filename or slugify(chart.id) or "chart"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(chart.columns)
    for row in chart.rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    return response


def export_response(request, charts: list[Chart]) -> HttpResponse | None:
    """The CSV the URL asks for (`?export=<id>`), else None (render the page). An unknown id
    is a 404, not the page."""
    wanted = request.GET.get("export")
    if not wanted:
        return None
    for chart in charts:
        if chart and chart.id == wanted:
            return csv_response(chart, filename=f"{chart.id}-{request.GET.get('start', '')}")
    raise Http404(wanted)
