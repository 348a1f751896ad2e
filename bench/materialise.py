"""`python -m bench.materialise --scale S|L`: a push run's delivery list written for a whole
audience, in seconds, beside one hand-written `INSERT … SELECT`.

The dataset is `bench.dataset`'s customers and identities (S: 100,000 customers, L: 1,000,000;
no events: materialisation does not read them) plus, so that every rule has work to do, SMS
consent revoked for 5% of the customers, OA consent revoked for 3% and `do_not_contact` on 1%.
The push: everyone (`{"all": []}`), SMS first, the OA (by openid) as the fallback, quiet hours
and the frequency cap on (as a push is by default).

Ours: `campaigns.delivery.run_materialise` on a new run. Baseline: one `INSERT INTO
campaigns_delivery … SELECT … FROM customers_customer LEFT JOIN customers_identity …` an
engineer would write for this push alone (see `BASELINE_SQL`). Both write into an emptied
table and the bench fails unless both wrote the same rows per (channel, status, reason).
Writes `bench/results-materialise-<scale>.json` and `….<database>.json`.
"""

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.run import BASE_DIR, RESULTS, _own_database, result

SCALES = {"S": 100_000, "L": 1_000_000}
# seconds spent in COMMIT, by run: PostgreSQL checks the deferred foreign keys (customer,
# account, run) of every new row there
COMMITS: dict[str, list[float]] = {"ours": [], "baseline": []}
SMS_REVOKED, OA_REVOKED, DO_NOT_CONTACT = 0.05, 0.03, 0.01

# What the baseline does: per customer, the first of SMS (phone) and OA (openid) that it has
# an identity on and has not revoked consent for, pending or deferred (the same deferral for
# everyone), else skipped with do_not_contact / no_identity / no_consent; the lowest identity
# value when there are several. What it does not: the frequency cap and the OA monthly quota
# (no delivery was sent yet, so both select nobody here), per-customer time zones, A/B
# variants, any audience other than everyone, channels other than these two.
BASELINE_SQL = """
INSERT INTO campaigns_delivery (run_id, customer_id, channel_account_id, variant_id, recipient,
    status, skip_reason, deferred_until, platform_id, error)
SELECT %(run)s, c.id,
    CASE WHEN sms_ok OR NOT oa_ok THEN %(sms)s ELSE %(oa)s END,
    NULL,
    CASE WHEN sms_ok THEN phone WHEN oa_ok THEN openid ELSE '' END,
    CASE WHEN sms_ok OR oa_ok THEN %(status)s ELSE 'skipped' END,
    CASE WHEN sms_ok OR oa_ok THEN ''
         WHEN dnc THEN 'do_not_contact'
         WHEN phone IS NULL AND openid IS NULL THEN 'no_identity'
         ELSE 'no_consent' END,
    CASE WHEN sms_ok OR oa_ok THEN %(until)s::timestamptz END,
    '', ''
FROM (
    SELECT c.id, p.value AS phone, o.value AS openid, c.dnc,
        NOT c.dnc AND p.value IS NOT NULL AND rs.customer_id IS NULL AS sms_ok,
        NOT c.dnc AND o.value IS NOT NULL AND ro.customer_id IS NULL AS oa_ok
    FROM (SELECT id, coalesce((attributes -> 'do_not_contact')::boolean, false) AS dnc
          FROM customers_customer) c
    LEFT JOIN (SELECT customer_id, min(value) AS value FROM customers_identity
               WHERE kind = 'phone' AND scope = '' GROUP BY customer_id) p
        ON p.customer_id = c.id
    LEFT JOIN (SELECT customer_id, min(value) AS value FROM customers_identity
               WHERE kind = 'wechat_openid' AND scope = 'oa' GROUP BY customer_id) o
        ON o.customer_id = c.id
    LEFT JOIN customers_consent rs
        ON rs.customer_id = c.id AND rs.channel = 'sms' AND rs.status = 'revoked'
    LEFT JOIN customers_consent ro
        ON ro.customer_id = c.id AND ro.channel = 'wechat_oa' AND ro.status = 'revoked'
) c
"""


