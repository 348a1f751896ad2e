from django.urls import path

from reports import api

urlpatterns = [
    path("reports/roi-matrix", api.RoiMatrixView.as_view(), name="api-report-roi"),
    path("reports/kpis", api.KpisView.as_view(), name="api-report-kpis"),
]
