"""The done-means of a push with real workers on the configured broker, against the sandbox:
a worker killed with SIGKILL in the middle of a 10,000-recipient run, a new one started; the
run finishes, nobody is messaged twice, every row ends sent, skipped (with its reason) or
unknown, and dispatching the finished run again sends nothing."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.conf import settings

from campaigns.choices import DeliveryStatus, RunStatus
from campaigns.dispatch import BATCH, dispatch_run_task, run_dispatch
from campaigns.models import Delivery, PushRun
from channels.sandbox.client import SandboxControl
from channels.sandbox.server import SandboxServer
from customers.models import Identity
from tests.campaigns.test_dispatch import phones, run_build, sms_account
from tests.workers.conftest import BASE_DIR, _database_url, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 10_000
SWEEP_SECONDS = 2  # a dead worker's claim is stale this soon (a batch takes well under it)


class Workers:
    """`celery worker` processes on one queue of their own, started and killed at will."""

    def __init__(self, queue: str):
        self.queue = queue
        self.log = open(settings.VAR_DIR / f"{queue}.log", "w+")  # noqa: SIM115 - closed in stop
        self.procs: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queue,
            "-I", "campaigns.dispatch", "--pool", "solo", "-l", "info", "-n",
            f"w{len(self.procs)}-{self.queue}@%h", "--without-mingle", "--without-gossip",
            "--without-heartbeat",
        ]  # fmt: skip
        proc = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        output = self.output()
        self.log.close()
        os.unlink(self.log.name)
        if "Traceback" in output:
            print(output[-3000:])


@pytest.fixture
def workers(transactional_db):
    from config.celery import app

    queue = f"test-push-{uuid.uuid4().hex[:10]}"
    app.conf.task_always_eager = False
    previous_queue, app.conf.task_default_queue = app.conf.task_default_queue, queue
    pool = Workers(queue)
    try:
        yield pool
    finally:
        app.conf.task_default_queue = previous_queue
        pool.stop()


@pytest.fixture
def sandbox():
    with SandboxServer(port=0) as server:
        yield SandboxControl(server.url)


def count(run, *statuses) -> int:
    return Delivery.objects.filter(run=run, status__in=statuses).count()


def test_a_worker_killed_mid_push_is_replaced_and_nobody_is_messaged_twice(workers, sandbox):
    sms = sms_account(sandbox.base_url)
    numbers = phones(RECIPIENTS)
    run = run_build({sms: numbers})
    customer_ids = Delivery.objects.filter(run=run).order_by("id").values_list("customer_id")
    Identity.objects.bulk_create(
        Identity(customer_id=c, kind="phone", value=p)
        for (c,), p in zip(customer_ids, numbers, strict=True)
    )

    first = workers.start()
    dispatch_run_task.delay(run.pk, SWEEP_SECONDS)
    wait_for(lambda: count(run, DeliveryStatus.SENT) >= 300, timeout=60, interval=0.05)
    time.sleep(0.2)  # into the next batch: some of it messaged, none of it recorded
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    sent_at_kill = count(run, DeliveryStatus.SENT)
    assert sent_at_kill < RECIPIENTS and count(run, DeliveryStatus.SENDING) > 0

    time.sleep(SWEEP_SECONDS + 0.5)  # the dead worker's claim is now stale
    workers.start()
    # Neither the filesystem broker nor Redis (an hour's visibility timeout) hands a killed
    # worker's unacked task out again at once: the push resumes with a new dispatch, as the
    # sweeper (campaigns.sweep_deliveries, each minute) would enqueue it.
    dispatch_run_task.delay(run.pk, SWEEP_SECONDS)
    open_statuses = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)
    wait_for(lambda: count(run, *open_statuses) == 0, timeout=70, interval=0.5)
    wait_for(lambda: PushRun.objects.get(pk=run.pk).status == RunStatus.DONE, timeout=10)

    rows = Counter(Delivery.objects.filter(run=run).values_list("status", "skip_reason"))
    unknown = rows.pop((DeliveryStatus.UNKNOWN, ""), 0)
    sent = rows.pop((DeliveryStatus.SENT, ""), 0)
    assert all(status == DeliveryStatus.SKIPPED and reason for status, reason in rows)
    assert 0 < unknown <= BATCH and sent + unknown + sum(rows.values()) == RECIPIENTS
    log = Counter(m["to"] for m in sandbox.messages(appid=sms.app_id))
    assert log.most_common(1)[0][1] == 1  # nobody messaged twice
    sent_phones = set(
        Delivery.objects.filter(run=run, status=DeliveryStatus.SENT).values_list(
            "recipient", flat=True
        )
    )
    assert sent_phones <= set(log) <= set(numbers)
    print(f"\nkilled after {sent_at_kill} sent; {unknown} unknown; {len(log)} messaged")

    # the finished run again: in this process and on the worker
    assert run_dispatch(run=run) == 0
    result = dispatch_run_task.delay(run.pk, SWEEP_SECONDS)
    wait_for(lambda: f"{result.id}] succeeded" in workers.output(), timeout=30)
    assert len(sandbox.messages(appid=sms.app_id)) == len(log)


def tcp_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes:
            ports.add(int(fields[1].split(":")[1], 16))
    return ports


def broker_drop_connections(pid: int) -> int:
    """What a broker restart does to a worker: its connections to the broker are closed
    (only this worker's, on the broker's database: other tests share the Redis server)."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    db, ports = broker.connection_pool.connection_kwargs.get("db", 0), tcp_ports(pid)
    clients = [c for c in broker.client_list() if c["db"] == str(db)]
    mine = [c for c in clients if int(c["addr"].rsplit(":", 1)[1]) in ports]
    for client in mine:
        broker.client_kill_filter(_id=client["id"])
    return len(mine)


@pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis://"), reason="the broker is Redis here"
)
def test_losing_the_broker_mid_push_still_ends_complete(workers, sandbox):
    sms = sms_account(sandbox.base_url)
    numbers = phones(3000)
    run = run_build({sms: numbers})
    worker = workers.start()
    dispatch_run_task.delay(run.pk, SWEEP_SECONDS)
    wait_for(lambda: count(run, DeliveryStatus.SENT) >= 300, timeout=60, interval=0.05)
    assert broker_drop_connections(worker.pid) > 0

    wait_for(lambda: PushRun.objects.get(pk=run.pk).status == RunStatus.DONE, timeout=60)
    assert count(run, DeliveryStatus.SENT) == len(numbers)
    log = Counter(m["to"] for m in sandbox.messages(appid=sms.app_id))
    assert sorted(log) == numbers and set(log.values()) == {1}
    # the worker is back on the broker: it takes the next task (which sends nothing)
    result = dispatch_run_task.delay(run.pk, SWEEP_SECONDS)
    wait_for(lambda: f"{result.id}] succeeded" in workers.output(), timeout=30)
    assert len(sandbox.messages(appid=sms.app_id)) == len(numbers)
