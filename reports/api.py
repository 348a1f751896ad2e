"""Public API v1: `GET /api/v1/reports/roi-matrix` and `GET /api/v1/reports/kpis`, read from
the daily rollups (the contract in the architecture; shapes in docs/metrics.md)."""

from decimal import Decimal

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reports import metrics
from reports.models import ChannelDay
from reports.roi import roi_matrix
from reports.serializers import KpiQuerySerializer, RoiQuerySerializer

CENT = Decimal("0.01")


def _money(value) -> str:
    return str(Decimal(value or 0).quantize(CENT))


def _number(value, places: int = 4):
    if value is None:
        return None
    return round(float(value), places)


def _cell(row: dict) -> dict:
    return {
        "spend": _money(row["spend"]),
        "revenue": _money(row["revenue"]),
        "campaign_revenue": _money(row["campaign_revenue"]),
        "orders": _number(row["orders"]),
        "new_buyers": _number(row["new_buyers"]),
        "roi": _number(row["roi"]),
        "roas": _number(row["roas"]),
        "cac": _number(row["cac"], 2),
    }


class ReportView(APIView):
    """Reading reports needs the `reports.view_channelday` permission (analysts have it)."""

    queryset = ChannelDay.objects.none()


class RoiMatrixView(ReportView):
    @extend_schema(parameters=[RoiQuerySerializer], responses=OpenApiResponse(description="ROI"))
    def get(self, request):
        query = RoiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        accounts = q.get("channel") or []
        matrix = roi_matrix(
            start=q["start"], end=q["end"], model=q["model"], by=q["by"],
            account_ids=[a.pk for a in accounts] or None,
        )  # fmt: skip
        return Response({
            "start": q["start"], "end": q["end"], "model": q["model"], "by": q["by"],
            "currency": "CNY",
            "rows": [
                {"channel": r["channel"], "channel_name": r["channel_name"],
                 "campaign": r["campaign"], "campaign_name": r["campaign_name"], **_cell(r)}
                for r in matrix["rows"]
            ],
            "channels": [
                {"channel": c["channel"], "channel_name": c["channel_name"], **_cell(c)}
                for c in matrix["channels"]
            ],
            "campaigns": [
                {"campaign": c["campaign"], "campaign_name": c["campaign_name"], **_cell(c)}
                for c in matrix["campaigns"]
            ],
            "total": _cell(matrix["total"]),
        })  # fmt: skip


class KpisView(ReportView):
    @extend_schema(parameters=[KpiQuerySerializer], responses=OpenApiResponse(description="KPIs"))
    def get(self, request):
        query = KpiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        accounts = q.get("channel") or []
        cards = metrics.kpi_cards(
            list(metrics.KPIS), start=q["start"], end=q["end"],
            account_ids=[a.pk for a in accounts] or None,
        )  # fmt: skip
        previous_start, previous_end = metrics.previous_period(q["start"], q["end"])
        kinds = sorted({a.kind for a in accounts})
        featured = metrics.KIND_KPIS.get(kinds[0], ()) if len(kinds) == 1 else metrics.HOME_KPIS
        return Response({
            "channel": request.query_params.get("channel", ""),
            "accounts": [a.code for a in accounts],
            "start": q["start"], "end": q["end"],
            "previous_start": previous_start, "previous_end": previous_end,
            "featured": list(featured),
            "kpis": {
                c["key"]: {"label": str(c["label"]), "unit": c["unit"],
                           "value": _number(c["value"]), "previous": _number(c["previous"]),
                           "change": _number(c["change"])}
                for c in cards
            },
        })  # fmt: skip
