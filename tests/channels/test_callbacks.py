"""The callback endpoint: messages made with wechatpy's own crypto (as WeChat and WeCom send
them) are verified, decrypted, logged once and answered; forged, malformed and hostile ones
are refused without a 500; processing tags, counts and greets, and a failed one replays."""

import time
from urllib.parse import urlencode

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import PrpCrypto as WecomPrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WecomCrypto
from wechatpy.utils import WeChatSigner

from channels.adapters.base import PlatformError
from channels.callbacks import callback_replay, message_key, process_callback_task
from channels.choices import CallbackStatus, HitKind, KeywordMatch, LiveCodeKind, ReplyKind
from channels.livecodes import live_code_create
from channels.models import CallbackLog, CodeHit, GroupChat, Staff
from channels.qrcodes import qr_code_create
from channels.services import auto_reply_save, channel_account_create
from customers.models import Event, Identity
from tags.models import CustomerTag, TagMapping
from tags.services import tag_create

pytestmark = pytest.mark.django_db

TOKEN = "cb-token-9876"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID, CORPID = "wx-oa-appid", "ww-corp-id"
NONCE = "nonce123"


class FakeAdapter:
    """Stands in for a platform adapter in unit tests: answers like the platform, records
    every call. The end-to-end tests (test_livecodes) use the sandbox platform instead."""

    def __init__(self, contact=None, fail=()):
        self.calls: list[tuple] = []
        self.contact = contact or {}
        self.groups: dict[str, dict] = {}
        self.fail = set(fail)
        self.next_tag = 0

    def _record(self, name, *args):
        self.calls.append((name, *args))
        if name in self.fail:
            raise RuntimeError(f"{name} is down")

    def can(self, capability: str) -> bool:
        return True

    def named(self, name) -> list[tuple]:
        return [call[1:] for call in self.calls if call[0] == name]

    def create_qrcode(self, scene, permanent, expire_seconds):
        self._record("create_qrcode", scene)
        return {
            "ticket": f"gQ-{scene}",
            "url": f"http://weixin.qq.com/q/{scene}",
            "expires_at": None,
        }

    def add_contact_way(self, state, userids, skip_verify=True):
        self._record("add_contact_way", state, list(userids))
        return {"config_id": f"cfg-{state}", "qr_code": f"https://example.com/{state}.png"}

    def update_contact_way(self, config_id, userids):
        self._record("update_contact_way", config_id, list(userids))

    def add_join_way(self, state, chat_ids):
        self._record("add_join_way", state, list(chat_ids))
        return {"config_id": f"join-{state}", "qr_code": f"https://example.com/{state}.png"}

    def update_join_way(self, config_id, chat_ids, state=None):
        self._record("update_join_way", config_id, list(chat_ids))

    def group_chat(self, chat_id):
        self._record("group_chat", chat_id)
        if chat_id not in self.groups:
            raise PlatformError(40050, "invalid chatid")
        return self.groups[chat_id]

    def corp_tag_create(self, name, group_name):
        self._record("corp_tag_create", name, group_name)
        self.next_tag += 1
        return f"et{self.next_tag}"

    def external_contact(self, external_userid):
        self._record("external_contact", external_userid)
        return {"external_contact": self.contact, "follow_user": []}

    def send_welcome_msg(self, welcome_code, text):
        self._record("send_welcome_msg", welcome_code, text)

    def mark_tag(self, userid, external_userid, add_tag_ids=(), remove_tag_ids=()):
        self._record("mark_tag", userid, external_userid, list(add_tag_ids))

    def send_app_message(self, userids, text):
        self._record("send_app_message", list(userids), text)


@pytest.fixture
def fake(monkeypatch):
    adapter = FakeAdapter(contact={"name": "林小姐", "unionid": "union-lin"})
    monkeypatch.setattr("channels.adapters.adapter_for", lambda account: adapter)
    return adapter


@pytest.fixture
def oa(db):
    return channel_account_create(
        kind="wechat_oa", code="oa-cb", name="品牌公众号", app_id=APPID,
        token=TOKEN, aes_key=AES_KEY,
    )  # fmt: skip