def _kept_database() -> str:
    """Point this process at the bench database as it is (`_own_database` without the drop)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        base, _, name = url.rpartition("/")
        name = name.split("?")[0]
        name = name if name.endswith("_bench") else name + "_bench"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = f"{base}/{name}"
        return f"postgresql ({name})"
    var = BASE_DIR / "var" / "bench"
    var.mkdir(parents=True, exist_ok=True)
    os.environ["QUANYU_VAR_DIR"] = str(var)
    os.environ.pop("DATABASE_URL", None)
    return f"sqlite ({var / 'quanyu.sqlite3'})"


def extras_build(customers: int, first_id: int, seed: int = 11) -> dict:
    """The SMS account, revoked consents and do-not-contact flags on the dataset."""
    from django.db import connection

    from bench.dataset import db_time, rows_insert
    from channels.services import channel_account_create
    from customers.models import Consent, Customer

    rng = random.Random(seed)
    sms = channel_account_create(kind="sms", code="sms", name="短信")
    stamp = db_time(datetime.now(UTC))

    def consents():
        for i in range(customers):
            if rng.random() < SMS_REVOKED:
                yield (first_id + i, "sms", "revoked", "bench", stamp)
            if rng.random() < OA_REVOKED:
                yield (first_id + i, "wechat_oa", "revoked", "bench", stamp)

    revoked = rows_insert(Consent, ["customer", "channel", "status", "source", "updated_at"],
                          consents())  # fmt: skip
    table = Customer._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET attributes = '{{\"do_not_contact\": true}}'::jsonb "
                f"WHERE (id * 7919) %% 100 < %s",
                [int(DO_NOT_CONTACT * 100)],
            )
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute(
                f"UPDATE {table} SET attributes = '{{\"do_not_contact\": true}}' "
                f"WHERE (id * 7919) %% 100 < %s",
                [int(DO_NOT_CONTACT * 100)],
            )
            cursor.execute("ANALYZE")
    return {"sms": sms, "revoked_consents": revoked}


def push_build(sms, oa):
    """Everyone, SMS first then the OA; quiet hours and the frequency cap on (the defaults)."""
    from campaigns.choices import PushStatus
    from campaigns.models import ContentItem, Push, PushChannel
    from tags.models import Audience

    content = ContentItem.objects.create(name="bench", core_text="春茶上新，回复 TD 退订")
    audience = Audience.objects.create(
        name=f"bench everyone {uuid.uuid4().hex[:8]}", definition={"all": []}
    )
    push = Push.objects.create(
        name="bench", audience=audience, content=content, status=PushStatus.RUNNING
    )
    PushChannel.objects.create(push=push, channel_account=sms, position=0)
    PushChannel.objects.create(push=push, channel_account=oa, position=1)
    return push


def _empty_deliveries() -> None:
    from django.db import connection

    from campaigns.models import Delivery

    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table} CASCADE")
        else:
            cursor.execute(f"DELETE FROM {table}")


def _tally(run) -> dict:
    from django.db.models import Count

    rows = run.deliveries.values("channel_account__code", "status", "skip_reason").annotate(
        n=Count("id")
    )
    return {f"{r['channel_account__code']}/{r['status']}/{r['skip_reason']}": r["n"] for r in rows}


def ours_once(push, now) -> tuple[float, dict]:
    from django.db import transaction

    from campaigns.delivery import run_materialise
    from campaigns.models import PushRun

    _empty_deliveries()
    run = PushRun.objects.create(push=push)
    started = time.perf_counter()
    with transaction.atomic():  # its own, only to time the commit apart
        run_materialise(run=run, now=now)
        committing = time.perf_counter()
    seconds = time.perf_counter() - started
    COMMITS["ours"].append(time.perf_counter() - committing)
    return seconds, _tally(run)


def baseline_once(push, now, sms, oa) -> tuple[float, dict]:
    from django.db import connection, transaction

    from campaigns.delivery import _rules, quiet_until
    from campaigns.models import PushRun

    _empty_deliveries()
    run = PushRun.objects.create(push=push)
    rules = _rules(push, now)
    until = quiet_until(now=now, settings=rules.settings, zone=rules.zone)
    params = {
        "run": run.pk,
        "sms": sms.pk,
        "oa": oa.pk,
        "status": "deferred" if until else "pending",
        "until": until,
    }
    sql = BASELINE_SQL
    if connection.vendor != "postgresql":  # SQLite: no casts, JSON via json_extract
        sql = sql.replace("%(until)s::timestamptz", "%(until)s").replace(
            "coalesce((attributes -> 'do_not_contact')::boolean, false)",
            "coalesce(json_extract(attributes, '$.do_not_contact'), 0) = 1",
        )
        params["until"] = connection.ops.adapt_datetimefield_value(until) if until else None
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        PushRun.objects.filter(pk=run.pk).update(planned=cursor.rowcount)
        committing = time.perf_counter()
    seconds = time.perf_counter() - started
    COMMITS["baseline"].append(time.perf_counter() - committing)
    return seconds, _tally(run)


def measure(*, scale: str, customers: int, repeats: int) -> dict:
    """Time both on the current database (Django is set up): the dataset is built unless the
    database already holds `customers` customers (`--reuse`, or `bench.run`'s dataset)."""
    from django.utils import timezone

    from bench.dataset import accounts_ensure, dataset_build
    from channels.models import ChannelAccount
    from customers.models import Consent, Customer

    started = time.perf_counter()
    if Customer.objects.count() < customers:
        first_id = dataset_build(customers=customers, events=0).first_customer_id
    else:
        first_id = Customer.objects.order_by("id").values_list("id", flat=True).first()
    if ChannelAccount.objects.filter(code="sms").exists():
        extras = {
            "sms": ChannelAccount.objects.get(code="sms"),
            "revoked_consents": Consent.objects.filter(source="bench").count(),
        }
    else:
        extras = extras_build(customers, first_id)
    build_seconds = time.perf_counter() - started
    accounts = accounts_ensure()
    sms, oa = extras["sms"], accounts["oa"]
    push = push_build(sms, oa)
    now = timezone.now()
    ours, baseline = [], []
    tallies = None
    for _ in range(repeats):
        seconds, ours_tally = ours_once(push, now)
        ours.append(seconds)
        seconds, baseline_tally = baseline_once(push, now, sms, oa)
        baseline.append(seconds)
        if ours_tally != baseline_tally:
            raise AssertionError(f"ours {ours_tally} != baseline {baseline_tally}")
        tallies = ours_tally
    rows = sum(tallies.values())
    ours_s, baseline_s = statistics.median(ours), statistics.median(baseline)
    how = (
        f"one hand-written INSERT … SELECT of the same {rows:,} rows (first reachable of SMS / "
        "OA by identity, consent and do-not-contact; no frequency cap, quota, time zones or "
        "A/B)"
    )
    return {
        "scale": scale,
        "dataset": {
            "customers": Customer.objects.count(),
            "revoked_consents": extras["revoked_consents"],
            "build_seconds": round(build_seconds, 1),
            "deliveries": rows,
            "by_channel_status_reason": tallies,
            "repeats": repeats,
            "ours_seconds": [round(s, 2) for s in ours],
            "baseline_seconds": [round(s, 2) for s in baseline],
            "commit_seconds": {k: [round(s, 2) for s in v[-repeats:]] for k, v in COMMITS.items()},
        },
        "results": [
            result("delivery_materialise", ours_s, "s", scale, baseline_s, how),
        ],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="S")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the bench database when it holds the dataset"
    )
    args = parser.parse_args(argv)
    database = _kept_database() if args.reuse else _own_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    customers = SCALES[args.scale]
    print(f"Quanyu materialisation bench, scale {args.scale}: {customers:,} customers, "
          f"database {database}")  # fmt: skip
    report = measure(scale=args.scale, customers=customers, repeats=args.repeats)
    report.update(
        database=database.split()[0],
        generated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        machine={"python": platform.python_version(), "cpus": os.cpu_count()},
    )
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    output = RESULTS.with_name(f"results-materialise-{args.scale}.json")
    by_database = output.with_name(f"{output.stem}.{report['database']}{output.suffix}")
    for path in (output, by_database):
        Path(path).write_text(text)
    d = report["dataset"]
    print(f"dataset built in {d['build_seconds']} s; {d['deliveries']:,} deliveries a run")
    for name, value in sorted(d["by_channel_status_reason"].items()):
        print(f"  {name:40} {value:>10,}")
    for r in report["results"]:
        print(f"{r['name']:24} ours {r['value']:>8.2f} s  baseline {r['baseline']:>8.2f} s  "
              f"ratio {r['ratio_to_baseline'] or 0:.2f}  (runs: ours {d['ours_seconds']}, "
              f"baseline {d['baseline_seconds']})")  # fmt: skip
        print(f"  of which COMMIT (deferred foreign-key checks): {d['commit_seconds']}")
    print(f"written to {output} and {by_database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
