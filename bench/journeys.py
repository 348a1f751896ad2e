"""`python -m bench.journeys --scale S`: the journey engine in enrolment steps/s, and the
real-time trigger's latency after its deadline.

Engine: N enrolments due at once in a journey of condition (a tag) → add a tag → wait,
advanced by `--workers` processes (`journeys_advance`, as the Beat tick runs it).
Baseline: the same state changes written by hand in set-wise SQL (the step rows, the tags,
the enrolments' new position) — what the per-enrolment engine pays for running each action
once, with its own commit, is the difference.

Triggers: M events A whose deadlines fall over the next 40 seconds; `triggers_tick` is called
every 15 seconds as Beat calls it; the latency of each wait is fired_at − deadline (p50, p95,
max). Baseline: the polling interval itself (the floor of any tick-based design).

Writes `bench/results-journeys-<scale>.json` and `….<database>.json` like `bench.run`.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench.pushes import in_processes
from bench.run import RESULTS, _own_database, result

SCALES = {"T": (300, 30), "S": (20_000, 500), "L": (200_000, 5_000)}
TICK_SECONDS = 15


def journey_build(enrolments: int):
    """An active journey with `enrolments` customers due now at its first step."""
    from django.utils import timezone

    from campaigns.choices import JourneyStatus, StepKind
    from campaigns.models import Enrolment, Journey, JourneyStep
    from customers.models import Customer
    from tags.models import CustomerTag, Tag, TagGroup

    group = TagGroup.objects.create(name=f"bench {time.time_ns()}")
    member, nurtured = (Tag.objects.create(name=f"{n} {group.pk}", group=group)
                        for n in ("会员", "已培育"))  # fmt: skip
    now = timezone.now()
    journey = Journey.objects.create(
        name="bench", trigger_kind="event", trigger={"event": "bench"},
        status=JourneyStatus.ACTIVE, activated_at=now, scanned_until=now,
    )  # fmt: skip
    steps = [
        (StepKind.CONDITION, {"definition": {"tag": member.pk}, "no": "end"}),
        (StepKind.ACTION, {"action": "tag_add", "tags": [nurtured.pk]}),
        (StepKind.WAIT, {"mode": "duration", "days": 1, "hours": 0, "minutes": 0}),
    ]
    JourneyStep.objects.bulk_create(
        JourneyStep(journey=journey, position=i, kind=k, config=c) for i, (k, c) in enumerate(steps)
    )
    customers = Customer.objects.bulk_create(
        (Customer(name=f"bench {i}") for i in range(enrolments)), batch_size=5000
    )
    CustomerTag.objects.bulk_create(
        (CustomerTag(customer=c, tag=member) for c in customers), batch_size=5000
    )
    Enrolment.objects.bulk_create(
        (Enrolment(journey=journey, customer=c, entered_at=now, next_run_at=now)
         for c in customers), batch_size=5000,
    )  # fmt: skip
    return journey, nurtured


def _advance(_arg) -> int:
    from campaigns.journeys import journeys_advance

    return journeys_advance(batch=200)


def baseline_sql(journey, tag) -> float:
    """The engine's writes for the same enrolments, set-wise by hand; seconds."""
    from django.db import connection, transaction
    from django.utils import timezone

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    steps = dict(journey.steps.values_list("position", "pk"))
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for position, outcome in ((0, "yes"), (1, "")):
            cursor.execute(
                "INSERT INTO campaigns_steprun (enrolment_id, step_id, status, outcome, detail, "
                "platform_id, started_at, finished_at) SELECT e.id, %s, 'done', %s, '', '', %s, %s "
                "FROM campaigns_enrolment e JOIN tags_customertag ct "
                "ON ct.customer_id = e.customer_id AND ct.tag_id = %s "
                "WHERE e.journey_id = %s AND e.status = 'active'",
                [steps[position], outcome, now, now, _member_tag(journey), journey.pk],
            )
        cursor.execute(
            "INSERT INTO tags_customertag (customer_id, tag_id, source, source_ref, created_at) "
            "SELECT e.customer_id, %s, 'journey', '', %s FROM campaigns_enrolment e "
            "WHERE e.journey_id = %s AND e.status = 'active' ON CONFLICT DO NOTHING",
            [tag.pk, now, journey.pk],
        )
        cursor.execute(
            "UPDATE campaigns_enrolment SET position = 2, wait_until = %s, next_run_at = %s "
            "WHERE journey_id = %s AND status = 'active'",
            [now, now, journey.pk],
        )
    return time.perf_counter() - started


