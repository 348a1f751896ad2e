"""WeChat Official Account (api.weixin.qq.com, under `/api`): the paths and shapes wechatpy
1.8.18 calls.

Followers are `o{seed}_{n:06d}`, paged 10,000 at a time by `user/get`. Platform rules kept:
mass send to an openid list needs 2–10,000 openids (40130); each follower receives at most
`mass_quota` mass messages a calendar month (over it they are skipped; 45028 when nobody is
left); a `clientmsgid` already used in the last 24 hours is refused (45065, nothing sent);
customer-service messages only within 48 hours of the follower's last message or event (45015;
generated followers last spoke long ago; simulated subscribe/scan/text count).
"""

import base64
import hashlib
from collections import Counter

from channels.sandbox.gateway import WECHAT_KINDS, Call, Endpoint
from channels.sandbox.images import qr_png
from channels.sandbox.population import DAY, Person, Population, mix
from channels.sandbox.router import ApiError, Request, Response
from channels.sandbox.state import Tenant, china_month

PAGE = 10000
DEFAULT_TAGS = {2: "星标组", 100: "潜在客户", 101: "活跃粉丝", 102: "会员", 103: "门店顾客"}
SCENES = (
    "ADD_SCENE_SEARCH",
    "ADD_SCENE_QR_CODE",
    "ADD_SCENE_PROFILE_CARD",
    "ADD_SCENE_OTHERS",
    "ADD_SCENE_ACCOUNT_MIGRATION",
    "ADD_SCENE_WECHAT_ADVERTISEMENT",
)
QR_ACTIONS = ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
MAX_QR_SECONDS = 2592000
WINDOW = 48 * 3600
CUSTOM_TYPES = {
    "text",
    "image",
    "voice",
    "video",
    "music",
    "news",
    "mpnews",
    "msgmenu",
    "wxcard",
    "miniprogrampage",
    "link",
}


class OAData:
    """An OA's followers, tags, QR tickets and mass-send counts."""

    def __init__(self, tenant: Tenant):
        self.tenant = tenant
        self.tags = dict(DEFAULT_TAGS)
        self.next_tag_id = max(DEFAULT_TAGS) + 1
        self.tickets: dict[str, dict] = {}
        self.received: Counter = Counter()  # (openid, month) → mass messages received
        self.client_msg_ids: dict[str, int] = {}  # clientmsgid → when its mass send went out
        self.next_msg_id = 1000
        self.followers = Population(
            seed=tenant.seed,
            size=tenant.config["followers"],
            uid_format="o{seed}_{n:06d}",
            anchor=tenant.anchor,
            decorate=self._decorate,
        )

    def _decorate(self, person: Person) -> None:
        h = mix(self.tenant.seed, person.number, 2)
        person.tags = [100 + h % 4] if h % 3 else []
        if h % 17 == 0:
            person.tags.append(2)
        person.scene = SCENES[(h >> 8) % len(SCENES)]
        if person.scene == "ADD_SCENE_QR_CODE":
            person.qr_scene_str = f"channel_{(h >> 12) % 5}"

    def msg_id(self) -> int:
        self.next_msg_id += 1
        return self.next_msg_id

    # -- QR tickets ---------------------------------------------------------------------------

    def new_ticket(self, action: str, scene: str, expire_seconds: int | None, now: int) -> dict:
        raw = f"{self.tenant.appid}|{len(self.tickets) + 1}".encode()
        ticket = "gQ" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        code = hashlib.sha1(ticket.encode()).hexdigest()[:22]
        info = {
            "ticket": ticket,
            "action_name": action,
            "scene": scene,
            "url": f"http://weixin.qq.com/q/{code}",
            "expire_at": now + expire_seconds if expire_seconds else None,
        }
        self.tickets[ticket] = info
        return info

    def ticket_for(self, scene: str, now: int) -> str:
        """The newest live ticket of a scene (one is made if the scene has none)."""
        for info in reversed(self.tickets.values()):
            if info["scene"] == scene and (info["expire_at"] or now + 1) > now:
                return info["ticket"]
        return self.new_ticket("QR_LIMIT_STR_SCENE", scene, None, now)["ticket"]

    # -- what simulated users do --------------------------------------------------------------

    def follower(self, openid: str | None, now: int) -> Person:
        """The follower behind a simulated event: a new one when `openid` is empty or unknown,
        re-subscribed when they had left."""
        person = self.followers.get(openid) if openid else None
        if person is None:
            person = self.followers.create(now, uid=openid or None)
        elif not person.active:
            self.followers.activate(person, now)
        person.last_seen = now
        return person

    def subscribe(self, openid: str | None, scene: str, now: int) -> Person:
        person = self.follower(openid, now)
        person.scene = "ADD_SCENE_QR_CODE" if scene else "ADD_SCENE_SEARCH"
        person.qr_scene_str = scene
        return person

    def unsubscribe(self, openid: str | None) -> Person:
        """The follower leaving: the named one, or the newest one."""
        if openid:
            person = self.followers.active(openid)
        else:
            person = next(reversed(list(self.followers)), None)
        if person is None:
            raise ValueError(f"{openid} does not follow {self.tenant.appid}")
        self.followers.deactivate(person)
        person.tags = []
        return person

    # -- sync views ---------------------------------------------------------------------------

    def summary(self) -> dict:
        return {
            "original_id": self.tenant.original_id,
            "followers": len(self.followers),
            "tags": len(self.tags),
            "mass_quota": self.tenant.config["mass_quota"],
        }

    def describe(self) -> dict:
        people = list(self.followers)
        return {
            "tag_list": tag_list(self),
            "qrcodes": list(self.tickets.values()),
            "sample": [p.uid for p in people[:5]],
            "newest": [p.uid for p in people[-5:]],
        }

    def mutate(self, rng, now: int, **changes) -> dict:
        def retag(person: Person, rng) -> None:
            person.tags = [rng.choice(sorted(self.tags))]

        return self.followers.mutate(rng, now=now, on_update=retag, **changes)


