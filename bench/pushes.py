"""`python -m bench.pushes --scale S`: push dispatch to the sandbox platform in messages/s.

A run of N pending deliveries (S: 20,000; L: 200,000) is dispatched by `--workers` processes
(`run_dispatch`, as the Celery task runs it) against the sandbox platform in a process of its
own, for SMS (one provider call a message, `SEND_THREADS` of a batch's calls in flight at once)
and the OA mass send (one call per 500 openids). Baseline: the same platform calls made
directly by as many processes (SMS: as many in flight), with no database (claiming,
rendering and recording are what the difference costs). Writes
`bench/results-pushes-<scale>.json` and `….<database>.json` like `bench.run`.
"""

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from bench.run import BASE_DIR, RESULTS, _own_database, result

SCALES = {"S": 20_000, "L": 200_000}


@contextmanager
def sandbox_platform():
    """The sandbox platform in a process of its own (it would share our GIL otherwise)."""
    from bench.http_ingest import _free_port

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox_platform", "--port", str(port)],
        cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{url}/sandbox/faults", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_build(account, recipients: list[str]):
    """A sending run with a pending delivery per recipient (one new customer each)."""
    from campaigns.choices import PushStatus, RunStatus
    from campaigns.models import ContentItem, Delivery, Push, PushRun
    from customers.models import Customer
    from tags.models import Audience

    content = ContentItem.objects.create(name="bench", core_text="春茶上新，回复 TD 退订")
    audience = Audience.objects.create(name=f"bench {uuid.uuid4().hex[:8]}", definition={})
    push = Push.objects.create(
        name="bench", audience=audience, content=content, status=PushStatus.RUNNING
    )
    run = PushRun.objects.create(push=push, status=RunStatus.SENDING, planned=len(recipients))
    customers = Customer.objects.bulk_create(
        (Customer(name=f"bench {to}") for to in recipients), batch_size=5000
    )
    Delivery.objects.bulk_create(
        (
            Delivery(run=run, customer=c, channel_account=account, recipient=to)
            for c, to in zip(customers, recipients, strict=True)
        ),
        batch_size=5000,
    )
    return run


def _dispatch(run_id: int) -> int:
    from campaigns.dispatch import run_dispatch
    from campaigns.models import PushRun

    return run_dispatch(run=PushRun.objects.get(pk=run_id))


def in_processes(fn, args: list) -> tuple[list, float]:
    """`fn(arg)` in a forked process per arg; (results, seconds)."""
    from django.db import connections

    connections.close_all()  # each child opens its own
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(len(args)) as pool:
        results = pool.map(fn, args)
    return results, time.perf_counter() - started


def _sms_direct(job: tuple) -> int:
    """The provider posts alone: the sandbox provider's own calls, as many in flight as the
    adapter keeps (`SEND_THREADS`), with no rate limiter, `call` or database."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from channels.adapters.base import OutMessage
    from channels.adapters.providers import SEND_THREADS, SandboxProvider

    url, appid, recipients = job
    provider = SandboxProvider(SimpleNamespace(base_url=url, app_id=appid, code=appid), "sms")
    messages = [OutMessage(to, {"text": "x"}, key=str(n)) for n, to in enumerate(recipients)]
    with ThreadPoolExecutor(SEND_THREADS) as pool:
        for _ in pool.map(provider.send, messages):
            pass
    provider.close()
    return len(recipients)


def _mass_direct(job: tuple) -> int:
    from channels.clients import wechat_client
    from channels.models import ChannelAccount

    account_id, parts = job
    client = wechat_client(ChannelAccount.objects.get(pk=account_id))
    for part in parts:
        client.message.send_mass_text(part, "baseline", client_msg_id=uuid.uuid4().hex)
    return sum(len(p) for p in parts)


def measure(*, scale: str, deliveries: int, workers: int, url: str) -> list[dict]:
    from campaigns.dispatch import BATCH
    from campaigns.models import Delivery
    from channels.adapters import adapter_for
    from channels.sandbox.client import SandboxControl
    from channels.services import channel_account_create

    sandbox = SandboxControl(url)
    common = {"sandbox": True, "api_base_url": url, "rate_limit": 1_000_000}
    sms = channel_account_create(kind="sms", code="sms", name="短信", app_id="sms-bench",
                                 options={"provider": "sandbox"}, **common)  # fmt: skip
    sandbox.tenant("wx-bench", kind="wechat_oa", secret="s", followers=deliveries)
    oa = channel_account_create(kind="wechat_oa", code="oa", name="公众号", app_id="wx-bench",
                                secret="s", **common)  # fmt: skip
    openids = adapter_for(oa).follower_openids()
    phones = [f"139{n:08d}" for n in range(deliveries)]
    rows = []
    for name, account, recipients in (("sms", sms, phones), ("oa_mass", oa, openids)):
        run = run_build(account, recipients)
        sent, seconds = in_processes(_dispatch, [run.pk] * workers)
        assert sum(sent) == deliveries == Delivery.objects.filter(run=run, status="sent").count()
        rows.append((name, deliveries / seconds))
    shares = [phones[i::workers] for i in range(workers)]
    _, sms_seconds = in_processes(_sms_direct, [(url, "sms-direct", s) for s in shares])
    parts = [openids[i : i + BATCH] for i in range(0, deliveries, BATCH)]
    _, mass_seconds = in_processes(_mass_direct, [(oa.pk, parts[i::workers]) for i in
                                                  range(workers)])  # fmt: skip
    baselines = {"sms": deliveries / sms_seconds, "oa_mass": deliveries / mass_seconds}
    how = {
        "sms": "the sandbox provider's own posts, as many at a time as the adapter "
        "(SEND_THREADS), no rate limiter or database",
        "oa_mass": f"the same mass sends ({BATCH} openids a call) through wechatpy, no database",
    }
    return [
        result(f"dispatch_{name}_{workers}_workers", value, "messages/s", scale, baselines[name],
               how[name])
        for name, value in rows
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
    deliveries = SCALES[args.scale]
    print(f"Quanyu push bench, scale {args.scale}: {deliveries:,} deliveries, database {database}")
    with sandbox_platform() as url:
        results = measure(scale=args.scale, deliveries=deliveries, workers=args.workers, url=url)
    report = {
        "scale": args.scale,
        "dataset": {"deliveries": deliveries, "workers": args.workers},
        "results": results,
        "database": database.split()[0],
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    output = RESULTS.with_name(f"results-pushes-{args.scale}.json")
    by_database = output.with_name(f"{output.stem}.{report['database']}{output.suffix}")
    for path in (output, by_database):
        Path(path).write_text(text)
    for r in results:
        print(f"{r['name']:34} {r['value']:>10,.0f} {r['baseline']:>10,.0f} {r['unit']}")
    print(f"written to {output} and {by_database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
