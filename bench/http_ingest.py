"""`POST /api/v1/events/batch` through gunicorn on loopback, beside a raw COPY of the same rows."""

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from bench.dataset import EVENT_COLUMNS, accounts_ensure, db_time, phone_of, rows_insert
from customers.models import Customer, Event

BASE_DIR = Path(__file__).resolve().parent.parent
BATCH = 10_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the database this process uses, for the server it starts."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s.get("USER") or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    host = f"{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}"
    return f"postgres://{auth + '@' if auth else ''}{host}/{s['NAME']}"


def _token() -> str:
    user, _created = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_superuser": True, "is_staff": True}
    )
    return Token.objects.get_or_create(user=user)[0].key


def _payload(start: int, count: int, customers: int, offset: int) -> dict:
    """Events of known customers (by phone) and, one in ten, of new visitors (by unionid)."""
    now = datetime.now(UTC)
    events = []
    for n in range(start, start + count):
        if n % 10:
            identity = {"kind": "phone", "value": phone_of(n % customers)}
        else:
            identity = {"kind": "wechat_unionid", "value": f"http-new-{offset}-{n}"}
        events.append(
            {
                "event_id": f"http-{offset}-{n}",
                "name": "page_view" if n % 3 else "view_product",
                "occurred_at": (now - timedelta(minutes=n % 10_000)).isoformat(),
                "channel": "mini",
                "identities": [identity],
                "properties": {"page": f"/p/{n % 50}"},
            }
        )
    return {"events": events}


class Server:
    """gunicorn serving the project on a free loopback port, on this process's database."""

    def __init__(self, workers: int = 2):
        self.port = _free_port()
        env = {**os.environ, "DATABASE_URL": database_url(), "DEBUG": "false"}
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.proc = subprocess.Popen(
            [
                gunicorn,
                "config.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "300",
                "--log-level",
                "warning",
            ],
            cwd=BASE_DIR,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                requests.get(self.url + "/healthz", timeout=30)
                return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def ingest_over_http(*, batches: int, customers: int, offset: int) -> dict:
    """Send `batches` calls of 10,000 events; events per second over the whole run."""
    accounts_ensure()
    headers = {"Authorization": f"Token {_token()}"}
    server = Server()
    try:
        accepted = 0
        started = time.perf_counter()
        for b in range(batches):
            response = requests.post(
                server.url + "/api/v1/events/batch",
                json=_payload(b * BATCH, BATCH, customers, offset),
                headers=headers,
                timeout=600,
            )
            response.raise_for_status()
            body = response.json()
            if body["errors"]:
                raise RuntimeError(f"bench batch rejected rows: {body['errors'][:3]}")
            accepted += body["accepted"]
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    return {"events": accepted, "seconds": elapsed, "per_second": accepted / elapsed}


def copy_baseline(*, rows: int, offset: int) -> dict:
    """The floor: the same number of event rows written straight into the table."""
    account = accounts_ensure()["mini"].pk
    ids = list(Customer.objects.order_by("id").values_list("id", flat=True)[:1000])
    now = datetime.now(UTC)
    stamp = db_time(now)
    data = (
        (
            ids[n % len(ids)],
            account,
            "page_view",
            db_time(now - timedelta(minutes=n % 10_000)),
            '{"page": "/p/1"}',
            f"copy-{offset}-{n}",
            stamp,
        )
        for n in range(rows)
    )
    started = time.perf_counter()
    with transaction.atomic():
        written = rows_insert(Event, EVENT_COLUMNS, data)
    elapsed = time.perf_counter() - started
    return {"events": written, "seconds": elapsed, "per_second": written / elapsed}
