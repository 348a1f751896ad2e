"""The bench's data: the demo brand at the bench's scale, loaded through `seed_demo` and timed."""

import time

from django.db import connection

from config.demo import demo_load


def dataset_load(*, customers: int, seed: int) -> dict:
    """Load the demo (the product's own ingestion) and report its throughput."""
    started = time.perf_counter()
    summary = demo_load(seed=seed, customers=customers)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "seconds": round(seconds, 1),
        "people": customers,
        "customers": summary.customers,
        "identities": summary.identities,
        "merges": summary.merges,
        "events": summary.events,
        "orders": summary.orders,
        "customers_per_s": round(summary.customers / seconds, 1),
        "events_per_s": round(summary.events / seconds, 1),
    }
