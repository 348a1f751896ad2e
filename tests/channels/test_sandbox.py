"""The sandbox platform: real HTTP, the platforms' paths and shapes, faults, the message log,
and callbacks that wechatpy's own crypto on a stand-in receiver accepts."""

import hashlib
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
import xmltodict
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise import WeChatClient as WeComClient
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.events import ScanEvent, SubscribeScanEvent
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from channels.management.commands.sandbox_platform import DEMO_SEED, DEMO_SIZES, demo_tenants
from channels.sandbox.client import SandboxControl
from channels.sandbox.server import SandboxServer, new_state
from channels.sandbox.state import CHINA
from channels.services import channel_account_create

OA, CORP, MINI, DOUYIN = "wx-oa-test", "ww-corp-test", "wx-mini-test", "dy-key-test"
SECRET, TOKEN = "s3cret", "cb-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture(scope="module")
def server():
    with SandboxServer(port=0) as server:
        yield server


@pytest.fixture
def sandbox(server):
    control = SandboxControl(server.url)
    control.reset()
    return control


@pytest.fixture
def api(server):
    return Api(server.url)


class Api:
    """Raw platform calls, as a client that knows only the real paths would make them."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False

    def get(self, path: str, **params) -> dict:
        return self.http.get(self.base + path, params=params, timeout=10).json()

    def post(self, path: str, body: dict, **params) -> dict:
        return self.http.post(self.base + path, params=params, json=body, timeout=10).json()

    def oa_token(self, appid: str = OA, secret: str = SECRET) -> str:
        grant = {"grant_type": "client_credential", "appid": appid, "secret": secret}
        return self.get("/api/cgi-bin/token", **grant)["access_token"]

    def wecom_token(self) -> str:
        return self.get("/qyapi/cgi-bin/gettoken", corpid=CORP, corpsecret=SECRET)["access_token"]


class Receiver:
    """A stand-in for our callback endpoint: keeps each request, answers `reply(query, body)`."""

    def __init__(self, reply):
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                query = dict(parse_qsl(urlsplit(self.path).query))
                receiver.requests.append((query, body))
                try:
                    answer, status = reply(query, body).encode(), 200
                except InvalidSignatureException:
                    answer, status = b"", 403
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/channels/callback/test/"


@pytest.fixture
def receiver():
    started = []

    def start(reply) -> Receiver:
        started.append(Receiver(reply))
        return started[-1]

    yield start
    for one in started:
        one.httpd.shutdown()
        one.httpd.server_close()


def oa_tenant(sandbox, **config) -> dict:
    return sandbox.tenant(
        OA, kind="wechat_oa", secret=SECRET, token=TOKEN, aes_key=AES_KEY, seed=3, **config
    )


def wecom_tenant(sandbox, **config) -> dict:
    return sandbox.tenant(
        CORP,
        kind="wecom",
        secret=SECRET,
        token=TOKEN,
        aes_key=AES_KEY,
        seed=3,
        staff=3,
        contacts=30,
        groups=2,
        **config,
    )


# --- tokens and followers ---------------------------------------------------------------------


def test_tokens_are_issued_checked_and_expire(sandbox, api):
    oa_tenant(sandbox, followers=5)
    grant = {"grant_type": "client_credential", "appid": OA}
    assert api.get("/api/cgi-bin/token", **grant, secret="wrong")["errcode"] == 40125
    assert api.get("/api/cgi-bin/token", appid=OA, secret=SECRET)["errcode"] == 40002
    answer = api.get("/api/cgi-bin/token", **grant, secret=SECRET)
    assert answer["expires_in"] == 7200 and answer["access_token"]
    newer = api.oa_token()
    for token in (answer["access_token"], newer):  # the older one lasts five more minutes
        assert api.get("/api/cgi-bin/user/get", access_token=token)["total"] == 5
    assert api.get("/api/cgi-bin/user/get", access_token="made-up")["errcode"] == 40001
    assert api.get("/api/cgi-bin/user/get")["errcode"] == 41001

    wecom_tenant(sandbox)
    assert api.wecom_token() == api.wecom_token()  # WeCom hands back the live token
    mini = sandbox.tenant(MINI, kind="wechat_mini", secret=SECRET, token_ttl=1)
    assert mini["token_ttl"] == 1
    short = api.oa_token(MINI)
    time.sleep(1.1)
    body = {"touser": "o3_mp000001", "template_id": "t", "data": {}}
    assert api.post("/api/cgi-bin/message/subscribe/send", body, access_token=short) == {
        "errcode": 42001,
        "errmsg": "access_token expired",
    }


def test_twenty_thousand_followers_page_quickly_and_change_between_syncs(sandbox, api):
    started = time.monotonic()
    assert oa_tenant(sandbox, followers=20000)["followers"] == 20000
    token, openids, next_openid, calls = api.oa_token(), [], "", 0
    while True:
        page = api.get("/api/cgi-bin/user/get", access_token=token, next_openid=next_openid)
        calls += 1
        if "data" not in page:
            break
        assert page["total"] == 20000 and page["count"] == len(page["data"]["openid"]) <= 10000
        openids += page["data"]["openid"]
        next_openid = page["next_openid"]
    assert time.monotonic() - started < 5
    assert (calls, len(set(openids))) == (3, 20000)
    assert (openids[0], openids[-1]) == ("o3_000000", "o3_019999")

    change = sandbox.mutate(OA, follow=3, unfollow=2, update=2)
    assert change["followed"] == ["o3_020000", "o3_020001", "o3_020002"]
    newer = api.get("/api/cgi-bin/user/get", access_token=token, next_openid=openids[-1])
    assert newer["data"]["openid"] == change["followed"]
    gone = api.get("/api/cgi-bin/user/info", access_token=token, openid=change["unfollowed"][0])
    assert gone["subscribe"] == 0
    users = {u["openid"]: u for u in batchget(api, token, openids[:98] + change["updated"])}
    assert all(users[o]["remark"] for o in change["updated"])
    sandbox.reset()
    oa_tenant(sandbox, followers=20000)
    assert sandbox.mutate(OA, follow=3, unfollow=2, update=2) == change  # the same history


def batchget(api, token, openids) -> list[dict]:
    body = {"user_list": [{"openid": o, "lang": "zh_CN"} for o in openids]}
    return api.post("/api/cgi-bin/user/info/batchget", body, access_token=token)["user_info_list"]


def test_batchget_has_the_platform_shape_and_limits(sandbox, api):
    oa_tenant(sandbox, followers=150)
    token = api.oa_token()
    users = batchget(api, token, [f"o3_{n:06d}" for n in range(100)])
    assert len(users) == 100
    assert {
        "subscribe",
        "openid",
        "nickname",
        "unionid",
        "subscribe_time",
        "tagid_list",
        "remark",
        "subscribe_scene",
        "qr_scene_str",
        "language",
    } <= set(users[0])
    assert (users[7]["openid"], users[7]["unionid"], users[7]["subscribe"]) == (
        "o3_000007",
        "u3_000007",
        1,
    )
    too_many = [f"o3_{n:06d}" for n in range(101)]
    body = {"user_list": [{"openid": o} for o in too_many]}
    assert api.post("/api/cgi-bin/user/info/batchget", body, access_token=token)["errcode"] == 40032
    body = {"user_list": [{"openid": "o3_000001"}, {"openid": "nobody"}]}
    assert api.post("/api/cgi-bin/user/info/batchget", body, access_token=token)["errcode"] == 40003
    users += batchget(api, token, [f"o3_{n:06d}" for n in range(100, 150)])
    tagged = Counter(tag for user in users for tag in user["tagid_list"])
    tags = api.get("/api/cgi-bin/tags/get", access_token=token)["tags"]
    assert {t["id"]: t["count"] for t in tags} == {t["id"]: tagged[t["id"]] for t in tags}


# --- faults -----------------------------------------------------------------------------------


def test_an_injected_40001_drops_the_token_once(sandbox, api):
    oa_tenant(sandbox, followers=3)
    token = api.oa_token()
    sandbox.fault(appid=OA, path="/cgi-bin/user/get", errcode=40001, times=1)
    assert api.get("/api/cgi-bin/user/get", access_token=token)["errcode"] == 40001
    assert api.get("/api/cgi-bin/user/get", access_token=token)["errcode"] == 40001  # dropped
    assert api.get("/api/cgi-bin/user/get", access_token=api.oa_token())["total"] == 3
    assert sandbox.calls(OA) == {"/cgi-bin/token": 2, "/cgi-bin/user/get": 3}


def test_45009_n_times_then_ok_statuses_and_delays(sandbox, api):
    oa_tenant(sandbox, followers=3)
    sandbox.fault(appid=OA, path="*", errcode=45009, times=2)
    token = api.oa_token()  # "*" leaves the token endpoint alone
    codes = [api.get("/api/cgi-bin/user/get", access_token=token)["errcode"] for _ in range(3)]
    assert codes == [45009, 45009, 0]

    sandbox.fault(appid=OA, path="/api/cgi-bin/tags/get", status=503, times=1)
    answer = api.http.get(f"{api.base}/api/cgi-bin/tags/get", params={"access_token": token})
    assert (answer.status_code, answer.json()["errcode"]) == (503, -1)

    sandbox.fault(appid=OA, path="/cgi-bin/user/get", delay=0.3, times=1)
    started = time.monotonic()
    assert api.get("/api/cgi-bin/user/get", access_token=token)["total"] == 3
    assert time.monotonic() - started >= 0.3
    sandbox.fault(appid="another-app", path="*", errcode=-1)
    assert api.get("/api/cgi-bin/user/get", access_token=token)["total"] == 3
    assert [f["appid"] for f in sandbox.faults()] == ["another-app"]
    sandbox.clear_faults()
    assert sandbox.faults() == []


def test_wechatpy_clients_work_unchanged_and_refresh_on_40001(sandbox, server):
    oa_tenant(sandbox, followers=250)
    client = wechatpy_client(WeChatClient(OA, SECRET), server, "https://api.weixin.qq.com", "/api")
    sandbox.fault(appid=OA, path="/cgi-bin/user/get", errcode=40001, times=1)
    openids = list(client.user.iter_followers())
    assert len(openids) == 250 and openids[-1] == "o3_000249"
    assert client.user.get_batch(openids[:2])[1]["openid"] == "o3_000001"
    tag = client.tag.create("复购")
    client.tag.tag_user(tag["id"], openids[:3])
    assert client.tag.get_user_tag(openids[0]) == [*client.user.get(openids[0])["tagid_list"]]
    assert client.message.send_mass_text(openids[:3], "上新啦")["msg_id"]
    assert client.qrcode.create(
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "poster"}}}
    )["ticket"]

    wecom_tenant(sandbox, agent_id="1000002")
    work = wechatpy_client(
        WeComClient(CORP, SECRET), server, "https://qyapi.weixin.qq.com", "/qyapi"
    )
    assert work.external_contact.get_follow_user_list()["follow_user"] == [
        "lina",
        "wangfang",
        "zhangwei",
    ]
    assert len(work.external_contact_group_chat.list_all()) == 2
    way = work.external_contact.add_contact_way(1, 2, state="poster", user=["lina"])
    assert work.external_contact.get_contact_way(way["config_id"])["contact_way"]["state"] == (
        "poster"
    )
    assert work.message.send_text("1000002", ["lina", "ghost"], "提醒")["invaliduser"] == "ghost"
    assert [m["kind"] for m in sandbox.messages()] == ["mass"] * 3 + ["app"]


class ToSandbox(HTTPAdapter):
    """What channels.clients mounts: a real host's requests go to the sandbox's prefix."""

    def __init__(self, target: str):
        super().__init__()
        self.target = target

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = self.target + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **{**kwargs, "proxies": {}})


def wechatpy_client(client, server, host: str, prefix: str):
    client._http.trust_env = False
    client._http.mount(host, ToSandbox(server.url + prefix))
    return client


# --- OA sending and callbacks ---------------------------------------------------------------


def oa_receiver(receiver, reply_text: str = ""):
    """Our OA callback: checks both signatures, decrypts, parses, answers (encrypted)."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, OA)

    def reply(query, body) -> str:
        check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])
        xml = crypto.decrypt_message(
            body, query["msg_signature"], query["timestamp"], query["nonce"]
        )
        message = parse_message(xml)
        received.append(message)
        if not reply_text:
            return "success"
        return crypto.encrypt_message(TextReply(message=message, content=reply_text), "n0nce")

    received = []
    return receiver(reply), received


