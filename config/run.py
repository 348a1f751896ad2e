"""`make run`: the console (gunicorn), a Celery worker and Celery Beat, side by side.

Stops them all on Ctrl-C or when one of them dies.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()
    env = {
        "QUANYU_PUBLIC_URL": f"http://{args.host}:{args.port}",  # where the sandbox calls back
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    commands = {
        "web": [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "-b",
            f"{args.host}:{args.port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--timeout",
            "120",
        ],
        "worker": [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "--concurrency",
            "2",
            "--pool",
            "threads",
        ],
        "beat": [str(BIN / "celery"), "-A", "config", "beat", "-l", "info"],
    }
    commands.update(extra_processes(args))
    procs = {name: subprocess.Popen(cmd, cwd=BASE_DIR, env=env) for name, cmd in commands.items()}
    print(f"\n  Quanyu console: http://{args.host}:{args.port}/   (Ctrl-C to stop)\n", flush=True)
    stop = False

    def _stop(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping", flush=True)
                    stop = True
            time.sleep(0.5)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


def extra_processes(args) -> dict:
    """The sandbox platform standing in for WeChat, WeCom, the Mini Program and Douyin, with
    the demo's sandbox-mode accounts configured (docs/channels.md). SANDBOX=0 leaves it out."""
    if os.environ.get("SANDBOX", "1") == "0":
        return {}
    url = os.environ.get("SANDBOX_URL", "http://127.0.0.1:8090")
    host, _, port = url.split("://", 1)[-1].partition(":")
    return {
        "sandbox": [
            str(BIN / "python"),
            "manage.py",
            "sandbox_platform",
            "--host",
            host,
            "--port",
            port.strip("/") or "8090",
            "--seed-demo",
        ]
    }


if __name__ == "__main__":
    sys.exit(main())
