"""`make bench SCALE=S|L`: build a synthetic dataset in a database of its own, measure the
product's hot paths beside hand-written SQL, and write `bench/results.json`.

S: 100k customers / 1M events. L: 1M customers / 10M events. The database follows
DATABASE_URL (SQLite by default): SQLite goes to `var/bench/`, PostgreSQL to `<name>_bench`.
Both are rebuilt from scratch on every run.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS = BASE_DIR / "bench" / "results.json"
SCALES = {"S": (100_000, 1_000_000), "L": (1_000_000, 10_000_000)}  # customers, events
HTTP_BATCHES = {"S": 5, "L": 10}
RESOLVE_SETS = 2000


def _own_database() -> str:
    """Point this process at a fresh benchmark database; returns its description."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        base, _, name = url.rpartition("/")
        name = name.split("?")[0] + "_bench"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = f"{base}/{name}"
        return f"postgresql ({name})"
    var = BASE_DIR / "var" / "bench"
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    os.environ["QUANYU_VAR_DIR"] = str(var)
    os.environ.pop("DATABASE_URL", None)
    return f"sqlite ({var / 'quanyu.sqlite3'})"


def result(name: str, value: float, unit: str, scale: str, baseline: float, how: str) -> dict:
    ratio = value / baseline if baseline else None
    return {
        "name": name,
        "value": round(value, 2),
        "unit": unit,
        "scale": scale,
        "baseline": round(baseline, 2),
        "baseline_method": how,
        "ratio_to_baseline": round(ratio, 3) if ratio else None,
    }


def measure(
    *, scale: str, customers: int, events: int, batches: int, repeats: int, only: str = "all"
) -> dict:
    """Build the dataset in the current database and measure everything (Django is set up)."""
    from django.db.models import Count

    from bench.console import measure_list, measure_profile
    from bench.dataset import dataset_build
    from bench.http_ingest import copy_baseline, ingest_over_http
    from bench.resolution import measure_resolution
    from customers.models import Event

    started = time.perf_counter()
    data = dataset_build(customers=customers, events=events)
    build_seconds = time.perf_counter() - started
    rows = data.customers + data.identities + data.events + data.orders
    results = []
    if only in ("all", "audiences"):
        from bench.audiences import measure_audiences

        for row in measure_audiences(repeats=max(3, repeats // 3)):
            results.append(
                result(f"audience_{row['name']}", row["ours_ms"], "ms", scale, row["baseline_ms"],
                       f"hand-written SQL COUNT of the same set ({row['rows']:,} customers)")
            )  # fmt: skip
    if only == "audiences":
        return _report(scale, data, build_seconds, rows, results, list_matches=None)

    http = ingest_over_http(batches=batches, customers=customers, offset=1)
    copy = copy_baseline(rows=http["events"], offset=1)
    results.append(
        result("events_batch_http", http["per_second"], "events/s", scale, copy["per_second"],
               "raw COPY (PostgreSQL) / executemany (SQLite) of the same number of rows")
    )  # fmt: skip

    resolution = measure_resolution(count=min(RESOLVE_SETS, customers), customers=customers)
    results.append(
        result("identity_resolution", resolution["ours_per_second"], "identities/s", scale,
               resolution["baseline_per_second"], "hand-written SELECT … / INSERT per set")
    )  # fmt: skip

    listing = measure_list(tag_id=data.tag_ids[0], channel="tmall", repeats=repeats)
    results.append(
        result("customer_list_tag_and_channel", listing["ours_ms"], "ms", scale,
               listing["baseline_ms"], "hand-written COUNT + first page + tags (SQL only)")
    )  # fmt: skip
    busiest = (  # the most active of the first thousand customers
        Event.objects.filter(customer_id__lt=data.first_customer_id + 1000)
        .values("customer_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()["customer_id"]
    )
    profile = measure_profile(customer_id=busiest, repeats=repeats)
    results.append(
        result("customer_profile", profile["ours_ms"], "ms", scale, profile["baseline_ms"],
               "hand-written queries for the same rows (SQL only)")
    )  # fmt: skip
    return _report(scale, data, build_seconds, rows, results, list_matches=listing["rows"])


def _report(scale, data, build_seconds, rows, results, *, list_matches) -> dict:
    return {
        "scale": scale,
        "dataset": {
            "customers": data.customers,
            "events": data.events,
            "identities": data.identities,
            "orders": data.orders,
            "build_seconds": round(build_seconds, 1),
            "build_rows_per_second": round(rows / build_seconds),
            "list_matches": list_matches,
        },
        "results": results,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["S", "L"], default="S")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument(
        "--only", choices=["all", "audiences"], default="all", help="measure a part only"
    )
    args = parser.parse_args(argv)
    customers, events = SCALES[args.scale]
    database = _own_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    call_command("migrate", verbosity=0)
    setup_test_environment()  # the test client then records the rendered page's context
    print(f"Quanyu bench, scale {args.scale}: {customers:,} customers / {events:,} events")
    print(f"database: {database}")
    report = measure(
        scale=args.scale,
        customers=customers,
        events=events,
        batches=HTTP_BATCHES[args.scale],
        repeats=args.repeats,
        only=args.only,
    )
    report.update(
        database=database.split()[0],
        generated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        machine={"python": platform.python_version(), "cpus": os.cpu_count()},
    )
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    output = Path(args.output)
    if args.only != "all" and output == RESULTS:  # a partial run keeps the full figures
        output = RESULTS.with_name(f"results-{args.only}-{args.scale}.json")
    output.write_text(text)
    # keep each database's latest figures side by side too
    by_database = output.with_name(f"{output.stem}.{report['database']}{output.suffix}")
    by_database.write_text(text)
    _print(report)
    print(f"written to {output} and {by_database}")
    return 0


def _print(report: dict) -> None:
    d = report["dataset"]
    print(f"dataset built in {d['build_seconds']} s ({d['build_rows_per_second']:,} rows/s)")
    print(f"{'measure':34} {'ours':>12} {'baseline':>12} {'unit':>14} {'ratio':>7}")
    for r in report["results"]:
        print(
            f"{r['name']:34} {r['value']:>12,.2f} {r['baseline']:>12,.2f} {r['unit']:>14} "
            f"{r['ratio_to_baseline'] or 0:>7.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