def test_subscribe_through_a_qr_code_arrives_signed_and_encrypted(sandbox, api, receiver):
    endpoint, received = oa_receiver(receiver, reply_text="欢迎关注！")
    oa_tenant(sandbox, followers=10, callback_url=endpoint.url)
    token = api.oa_token()
    created = api.post(
        "/api/cgi-bin/qrcode/create",
        {
            "action_name": "QR_STR_SCENE",
            "expire_seconds": 600,
            "action_info": {"scene": {"scene_str": "spring"}},
        },
        access_token=token,
    )
    assert created["expire_seconds"] == 600 and created["url"].startswith("http://weixin.qq.com/q/")

    answer = sandbox.simulate(OA, "subscribe", scene="spring")
    [event] = received
    assert isinstance(event, SubscribeScanEvent)
    assert (event.scene_id, event.ticket, event.source) == (
        "spring",
        created["ticket"],
        answer["openid"],
    )
    assert event.target == sandbox.state(OA)["original_id"]
    query, envelope = endpoint.requests[0]
    assert (query["encrypt_type"], query["openid"]) == ("aes", answer["openid"])
    assert set(xmltodict.parse(envelope)["xml"]) == {"ToUserName", "Encrypt"}
    assert answer["status"] == 200
    assert parse_message(answer["reply"]).content == "欢迎关注！"  # our reply, decrypted

    user = api.get("/api/cgi-bin/user/info", access_token=token, openid=answer["openid"])
    assert (user["subscribe"], user["subscribe_scene"], user["qr_scene_str"]) == (
        1,
        "ADD_SCENE_QR_CODE",
        "spring",
    )
    followers = api.get("/api/cgi-bin/user/get", access_token=token)["data"]["openid"]
    assert followers[-1] == user["openid"]

    sandbox.simulate(OA, "scan", openid=user["openid"], scene="spring")
    assert isinstance(received[-1], ScanEvent) and received[-1].scene_id == "spring"
    sandbox.simulate(OA, "unsubscribe", openid=user["openid"])
    assert received[-1].event == "unsubscribe"
    left = api.get("/api/cgi-bin/user/info", access_token=token, openid=user["openid"])
    assert left["subscribe"] == 0
    assert sandbox.simulate(OA, "subscribe", bad_signature=True)["status"] == 403


