"""The reports bench at a tiny scale: every figure is measured and the product's rollups,
funnels and retention equal the hand-written SQL (the bench raises when they differ)."""

import pytest

from bench.reports import measure

pytestmark = pytest.mark.django_db(transaction=True)


def test_reports_bench_measures_every_page_beside_its_baseline():
    report = measure(scale="T", customers=400, events=20_000, repeats=1)
    d = report["dataset"]
    assert (d["customers"], d["events"], d["campaigns"]) == (400, 20_000, 4)
    assert d["deliveries_sent"] == 20 and d["rollup_rows"]["AttributionDay"] > 0
    rows = {r["name"]: r for r in report["results"]}
    assert {"rollups_refresh_span", "page_home", "page_roi_linear_by_kind", "api_kpis_mini",
            "funnel_30d", "funnel_30d_by_channel", "retention_8w_weekly",
            "page_paths"} <= set(rows)  # fmt: skip
    for name in ("funnel_30d", "funnel_30d_by_channel"):
        steps = rows[name]["facts"]["steps"]
        assert steps[0] > steps[1] > 0, steps  # the funnel had customers at each step
    assert rows["retention_8w_weekly"]["facts"]["customers"] > 0
    for r in report["results"]:
        assert r["value"] > 0 and r["scale"] == "T"
        assert r["goal_met"] is None or r["goal_met"] == (r["value"] <= r["goal_ms"])
