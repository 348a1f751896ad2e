"""Console: reports (an empty state until the reports issue lands)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _


@login_required
def report_index(request):
    return render(
        request,
        "coming_soon.html",
        {
            "title": _("报表"),
            "icon": "graph-up",
            "empty_title": _("报表即将上线"),
            "empty_text": _("渠道 KPI、ROI 矩阵、漏斗、留存与预警会在这里呈现。"),
        },
    )