def test_customer_service_messages_only_within_48_hours(sandbox, api, receiver):
    endpoint, received = oa_receiver(receiver)
    oa_tenant(sandbox, followers=10, callback_url=endpoint.url)
    token = api.oa_token()
    body = {"touser": "o3_000004", "msgtype": "text", "text": {"content": "您好"}}
    custom = "/api/cgi-bin/message/custom/send"
    assert api.post(custom, body, access_token=token)["errcode"] == 45015

    answer = sandbox.simulate(OA, "text", openid="o3_000004", content="优惠券")
    assert (answer["reply"], received[0].content, received[0].id > 0) == ("success", "优惠券", True)
    assert api.post(custom, body, access_token=token)["errcode"] == 0
    [sent] = sandbox.messages(appid=OA, kind="custom")
    assert (sent["to"], sent["content"]["text"]["content"], sent["text"]) == (
        "o3_000004",
        "您好",
        "您好",
    )


def test_mass_sends_keep_the_platform_rules(sandbox, api):
    oa_tenant(sandbox, followers=10, mass_quota=2)
    token = api.oa_token()
    text = {"msgtype": "text", "text": {"content": "双十一"}}

    def send(openids, **extra):
        body = {"touser": openids, **text, **extra}
        return api.post("/api/cgi-bin/message/mass/send", body, access_token=token)

    assert send(["o3_000001"])["errcode"] == 40130
    assert send(["o3_000001", "o3_000002"], clientmsgid="push-1")["msg_id"]
    assert send(["o3_000001", "o3_000002"], clientmsgid="push-1")["errcode"] == 45065
    everyone = {"filter": {"is_to_all": True}, **text}
    sendall = api.post("/api/cgi-bin/message/mass/sendall", everyone, access_token=token)
    assert sendall["errcode"] == 0
    assert send(["o3_000001", "o3_000002"])["errcode"] == 45028  # both had their two this month
    assert len(sandbox.messages(appid=OA, kind="mass")) == 2 + 10


