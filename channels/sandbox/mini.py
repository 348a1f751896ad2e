"""WeChat Mini Program (api.weixin.qq.com, under `/api`): login, subscribe messages, analysis.

`sns/jscode2session` maps a `js_code` to a user: `user-<n>` (or `user-<n>-<anything>`, as a
code works once) is user n; any other code hashes
onto the users (about one in five codes is a first-time user, who is added). A code works
once (40163). Users `o{seed}_mp{n:06d}` share the unionid `u{seed}_{n:06d}` with OA follower n.
Users whose number ends in 4 or 9 (n % 5 == 4) have not accepted subscribe messages (43101).
Daily visit trend and retention are deterministic per (seed, date); one day per call, at most
yesterday (61501), dates as `YYYYMMDD` (or `YYYY-MM-DD`).
"""

import base64
import hashlib
import re
from datetime import date, datetime, timedelta

from channels.sandbox.gateway import Call, Endpoint
from channels.sandbox.oa import check_secret, payload
from channels.sandbox.population import Person, Population, mix
from channels.sandbox.router import ApiError
from channels.sandbox.state import CHINA, Tenant

NAMED_CODE = re.compile(r"user-(\d+)(?:-.*)?")


class MiniData:
    """A Mini Program's users and used login codes."""

    def __init__(self, tenant: Tenant):
        self.tenant = tenant
        self.used_codes: set[str] = set()
        self.next_msg_id = 5000
        self.users = Population(
            seed=tenant.seed,
            size=tenant.config["followers"],
            uid_format="o{seed}_mp{n:06d}",
            anchor=tenant.anchor,
        )

    def login(self, js_code: str, now: int) -> Person:
        named = NAMED_CODE.fullmatch(js_code)
        if named:
            number = int(named.group(1))
        else:
            spread = self.users.size + self.users.size // 4 + 1
            number = int(hashlib.sha1(f"{self.tenant.appid}:{js_code}".encode()).hexdigest(), 16)
            number %= spread
        person = self.users.by_number(number)
        if person is None:
            person = self.users.create(now, number=number)
        elif not person.active:
            self.users.activate(person, now)
        person.last_seen = now
        return person

    def summary(self) -> dict:
        return {"followers": len(self.users)}

    def describe(self) -> dict:
        people = list(self.users)
        return {"sample": [p.uid for p in people[:5]], "newest": [p.uid for p in people[-5:]]}

    def mutate(self, rng, now: int, **changes) -> dict:
        return self.users.mutate(rng, now=now, **changes)


def code_to_session(call: Call) -> dict:
    if call.arg("grant_type") != "authorization_code":
        raise ApiError(40002)
    if not check_secret(call.tenant, call.arg("secret")):
        raise ApiError(40125)
    js_code = call.arg("js_code")
    data: MiniData = call.data
    if not js_code:
        raise ApiError(40029)
    if js_code in data.used_codes:
        raise ApiError(40163)
    data.used_codes.add(js_code)
    person = data.login(js_code, call.now())
    digest = hashlib.sha1(f"{call.tenant.appid}:{js_code}".encode()).digest()[:16]
    return {
        "openid": person.uid,
        "session_key": base64.b64encode(digest).decode(),
        "unionid": person.unionid,
    }


def subscribe_send(call: Call) -> dict:
    data: MiniData = call.data
    person = data.users.get(str(call.body.get("touser") or ""))
    if person is None:
        raise ApiError(40003)
    if not call.body.get("template_id"):
        raise ApiError(40037)
    if person.number % 5 == 4:
        raise ApiError(43101)
    data.next_msg_id += 1
    call.log("subscribe", person.uid, payload(call.body, "touser"), msgid=data.next_msg_id)
    return {"msgid": data.next_msg_id}


def asked_day(call: Call) -> date:
    """The one day an analysis call asks about (61500 bad format, 61501 bad range)."""
    try:
        begin, end = (
            datetime.strptime(str(call.body.get(k, "")).replace("-", ""), "%Y%m%d").date()
            for k in ("begin_date", "end_date")
        )
    except ValueError:
        raise ApiError(61500)
    yesterday = datetime.now(CHINA).date() - timedelta(days=1)
    if begin != end or begin > yesterday:
        raise ApiError(61501)
    return begin


def day_numbers(tenant: Tenant, day: date) -> tuple[int, int]:
    """(hash, visitors) of one day: stable for a seed and a date."""
    h = mix(tenant.seed, day.toordinal(), 7)
    base = max(tenant.config["followers"], 10)
    return h, max(1, base * (8 + h % 7) // 100)


def visit_trend(call: Call) -> dict:
    day = asked_day(call)
    h, uv = day_numbers(call.tenant, day)
    sessions = uv + uv * (h % 5) // 10
    return {
        "list": [
            {
                "ref_date": day.strftime("%Y%m%d"),
                "session_cnt": sessions,
                "visit_pv": uv * (2 + h % 3) + h % 97,
                "visit_uv": uv,
                "visit_uv_new": uv * (5 + h % 10) // 100,
                "stay_time_uv": round(60 + (h >> 4) % 240 + (h % 100) / 100, 4),
                "stay_time_session": round(40 + (h >> 6) % 180 + (h % 100) / 100, 4),
                "visit_depth": round(1.5 + (h >> 8) % 100 / 100, 4),
            }
        ]
    }


def retain_info(call: Call) -> dict:
    day = asked_day(call)
    h, uv = day_numbers(call.tenant, day)
    new = uv * (5 + h % 10) // 100
    elapsed = (datetime.now(CHINA).date() - timedelta(days=1) - day).days
    keys = [k for k in (0, 1, 2, 3, 4, 5, 6, 7, 14, 30) if k <= elapsed]
    share = {k: 100 if k == 0 else max(5, 45 - 6 * k + h % 7) for k in keys}  # percent still here
    return {
        "ref_date": day.strftime("%Y%m%d"),
        "visit_uv_new": [{"key": k, "value": new * s // 100} for k, s in share.items()],
        "visit_uv": [{"key": k, "value": uv * s // 100} for k, s in share.items()],
    }


MINI = ("wechat_mini",)
ENDPOINTS = [
    Endpoint(
        "GET",
        "/sns/jscode2session",
        code_to_session,
        MINI,
        token=False,
        appid_of=lambda r: r.query.get("appid", ""),
    ),
    Endpoint("POST", "/cgi-bin/message/subscribe/send", subscribe_send, MINI),
    Endpoint("POST", "/datacube/getweanalysisappiddailyvisittrend", visit_trend, MINI),
    Endpoint("POST", "/datacube/getweanalysisappiddailyretaininfo", retain_info, MINI),
]