@pytest.fixture
def wecom(db):
    return channel_account_create(
        kind="wecom", code="wecom-cb", name="品牌企业微信", app_id=CORPID,
        token=TOKEN, aes_key=AES_KEY, options={"agent_id": 1000002},
    )  # fmt: skip


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def oa_xml(openid: str, body: str, at: int | None = None) -> str:
    """A message as WeChat writes it (msg_type / event elements in `body`)."""
    return (
        f"<xml><ToUserName><![CDATA[gh_brand]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{at or int(time.time())}</CreateTime>{body}</xml>"
    )


def subscribe(openid: str, scene: str = "") -> str:
    key = f"<EventKey><![CDATA[qrscene_{scene}]]></EventKey><Ticket>gQ-{scene}</Ticket>"
    event = "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
    return oa_xml(openid, event + (key if scene else ""))


def text(openid: str, content: str, msg_id: int) -> str:
    body = (
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId>"
    )
    return oa_xml(openid, body)


def oa_post(client, account, xml: str, **tamper):
    """POST a message in safe mode, encrypted and signed with wechatpy's WeChatCrypto."""
    timestamp = str(int(time.time()))
    envelope = WeChatCrypto(TOKEN, AES_KEY, APPID).encrypt_message(xml, NONCE, timestamp)
    params = {
        "signature": sign(TOKEN, timestamp, NONCE),
        "timestamp": timestamp,
        "nonce": NONCE,
        "openid": "ignored",
        "encrypt_type": "aes",
        "msg_signature": xmltodict.parse(envelope)["xml"]["MsgSignature"],
        **tamper,
    }
    url = f"{account.callback_path}?{urlencode(params)}"
    return client.post(url, data=envelope, content_type="text/xml")


def decrypted_reply(response) -> dict:
    """The passive reply, decrypted with wechatpy as WeChat would."""
    envelope = xmltodict.parse(response.content)["xml"]
    plain = WeChatCrypto(TOKEN, AES_KEY, APPID).decrypt_message(
        response.content, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    return xmltodict.parse(plain)["xml"]


def wecom_post(client, account, xml: str):
    timestamp = str(int(time.time()))
    envelope = WecomCrypto(TOKEN, AES_KEY, CORPID).encrypt_message(xml, NONCE, timestamp)
    params = {
        "msg_signature": xmltodict.parse(envelope)["xml"]["MsgSignature"],
        "timestamp": timestamp,
        "nonce": NONCE,
    }
    return client.post(
        f"{account.callback_path}?{urlencode(params)}", data=envelope, content_type="text/xml"
    )


def contact_change(change: str, userid: str, external_userid: str, **extra) -> str:
    elements = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in extra.items())
    return (
        f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName>"
        f"<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event>"
        f"<ChangeType><![CDATA[{change}]]></ChangeType><UserID><![CDATA[{userid}]]></UserID>"
        f"<ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID>{elements}</xml>"
    )


def customer_of(kind: str, value: str, scope: str = ""):
    return (
        Identity.objects.select_related("customer")
        .get(kind=kind, scope=scope, value=value)
        .customer
    )


# --- URL verification ------------------------------------------------------------------------


def test_oa_url_verification_echoes_with_a_good_signature(client, oa):
    timestamp = str(int(time.time()))
    params = {"timestamp": timestamp, "nonce": NONCE, "echostr": "echo-42"}
    good = client.get(oa.callback_path, {**params, "signature": sign(TOKEN, timestamp, NONCE)})
    assert good.status_code == 200 and good.content == b"echo-42"
    bad = client.get(oa.callback_path, {**params, "signature": "0" * 40})
    assert bad.status_code == 403 and bad.content == b""


