"""Adapters against the sandbox platform: OA QR codes, tags and messages, WeCom contact ways,
tags, welcome, customer and app messages, SMS / push providers, email, the token cache and
the rate limiter (with and without Redis).

The fixtures here (`sandbox`, `account`) serve tests/channels/test_syncs.py too.
"""

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from channels.adapters import OutMessage, PlatformError, Unsupported, adapter_for
from channels.choices import TokenState
from channels.clients import call, counting, wechat_client
from channels.ratelimit import acquire
from channels.services import channel_account_create
from tags.models import TagMapping

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/15"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
PLATFORM_KINDS = ("wechat_oa", "wecom", "wechat_mini", "douyin")


@pytest.fixture
def account(sandbox):
    """Make a sandbox-mode account and its tenant: `account(kind, code, **tenant_config)`.

    Each gets a fresh app id, so tokens cached by earlier tests (Redis, the file cache) are
    never reused against a reset sandbox.
    """

    def make(kind: str, code: str, *, options=None, rate_limit=1000, **tenant):
        app_id = f"{code}-{uuid.uuid4().hex[:10]}"
        if kind in PLATFORM_KINDS:
            sandbox.tenant(app_id, kind=kind, secret=f"secret-{code}", **tenant)
        return channel_account_create(
            kind=kind, code=code, name=f"{code} 账号", app_id=app_id, secret=f"secret-{code}",
            sandbox=True, api_base_url=sandbox.base_url, rate_limit=rate_limit,
            options=options or {},
        )  # fmt: skip

    return make


