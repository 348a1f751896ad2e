"""The benchmark's machinery at a tiny scale: it runs, and ours and the SQL agree."""

import pytest

from bench.audiences import REFERENCE
from bench.console import list_baseline_sql
from bench.run import measure
from customers.filters import CustomerFilterSet
from customers.models import Customer, Event

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_measures_every_path_beside_its_baseline():
    report = measure(scale="T", customers=300, events=3000, batches=1, repeats=1)
    assert report["dataset"]["customers"] == 300 and report["dataset"]["events"] == 3000
    names = {r["name"] for r in report["results"]}
    assert names == {
        "events_batch_http",
        "identity_resolution",
        "customer_list_tag_and_channel",
        "customer_profile",
        *(f"audience_{name}" for name in REFERENCE),
    }
    for r in report["results"]:
        assert r["value"] > 0 and r["baseline"] > 0 and r["scale"] == "T"
    # the HTTP run stored its 10,000 events, the COPY baseline as many again
    assert Event.objects.filter(source_id__startswith="http-").count() == 10_000
    assert Event.objects.filter(source_id__startswith="copy-").count() == 10_000


def test_list_baseline_counts_what_the_filter_set_counts():
    from bench.dataset import dataset_build

    data = dataset_build(customers=200, events=2000)
    for tag_id in data.tag_ids[:3]:
        for channel in ("tmall", "oa", "app"):
            ours = CustomerFilterSet(
                {"tag": str(tag_id), "channel": channel}, queryset=Customer.objects.all()
            ).qs.count()
            assert ours == list_baseline_sql(tag_id=tag_id, channel=channel)[0]


def test_reference_audiences_match_their_hand_written_sql_and_are_not_empty():
    """measure_audiences raises when a count differs; here each set is also non-trivial."""
    from bench.audiences import measure_audiences
    from bench.dataset import dataset_build

    dataset_build(customers=400, events=8000)
    rows = {row["name"]: row["rows"] for row in measure_audiences(repeats=1)}
    assert set(rows) == set(REFERENCE)
    assert all(0 < count < 400 for count in rows.values()), rows


def test_materialisation_bench_writes_what_its_hand_written_insert_writes():
    """bench.materialise raises when the two runs' rows differ; here every rule had work."""
    from bench.materialise import measure as measure_materialise

    report = measure_materialise(scale="T", customers=300, repeats=1)
    (row,) = report["results"]
    # both timed (at this size either may round to 0.00 s); what counts is that they agree
    assert row["name"] == "delivery_materialise" and row["unit"] == "s"
    assert len(report["dataset"]["ours_seconds"]) == len(report["dataset"]["baseline_seconds"]) == 1
    tally = report["dataset"]["by_channel_status_reason"]
    assert sum(tally.values()) == report["dataset"]["customers"] == 300
    assert {key.split("/")[0] for key in tally} == {"sms", "oa"}
    assert tally["sms/skipped/do_not_contact"] > 0 and tally["sms/skipped/no_consent"] > 0