# --- WeCom ------------------------------------------------------------------------------------


def wecom_receiver(receiver):
    """Our WeCom callback: checks msg_signature, decrypts with wechatpy's enterprise crypto."""
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP)
    received = []

    def reply(query, body) -> str:
        xml = crypto.decrypt_message(
            body, query["msg_signature"], query["timestamp"], query["nonce"]
        )
        received.append(xmltodict.parse(xml)["xml"])
        return "success"

    return receiver(reply), received


def test_a_contact_way_add_reaches_us_and_its_welcome_code_works_once(sandbox, api, receiver):
    endpoint, received = wecom_receiver(receiver)
    wecom_tenant(sandbox, callback_url=endpoint.url, agent_id="1000002")
    token = api.wecom_token()
    way = api.post(
        "/qyapi/cgi-bin/externalcontact/add_contact_way",
        {"type": 1, "scene": 2, "state": "lc_spring", "user": ["wangfang"]},
        access_token=token,
    )
    image = api.http.get(way["qr_code"], timeout=10)
    assert image.headers["Content-Type"] == "image/png" and image.content.startswith(b"\x89PNG")

    answer = sandbox.simulate(CORP, "add_external_contact", state="lc_spring")
    [event] = received
    assert event == {
        "ToUserName": CORP,
        "FromUserName": "sys",
        "CreateTime": event["CreateTime"],
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": "wangfang",
        "ExternalUserID": answer["external_userid"],
        "State": "lc_spring",
        "WelcomeCode": answer["welcome_code"],
    }
    query, envelope = endpoint.requests[0]
    assert set(query) == {"msg_signature", "timestamp", "nonce"}
    assert set(xmltodict.parse(envelope)["xml"]) == {"ToUserName", "AgentID", "Encrypt"}
    assert (answer["status"], answer["reply"], answer["userid"]) == (200, "success", "wangfang")

    contact = api.get(
        "/qyapi/cgi-bin/externalcontact/get",
        access_token=token,
        external_userid=answer["external_userid"],
    )
    assert [(f["userid"], f["state"]) for f in contact["follow_user"]] == [
        ("wangfang", "lc_spring")
    ]
    listed = api.get("/qyapi/cgi-bin/externalcontact/list", access_token=token, userid="wangfang")
    assert listed["external_userid"][-1] == answer["external_userid"]

    welcome = {"welcome_code": answer["welcome_code"], "text": {"content": "您好，我是王芳"}}
    path = "/qyapi/cgi-bin/externalcontact/send_welcome_msg"
    assert api.post(path, welcome, access_token=token)["errcode"] == 0
    assert api.post(path, welcome, access_token=token)["errcode"] == 41051
    [sent] = sandbox.messages(appid=CORP, kind="welcome")
    assert (sent["to"], sent["sender"], sent["text"]) == (
        answer["external_userid"],
        "wangfang",
        "您好，我是王芳",
    )

    lost = sandbox.simulate(CORP, "del_follow_user", external_userid=answer["external_userid"])
    assert (received[-1]["ChangeType"], lost["userid"]) == ("del_follow_user", "wangfang")
    contact_path = "/qyapi/cgi-bin/externalcontact/get"
    gone = api.get(contact_path, access_token=token, external_userid=answer["external_userid"])
    assert gone["errcode"] == 84061


