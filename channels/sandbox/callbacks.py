"""The platform's side of callbacks: what WeChat and WeCom POST to a callback URL.

`prepare` (under the state lock) applies the user's action to the tenant — a new follower, a
contact recorded under the staff member with its `state` and a one-time welcome code, a
customer joining or leaving a group chat — and builds the plaintext XML exactly as the
platform words it. `deliver` (without the lock, as
our callback may call the sandbox back) encrypts it with wechatpy's crypto in safe mode,
signs it and POSTs it:

- OA: body `<xml><ToUserName/><Encrypt/></xml>`, query `signature, timestamp, nonce, openid,
  encrypt_type=aes, msg_signature` (plaintext mode when the tenant has no aes_key: the XML
  itself, query `signature, timestamp, nonce, openid`).
- WeCom: body `<xml><ToUserName/><AgentID/><Encrypt/></xml>`, query `msg_signature, timestamp,
  nonce`.

Our answer comes back decrypted when it is an encrypted envelope (its MsgSignature checked).
`verify` plays the URL check a platform does when the callback URL is saved (GET with
`echostr`; WeCom's encrypted).
"""

import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode
from xml.etree import ElementTree

from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import PrpCrypto as WeComPrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner

from channels.sandbox.state import Tenant
from channels.sandbox.wecom_data import member_version

OA_ACTIONS = ("subscribe", "scan", "unsubscribe", "text")
WECOM_ACTIONS = ("add_external_contact", "del_external_contact", "del_follow_user")
GROUP_ACTIONS = ("join_group", "leave_group")
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class CallbackUnreachable(Exception):
    """Our callback URL did not answer (refused, timed out)."""


@dataclass(frozen=True)
class Target:
    """Where and how to deliver: a snapshot taken under the lock."""

    kind: str
    appid: str
    to_user: str  # ToUserName: the OA's original id (gh_…) or the corpid
    token: str
    aes_key: str
    url: str
    agent_id: str

    @classmethod
    def of(cls, tenant: Tenant) -> "Target":
        config = tenant.config
        if not config["callback_url"] or not config["token"]:
            raise ValueError(f"tenant {tenant.appid} needs callback_url and token")
        if tenant.kind == "wecom" and not config["aes_key"]:
            raise ValueError("WeCom callbacks are always encrypted: configure aes_key")
        to_user = tenant.appid if tenant.kind == "wecom" else tenant.original_id
        return cls(
            tenant.kind,
            tenant.appid,
            to_user,
            config["token"],
            config["aes_key"],
            config["callback_url"],
            config["agent_id"],
        )

    def crypto(self):
        if not self.aes_key:
            return None
        cls = WeComCrypto if self.kind == "wecom" else WeChatCrypto
        return cls(self.token, self.aes_key, self.appid)


def xml_message(fields: list[tuple[str, object]]) -> str:
    """WeChat's XML: text in CDATA, numbers bare, a list as `<Item>`s, in the given order."""
    return "<xml>" + "".join(xml_element(name, value) for name, value in fields) + "</xml>"


def xml_element(name: str, value: object) -> str:
    if isinstance(value, list):
        return f"<{name}>" + "".join(xml_element("Item", item) for item in value) + f"</{name}>"
    if isinstance(value, int):
        return f"<{name}>{value}</{name}>"
    text = str(value).replace("]]>", "]]]]><![CDATA[>")
    return f"<{name}><![CDATA[{text}]]></{name}>"


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


# -- building the message (under the lock) ----------------------------------------------------


def prepare(tenant: Tenant, action: str, fields: dict, now: int) -> tuple[str, dict]:
    """Apply a simulated user action and build its XML; returns (xml, ids for the answer)."""
    if tenant.kind == "wechat_oa" and action in OA_ACTIONS:
        return oa_message(tenant, action, fields, now)
    if tenant.kind == "wecom" and action in WECOM_ACTIONS:
        return wecom_message(tenant, action, fields, now)
    if tenant.kind == "wecom" and action in GROUP_ACTIONS:
        return group_message(tenant, action, fields, now)
    raise ValueError(f"{tenant.kind} tenants cannot simulate {action!r}")


