"""The platforms' pushes to `/channels/callback/<code>/`: verified, decrypted, logged, answered.

WeChat waits 5 seconds for an answer and then sends the same message again, so the endpoint
only does what the answer needs: it checks the signature, decrypts and parses the message
(defusedxml first: no entities, no DTDs), stores it in a `CallbackLog` whose `msg_key` makes a
re-sent message a no-op, works out the OA passive reply, and leaves the rest to the
`channels.process_callback` task (`channels.handlers`).
"""

import hashlib
import logging
from dataclasses import dataclass

from celery import shared_task
from django.db import transaction
from wechatpy import parse_message as oa_parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise import parse_message as wecom_parse_message
from wechatpy.enterprise.crypto import WeChatCrypto as WecomCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from channels.adapters.base import PlatformError
from channels.choices import CallbackStatus, ChannelKind
from channels.handlers import message_fields, passive_reply_text, process_callback
from channels.models import CallbackLog, ChannelAccount

logger = logging.getLogger(__name__)

# Kinds that push callbacks here; the Mini Program's message push uses the OA's crypto.
CALLBACK_KINDS = (ChannelKind.WECHAT_OA, ChannelKind.WECOM, ChannelKind.WECHAT_MINI)
KEY_LENGTH = 128  # the log's msg_key is also the event's source_id (128 characters)
NOT_AUTHENTIC = (InvalidSignatureException, InvalidAppIdException, InvalidCorpIdException)


class SignatureError(Exception):
    """The request is not signed with the account's token (or not meant for this account)."""


class MessageError(Exception):
    """The request is signed but its body is not a message we can read."""


@dataclass
class Inbound:
    """One verified, decrypted callback."""

    account: ChannelAccount
    xml: str
    fields: dict[str, str]
    message: object  # wechatpy's typed message or event
    crypto: WeChatCrypto | WecomCrypto | None  # safe mode: the reply is encrypted too
    nonce: str


def _crypto(account: ChannelAccount) -> WeChatCrypto | WecomCrypto | None:
    """The account's message crypto; None for an OA in plain mode (no AES key)."""
    if not account.token:
        raise SignatureError("no callback token")
    if account.kind == ChannelKind.WECOM:
        crypto_class = WecomCrypto
    elif account.aes_key:
        crypto_class = WeChatCrypto
    else:
        return None
    try:
        return crypto_class(account.token, account.aes_key, account.app_id)
    except Exception as exc:  # a malformed AES key: nothing can be verified
        logger.error("callback %s: bad aes_key (%s)", account.code, exc)
        raise SignatureError("bad aes_key") from exc


def _param(params, name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise SignatureError(f"missing {name}")
    return value


def callback_verify_url(account: ChannelAccount, params) -> str:
    """The platform's URL check (GET): the echostr to answer, decrypted for WeCom."""
    crypto = _crypto(account)
    timestamp, nonce, echostr = (_param(params, n) for n in ("timestamp", "nonce", "echostr"))
    wecom = account.kind == ChannelKind.WECOM
    signature = _param(params, "msg_signature" if wecom else "signature")
    try:
        if wecom:
            return crypto.check_signature(signature, timestamp, nonce, echostr)
        check_signature(account.token, signature, timestamp, nonce)
    except NOT_AUTHENTIC as exc:
        raise SignatureError("bad signature") from exc
    except Exception as exc:  # a signed echostr that does not decrypt
        raise MessageError("bad echostr") from exc
    return echostr


def callback_receive(account: ChannelAccount, params, body: bytes) -> Inbound:
    """Verify and read one pushed message.

    WeCom always encrypts; an OA with an AES key must use safe mode (plain mode would let a
    captured signature carry any body, since its signature does not cover the body).
    """
    crypto = _crypto(account)
    timestamp, nonce = _param(params, "timestamp"), _param(params, "nonce")
    if crypto is None:
        signature = _param(params, "signature")
        try:
            check_signature(account.token, signature, timestamp, nonce)
        except InvalidSignatureException as exc:
            raise SignatureError("bad signature") from exc
        xml = body.decode("utf-8", errors="replace")
    else:
        if account.kind != ChannelKind.WECOM and params.get("encrypt_type") != "aes":
            raise SignatureError("safe mode expected")
        signature = _param(params, "msg_signature")
        encrypted = {"Encrypt": _fields(body).get("Encrypt", "")}
        try:
            xml = crypto.decrypt_message(encrypted, signature, timestamp, nonce)
        except NOT_AUTHENTIC as exc:
            raise SignatureError("bad signature") from exc
        except Exception as exc:  # signed, but not our cipher text
            raise MessageError("cannot decrypt") from exc
    fields = _fields(xml)
    parse = wecom_parse_message if account.kind == ChannelKind.WECOM else oa_parse_message
    try:
        message = parse(xml)
    except Exception as exc:  # no MsgType, a repeated element…
        raise MessageError("not a message") from exc
    return Inbound(account, xml, fields, message, crypto, nonce)


def _fields(xml: bytes | str) -> dict[str, str]:
    try:
        return message_fields(xml)
    except Exception as exc:  # malformed XML, a DTD, an entity…
        raise MessageError("malformed XML") from exc


def message_key(fields: dict[str, str]) -> str:
    """What identifies a message across the platform's retries: MsgId, or the event's sender,
    time, kind and subject (a group chat's change: also the chat, the change and who and
    which member version it brought)."""
    if fields.get("MsgId", "0") not in ("", "0"):
        return f"msg:{fields['MsgId']}"
    parts = ["FromUserName", "CreateTime", "Event", "EventKey", "ChangeType", "UserID",
             "ExternalUserID", "State"]  # fmt: skip
    if fields.get("ChatId"):
        parts += ["ChatId", "UpdateDetail", "MemChangeList", "CurMemVer"]
    key = "|".join(fields.get(name, "") for name in parts)
    if len(key) > KEY_LENGTH:
        key = "sha1:" + hashlib.sha1(key.encode()).hexdigest()
    return key


def callback_accept(inbound: Inbound) -> str:
    """Log the message, queue its processing and return the answer: the passive reply (an OA
    follow, scan or keyword) or "success". A message seen before only gets "success"."""
    fields = inbound.fields
    event = fields.get("UpdateDetail") or fields.get("ChangeType") or fields.get("Event", "")
    with transaction.atomic():
        log, created = CallbackLog.objects.get_or_create(
            account=inbound.account,
            msg_key=message_key(fields),
            defaults={
                "msg_type": fields.get("MsgType", "").lower()[:32],
                "event": event.lower()[:64],
                "body": inbound.xml,
            },
        )
        if not created:
            return "success"
        transaction.on_commit(lambda: process_callback_task.delay(log.pk))
    text = passive_reply_text(inbound.account, fields)
    if not text:
        return "success"
    reply = TextReply(message=inbound.message, content=text).render()
    if inbound.crypto is None:
        return reply
    return inbound.crypto.encrypt_message(reply, inbound.nonce)


@shared_task(
    name="channels.process_callback",
    autoretry_for=(PlatformError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=3,
)
def process_callback_task(log_id: int) -> None:
    """Process one logged callback; a transient platform error (busy, quota) is retried."""
    process_callback(log_id, raise_transient=True)


def callback_replay(log: CallbackLog) -> CallbackLog:
    """Process a failed callback again, now; its handler is idempotent."""
    if log.status == CallbackStatus.PROCESSED:
        return log
    process_callback(log.pk)
    log.refresh_from_db()
    return log