def test_group_messages_are_confirmed_and_read_back_per_customer(sandbox, api):
    wecom_tenant(sandbox, mass_quota=1)
    token = api.wecom_token()

    def post(path, body):
        return api.post(f"/qyapi/cgi-bin/externalcontact/{path}", body, access_token=token)

    lina = api.get("/qyapi/cgi-bin/externalcontact/list", access_token=token, userid="lina")
    friend, stranger = lina["external_userid"][0], "wm3_000001"  # 1 was added by wangfang
    template = {
        "chat_type": "single",
        "sender": "lina",
        "text": {"content": "会员日"},
        "external_userid": [friend, stranger, "nobody"],
    }
    first = post("add_msg_template", template)
    assert first["fail_list"] == ["nobody"]
    result = post("get_group_msg_result", {"msgid": first["msgid"]})
    assert {d["external_userid"]: d["status"] for d in result["detail_list"]} == {
        friend: 1,
        stranger: 2,
    }
    again = post("add_msg_template", template)
    sent = post("get_groupmsg_send_result", {"msgid": again["msgid"], "userid": "lina"})
    assert [d["status"] for d in sent["send_list"]] == [3, 2]  # over this month's quota
    assert [m["to"] for m in sandbox.messages(appid=CORP, kind="msg_template")] == [friend]