def user_info(person: Person, lang: str = "zh_CN") -> dict:
    if not person.active:
        return {"subscribe": 0, "openid": person.uid, "unionid": person.unionid}
    return {
        "subscribe": 1,
        "openid": person.uid,
        "nickname": person.nickname,
        "sex": person.gender,
        "language": lang,
        "city": person.city,
        "province": person.province,
        "country": "中国",
        "headimgurl": "",
        "subscribe_time": person.since,
        "unionid": person.unionid,
        "remark": person.remark,
        "groupid": 0,
        "tagid_list": list(person.tags),
        "subscribe_scene": person.scene,
        "qr_scene": 0,
        "qr_scene_str": person.qr_scene_str,
    }


def known(data: OAData, openid) -> Person:
    person = data.followers.get(str(openid or ""))
    if person is None:
        raise ApiError(40003)
    return person


def tag_list(data: OAData) -> list[dict]:
    counts = Counter(tag for person in data.followers for tag in person.tags)
    return [{"id": i, "name": name, "count": counts[i]} for i, name in data.tags.items()]


# -- token -------------------------------------------------------------------------------------


def token(call: Call) -> dict:
    if call.arg("grant_type") != "client_credential":
        raise ApiError(40002)
    if not check_secret(call.tenant, call.arg("secret")):
        raise ApiError(40125)
    access_token, expires_in = call.state.issue_token(call.tenant)
    return {"access_token": access_token, "expires_in": expires_in}


def check_secret(tenant: Tenant, secret: str) -> bool:
    """Whether `secret` is the tenant's; a tenant created on first use takes the first one."""
    if not tenant.config["secret"]:
        tenant.config["secret"] = secret
    return bool(secret) and secret == tenant.config["secret"]


# -- users and tags ----------------------------------------------------------------------------


def user_get(call: Call) -> dict:
    data: OAData = call.data
    page = data.followers.page(call.arg("next_openid") or None, PAGE)
    if page is None:
        raise ApiError(40003)
    answer = {"total": len(data.followers), "count": len(page), "next_openid": ""}
    if page:
        answer["data"] = {"openid": [p.uid for p in page]}
        answer["next_openid"] = page[-1].uid
    return answer


def user_info_one(call: Call) -> dict:
    return user_info(known(call.data, call.arg("openid")), call.arg("lang") or "zh_CN")


