"""The benchmark's machinery at a tiny scale: every case runs and agrees with its SQL."""

import json

import pytest

from bench.reads import list_baseline, list_ours
from bench.run import measure, report_print
from tags.models import Tag

pytestmark = pytest.mark.django_db(transaction=True)

CASES = {
    "customer_list_tag_channel",
    "customer_detail_timeline",
    "customers_score",
    "customer_resolve_40",
    "events_ingest_300",
}


def test_bench_report_has_every_case_beside_its_baseline(tmp_path, capsys):
    report = measure(scale="T", customers=60, repeats=1, batch=300, resolve_sets=40)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(report, ensure_ascii=False))
    loaded = json.loads(path.read_text())
    assert {"scale", "database", "customers", "events", "generated_at", "load", "cases"} <= set(
        loaded
    )
    assert loaded["customers"] >= 60 and loaded["events"] > 60
    assert loaded["load"]["customers_per_s"] > 0 and loaded["load"]["events_per_s"] > 0
    assert {c["name"] for c in loaded["cases"]} == CASES
    for c in loaded["cases"]:
        assert set(c) >= {"name", "ours_ms", "baseline_ms", "ratio", "repeats", "rows"}
        assert c["ours_ms"] > 0 and c["baseline_ms"] > 0 and c["repeats"] == 1
    rows = {c["name"]: c["rows"] for c in loaded["cases"]}
    assert rows["customer_resolve_40"] == 20  # half the sets name a known customer
    assert rows["events_ingest_300"] == 300
    assert rows["customers_score"] == loaded["customers"]  # scored before the writes
    report_print(report)
    assert "customers_score" in capsys.readouterr().out


def test_list_baseline_agrees_with_the_filter_set_for_every_tag_and_channel():
    from config.demo import demo_load

    demo_load(seed=5, customers=60)
    for tag in Tag.objects.all():
        for channel in ("tmall", "oa", "app", "wechat_mini"):
            ours = list_ours(tag_id=tag.pk, channel=channel)
            assert ours == list_baseline(tag_id=tag.pk, channel=channel)