def test_join_ways_list_up_to_five_groups_and_updates_overwrite_them(sandbox, api):
    wecom_tenant(sandbox)
    token, chats = api.wecom_token(), ["wr3_0000", "wr3_0001"]

    def post(path, body):
        return api.post(
            f"/qyapi/cgi-bin/externalcontact/groupchat/{path}", body, access_token=token
        )

    assert post("add_join_way", {"scene": 2, "chat_id_list": []})["errcode"] == 40058
    six = [*chats, "wr3_0002", "wr3_0003", "wr3_0004", "wr3_0005"]
    assert post("add_join_way", {"scene": 2, "chat_id_list": six})["errcode"] == 40058
    assert post("add_join_way", {"scene": 3, "chat_id_list": chats})["errcode"] == 40058
    assert post("add_join_way", {"scene": 2, "chat_id_list": ["wr-nope"]})["errcode"] == 40050
    body = {"scene": 2, "remark": "会员福利", "auto_create_room": 0, "chat_id_list": chats,
            "state": "lc_group"}  # fmt: skip
    added = post("add_join_way", body)
    assert set(added) == {"errcode", "errmsg", "config_id"}  # the QR code comes with get
    config = {"config_id": added["config_id"]}
    way = post("get_join_way", config)["join_way"]
    assert {k: way[k] for k in body} == body
    image = api.http.get(way["qr_code"], timeout=10)
    assert image.headers["Content-Type"] == "image/png" and image.content.startswith(b"\x89PNG")
    assert sandbox.state(CORP)["join_ways"][0]["config_id"] == added["config_id"]

    # WeCom overwrites the whole configuration: what an update leaves out is reset
    fewer = {**config, "scene": 2, "chat_id_list": chats[1:]}
    assert post("update_join_way", fewer)["errcode"] == 0
    way = post("get_join_way", config)["join_way"]
    assert (way["chat_id_list"], way["state"], way["remark"], way["auto_create_room"]) == (
        chats[1:], "", "", 1,
    )  # fmt: skip
    assert way["qr_code"] == image.url  # the same QR code
    assert post("update_join_way", {**config, "chat_id_list": chats})["errcode"] == 40058
    assert post("del_join_way", config)["errcode"] == 0
    assert post("get_join_way", config)["errcode"] == 40058


def test_a_join_way_scan_reaches_us_as_a_group_change_with_the_member_state(sandbox, api, receiver):
    endpoint, received = wecom_receiver(receiver)
    wecom_tenant(sandbox, callback_url=endpoint.url, group_capacity=17)  # 16 members each now
    token, chats = api.wecom_token(), ["wr3_0000", "wr3_0001"]

    def post(path, body):
        return api.post(
            f"/qyapi/cgi-bin/externalcontact/groupchat/{path}", body, access_token=token
        )

    way = {"scene": 2, "auto_create_room": 0, "chat_id_list": chats, "state": "lc_group"}
    config = {"config_id": post("add_join_way", way)["config_id"]}
    answer = sandbox.simulate(CORP, "join_group", state="lc_group")
    assert (answer["status"], answer["reply"], answer["chat_id"]) == (200, "success", chats[0])
    assert (answer["state"], answer["member_count"]) == ("lc_group", 17)
    newcomer = answer["external_userid"]
    [event] = received
    assert event == {
        "ToUserName": CORP,
        "FromUserName": "sys",
        "CreateTime": event["CreateTime"],
        "MsgType": "event",
        "Event": "change_external_chat",
        "ChatId": chats[0],
        "ChangeType": "update",
        "UpdateDetail": "add_member",
        "JoinScene": "3",
        "QuitScene": "0",
        "MemChangeCnt": "1",
        "MemChangeList": {"Item": newcomer},
        "LastMemVer": event["LastMemVer"],
        "CurMemVer": event["CurMemVer"],
    }
    query, envelope = endpoint.requests[0]
    assert set(query) == {"msg_signature", "timestamp", "nonce"}
    assert set(xmltodict.parse(envelope)["xml"]) == {"ToUserName", "AgentID", "Encrypt"}

    # the callback names who joined; groupchat/get tells how (join_scene, state)
    chat = post("get", {"chat_id": chats[0], "need_name": 1})["group_chat"]
    assert (len(chat["member_list"]), chat["member_version"]) == (17, event["CurMemVer"])
    member = chat["member_list"][-1]
    assert {k: member[k] for k in ("userid", "type", "join_scene", "state")} == {
        "userid": newcomer, "type": 2, "join_scene": 3, "state": "lc_group",
    }  # fmt: skip
    assert member["name"] and member["unionid"]
    assert "name" not in post("get", {"chat_id": chats[0]})["group_chat"]["member_list"][-1]
    contact = api.get(
        "/qyapi/cgi-bin/externalcontact/get", access_token=token, external_userid=newcomer
    )
    assert contact["errcode"] == 84061  # a group member, nobody's contact

    # the first group is full: the next scanner (a known contact) joins the second
    known = sandbox.simulate(CORP, "join_group", state="lc_group", external_userid="wm3_000004")
    assert (known["external_userid"], known["chat_id"]) == ("wm3_000004", chats[1])
    left = sandbox.simulate(CORP, "leave_group", external_userid=newcomer)
    assert (left["chat_id"], left["member_count"]) == (chats[0], 16)
    assert received[-1]["UpdateDetail"] == "del_member"
    assert received[-1]["MemChangeList"] == {"Item": newcomer}
    assert sandbox.simulate(CORP, "join_group", state="lc_group")["chat_id"] == chats[0]
    with pytest.raises(requests.HTTPError):  # both full, and the way makes no group
        sandbox.simulate(CORP, "join_group", state="lc_group")
    with pytest.raises(requests.HTTPError):
        sandbox.simulate(CORP, "join_group", state="nobody's")

    # with auto_create_room the way makes the next group itself
    way.update(auto_create_room=1, room_base_name="福利群", room_base_id=10)
    assert post("update_join_way", {**config, **way})["errcode"] == 0
    made = sandbox.simulate(CORP, "join_group", state="lc_group")
    chat = post("get", {"chat_id": made["chat_id"]})["group_chat"]
    assert (chat["name"], chat["owner"], len(chat["member_list"])) == ("福利群10", "wangfang", 2)
    assert post("get_join_way", config)["join_way"]["chat_id_list"] == [*chats, made["chat_id"]]