def user_info_batch(call: Call) -> dict:
    wanted = call.body.get("user_list")
    if not isinstance(wanted, list) or not 0 < len(wanted) <= 100:
        raise ApiError(40032)
    people = [(known(call.data, item.get("openid")), item.get("lang", "zh_CN")) for item in wanted]
    return {"user_info_list": [user_info(person, lang) for person, lang in people]}


def update_remark(call: Call) -> dict:
    known(call.data, call.body.get("openid")).remark = str(call.body.get("remark", ""))[:30]
    return {}


def tags_get(call: Call) -> dict:
    return {"tags": tag_list(call.data)}


def tags_create(call: Call) -> dict:
    data: OAData = call.data
    name = str((call.body.get("tag") or {}).get("name", "")).strip()
    if not name or name in data.tags.values():
        raise ApiError(45157)
    if len(name.encode()) > 30:
        raise ApiError(45158)
    if len(data.tags) >= 100:
        raise ApiError(45056)
    tag_id = data.next_tag_id
    data.next_tag_id += 1
    data.tags[tag_id] = name
    return {"tag": {"id": tag_id, "name": name}}


def tag_members(call: Call, add: bool) -> dict:
    data: OAData = call.data
    openids = call.body.get("openid_list")
    if not isinstance(openids, list) or not 0 < len(openids) <= 50:
        raise ApiError(40032)
    tag_id = call.body.get("tagid")
    if tag_id not in data.tags:
        raise ApiError(45159)
    people = [known(data, openid) for openid in openids]
    for person in people:
        if add and tag_id not in person.tags:
            if len(person.tags) >= 20:
                raise ApiError(45059)
            person.tags.append(tag_id)
        elif not add and tag_id in person.tags:
            person.tags.remove(tag_id)
    return {}


def tag_id_list(call: Call) -> dict:
    return {"tagid_list": list(known(call.data, call.body.get("openid")).tags)}


def tag_followers(call: Call) -> dict:
    data: OAData = call.data
    tag_id = call.body.get("tagid")
    if tag_id not in data.tags:
        raise ApiError(45159)
    after = data.followers.get(str(call.body.get("next_openid") or ""))
    tagged = [p for p in data.followers if tag_id in p.tags and (not after or p.seq > after.seq)]
    page = tagged[:PAGE]
    answer = {"count": len(page), "next_openid": page[-1].uid if page else ""}
    if page:
        answer["data"] = {"openid": [p.uid for p in page]}
    return answer


# -- QR codes ----------------------------------------------------------------------------------


def qrcode_create(call: Call) -> dict:
    body = call.body
    action = body.get("action_name")
    if action not in QR_ACTIONS:
        raise ApiError(40052)
    scene_info = (body.get("action_info") or {}).get("scene") or {}
    if action.endswith("STR_SCENE"):
        scene = str(scene_info.get("scene_str", ""))
        valid = 0 < len(scene) <= 64
    else:
        scene_id = scene_info.get("scene_id")
        scene = str(scene_id)
        limit = 100000 if action == "QR_LIMIT_SCENE" else 2**32 - 1
        valid = isinstance(scene_id, int) and 0 < scene_id <= limit
    if not valid:
        raise ApiError(40053)
    permanent = action.startswith("QR_LIMIT")
    seconds = None if permanent else min(int(body.get("expire_seconds") or 60), MAX_QR_SECONDS)
    info = call.data.new_ticket(action, scene, seconds, call.now())
    answer = {"ticket": info["ticket"], "url": info["url"]}
    if seconds:
        answer["expire_seconds"] = seconds
    return answer


def ticket_appid(request: Request) -> str:
    ticket = request.query.get("ticket", "")
    try:
        raw = base64.urlsafe_b64decode(ticket[2:] + "=" * (-len(ticket[2:]) % 4)).decode()
    except ValueError:
        return ""
    return raw.rpartition("|")[0]


def show_qrcode(call: Call) -> Response:
    info = call.data.tickets.get(call.arg("ticket"))
    if info is None or (info["expire_at"] and info["expire_at"] <= call.now()):
        return Response(404, b"", "text/plain")
    return Response(200, qr_png(info["url"]), "image/png")


# -- sending -----------------------------------------------------------------------------------


def payload(body: dict, *drop: str) -> dict:
    return {k: v for k, v in body.items() if k not in drop}