def test_wecom_url_verification_answers_the_decrypted_echostr(client, wecom):
    timestamp = str(int(time.time()))
    key = WecomCrypto(TOKEN, AES_KEY, CORPID).key
    echostr = WecomPrpCrypto(key).encrypt("plain-echo-7", CORPID).decode()
    params = {"timestamp": timestamp, "nonce": NONCE, "echostr": echostr}
    good = client.get(
        wecom.callback_path, {**params, "msg_signature": sign(TOKEN, timestamp, NONCE, echostr)}
    )
    assert good.status_code == 200 and good.content == b"plain-echo-7"
    bad = client.get(wecom.callback_path, {**params, "msg_signature": "f" * 40})
    assert bad.status_code == 403
    assert client.get(wecom.callback_path, params).status_code == 403  # unsigned


def test_unknown_account_code_is_404(client, db):
    assert client.get("/channels/callback/nobody/").status_code == 404
    assert (
        client.post(
            "/channels/callback/nobody/", data="<xml/>", content_type="text/xml"
        ).status_code
        == 404
    )


# --- refusals ------------------------------------------------------------------------------


def test_bad_signature_is_403_and_leaves_nothing(client, oa):
    response = oa_post(client, oa, subscribe("o-forged"), msg_signature="0" * 40)
    assert response.status_code == 403 and response.content == b""
    for missing in ("encrypt_type", "msg_signature", "timestamp"):
        assert oa_post(client, oa, subscribe("o-forged"), **{missing: ""}).status_code == 403
    assert not CallbackLog.objects.exists()


def test_a_message_for_another_app_is_403(client, oa):
    timestamp = str(int(time.time()))
    envelope = WeChatCrypto(TOKEN, AES_KEY, "wx-other").encrypt_message(
        subscribe("o-x"), NONCE, timestamp
    )
    params = {"timestamp": timestamp, "nonce": NONCE, "encrypt_type": "aes",
              "msg_signature": xmltodict.parse(envelope)["xml"]["MsgSignature"]}  # fmt: skip
    response = client.post(
        f"{oa.callback_path}?{urlencode(params)}", data=envelope, content_type="text/xml"
    )
    assert response.status_code == 403


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>o-bomb</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content></xml>"
)


@pytest.mark.parametrize(
    "inner",
    [
        "<xml><MsgType>text</MsgType><Content>unclosed",  # malformed
        BOMB,  # an entity bomb (billion laughs)
        '<!DOCTYPE xml SYSTEM "http://evil.example/x.dtd"><xml><MsgType>text</MsgType></xml>',
        "<xml><Content>no type</Content></xml>",  # not a message
        "<html><body>hello</body></html>",
    ],
    ids=["malformed", "entity-bomb", "external-dtd", "no-msgtype", "not-wechat"],
)
def test_unreadable_messages_are_400(client, oa, inner):
    response = oa_post(client, oa, inner)
    assert response.status_code == 400 and response.content == b""
    assert not CallbackLog.objects.exists()


def test_malformed_envelope_and_plain_mode_body_are_400(client, oa, db):
    timestamp = str(int(time.time()))
    params = {"timestamp": timestamp, "nonce": NONCE, "encrypt_type": "aes", "msg_signature": "x"}
    response = client.post(
        f"{oa.callback_path}?{urlencode(params)}", data="<xml><Encrypt>", content_type="text/xml"
    )
    assert response.status_code == 400
    plain = channel_account_create(kind="wechat_oa", code="oa-plain", name="明文", token=TOKEN)
    signed = {"timestamp": timestamp, "nonce": NONCE, "signature": sign(TOKEN, timestamp, NONCE)}
    response = client.post(
        f"{plain.callback_path}?{urlencode(signed)}", data=BOMB, content_type="text/xml"
    )
    assert response.status_code == 400


# --- accepted messages ---------------------------------------------------------------------