# --- Mini Program, Douyin, providers, the log -------------------------------------------------


def test_mini_program_login_and_analysis_are_deterministic(sandbox, api):
    sandbox.tenant(MINI, kind="wechat_mini", secret=SECRET, seed=3, followers=200)
    login = {"appid": MINI, "secret": SECRET, "grant_type": "authorization_code"}
    user = api.get("/api/sns/jscode2session", **login, js_code="user-12")
    assert (user["openid"], user["unionid"]) == ("o3_mp000012", "u3_000012") and user["session_key"]
    assert api.get("/api/sns/jscode2session", **login, js_code="user-12")["errcode"] == 40163
    token = api.oa_token(MINI)
    day = (datetime.now(CHINA).date() - timedelta(days=2)).strftime("%Y%m%d")
    path = "/api/datacube/getweanalysisappiddailyvisittrend"
    trend = api.post(path, {"begin_date": day, "end_date": day}, access_token=token)
    assert trend["list"][0]["ref_date"] == day and trend["list"][0]["visit_uv"] > 0
    assert api.post(path, {"begin_date": day, "end_date": day}, access_token=token) == trend
    today = datetime.now(CHINA).strftime("%Y%m%d")
    not_yet = api.post(path, {"begin_date": today, "end_date": today}, access_token=token)
    assert not_yet["errcode"] == 61501
    refused = {"touser": "o3_mp000004", "template_id": "t", "data": {}}
    answer = api.post("/api/cgi-bin/message/subscribe/send", refused, access_token=token)
    assert answer["errcode"] == 43101
    assert api.get("/api/cgi-bin/user/get", access_token=token)["errcode"] == 48001  # not an OA


