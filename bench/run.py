"""`make bench SCALE=S|L`: load the demo brand into a database of its own, time the product's
hot paths beside hand-written SQL doing the same work, and write `bench/results.json`.

S: 5,000 people (the demo at its default size). L: 50,000. The database follows DATABASE_URL
(SQLite by default): SQLite goes to `var/bench/`, PostgreSQL to `<name>_bench`. Both are
rebuilt from scratch on every run, so development data is never touched.
"""

import argparse
import json
import os
import platform
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS = BASE_DIR / "bench" / "results.json"
SCALES = {"S": 5_000, "L": 50_000}
SEED = 42
WRITE_REPEATS = 5  # writes change the data, so they repeat less than reads


def own_database() -> str:
    """Point this process at a fresh benchmark database; returns its vendor."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        base, _, name = url.rpartition("/")
        name = name.split("?")[0] + "_bench"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = f"{base}/{name}"
        return "postgresql"
    var = BASE_DIR / "var" / "bench"
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    os.environ["QUANYU_VAR_DIR"] = str(var)
    os.environ.pop("DATABASE_URL", None)
    return "sqlite"


def _busiest_customer() -> int:
    from django.db.models import Count

    from customers.models import Event

    busiest = Event.objects.values("customer_id").annotate(n=Count("id")).order_by("-n", "pk")
    return busiest.values_list("customer_id", flat=True).first()


def measure(
    *, scale: str, customers: int, repeats: int, batch: int = 10_000, resolve_sets: int = 1_000
) -> dict:
    """Load the demo into the current (empty) database and run every case (Django is set up)."""
    from django.db import connection

    from bench.dataset import dataset_load
    from bench.reads import measure_detail, measure_list
    from bench.resolution import measure_resolution
    from bench.writes import measure_ingest, measure_score
    from tags.models import Tag

    load = dataset_load(customers=customers, seed=SEED)
    writes = max(1, min(repeats, WRITE_REPEATS))
    tag_id = Tag.objects.get(group__name="兴趣偏好", name="绿茶").pk
    cases = [
        measure_list(tag_id=tag_id, channel="tmall", repeats=repeats),
        measure_detail(customer_id=_busiest_customer(), repeats=repeats),
        measure_score(repeats=writes),
        measure_resolution(count=resolve_sets, repeats=writes),
        measure_ingest(count=batch, repeats=writes),
    ]
    return {
        "scale": scale,
        "database": connection.vendor,
        "customers": load["customers"],
        "events": load["events"],
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load": load,
        "cases": cases,
    }


def report_print(report: dict) -> None:
    """The results as a table on stdout."""
    load = report["load"]
    print(
        f"scale {report['scale']} on {report['database']}: {load['people']:,} people → "
        f"{load['customers']:,} customers, {load['events']:,} events, {load['orders']:,} "
        f"orders, {load['merges']:,} merges in {load['seconds']} s "
        f"({load['customers_per_s']:,.0f} customers/s, {load['events_per_s']:,.0f} events/s)"
    )
    print(f"{'case':28} {'ours ms':>10} {'SQL ms':>10} {'ratio':>7} {'rows':>8} {'runs':>5}")
    for c in report["cases"]:
        print(
            f"{c['name']:28} {c['ours_ms']:>10,.2f} {c['baseline_ms']:>10,.2f} "
            f"{c['ratio'] or 0:>7.2f} {c['rows']:>8,} {c['repeats']:>5}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="S")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    own_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"Quanyu bench, scale {args.scale}: loading {SCALES[args.scale]:,} people…")
    report = measure(scale=args.scale, customers=SCALES[args.scale], repeats=args.repeats)
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    output = Path(args.output)
    output.write_text(text)
    # each database's latest figures side by side as well
    by_database = output.with_name(f"{output.stem}.{report['database']}{output.suffix}")
    by_database.write_text(text)
    report_print(report)
    print(f"written to {output} and {by_database.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