def test_subscribe_through_a_qr_code_tags_and_answers_with_its_reply(
    client, oa, fake, django_capture_on_commit_callbacks
):
    vip = tag_create(name="门店扫码")
    qr = qr_code_create(
        account=oa, name="上海店", scene="store-sh", tags=[vip], reply_text="欢迎来到上海店！"
    )
    auto_reply_save(account=oa, kind=ReplyKind.SUBSCRIBE, reply_text="感谢关注")
    with django_capture_on_commit_callbacks(execute=True):
        response = oa_post(client, oa, subscribe("o-alice", scene="store-sh"))
    assert response.status_code == 200
    reply = decrypted_reply(response)
    assert reply["Content"] == "欢迎来到上海店！" and reply["ToUserName"] == "o-alice"

    customer = customer_of("wechat_openid", "o-alice", "oa-cb")
    tag = CustomerTag.objects.get(customer=customer)
    assert (tag.tag, tag.source, tag.source_ref) == (vip, "qrcode", f"qrcode:{qr.pk}")
    event = Event.objects.get(customer=customer)
    assert event.name == "subscribe"
    assert event.properties == {"scene": "store-sh", "qr_code": qr.pk}
    hit = CodeHit.objects.get(qr_code=qr)
    assert (hit.kind, hit.customer, hit.external_id) == (HitKind.SUBSCRIBE, customer, "o-alice")
    log = CallbackLog.objects.get()
    assert (log.status, log.event, log.attempts) == (CallbackStatus.PROCESSED, "subscribe", 1)

    # a plain follow gets the follow reply; a scan by a follower gets the code's text
    with django_capture_on_commit_callbacks(execute=True):
        plain = oa_post(client, oa, subscribe("o-bob"))
    assert decrypted_reply(plain)["Content"] == "感谢关注"
    scan = oa_xml(
        "o-alice",
        "<MsgType>event</MsgType><Event>SCAN</Event><EventKey>store-sh</EventKey>",
        at=int(time.time()) + 5,
    )
    with django_capture_on_commit_callbacks(execute=True):
        scanned = oa_post(client, oa, scan)
    assert decrypted_reply(scanned)["Content"] == "欢迎来到上海店！"
    assert CodeHit.objects.filter(qr_code=qr, kind=HitKind.SCAN).count() == 1
    assert Event.objects.filter(customer=customer, name="scan_qrcode").exists()


def test_keyword_replies_by_priority_then_the_default(
    client, oa, django_capture_on_commit_callbacks
):
    coupon = tag_create(name="问过优惠")
    auto_reply_save(account=oa, kind=ReplyKind.KEYWORD, keyword="优惠", match=KeywordMatch.CONTAINS,
                    reply_text="本周满 200 减 30", tags=[coupon], priority=20)  # fmt: skip
    auto_reply_save(account=oa, kind=ReplyKind.KEYWORD, keyword="优惠券",
                    reply_text="领券入口：…", priority=10)  # fmt: skip
    auto_reply_save(account=oa, kind=ReplyKind.DEFAULT, reply_text="客服稍后回复您")
    answers = {}
    with django_capture_on_commit_callbacks(execute=True):
        for msg_id, content in enumerate(["优惠券", "最近有什么优惠吗", "你好"], start=1):
            answers[content] = decrypted_reply(
                oa_post(client, oa, text("o-carol", content, msg_id))
            )
    assert answers["优惠券"]["Content"] == "领券入口：…"  # exact, and first by priority
    assert answers["最近有什么优惠吗"]["Content"] == "本周满 200 减 30"
    assert answers["你好"]["Content"] == "客服稍后回复您"
    customer = customer_of("wechat_openid", "o-carol", "oa-cb")
    assert list(customer.customer_tags.values_list("tag__name", "source")) == [("问过优惠", "rule")]
    events = Event.objects.filter(customer=customer, name="message_in").order_by("source_id")
    assert [e.properties.get("keyword") for e in events] == ["优惠券", "优惠", None]


def test_a_replayed_message_creates_nothing_more(client, oa, django_capture_on_commit_callbacks):
    xml = text("o-dave", "hello", 7001)
    with django_capture_on_commit_callbacks(execute=True) as first_run:
        first = oa_post(client, oa, xml)
    with django_capture_on_commit_callbacks(execute=True) as second_run:
        again = oa_post(client, oa, xml)
    assert first.status_code == again.status_code == 200
    assert again.content == b"success"
    assert (len(first_run), len(second_run)) == (1, 0)
    assert CallbackLog.objects.count() == 1 and Event.objects.count() == 1
    assert CallbackLog.objects.get().msg_key == "msg:7001"


