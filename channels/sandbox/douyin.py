"""Douyin Open Platform (open.douyin.com, under `/douyin`): the few APIs the product uses.

Token: `POST /douyin/oauth/client_token/` with `client_key`, `client_secret`,
`grant_type=client_credential` (JSON or form) → `{"data": {"access_token", "expires_in"}}`.

Every other call is signed (a sandbox convention standing in for the signed-HTTP client):

    access-token:       <the client token>
    X-Douyin-Timestamp: <unix seconds, within 300 s of the sandbox clock>
    X-Douyin-Signature: hex(sha256(client_secret + timestamp + path_and_query + body))

`path_and_query` is the path as on open.douyin.com (no `/douyin` prefix) with the query string
exactly as sent, e.g. `/fans/list/?open_id=x&cursor=0&count=20`; `body` the raw body ("" for
GET). A missing or wrong signature is `error_code` 2190001.

APIs: `GET /fans/list/` (count ≤ 20), `GET /video/list/` (count ≤ 20), `POST /video/data/`
(`{"item_ids": [...]}`, ≤ 20), `GET /item/comment/list/?item_id=` (count ≤ 50); pages by an
integer `cursor` with `has_more`. Answers are `{"data": {..., "error_code": 0, "description":
""}, "extra": {...}}`; errors keep that shape (HTTP 200). Injected WeChat errcodes are mapped:
40001/41001 → 2190002 (token invalid), 42001 → 2190008 (token expired), -1 → 2100004 (busy).
Fans `dy{seed}_{n:06d}` and videos `@sb{seed}v{n:04d}` are deterministic; comments come from
fans; every `mutate` adds plays, likes and comments to the videos.
"""

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl

from channels.sandbox.gateway import Call, Endpoint, Platform
from channels.sandbox.oa import check_secret
from channels.sandbox.population import DAY, Person, Population, mix
from channels.sandbox.router import ApiError, Request, Response
from channels.sandbox.state import Tenant

ERROR_CODES = {40001: 2190002, 41001: 2190002, 42001: 2190008, -1: 2100004}
DESCRIPTIONS = {
    2190001: "签名校验失败",
    2190002: "access_token无效",
    2190008: "access_token过期",
    2100004: "系统繁忙，此时请开发者稍候再试",
    2100005: "参数不合法",
}
BAD_SIGNATURE, BAD_PARAMETER = 2190001, 2100005
TITLES = ("新品开箱", "门店探访", "直播预告", "会员日福利", "穿搭分享", "幕后花絮")
COMMENTS = ("好看！", "求链接", "已下单", "什么时候上新？", "主播好可爱", "支持支持", "价格多少")
DOUYIN = ("douyin",)


class DouyinData:
    """A Douyin account's fans, videos and comments."""

    def __init__(self, tenant: Tenant):
        self.tenant = tenant
        seed = tenant.seed
        self.open_id = f"dy{seed}_owner"
        self.fans = Population(
            seed=seed,
            size=tenant.config["followers"],
            uid_format="dy{seed}_{n:06d}",
            unionid_format="dyu{seed}_{n:06d}",
            anchor=tenant.anchor,
        )
        count = tenant.config["videos"]
        self.videos = {v["item_id"]: v for v in (self._video(n, count) for n in range(count))}
        self.comments: dict[str, list[dict]] = {}

    def _video(self, n: int, count: int) -> dict:
        h = mix(self.tenant.seed, n, 11)
        plays = 500 + h % 50000
        return {
            "item_id": f"@sb{self.tenant.seed}v{n:04d}",
            "title": f"{TITLES[n % len(TITLES)]} #{n + 1}",
            "cover": "",
            "create_time": self.tenant.anchor - (count - n) * 2 * DAY,
            "is_top": n == count - 1,
            "share_url": f"https://www.iesdouyin.com/share/video/sb{self.tenant.seed}{n:04d}/",
            "video_status": 1,
            "statistics": {
                "play_count": plays,
                "digg_count": plays // 20,
                "share_count": plays // 200,
                "forward_count": plays // 300,
                "download_count": plays // 500,
                "comment_count": 1 + h % 6,
            },
        }

    def comments_of(self, item_id: str) -> list[dict]:
        if item_id not in self.comments:
            video = self.videos[item_id]
            n = int(item_id.rsplit("v", 1)[1])
            self.comments[item_id] = [
                self._comment(video, n, k) for k in range(video["statistics"]["comment_count"])
            ]
        return self.comments[item_id]

    def _comment(self, video: dict, n: int, k: int) -> dict:
        h = mix(self.tenant.seed, n * 100 + k, 13)
        fan = self.fans.by_number(h % max(self.fans.size, 1))
        return {
            "comment_id": f"c{video['item_id'][1:]}_{k:03d}",
            "comment_user_id": fan.uid if fan else self.open_id,
            "content": COMMENTS[h % len(COMMENTS)],
            "create_time": video["create_time"] + 600 * (k + 1),
            "digg_count": h % 30,
            "reply_comment_total": h % 3,
            "top": False,
        }

    def summary(self) -> dict:
        return {"followers": len(self.fans), "videos": len(self.videos)}

    def describe(self) -> dict:
        people = list(self.fans)
        return {
            "open_id": self.open_id,
            "item_ids": list(self.videos),
            "sample": [p.uid for p in people[:5]],
            "newest": [p.uid for p in people[-5:]],
        }

    def mutate(self, rng, now: int, **changes) -> dict:
        for video in self.videos.values():
            comments = self.comments_of(video["item_id"])
            stats = video["statistics"]
            stats["play_count"] += rng.randrange(10, 500)
            stats["digg_count"] += rng.randrange(0, 25)
            fan = rng.choice(list(self.fans) or [None])
            comments.append(
                {
                    "comment_id": f"c{video['item_id'][1:]}_{len(comments):03d}",
                    "comment_user_id": fan.uid if fan else self.open_id,
                    "content": rng.choice(COMMENTS),
                    "create_time": now,
                    "digg_count": 0,
                    "reply_comment_total": 0,
                    "top": False,
                }
            )
            stats["comment_count"] = len(comments)
        return self.fans.mutate(rng, now=now, **changes)