def test_douyin_calls_are_signed(sandbox, api):
    sandbox.tenant(DOUYIN, kind="douyin", secret=SECRET, seed=3, followers=45, videos=3)
    grant = {"client_key": DOUYIN, "client_secret": SECRET, "grant_type": "client_credential"}
    token = api.post("/douyin/oauth/client_token/", grant)["data"]["access_token"]

    def signed(path: str, params: dict, secret: str = SECRET) -> dict:
        target, stamp = f"{path}?{urlencode(params)}", str(int(time.time()))
        signature = hashlib.sha256((secret + stamp + target).encode()).hexdigest()
        headers = {
            "access-token": token,
            "X-Douyin-Timestamp": stamp,
            "X-Douyin-Signature": signature,
        }
        return api.http.get(f"{api.base}/douyin{target}", headers=headers, timeout=10).json()

    fans = signed("/fans/list/", {"open_id": "dy3_owner", "cursor": 40, "count": 20})["data"]
    assert (fans["total"], len(fans["list"]), fans["has_more"]) == (45, 5, False)
    assert fans["list"][0]["open_id"] == "dy3_000040"
    videos = signed("/video/list/", {"open_id": "dy3_owner", "cursor": 0, "count": 10})["data"]
    assert [v["item_id"] for v in videos["list"]] == ["@sb3v0000", "@sb3v0001", "@sb3v0002"]
    bad = signed("/fans/list/", {"open_id": "dy3_owner"}, secret="guess")
    assert bad["data"]["error_code"] == 2190001


def test_everything_sent_is_logged_and_reset_forgets_it(sandbox, api):
    oa_tenant(sandbox, followers=3)
    body = {
        "touser": "o3_000002",
        "template_id": "order_paid",
        "data": {"first": {"value": "支付成功"}, "amount": {"value": "¥99"}},
    }
    template = api.post("/api/cgi-bin/message/template/send", body, access_token=api.oa_token())
    assert template["msgid"]
    sms = {"appid": "sms-brand", "to": "+8613800000000", "content": {"text": "验证码 1234"}}
    assert api.post("/sandbox/providers/sms", sms)["ok"]
    push = {"to": "app-7", "title": "上新", "text": "新品"}
    assert api.post("/sandbox/providers/push", push)["ok"]
    assert [(m["kind"], m["to"], m["text"]) for m in sandbox.messages()] == [
        ("template", "o3_000002", "支付成功 / ¥99"),
        ("sms", "+8613800000000", "验证码 1234"),
        ("push", "app-7", "新品"),
    ]
    assert [m["kind"] for m in sandbox.messages(appid="sms-brand")] == ["sms"]
    sandbox.fault(appid="sms-brand", path="/sandbox/providers/sms", errcode=45009, times=1)
    assert api.post("/sandbox/providers/sms", sms) == {
        "ok": False,
        "errcode": 45009,
        "errmsg": "reach max api daily quota limit",
    }

    sandbox.reset()
    assert (sandbox.messages(), sandbox.calls()) == ([], {})
    with pytest.raises(requests.HTTPError) as error:
        sandbox.state(OA)
    assert error.value.response.status_code == 404


def test_the_demo_seed_plays_every_sandbox_account(db, settings):
    settings.PUBLIC_URL = "http://demo.example:8000/"
    channel_account_create(
        kind="wechat_oa",
        code="brand-oa",
        name="品牌公众号",
        app_id="wx-demo",
        secret="sec",
        token="tok",
        aes_key=AES_KEY,
        sandbox=True,
    )
    channel_account_create(
        kind="wecom",
        code="brand-wecom",
        name="企业微信",
        app_id="ww-demo",
        sandbox=True,
        options={"agent_id": 1000002},
    )
    channel_account_create(kind="sms", code="brand-sms", name="短信", sandbox=True)
    channel_account_create(kind="wechat_mini", code="live-mini", name="小程序", app_id="wx-live")
    tenants = dict(demo_tenants())
    assert set(tenants) == {"wx-demo", "ww-demo"}
    assert tenants["wx-demo"] == {
        "kind": "wechat_oa",
        "secret": "sec",
        "token": "tok",
        "aes_key": AES_KEY,
        "callback_url": "http://demo.example:8000/channels/callback/brand-oa/",
        "seed": DEMO_SEED,
        **DEMO_SIZES["wechat_oa"],
    }
    assert tenants["ww-demo"]["agent_id"] == "1000002"
    state = new_state()
    for appid, config in tenants.items():
        assert state.configure(appid, config).summary()["seed"] == DEMO_SEED


def test_control_api_rejects_nonsense(sandbox, api):
    answer = api.http.post(f"{api.base}/sandbox/tenants/x", json={"kind": "fax"}, timeout=10)
    assert answer.status_code == 400 and "kind" in answer.json()["error"]
    oa_tenant(sandbox)
    with pytest.raises(requests.HTTPError):  # no callback URL configured
        sandbox.simulate(OA, "subscribe")
    assert api.http.get(f"{api.base}/sandbox/", timeout=10).json()["ok"]