def oa_message(tenant: Tenant, action: str, fields: dict, now: int) -> tuple[str, dict]:
    data = tenant.data
    openid, scene = str(fields.get("openid") or ""), str(fields.get("scene") or "")
    if action == "subscribe":
        person = data.subscribe(openid, scene, now)
        body = [
            ("MsgType", "event"),
            ("Event", "subscribe"),
            ("EventKey", f"qrscene_{scene}" if scene else ""),
        ]
        if scene:
            body.append(("Ticket", data.ticket_for(scene, now)))
    elif action == "scan":
        if not scene:
            raise ValueError("scan needs a scene")
        person = data.follower(openid, now)
        body = [
            ("MsgType", "event"),
            ("Event", "SCAN"),
            ("EventKey", scene),
            ("Ticket", data.ticket_for(scene, now)),
        ]
    elif action == "unsubscribe":
        person = data.unsubscribe(openid)
        body = [("MsgType", "event"), ("Event", "unsubscribe"), ("EventKey", "")]
    else:
        person = data.follower(openid, now)
        msg_id = int(fields.get("msg_id") or now * 1_000_000 + data.msg_id())
        body = [("MsgType", "text"), ("Content", str(fields.get("content", ""))), ("MsgId", msg_id)]
    head = [
        ("ToUserName", tenant.original_id),
        ("FromUserName", person.uid),
        ("CreateTime", int(fields.get("create_time") or now)),
    ]
    return xml_message(head + body), {"openid": person.uid}


def wecom_message(tenant: Tenant, action: str, fields: dict, now: int) -> tuple[str, dict]:
    data = tenant.data
    external_userid = str(fields.get("external_userid") or "")
    userid = str(fields.get("userid") or "")
    ids = {}
    if action == "add_external_contact":
        follow = data.add_contact(external_userid, userid, str(fields.get("state") or ""), now)
        ids["welcome_code"] = data.welcome_code(follow, now)
        extra = [("State", follow.state)] if follow.state else []
        extra.append(("WelcomeCode", ids["welcome_code"]))
    else:
        follow = data.remove_contact(external_userid, userid)
        extra = []
    fields_xml = [
        ("ToUserName", tenant.appid),
        ("FromUserName", "sys"),
        ("CreateTime", int(fields.get("create_time") or now)),
        ("MsgType", "event"),
        ("Event", "change_external_contact"),
        ("ChangeType", action),
        ("UserID", follow.userid),
        ("ExternalUserID", follow.external_userid),
    ]
    ids = {"external_userid": follow.external_userid, "userid": follow.userid, **ids}
    return xml_message(fields_xml + extra), ids


def group_message(tenant: Tenant, action: str, fields: dict, now: int) -> tuple[str, dict]:
    """A customer joins a group chat by QR code (through the join way carrying `state`, or
    the group's own) or leaves it: WeCom's change_external_chat `update` event. Like WeCom it
    names who changed, not how they came: groupchat/get tells a member's state."""
    data = tenant.data
    external_userid = str(fields.get("external_userid") or "")
    chat_id = str(fields.get("chat_id") or "")
    if action == "join_group":
        state = str(fields.get("state") or "")
        chat, member = data.join_group(external_userid, state, chat_id, now)
        others = [m for m in chat["member_list"] if m is not member]
        detail = [("UpdateDetail", "add_member"), ("JoinScene", 3), ("QuitScene", 0)]
    else:
        chat, member = data.leave_group(external_userid, chat_id)
        others = [*chat["member_list"], member]
        detail = [("UpdateDetail", "del_member"), ("JoinScene", 0), ("QuitScene", 0)]
    fields_xml = [
        ("ToUserName", tenant.appid),
        ("FromUserName", "sys"),
        ("CreateTime", int(fields.get("create_time") or now)),
        ("MsgType", "event"),
        ("Event", "change_external_chat"),
        ("ChatId", chat["chat_id"]),
        ("ChangeType", "update"),
        *detail,
        ("MemChangeCnt", 1),
        ("MemChangeList", [member["userid"]]),
        ("LastMemVer", member_version({**chat, "member_list": others})),
        ("CurMemVer", member_version(chat)),
    ]
    ids = {
        "external_userid": member["userid"],
        "chat_id": chat["chat_id"],
        "state": member.get("state", ""),
        "member_count": len(chat["member_list"]),
    }
    return xml_message(fields_xml), ids