def test_plain_mode_checks_the_signature_and_replies_in_the_clear(client, db):
    plain = channel_account_create(kind="wechat_oa", code="oa-plain", name="明文", token=TOKEN)
    auto_reply_save(account=plain, kind=ReplyKind.DEFAULT, reply_text="在的")
    timestamp = str(int(time.time()))
    signed = {"timestamp": timestamp, "nonce": NONCE, "signature": sign(TOKEN, timestamp, NONCE)}
    response = client.post(
        f"{plain.callback_path}?{urlencode(signed)}",
        data=text("o-erin", "hi", 42),
        content_type="text/xml",
    )
    assert xmltodict.parse(response.content)["xml"]["Content"] == "在的"
    forged = {**signed, "signature": "0" * 40}
    response = client.post(
        f"{plain.callback_path}?{urlencode(forged)}", data=text("o-erin", "hi", 43),
        content_type="text/xml",
    )  # fmt: skip
    assert response.status_code == 403


def test_failed_processing_is_recorded_and_can_be_replayed(
    client, oa, fake, monkeypatch, django_capture_on_commit_callbacks
):
    vip = tag_create(name="活动")
    qr_code_create(account=oa, name="活动码", scene="promo", tags=[vip])

    def broken(**kwargs):
        raise RuntimeError("tags are down")

    monkeypatch.setattr("channels.handlers.customer_tags_change", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = oa_post(client, oa, subscribe("o-frank", scene="promo"))
    assert response.status_code == 200
    log = CallbackLog.objects.get()
    assert (log.status, log.attempts) == (CallbackStatus.FAILED, 1)
    assert "tags are down" in log.error
    assert not Event.objects.exists() and not CodeHit.objects.exists()  # nothing half-done

    monkeypatch.undo()
    log = callback_replay(log)
    assert (log.status, log.attempts, log.error) == (CallbackStatus.PROCESSED, 2, "")
    customer = customer_of("wechat_openid", "o-frank", "oa-cb")
    assert customer.customer_tags.get().tag == vip
    assert Event.objects.filter(customer=customer, name="subscribe").count() == 1
    assert callback_replay(log).attempts == 2  # a processed callback is left alone


# --- WeCom ---------------------------------------------------------------------------------


def test_wecom_add_through_a_live_code_tags_greets_and_counts(
    client, wecom, fake, django_capture_on_commit_callbacks
):
    anna = Staff.objects.create(account=wecom, userid="anna", name="Anna")
    new = tag_create(name="活码新客")
    code = live_code_create(
        account=wecom, name="门店活码", staff=[(anna, None, False)], tags=[new],
        welcome_text="{{ name }}您好，我是 Anna",
    )  # fmt: skip
    xml = contact_change("add_external_contact", "anna", "wm-ext-1", State=code.state,
                         WelcomeCode="WC-1")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = wecom_post(client, wecom, xml)
    assert response.status_code == 200 and response.content == b"success"

    log = CallbackLog.objects.get()
    assert (log.status, log.event, log.error) == (
        CallbackStatus.PROCESSED,
        "add_external_contact",
        "",
    )
    customer = customer_of("wecom_external_userid", "wm-ext-1", "wecom-cb")
    assert customer.name == "林小姐"
    assert customer_of("wechat_unionid", "union-lin") == customer
    assert customer.customer_tags.get().tag == new
    event = customer.events.get()
    assert event.name == "add_external_contact"
    assert event.properties == {"staff": "anna", "state": code.state, "live_code": code.pk}
    assert fake.named("send_welcome_msg") == [("WC-1", "林小姐您好，我是 Anna")]
    corp_tag = TagMapping.objects.get(tag=new, account=wecom).external_id
    assert fake.named("mark_tag") == [("anna", "wm-ext-1", [corp_tag])]
    assert CodeHit.objects.get(live_code=code).staff == anna


def test_wecom_loss_alerts_the_staff_member(
    client, wecom, fake, django_capture_on_commit_callbacks
):
    anna = Staff.objects.create(account=wecom, userid="anna", name="Anna")
    code = live_code_create(account=wecom, name="门店活码", staff=[(anna, None, False)])
    with django_capture_on_commit_callbacks(execute=True):
        wecom_post(client, wecom, contact_change("add_external_contact", "anna", "wm-2",
                                                 State=code.state))  # fmt: skip
    lost = contact_change("del_follow_user", "anna", "wm-2")
    with django_capture_on_commit_callbacks(execute=True):
        wecom_post(client, wecom, lost)
    customer = customer_of("wecom_external_userid", "wm-2", "wecom-cb")
    assert customer.events.filter(name="lost_contact").count() == 1
    assert CodeHit.objects.filter(live_code=code, kind=HitKind.DELETE).count() == 1
    [(userids, alert)] = fake.named("send_app_message")
    assert userids == ["anna"] and "林小姐" in alert and "门店活码" in alert

    wecom.options = {}  # no app to send from: the loss still counts, the alert is noted
    wecom.save(update_fields=["options"])
    with django_capture_on_commit_callbacks(execute=True):
        wecom_post(client, wecom, contact_change("del_follow_user", "anna", "wm-9"))
    log = CallbackLog.objects.get(event="del_follow_user", body__contains="wm-9")
    assert log.status == CallbackStatus.PROCESSED and "agent_id" in log.error
    assert len(fake.named("send_app_message")) == 1


def test_message_key_without_msgid_names_sender_time_and_subject():
    fields = {
        "FromUserName": "sys",
        "CreateTime": "1700000000",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": "anna",
        "ExternalUserID": "wm1",
    }
    assert (
        message_key(fields)
        == "sys|1700000000|change_external_contact||add_external_contact|anna|wm1|"
    )
    assert message_key({**fields, "MsgId": "99"}) == "msg:99"
    long = message_key({**fields, "State": "x" * 200})
    assert long.startswith("sha1:") and len(long) <= 128


def group_change(detail: str, chat_id: str, members=None, **numbers) -> str:
    """A change_external_chat update as WeCom words it (MemChangeList: `<Item>`s, or none
    as older WeCom sends)."""
    items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members or [])
    listed = f"<MemChangeList>{items}</MemChangeList>" if members is not None else ""
    counts = "".join(f"<{k}>{v}</{k}>" for k, v in numbers.items())
    return (
        f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName>"
        f"<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId><ChangeType><![CDATA[update]]></ChangeType>"
        f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail>{counts}{listed}</xml>"
    )


