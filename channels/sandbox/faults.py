"""Injected faults: make a platform path answer an errcode, an HTTP status, or slowly.

A fault `{"appid", "path", "errcode", "status", "times", "delay"}` matches calls of one tenant
(or of every tenant when `appid` is empty) to one platform path (`/cgi-bin/user/get`, with or
without the sandbox prefix) or to `"*"`. `"*"` leaves the token endpoints alone, so a client can
always refresh; name a token path to break it. `times` N stops the fault after N matching
calls (no `times`: until cleared). `delay` seconds are slept before answering; a fault with
only a delay lets the call through afterwards. The oldest matching fault wins.
"""

import time
from dataclasses import asdict, dataclass

PREFIXES = ("/api", "/qyapi", "/douyin")
TOKEN_PATHS = frozenset({"/cgi-bin/token", "/cgi-bin/gettoken", "/oauth/client_token"})


def normalize_path(path: str) -> str:
    """`/api/cgi-bin/user/get/`, `cgi-bin/user/get` → `/cgi-bin/user/get`; `*` stays."""
    if path == "*":
        return path
    path = "/" + path.strip("/")
    for prefix in PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


@dataclass
class Fault:
    id: int
    appid: str = ""
    path: str = "*"
    errcode: int | None = None
    status: int | None = None
    times: int | None = None
    delay: float = 0.0

    def matches(self, appid: str, path: str) -> bool:
        if self.appid and self.appid != appid:
            return False
        if self.path == "*":
            return path not in TOKEN_PATHS
        return self.path == path

    def pause(self) -> None:
        """The slow answer: called without the sandbox lock held."""
        if self.delay:
            time.sleep(self.delay)

    def as_dict(self) -> dict:
        return asdict(self)


class FaultBook:
    """The active faults; callers hold the sandbox lock."""

    def __init__(self):
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, spec: dict) -> Fault:
        times = spec.get("times")
        fault = Fault(
            id=self._next_id,
            appid=str(spec.get("appid") or ""),
            path=normalize_path(str(spec.get("path") or "*")),
            errcode=None if spec.get("errcode") is None else int(spec["errcode"]),
            status=None if spec.get("status") is None else int(spec["status"]),
            times=None if times is None else int(times),
            delay=float(spec.get("delay") or 0),
        )
        self._next_id += 1
        self._faults.append(fault)
        return fault

    def clear(self, appid: str = "") -> None:
        self._faults = [f for f in self._faults if appid and f.appid != appid]

    def take(self, appid: str, path: str) -> Fault | None:
        """The fault this call meets, counting it against `times`."""
        path = normalize_path(path)
        for fault in self._faults:
            if fault.matches(appid, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def all(self) -> list[dict]:
        return [fault.as_dict() for fault in self._faults]