def mass_deliver(call: Call, candidates: list[Person]) -> dict:
    """Deliver a mass message to followers still under this month's quota."""
    data: OAData = call.data
    month = china_month(call.now())
    quota = call.tenant.config["mass_quota"]
    client_msg_id = str(call.body.get("clientmsgid") or "")
    if call.now() - data.client_msg_ids.get(client_msg_id, -DAY) < DAY:
        raise ApiError(45065)
    reached = [p for p in candidates if data.received[(p.uid, month)] < quota]
    if candidates and not reached:
        raise ApiError(45028)
    if client_msg_id:
        data.client_msg_ids[client_msg_id] = call.now()
    msg_id = data.msg_id()
    content = payload(call.body, "touser", "filter")
    for person in reached:
        data.received[(person.uid, month)] += 1
        call.log("mass", person.uid, content, msgid=msg_id)
    return {"errmsg": "send job submission success", "msg_id": msg_id, "msg_data_id": msg_id}


def mass_send(call: Call) -> dict:
    openids = call.body.get("touser")
    if not isinstance(openids, list) or len(openids) < 2:
        raise ApiError(40130)
    if len(openids) > 10000:
        raise ApiError(40032)
    people = [known(call.data, openid) for openid in openids]
    return mass_deliver(call, [p for p in people if p.active])


def mass_send_all(call: Call) -> dict:
    data: OAData = call.data
    rule = call.body.get("filter") or {}
    if rule.get("is_to_all"):
        return mass_deliver(call, list(data.followers))
    tag_id = rule.get("tag_id", rule.get("group_id"))
    if tag_id not in data.tags:
        raise ApiError(45159)
    return mass_deliver(call, [p for p in data.followers if tag_id in p.tags])


def template_send(call: Call) -> dict:
    person = known(call.data, call.body.get("touser"))
    if not person.active:
        raise ApiError(43004)
    if not call.body.get("template_id"):
        raise ApiError(40037)
    if not isinstance(call.body.get("data", {}), dict):
        raise ApiError(47001)
    msg_id = call.data.msg_id()
    call.log("template", person.uid, payload(call.body, "touser"), msgid=msg_id)
    return {"msgid": msg_id}


def custom_send(call: Call) -> dict:
    person = known(call.data, call.body.get("touser"))
    if not person.active or call.now() - person.last_seen > WINDOW:
        raise ApiError(45015)
    if call.body.get("msgtype") not in CUSTOM_TYPES:
        raise ApiError(40008)
    call.log("custom", person.uid, payload(call.body, "touser"))
    return {}


def _endpoint(method: str, path: str, handler, **options) -> Endpoint:
    return Endpoint(method, path, handler, options.pop("kinds", ("wechat_oa",)), **options)


ENDPOINTS = [
    _endpoint(
        "GET",
        "/cgi-bin/token",
        token,
        kinds=WECHAT_KINDS,
        token=False,
        appid_of=lambda r: r.query.get("appid", ""),
    ),
    _endpoint("GET", "/cgi-bin/user/get", user_get),
    _endpoint("GET", "/cgi-bin/user/info", user_info_one),
    _endpoint("POST", "/cgi-bin/user/info/batchget", user_info_batch),
    _endpoint("POST", "/cgi-bin/user/info/updateremark", update_remark),
    _endpoint("GET", "/cgi-bin/tags/get", tags_get),
    _endpoint("POST", "/cgi-bin/tags/create", tags_create),
    _endpoint("POST", "/cgi-bin/tags/members/batchtagging", lambda c: tag_members(c, True)),
    _endpoint("POST", "/cgi-bin/tags/members/batchuntagging", lambda c: tag_members(c, False)),
    _endpoint("POST", "/cgi-bin/tags/getidlist", tag_id_list),
    _endpoint("POST", "/cgi-bin/user/tag/get", tag_followers),
    _endpoint("POST", "/cgi-bin/qrcode/create", qrcode_create),
    _endpoint("GET", "/cgi-bin/showqrcode", show_qrcode, token=False, appid_of=ticket_appid),
    _endpoint("POST", "/cgi-bin/message/mass/send", mass_send),
    _endpoint("POST", "/cgi-bin/message/mass/sendall", mass_send_all),
    _endpoint("POST", "/cgi-bin/message/template/send", template_send),
    _endpoint("POST", "/cgi-bin/message/custom/send", custom_send),
]