# -- delivering (without the lock) ------------------------------------------------------------


def deliver(
    target: Target,
    xml: str,
    *,
    openid: str = "",
    timeout: float = 10.0,
    bad_signature: bool = False,
) -> dict:
    """POST the message as the platform would; {"status", "reply", "reply_error"?}."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    crypto = target.crypto()
    query = {}
    if target.kind != "wecom":
        query = {
            "signature": signature(target.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": openid,
        }
    if crypto:
        sealed = ElementTree.fromstring(crypto.encrypt_message(xml, nonce, timestamp))
        envelope = [("ToUserName", target.to_user)]
        if target.kind == "wecom":
            envelope.append(("AgentID", target.agent_id))
        body = xml_message(envelope + [("Encrypt", sealed.findtext("Encrypt"))])
        if target.kind == "wecom":
            query = {
                "msg_signature": sealed.findtext("MsgSignature"),
                "timestamp": timestamp,
                "nonce": nonce,
            }
        else:
            query.update(encrypt_type="aes", msg_signature=sealed.findtext("MsgSignature"))
    else:
        body = xml
    if bad_signature:
        query = {k: "0" * 40 if k.endswith("signature") else v for k, v in query.items()}
    status, text = http(target.url, query, body.encode("utf-8"), timeout)
    reply, error = open_reply(crypto, text)
    answer = {"status": status, "reply": reply}
    if error:
        answer["reply_error"] = error
    return answer


def verify(target: Target, *, timeout: float = 10.0) -> dict:
    """The URL check: GET with an echostr our endpoint must echo (decrypted, for WeCom)."""
    timestamp, nonce, echo = str(int(time.time())), secrets.token_hex(8), secrets.token_hex(8)
    if target.kind == "wecom":
        crypto = target.crypto()
        echostr = WeComPrpCrypto(crypto.key).encrypt(echo, target.appid).decode()
        query = {
            "msg_signature": signature(target.token, timestamp, nonce, echostr),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
    else:
        query = {
            "signature": signature(target.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echo,
        }
    status, text = http(target.url, query, None, timeout)
    return {"status": status, "reply": text, "ok": status == 200 and text.strip() == echo}


def http(url: str, query: dict, body: bytes | None, timeout: float) -> tuple[int, str]:
    full = url + ("&" if "?" in url else "?") + urlencode(query)
    request = urllib.request.Request(full, data=body, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "text/xml; charset=utf-8")
    request.add_header("User-Agent", "Mozilla/4.0 (sandbox platform)")
    try:
        with _no_proxy.open(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise CallbackUnreachable(f"{url}: {error}")


def open_reply(crypto, text: str) -> tuple[str, str]:
    """Our reply as the platform reads it: decrypted if encrypted; (text, error)."""
    if crypto is None or "<Encrypt>" not in text:
        return text, ""
    try:
        envelope = ElementTree.fromstring(text)
        reply = crypto.decrypt_message(
            text,
            envelope.findtext("MsgSignature"),
            envelope.findtext("TimeStamp"),
            envelope.findtext("Nonce"),
        )
    except InvalidSignatureException:
        return text, "invalid signature"
    except Exception as error:  # a malformed or undecryptable reply is reported, not raised
        return text, f"cannot decrypt reply: {error!r}"
    return reply, ""