def _member_tag(journey) -> int:
    return journey.steps.get(position=0).config["definition"]["tag"]


def measure_engine(*, scale: str, enrolments: int, workers: int) -> list[dict]:
    from campaigns.models import StepRun
    from tags.models import CustomerTag

    journey, nurtured = journey_build(enrolments)
    executed, seconds = in_processes(_advance, [None] * workers)
    steps = sum(executed)
    assert steps == 2 * enrolments, (steps, enrolments)
    failed = StepRun.objects.filter(step__journey=journey).exclude(status="done")
    assert not failed.exists(), list(failed.values_list("detail", flat=True)[:3])
    assert CustomerTag.objects.filter(tag=nurtured).count() == enrolments
    assert StepRun.objects.filter(step__journey=journey).count() == 2 * enrolments
    copy, copy_tag = journey_build(enrolments)
    base_seconds = baseline_sql(copy, copy_tag)
    assert CustomerTag.objects.filter(tag=copy_tag).count() == enrolments
    return [
        result(f"journey_engine_{workers}_workers", steps / seconds, "enrolment steps/s", scale,
               2 * enrolments / base_seconds,
               "the same step rows, tags and positions in three set-wise SQL statements"),
    ]  # fmt: skip


def measure_triggers(*, scale: str, waits: int) -> list[dict]:
    from django.utils import timezone

    from campaigns.choices import WaitStatus
    from campaigns.models import TriggerRule, TriggerWait
    from campaigns.triggers import triggers_tick
    from customers.models import Customer, Event
    from tags.models import Tag, TagGroup

    group = TagGroup.objects.create(name=f"bench trigger {time.time_ns()}")
    tag = Tag.objects.create(name=f"加购提醒 {group.pk}", group=group)
    rule = TriggerRule.objects.create(
        name="bench", event_a="bench_cart", event_b="bench_paid", within_minutes=1,
        action={"action": "tag_add", "tags": [tag.pk]},
        scanned_until=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    TriggerRule.objects.filter(pk=rule.pk).update(created_at=timezone.now() - timedelta(hours=1))
    customers = Customer.objects.bulk_create(Customer(name=f"t{i}") for i in range(waits))
    now = timezone.now()
    # deadlines spread over the next 40 s (A happened 20–60 s ago, the window is a minute)
    Event.objects.bulk_create(
        Event(customer=c, name="bench_cart",
              occurred_at=now - timedelta(seconds=60) + timedelta(seconds=40 * i / waits))
        for i, c in enumerate(customers)
    )  # fmt: skip
    started = time.monotonic()
    while TriggerWait.objects.filter(rule=rule, status=WaitStatus.FIRED).count() < waits:
        triggers_tick()
        if time.monotonic() - started > 300:
            raise RuntimeError("triggers did not all fire within 5 minutes")
        time.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - started) % TICK_SECONDS))
    lags = sorted(
        (w.fired_at - w.deadline).total_seconds()
        for w in TriggerWait.objects.filter(rule=rule).only("fired_at", "deadline")
    )
    p95 = lags[int(0.95 * (len(lags) - 1))]
    how = f"the Beat interval ({TICK_SECONDS} s): a wait due just after a tick waits for the next"
    return [
        result("trigger_latency_p50", statistics.median(lags), "s after the deadline", scale,
               TICK_SECONDS / 2, how),
        result("trigger_latency_p95", p95, "s after the deadline", scale, TICK_SECONDS, how),
        result("trigger_latency_max", lags[-1], "s after the deadline", scale, TICK_SECONDS, how),
    ]  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="S")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    database = _own_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    enrolments, waits = SCALES[args.scale]
    print(f"Quanyu journey bench, scale {args.scale}: {enrolments:,} enrolments, "
          f"{waits:,} trigger waits, database {database}")  # fmt: skip
    results = measure_engine(scale=args.scale, enrolments=enrolments, workers=args.workers)
    results += measure_triggers(scale=args.scale, waits=waits)
    report = {
        "scale": args.scale,
        "dataset": {"enrolments": enrolments, "trigger_waits": waits, "workers": args.workers},
        "results": results,
        "database": database.split()[0],
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    output = RESULTS.with_name(f"results-journeys-{args.scale}.json")
    by_database = output.with_name(f"{output.stem}.{report['database']}{output.suffix}")
    for path in (output, by_database):
        Path(path).write_text(text)
    for r in results:
        print(f"{r['name']:34} {r['value']:>10,.2f} {r['baseline']:>10,.2f} {r['unit']}")
    print(f"written to {output} and {by_database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
