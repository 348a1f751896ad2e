"""A push set for a time, started by a real `celery beat` (DatabaseScheduler, as `make run`)
and sent by a real worker: Beat calls campaigns.launch_due_pushes, the worker starts the push
once its time has come, materialises the run and dispatches it to the sandbox platform.

Production calls campaigns.launch_due_pushes every minute (config/periodic.py); here it is
installed every second so the test need not wait for the next minute. Both processes get a
var dir of their own: with the filesystem broker, a private broker folder (the default queue
is theirs alone, so the tasks the worker sends itself come back to it); on Redis, use a
database of your own (CELERY_BROKER_URL)."""

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from campaigns.choices import DeliveryStatus, PushStatus, RunStatus, ScheduleKind
from campaigns.models import Push, PushRun
from campaigns.pushes import push_launch
from tests.campaigns.test_materialise import bulk_customers, make_push
from tests.conftest import make_user, sms_account
from tests.workers.conftest import BASE_DIR, _database_url, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class Processes:
    """`celery worker` and `celery beat`, sharing the test database and a private var dir."""

    def __init__(self, var_dir: Path):
        self.var_dir = var_dir
        self.log = open(var_dir / "celery.log", "w+")  # noqa: SIM115 - closed in stop
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "QUANYU_VAR_DIR": str(self.var_dir),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args, "-l", "info"],
            cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        output = self.output()
        self.log.close()
        if "Traceback" in output:
            print(output[-4000:])


@pytest.fixture
def processes(transactional_db, tmp_path):
    from config.celery import app

    app.conf.task_always_eager = False
    pool = Processes(tmp_path)
    try:
        yield pool
    finally:
        pool.stop()


def test_beat_starts_a_push_set_for_a_time_and_the_worker_sends_it(
    processes, sandbox, django_user_model
):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.update_or_create(
        name="test: launch due pushes (every second)",
        defaults={"task": "campaigns.launch_due_pushes", "interval": every_second},
    )
    sms = sms_account(sandbox.base_url)
    bulk_customers(5)
    operator = make_user(django_user_model, "ops", "operator")
    processes.start("worker", "--pool", "solo", "--without-mingle", "--without-gossip",
                    "--without-heartbeat")  # fmt: skip
    processes.start("beat", "--max-interval", "1", "-s", str(processes.var_dir / "beat"))
    # both up, and Beat already calling the task every second
    wait_for(lambda: len(launches(processes.output())) >= 2, timeout=120)

    launched_at = timezone.now()
    send_at = launched_at + timedelta(seconds=5)
    push = make_push(
        [sms],
        actor=operator,
        schedule_kind=ScheduleKind.AT,
        send_at=send_at,
        respect_quiet_hours=False,
    )  # fmt: skip  (the real clock may be at night)
    push_launch(push=push, user=operator)
    push.refresh_from_db()
    assert push.status == PushStatus.SCHEDULED

    run = wait_for(lambda: push.runs.first(), timeout=60)
    wait_for(lambda: PushRun.objects.get(pk=run.pk).status == RunStatus.DONE, timeout=60)
    # the run ends, then the one-off push (two writes in the worker)
    wait_for(lambda: Push.objects.get(pk=push.pk).status == PushStatus.DONE, timeout=10)
    run.refresh_from_db()
    push.refresh_from_db()
    # started for its time, once, by the first call after it
    assert run.scheduled_for == send_at and run.started_at >= send_at
    assert push.runs.count() == 1
    assert run.deliveries.filter(status=DeliveryStatus.SENT).count() == 5
    assert len(sandbox.messages(appid=sms.app_id)) == 5
    # Beat's calls while it was scheduled found nothing due; the first after its time, one push
    calls = [(at, n) for at, n in launches(processes.output()) if at >= launched_at]
    assert any(n == 0 and at < send_at for at, n in calls)
    assert [n for at, n in calls if n] == [1]
    assert min(at for at, n in calls if n) >= send_at


LAUNCH = re.compile(
    r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/MainProcess\] "
    r"Task campaigns\.launch_due_pushes\[[^\]]+\] succeeded in [\d.e-]+s: (\d+)"
)


def launches(log: str) -> list[tuple[datetime, int]]:
    """campaigns.launch_due_pushes as the worker logged it: (when it ended, pushes started)."""
    tz = ZoneInfo(settings.TIME_ZONE)  # Django sets the processes' TZ to it
    return [
        (datetime.strptime(at, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=tz), int(n))
        for at, n in LAUNCH.findall(log)
    ]