def test_group_changes_count_without_a_member_list_or_the_group_details(
    client, wecom, fake, django_capture_on_commit_callbacks
):
    Staff.objects.create(account=wecom, userid="anna")
    Staff.objects.create(account=wecom, userid="bob")
    chat = GroupChat.objects.create(account=wecom, chat_id="wr-a", member_count=2, capacity=4)
    code = live_code_create(account=wecom, name="群活码", kind=LiveCodeKind.GROUP, groups=[chat])
    fake.groups["wr-a"] = {
        "chat_id": "wr-a",
        "name": "福利群",
        "owner": "anna",
        "member_list": [
            {"userid": "anna", "type": 1, "join_time": 10},
            {"userid": "wm-old", "type": 2, "join_time": 50},
            {"userid": "wm-x", "type": 2, "join_time": 100, "state": code.state, "name": "小夏"},
            {"userid": "wm-y", "type": 2, "join_time": 200, "unionid": "union-y"},
        ],
    }
    # older WeCom names nobody: the group's newest members, as many as MemChangeCnt
    with django_capture_on_commit_callbacks(execute=True):
        wecom_post(client, wecom, group_change("add_member", "wr-a", JoinScene=3, MemChangeCnt=2))
    log = CallbackLog.objects.get()
    assert (log.event, log.status) == ("add_member", CallbackStatus.PROCESSED)
    assert "都已满员" in log.error  # its only group is full: the way stays where it is
    x = customer_of("wecom_external_userid", "wm-x", "wecom-cb")
    y = customer_of("wechat_unionid", "union-y")
    assert x.name == "小夏" and x.events.get().properties["live_code"] == code.pk
    assert "live_code" not in y.events.get().properties  # joined without the code's state
    assert list(CodeHit.objects.values_list("kind", "external_id")) == [(HitKind.ADD, "wm-x")]
    chat.refresh_from_db()
    assert (chat.member_count, chat.name, chat.owner) == (4, "福利群", "anna")
    assert not fake.named("update_join_way")

    # without the group's details a leave still counts; members of the corp are no customers
    fake.groups.clear()
    with django_capture_on_commit_callbacks(execute=True):
        wecom_post(client, wecom, group_change("del_member", "wr-a", ["wm-x", "bob"],
                                               QuitScene=1, MemChangeCnt=2))  # fmt: skip
    log = CallbackLog.objects.get(event="del_member")
    assert log.status == CallbackStatus.PROCESSED and "40050" in log.error
    assert x.events.get(name="leave_group").properties == {
        "chat_id": "wr-a", "quit_scene": 1, "live_code": code.pk,
    }  # fmt: skip
    assert CodeHit.objects.get(kind=HitKind.DELETE).external_id == "wm-x"
    assert Event.objects.filter(name="leave_group").count() == 1  # bob is staff
    chat.refresh_from_db()
    assert chat.member_count == 2
    assert fake.named("update_join_way") == [(code.config_id, ["wr-a"])]  # room again