def fan_view(person: Person) -> dict:
    return {
        "open_id": person.uid,
        "union_id": person.unionid,
        "nickname": person.nickname,
        "avatar": "",
        "gender": person.gender,
        "city": person.city,
        "province": person.province,
        "country": "中国",
    }


def form(request: Request) -> dict:
    """Token request fields: query string, then a JSON or urlencoded body."""
    fields = dict(request.query)
    text = request.body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text) if text.startswith("{") else dict(parse_qsl(text))
    except ValueError:
        parsed = {}
    return {**fields, **{k: str(v) for k, v in parsed.items()}}


def number(call: Call, name: str, default: int, most: int) -> int:
    try:
        value = int(call.arg(name) or default)
    except ValueError:
        raise ApiError(BAD_PARAMETER)
    if not 0 <= value <= most:
        raise ApiError(BAD_PARAMETER)
    return value


def paged(call: Call, items: list, most: int) -> dict:
    cursor, count = number(call, "cursor", 0, 10**9), number(call, "count", 10, most)
    page = items[cursor : cursor + count]
    return {"list": page, "cursor": cursor + len(page), "has_more": cursor + count < len(items)}


def client_token(call: Call) -> dict:
    fields = form(call.request)
    if fields.get("grant_type") != "client_credential":
        raise ApiError(BAD_PARAMETER)
    if not check_secret(call.tenant, fields.get("client_secret", "")):
        raise ApiError(BAD_PARAMETER, "client_secret 错误")
    access_token, expires_in = call.state.issue_token(call.tenant, reuse=True)
    return {"access_token": access_token, "expires_in": expires_in}


def fans_list(call: Call) -> dict:
    data: DouyinData = call.data
    return {**paged(call, [fan_view(p) for p in data.fans], 20), "total": len(data.fans)}


def video_list(call: Call) -> dict:
    return paged(call, list(call.data.videos.values()), 20)


def video_data(call: Call) -> dict:
    item_ids = call.body.get("item_ids")
    if not isinstance(item_ids, list) or not 0 < len(item_ids) <= 20:
        raise ApiError(BAD_PARAMETER)
    return {"list": [call.data.videos[i] for i in item_ids if i in call.data.videos]}


def comment_list(call: Call) -> dict:
    data: DouyinData = call.data
    if call.arg("item_id") not in data.videos:
        raise ApiError(BAD_PARAMETER)
    return paged(call, data.comments_of(call.arg("item_id")), 50)


class DouyinPlatform(Platform):
    """Douyin's token header, request signature and answer shape."""

    def token_of(self, request: Request) -> str:
        return request.headers.get("access-token", "")

    def authenticate(self, call: Call) -> None:
        request = call.request
        if request.path.endswith("/oauth/client_token/"):
            return
        timestamp = request.headers.get("x-douyin-timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > 300:
            raise ApiError(BAD_SIGNATURE)
        path = request.path[len(self.prefix) :] + (
            "?" + request.raw_query if request.raw_query else ""
        )
        text = call.tenant.config["secret"] + timestamp + path + request.body.decode("utf-8")
        expected = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-douyin-signature", "")):
            raise ApiError(BAD_SIGNATURE)

    def ok(self, data: dict) -> Response:
        return self._answer({**data, "error_code": 0, "description": ""}, 0)

    def error(self, errcode: int, errmsg: str) -> Response:
        code = ERROR_CODES.get(errcode, errcode)
        return self._answer(
            {"error_code": code, "description": DESCRIPTIONS.get(code, errmsg)}, code
        )

    def server_error(self, status: int) -> Response:
        error = self.error(-1, "")
        return Response(status, error.body, error.content_type)

    @staticmethod
    def _answer(data: dict, code: int) -> Response:
        extra = {
            "error_code": code,
            "description": data["description"],
            "sub_error_code": 0,
            "sub_description": "",
            "logid": f"{time.time_ns():x}",
            "now": int(time.time() * 1000),
        }
        return Response.json(
            {"data": data, "extra": extra, "message": "success" if not code else "error"}
        )


def client_key(request: Request) -> str:
    return form(request).get("client_key", "")


ENDPOINTS = [
    Endpoint(
        "POST", "/oauth/client_token/", client_token, DOUYIN, token=False, appid_of=client_key
    ),
    Endpoint("GET", "/fans/list/", fans_list, DOUYIN),
    Endpoint("GET", "/video/list/", video_list, DOUYIN),
    Endpoint("POST", "/video/data/", video_data, DOUYIN),
    Endpoint("GET", "/item/comment/list/", comment_list, DOUYIN),
]