@pytest.fixture
def callback_sink():
    """A callback URL that answers `success` to whatever the sandbox posts to it."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"success")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback"
    server.shutdown()
    server.server_close()


def sample(sandbox, account, n: int = 2) -> list[str]:
    return sandbox.state(account.app_id)["sample"][:n]


# --- WeChat OA --------------------------------------------------------------------------------


def test_oa_scene_qr_codes(sandbox, account):
    oa = adapter_for(account("wechat_oa", "oa", followers=5))
    permanent = oa.create_qrcode("spring-sale")
    assert permanent["ticket"] and permanent["url"].startswith("http://weixin.qq.com/q/")
    assert permanent["expires_at"] is None
    temporary = oa.create_qrcode("flash", permanent=False, expire_seconds=600)
    assert 590 < (temporary["expires_at"] - timezone.now()).total_seconds() <= 600
    scenes = {q["scene"] for q in sandbox.state(oa.account.app_id)["qrcodes"]}
    assert scenes == {"spring-sale", "flash"}


def test_oa_tags_both_ways(sandbox, account):
    oa = adapter_for(account("wechat_oa", "oa", followers=5))
    openids = sample(sandbox, oa.account, 3)
    tag_id = oa.tag_create("高价值")
    assert {"id": tag_id, "name": "高价值"} in [
        {"id": t["id"], "name": t["name"]} for t in oa.tags()
    ]
    oa.tag_users(tag_id, openids)
    assert all(tag_id in call(oa.account, oa.client.tag.get_user_tag, o) for o in openids)
    oa.untag_users(tag_id, openids[:1])
    assert tag_id not in call(oa.account, oa.client.tag.get_user_tag, openids[0])

    result = oa.sync("tags")  # their tags → ours, through the tag mappings
    mapped = TagMapping.objects.filter(account=oa.account, platform="oa_tag")
    assert result.created == mapped.count() == len(oa.tags())
    assert mapped.get(external_id=str(tag_id)).tag.name == "高价值"


def test_oa_send_mass_template_and_customer_service(sandbox, account, callback_sink):
    oa = adapter_for(account("wechat_oa", "oa", followers=5))
    sandbox.tenant(oa.account.app_id, token="cb-token", callback_url=callback_sink)
    old, other, talking = sample(sandbox, oa.account, 3)
    sandbox.simulate(oa.account.app_id, "text", openid=talking, content="你好")  # 48 h window
    batch = [
        OutMessage(old, {"type": "mass_text", "text": "上新了"}, key="d1"),
        OutMessage(other, {"type": "mass_text", "text": "上新了"}, key="d2"),
        OutMessage(old, {"type": "template", "template_id": "T1", "data": {"k": {"value": 1}}},
                   key="d3"),
        OutMessage(old, {"type": "text", "text": "在吗"}, key="d4"),
        OutMessage(talking, {"type": "text", "text": "在的"}, key="d5"),
        OutMessage(old, {"type": "voice"}, key="d6"),
    ]  # fmt: skip
    results = oa.send(batch)
    assert [r.key for r in results] == ["d1", "d2", "d3", "d4", "d5", "d6"]
    assert [r.ok for r in results] == [True, True, True, False, True, False]
    assert results[0].platform_id and results[0].platform_id == results[1].platform_id
    assert results[3].error_code == 45015  # outside the 48-hour window: a skip reason
    sent = sandbox.messages(appid=oa.account.app_id)
    assert sorted((m["kind"], m["to"]) for m in sent) == sorted(
        [("mass", old), ("mass", other), ("template", old), ("custom", talking)]
    )


def test_token_is_cached_and_shared_with_and_without_redis(sandbox, account, settings):
    for redis_url in ("", REDIS_URL):
        settings.REDIS_URL = redis_url
        oa = account("wechat_oa", f"oa{len(redis_url)}", followers=3)
        for _ in range(2):  # two workers' clients
            client = wechat_client(oa)
            call(oa, client.user.get_followers)
        assert sandbox.calls(oa.app_id) == {"/cgi-bin/token": 1, "/cgi-bin/user/get": 2}
        oa.refresh_from_db()
        assert oa.token_state == TokenState.OK and oa.token_refreshed_at


# --- WeCom ------------------------------------------------------------------------------------


def wecom(account, **tenant):
    tenant = {"staff": 3, "contacts": 20, "agent_id": "1000002", **tenant}
    return adapter_for(account("wecom", "wecom", options={"agent_id": 1000002}, **tenant))


def a_contact(adapter, sandbox) -> tuple[str, str]:
    external_userid = sandbox.state(adapter.account.app_id)["sample"][0]
    return adapter.external_contact(external_userid)["follow_user"][0]["userid"], external_userid


def test_wecom_contact_way_and_tags(sandbox, account):
    adapter = wecom(account)
    staff = adapter.follow_users()
    way = adapter.add_contact_way("lc-spring", staff[:2])
    assert way["config_id"] and way["qr_code"]
    assert adapter.create_qrcode(state="lc-one", userids=staff[:1])["config_id"]
    adapter.update_contact_way(way["config_id"], staff[2:])  # the live code's next turn
    (stored,) = [w for w in sandbox.state(adapter.account.app_id)["contact_ways"]
                 if w["config_id"] == way["config_id"]]  # fmt: skip
    assert stored["user"] == staff[2:] and stored["state"] == "lc-spring"

    userid, external_userid = a_contact(adapter, sandbox)
    tag_id = adapter.corp_tag_create("复购客户", "客户价值")
    assert {"id": tag_id, "name": "复购客户"} in [
        {"id": t["id"], "name": t["name"]} for t in adapter.corp_tags()
    ]
    adapter.mark_tag(userid, external_userid, add_tag_ids=[tag_id])
    follow = adapter.external_contact(external_userid)["follow_user"][0]
    assert tag_id in [t["tag_id"] for t in follow["tags"]]
    adapter.mark_tag(userid, external_userid, remove_tag_ids=[tag_id])
    follow = adapter.external_contact(external_userid)["follow_user"][0]
    assert tag_id not in [t["tag_id"] for t in follow["tags"]]


def test_wecom_welcome_message_once(sandbox, account, callback_sink):
    adapter = wecom(account)
    sandbox.tenant(adapter.account.app_id, token="cb", aes_key=AES_KEY, callback_url=callback_sink)
    added = sandbox.simulate(adapter.account.app_id, "add_external_contact", state="lc-1")
    adapter.send_welcome_msg(added["welcome_code"], "欢迎！")
    with pytest.raises(PlatformError) as used:
        adapter.send_welcome_msg(added["welcome_code"], "欢迎！")
    assert used.value.code == 41051
    assert [m["to"] for m in sandbox.messages(appid=adapter.account.app_id, kind="welcome")] == [
        added["external_userid"]
    ]


def test_wecom_send_reads_per_recipient_results(sandbox, account):
    adapter = wecom(account)
    userid, friend = a_contact(adapter, sandbox)
    others = [e for e in sandbox.state(adapter.account.app_id)["sample"] if e != friend]
    stranger = next(  # a contact of another staff member only
        e
        for e in others
        if userid not in {f["userid"] for f in adapter.external_contact(e)["follow_user"]}
    )
    batch = [
        OutMessage(friend, {"text": "周末福利", "sender": userid}, key="k1"),
        OutMessage(stranger, {"text": "周末福利", "sender": userid}, key="k2"),
        OutMessage("wm-nobody", {"text": "周末福利", "sender": userid}, key="k3"),
    ]
    first, second, third = adapter.send(batch)
    assert first.ok and first.platform_id
    assert not second.ok and "not a contact" in second.error
    assert not third.ok and "fail_list" in third.error
    statuses = adapter.msg_template_results(first.platform_id)
    assert statuses[friend] == 1


def test_wecom_app_message_to_staff(sandbox, account):
    adapter = wecom(account)
    staff = adapter.follow_users()
    answer = adapter.send_app_message([staff[0], "ghost"], "客户流失提醒")
    assert answer["invaliduser"] == "ghost"
    sent = sandbox.messages(appid=adapter.account.app_id, kind="app")
    assert [m["to"] for m in sent] == [staff[0]]


# --- Mini Program -----------------------------------------------------------------------------


def test_mini_program_login_code(sandbox, account):
    mini = adapter_for(account("wechat_mini", "mini", followers=5))
    session = mini.code_to_session("js-code-1")
    assert session["openid"] and session["session_key"]
    with pytest.raises(PlatformError) as reused:
        mini.code_to_session("js-code-1")
    assert reused.value.code == 40163


# --- SMS, app push, email, stores -------------------------------------------------------------


@pytest.mark.parametrize(("kind", "channel", "to"), [("sms", "sms", "+8613800000000"),
                                                     ("app", "push", "app-user-7")])  # fmt: skip
def test_sandbox_providers(sandbox, account, kind, channel, to):
    provider = adapter_for(account(kind, kind))
    sandbox.fault(appid=provider.account.app_id, path=f"/sandbox/providers/{channel}",
                  status=503, times=1)  # fmt: skip
    with counting() as counter:
        (result,) = provider.send([OutMessage(to, {"text": "验证码 1234"}, key="p1")])
    assert result.ok and result.platform_id
    assert (counter.api_calls, counter.retries) == (2, 1)
    (logged,) = sandbox.messages(appid=provider.account.app_id, kind=channel)
    assert (logged["to"], logged["content"], logged["key"]) == (to, {"text": "验证码 1234"}, "p1")


def test_provider_must_be_configured(db):
    sms = channel_account_create(kind="sms", code="sms-live", name="短信")
    (result,) = adapter_for(sms).send([OutMessage("+8613800000000", {"text": "hi"}, key="x")])
    assert not result.ok and "no sms provider" in result.error


def test_email_through_django_backend(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    email = channel_account_create(
        kind="email", code="mail", name="邮件", options={"from_email": "news@brand.example"}
    )
    batch = [
        OutMessage(
            "a@example.com", {"subject": "上新", "text": "你好", "html": "<b>你好</b>"}, "e1"
        ),
        OutMessage("b@example.com", {"subject": "上新", "text": "你好"}, "e2"),
    ]
    results = adapter_for(email).send(batch)
    assert [r.ok for r in results] == [True, True]
    assert [m.to for m in mail.outbox] == [["a@example.com"], ["b@example.com"]]
    assert mail.outbox[0].from_email == "news@brand.example"
    assert mail.outbox[0].extra_headers["Message-ID"] == results[0].platform_id


def test_stores_only_declare_capabilities(db):
    store = adapter_for(channel_account_create(kind="tmall", code="tmall", name="天猫"))
    assert store.kind == "tmall" and store.can("orders:batch") and not store.can("send")
    with pytest.raises(Unsupported):
        store.create_qrcode()
    with pytest.raises(Unsupported):
        store.sync("followers")


# --- rate limiter -----------------------------------------------------------------------------


@pytest.mark.parametrize("redis_url", ["", REDIS_URL])
def test_rate_limiter_shared_by_workers(settings, redis_url):
    settings.REDIS_URL = redis_url
    account = channel_account_create(
        kind="wechat_oa", code=f"rl-{uuid.uuid4().hex[:8]}", name="限速", rate_limit=20
    )
    started = time.monotonic()
    workers = [
        threading.Thread(target=lambda: [acquire(account) for _ in range(15)]) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # 30 calls at 20 a second with a burst of 20: the last ten wait half a second
    assert 0.4 < time.monotonic() - started < 1.5