def test_group_change_keys_name_the_chat_and_the_members():
    fields = {"FromUserName": "sys", "CreateTime": "1700000000", "Event": "change_external_chat",
              "ChangeType": "update", "ChatId": "wr-a", "UpdateDetail": "add_member",
              "MemChangeList": "wm-1", "CurMemVer": "v2"}  # fmt: skip
    keys = {
        message_key(fields),
        message_key({**fields, "ChatId": "wr-b"}),
        message_key({**fields, "MemChangeList": "wm-2", "CurMemVer": "v3"}),
        message_key({**fields, "UpdateDetail": "del_member"}),
    }
    assert len(keys) == 4


def test_platform_trouble_during_an_add(client, wecom, fake, django_capture_on_commit_callbacks):
    """A welcome that cannot be sent is noted (its code is single-use: a replay cannot help);
    a transient error marking corp tags is retried by the task."""
    anna = Staff.objects.create(account=wecom, userid="anna")
    code = live_code_create(
        account=wecom, name="活码", staff=[(anna, None, False)], tags=[tag_create(name="新客")],
        welcome_text="你好",
    )  # fmt: skip
    fake.fail = {"send_welcome_msg"}
    busy = iter([PlatformError(-1, "system busy")])

    def mark_tag(userid, external_userid, add_tag_ids=(), remove_tag_ids=()):
        fake.calls.append(("mark_tag", userid, external_userid))
        error = next(busy, None)
        if error:
            raise error

    fake.mark_tag = mark_tag
    xml = contact_change("add_external_contact", "anna", "wm-3", State=code.state,
                         WelcomeCode="WC-3")  # fmt: skip
    with django_capture_on_commit_callbacks() as queued:
        wecom_post(client, wecom, xml)
    assert len(queued) == 1
    log = CallbackLog.objects.get()
    process_callback_task.apply(args=[log.pk], throw=False)  # as a worker runs it: retries
    log.refresh_from_db()
    assert (log.status, log.attempts) == (CallbackStatus.PROCESSED, 2)
    assert "欢迎语发送失败" in log.error and "send_welcome_msg is down" in log.error
    assert len(fake.named("mark_tag")) == 2
    assert CodeHit.objects.filter(live_code=code).count() == 1
    assert customer_of("wecom_external_userid", "wm-3", "wecom-cb").customer_tags.count() == 1
