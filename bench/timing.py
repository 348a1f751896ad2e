"""Timing helpers shared by the bench cases: medians of repeated runs, one result shape."""

import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], *, repeats: int, warm: bool = True) -> float:
    """Median wall time of `fn` over `repeats` runs, in milliseconds (after one warm-up)."""
    if warm:
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def timed_ms(fn: Callable[[int], object], *, repeats: int) -> float:
    """Median time of `fn(run)` for runs 0…repeats-1; for writes that need fresh data each run."""
    times = []
    for run in range(repeats):
        started = time.perf_counter()
        fn(run)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def case(*, name: str, ours_ms: float, baseline_ms: float, repeats: int, rows: int, what: str):
    """One line of results.json: our code path beside its hand-written SQL baseline."""
    return {
        "name": name,
        "ours_ms": round(ours_ms, 2),
        "baseline_ms": round(baseline_ms, 2),
        "ratio": round(ours_ms / baseline_ms, 2) if baseline_ms else None,
        "repeats": repeats,
        "rows": rows,
        "baseline": what,
    }


def same_rows(name: str, ours: int, baseline: int) -> int:
    """The correctness check: ours and the baseline must agree on how many rows they saw."""
    if ours != baseline:
        raise AssertionError(f"{name}: ours returned {ours} rows, the SQL baseline {baseline}")
    return ours
