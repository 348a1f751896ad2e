"""What each platform callback means: customers and their events, tags, code hits, welcome
messages, loss alerts and group chat members.

`process_callback(log_id)` handles one logged callback once, under a lock on its log and in
one transaction, so a failure leaves nothing half-written here and a replay starts clean.
The platform calls it makes are safe to repeat (corp tags) or only noted when they fail (a
welcome code is good for one use within 20 seconds, so a replay cannot send it again).
"""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from defusedxml.ElementTree import fromstring
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from channels import adapters
from channels.adapters.base import PlatformError
from channels.choices import (
    CallbackStatus,
    ChannelKind,
    HitKind,
    KeywordMatch,
    LiveCodeKind,
    ReplyKind,
)
from channels.livecodes import (
    corp_tag_ids,
    group_codes_of,
    live_code_after_add,
    live_code_refresh_groups,
    welcome_render,
)
from channels.models import (
    AutoReply,
    CallbackLog,
    ChannelAccount,
    CodeHit,
    GroupChat,
    LiveCode,
    QrCode,
    Staff,
)
from customers.choices import IdentityKind
from customers.ingest import events_ingest
from customers.models import Customer
from customers.services import customers_profile_bulk
from tags.models import TagSource
from tags.services import customer_tags_change

logger = logging.getLogger(__name__)

CONTENT_LIMIT = 500  # characters of an incoming message kept on its event
SCENE_PREFIX = "qrscene_"
SOURCE_ID_LENGTH = 128  # an event's source_id
MEMBER_CUSTOMER = 2  # a group chat member's type: 1 a member of the corp, 2 an external contact


def message_fields(xml: bytes | str) -> dict[str, str]:
    """The top-level elements of a WeChat XML message, read with defusedxml (no DTD, no
    entities: an entity bomb is an error, not a memory blow-up). An element of `<Item>`s (a
    group change's MemChangeList) reads as their texts joined by commas."""
    root = fromstring(xml, forbid_dtd=True)
    if root.tag != "xml":
        raise ValueError("not a WeChat message")
    return {
        child.tag: (
            ",".join((item.text or "").strip() for item in child)
            if len(child)
            else (child.text or "").strip()
        )
        for child in root
    }


def message_topic(fields: dict[str, str]) -> str:
    """What a message is about: the WeCom change type (a group chat's: its update detail,
    add_member…), the event, or the message type."""
    msg_type = fields.get("MsgType", "").lower()
    event = fields.get("Event", "").lower()
    if event == "change_external_contact":
        return fields.get("ChangeType", "").lower()
    if event == "change_external_chat":
        return (fields.get("UpdateDetail") or fields.get("ChangeType", "")).lower()
    return event if msg_type == "event" else msg_type


# --- OA passive replies (computed in the request, so cheap) ----------------------------------


def scene_of(fields: dict[str, str]) -> str:
    """The QR scene of a subscribe-by-scan (`qrscene_<scene>`) or a scan by a follower."""
    key = fields.get("EventKey", "")
    return key[len(SCENE_PREFIX) :] if key.startswith(SCENE_PREFIX) else key


def qr_for_scene(account: ChannelAccount, scene: str) -> QrCode | None:
    if not scene:
        return None
    return QrCode.objects.filter(account=account, scene=scene).first()


def keyword_reply(account: ChannelAccount, content: str) -> AutoReply | None:
    """The first enabled keyword reply (by priority) whose keyword the text is or contains."""
    text = content.strip().casefold()
    if not text:
        return None
    replies = AutoReply.objects.filter(account=account, kind=ReplyKind.KEYWORD, enabled=True)
    for reply in replies.order_by("priority", "id"):
        keyword = reply.keyword.strip().casefold()
        if keyword and (
            keyword in text if reply.match == KeywordMatch.CONTAINS else keyword == text
        ):
            return reply
    return None


def _reply_of_kind(account: ChannelAccount, kind: str) -> str:
    reply = (
        AutoReply.objects.filter(account=account, kind=kind, enabled=True)
        .order_by("priority", "id")
        .first()
    )
    return reply.reply_text if reply else ""


def passive_reply_text(account: ChannelAccount, fields: dict[str, str]) -> str:
    """The OA's answer to a follow, a scan or a message; "" for none.

    A follow or scan through a QR code with a reply text gets that text; any other follow
    gets the follow reply. A text gets its keyword reply, and every message without one the
    default reply.
    """
    if account.kind != ChannelKind.WECHAT_OA:
        return ""
    topic = message_topic(fields)
    if fields.get("MsgType", "").lower() != "event":
        rule = keyword_reply(account, fields.get("Content", "")) if topic == "text" else None
        return rule.reply_text if rule else _reply_of_kind(account, ReplyKind.DEFAULT)
    if topic not in ("subscribe", "scan"):
        return ""
    qr = qr_for_scene(account, scene_of(fields))
    if qr and qr.reply_text:
        return qr.reply_text
    return _reply_of_kind(account, ReplyKind.SUBSCRIBE) if topic == "subscribe" else ""


# --- processing ----------------------------------------------------------------------------


@dataclass
class Callback:
    """One callback being processed, and the notes (tolerated failures) it leaves."""

    log: CallbackLog
    fields: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def account(self) -> ChannelAccount:
        return self.log.account

    @property
    def occurred_at(self) -> datetime:
        try:
            return datetime.fromtimestamp(int(self.fields.get("CreateTime", "")), tz=UTC)
        except (ValueError, OverflowError, OSError):
            return self.log.received_at


def process_callback(log_id: int, *, raise_transient: bool = False) -> None:
    """Handle a logged callback unless it is done or being handled; record the outcome.

    A failure is recorded on the log (status, error, attempts) and not raised, except a
    transient platform error when `raise_transient` (the task retries it later)."""
    try:
        with transaction.atomic():
            log = (
                CallbackLog.objects.select_for_update(skip_locked=True)
                .filter(pk=log_id)
                .exclude(status=CallbackStatus.PROCESSED)
                .first()
            )
            if log is None:
                return
            callback = Callback(log, message_fields(log.body))
            handler = _handler_for(callback)
            if handler is not None:
                handler(callback)
            log.status, log.error = CallbackStatus.PROCESSED, "\n".join(callback.notes)
            log.processed_at, log.attempts = timezone.now(), F("attempts") + 1
            log.save(update_fields=["status", "error", "processed_at", "attempts"])
    except Exception as exc:
        logger.exception("callback %s failed", log_id)
        CallbackLog.objects.filter(pk=log_id).update(
            status=CallbackStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            attempts=F("attempts") + 1,
        )
        if raise_transient and isinstance(exc, PlatformError) and exc.transient:
            raise


def _handler_for(callback: Callback):
    kind, fields = callback.account.kind, callback.fields
    if kind == ChannelKind.WECHAT_OA and fields.get("MsgType", "").lower() != "event":
        return _on_message
    return HANDLERS.get((kind, message_topic(fields)))


def _event(callback: Callback, name: str, identities: list[dict], properties: dict) -> Customer:
    """Record the callback as the customer's event (the customer made or found through
    customers ingestion) and return the customer; the log's key is the event's source id."""
    return _events(callback, [(name, identities, properties, "")])[0]


def _events(callback: Callback, events: list[tuple[str, list[dict], dict, str]]) -> list:
    """Record several events of one callback, `(name, identities, properties, part)` each
    (`part` tells apart the events of one callback, e.g. the members who joined a group), and
    return their customers in order."""
    account = callback.account
    key = callback.log.msg_key or f"callback:{callback.log.pk}"
    rows = []
    for name, identities, properties, part in events:
        source_id = f"{key}|{part}" if part else key
        if len(source_id) > SOURCE_ID_LENGTH:
            source_id = "sha1:" + hashlib.sha1(source_id.encode()).hexdigest()
        rows.append(
            {
                "event_id": source_id,
                "name": name,
                "channel": account.code,
                "occurred_at": callback.occurred_at.isoformat(),
                "identities": identities,
                "properties": properties,
            }
        )
    result = events_ingest(rows=rows, actor_label=f"callback:{account.code}")
    if result.errors:
        raise ValidationError(str(result.errors))
    customers = []
    for _name, identities, _properties, _part in events:
        first = identities[0]
        customers.append(
            Customer.objects.get(
                identities__kind=first["kind"],
                identities__scope=first.get("scope", ""),
                identities__value=first["value"],
            )
        )
    return customers


def _hit(callback: Callback, kind: str, customer: Customer, external_id: str, **code) -> None:
    """A scan/add/delete through a code; `code` is `live_code=` or `qr_code=` (and `staff=`)."""
    staff = code.pop("staff", None)
    CodeHit.objects.get_or_create(
        kind=kind,
        external_id=external_id,
        occurred_at=callback.occurred_at,
        **code,
        defaults={"customer": customer, "staff": staff},
    )


def _tag(customer: Customer, tags, source: str, source_ref: str) -> None:
    tag_ids = [tag.pk for tag in tags]
    if tag_ids:
        customer_tags_change(customer=customer, add=tag_ids, source=source, source_ref=source_ref)


# --- the OA --------------------------------------------------------------------------------


def _openid(callback: Callback) -> list[dict]:
    openid = callback.fields.get("FromUserName", "")
    return [{"kind": IdentityKind.WECHAT_OPENID, "value": openid, "scope": callback.account.code}]


def _through_qr(callback: Callback, event: str, hit_kind: str) -> None:
    scene = scene_of(callback.fields)
    qr = qr_for_scene(callback.account, scene)
    properties = {"scene": scene} if scene else {}
    if qr:
        properties["qr_code"] = qr.pk
    customer = _event(callback, event, _openid(callback), properties)
    if qr:
        _hit(callback, hit_kind, customer, callback.fields["FromUserName"], qr_code=qr)
        _tag(customer, qr.tags.all(), TagSource.QRCODE, f"qrcode:{qr.pk}")


def _on_subscribe(callback: Callback) -> None:
    _through_qr(callback, "subscribe", HitKind.SUBSCRIBE)


def _on_scan(callback: Callback) -> None:
    _through_qr(callback, "scan_qrcode", HitKind.SCAN)


def _on_unsubscribe(callback: Callback) -> None:
    """An unfollow; it is a loss of the QR code the follower last came through."""
    openid = callback.fields["FromUserName"]
    customer = _event(callback, "unsubscribe", _openid(callback), {})
    came_through = (
        CodeHit.objects.filter(
            qr_code__account=callback.account, kind=HitKind.SUBSCRIBE, external_id=openid
        )
        .order_by("-occurred_at")
        .first()
    )
    if came_through:
        _hit(callback, HitKind.DELETE, customer, openid, qr_code=came_through.qr_code)


def _on_message(callback: Callback) -> None:
    """A message from a follower; a text matching a keyword reply gets that reply's tags."""
    fields = callback.fields
    msg_type = fields.get("MsgType", "").lower()
    properties = {"msg_type": msg_type}
    rule = None
    if msg_type == "text":
        properties["content"] = fields.get("Content", "")[:CONTENT_LIMIT]
        rule = keyword_reply(callback.account, fields.get("Content", ""))
        if rule:
            properties.update(keyword=rule.keyword, auto_reply=rule.pk)
    customer = _event(callback, "message_in", _openid(callback), properties)
    if rule:
        _tag(customer, rule.tags.all(), TagSource.RULE, f"auto_reply:{rule.pk}")


# --- WeCom ---------------------------------------------------------------------------------


def _staff(callback: Callback) -> Staff:
    """The member the change is about; one not synced yet is recorded now."""
    userid = callback.fields.get("UserID", "")
    if not userid:
        raise ValidationError("UserID missing")
    return Staff.objects.get_or_create(account=callback.account, userid=userid)[0]


def _contact(callback: Callback) -> tuple[str, list[dict]]:
    external_userid = callback.fields.get("ExternalUserID", "")
    if not external_userid:
        raise ValidationError("ExternalUserID missing")
    scope = callback.account.code
    return external_userid, [
        {"kind": IdentityKind.WECOM_EXTERNAL_USERID, "value": external_userid, "scope": scope}
    ]


def _contact_details(adapter, external_userid: str, callback: Callback) -> dict:
    """The contact's name and unionid from WeCom; without them the add still counts."""
    try:
        details = adapter.external_contact(external_userid) or {}
    except Exception as exc:
        callback.notes.append(_("读取外部联系人失败：%(e)s") % {"e": exc})
        return {}
    return details.get("external_contact", details)


def _on_contact_added(callback: Callback) -> None:
    """A customer added a member, through a live code when `State` names one: tag them here
    and on WeCom, greet them, count the add and rotate the code's staff."""
    account, fields = callback.account, callback.fields
    staff = _staff(callback)
    external_userid, identities = _contact(callback)
    state = fields.get("State", "")
    code = LiveCode.objects.filter(account=account, state=state).first() if state else None
    adapter = adapters.adapter_for(account)
    details = _contact_details(adapter, external_userid, callback)
    if details.get("unionid"):
        identities.append({"kind": IdentityKind.WECHAT_UNIONID, "value": details["unionid"]})
    properties = {"staff": staff.userid, "state": state}
    if code:
        properties["live_code"] = code.pk
    customer = _event(callback, "add_external_contact", identities, properties)
    name = (details.get("name") or "").strip()[:100]
    if name and not customer.name:
        customers_profile_bulk(profiles={customer.pk: {"name": name}})
        customer.name = name
    if code is None:
        return
    if fields.get("WelcomeCode") and code.welcome_text:
        _welcome(adapter, callback, code, customer)
    _hit(callback, HitKind.ADD, customer, external_userid, live_code=code, staff=staff)
    tags = list(code.tags.select_related("group"))
    _tag(customer, tags, TagSource.LIVE_CODE, f"live_code:{code.pk}")
    tag_ids = corp_tag_ids(adapter, account, tags)
    if tag_ids:
        adapter.mark_tag(staff.userid, external_userid, add_tag_ids=tag_ids)
    try:
        live_code_after_add(code, adapter=adapter)
    except Exception as exc:  # the next add or the periodic refresh puts it right
        callback.notes.append(_("更新活码接待员工失败：%(e)s") % {"e": exc})


def _welcome(adapter, callback: Callback, code: LiveCode, customer: Customer) -> None:
    text = welcome_render(code.welcome_text, customer)
    try:
        adapter.send_welcome_msg(callback.fields["WelcomeCode"], text)
    except Exception as exc:
        callback.notes.append(_("欢迎语发送失败：%(e)s") % {"e": exc})


def _ended(
    callback: Callback, event: str, initiator: str
) -> tuple[Customer, Staff, LiveCode | None]:
    """A friendship ended: the event, and a loss for the live code the customer came by."""
    staff = _staff(callback)
    external_userid, identities = _contact(callback)
    properties = {"staff": staff.userid, "initiator": initiator}
    if callback.fields.get("Source"):
        properties["source"] = callback.fields["Source"]
    customer = _event(callback, event, identities, properties)
    came_through = (
        CodeHit.objects.filter(
            live_code__account=callback.account,
            kind=HitKind.ADD,
            external_id=external_userid,
            staff=staff,
        )
        .select_related("live_code")
        .order_by("-occurred_at")
        .first()
    )
    code = came_through.live_code if came_through else None
    if code:
        _hit(callback, HitKind.DELETE, customer, external_userid, live_code=code, staff=staff)
    return customer, staff, code


def _on_contact_removed(callback: Callback) -> None:
    """The member deleted the customer."""
    _ended(callback, "del_external_contact", "staff")


def _on_contact_lost(callback: Callback) -> None:
    """The customer deleted the member: a loss, and the member is told whom they lost."""
    customer, staff, code = _ended(callback, "lost_contact", "customer")
    who = customer.name or _("客户 #%(id)s") % {"id": customer.pk}
    text = _("流失提醒：%(who)s 已将你从企业微信好友中删除（%(at)s）") % {
        "who": who,
        "at": timezone.localtime(callback.occurred_at).strftime("%Y-%m-%d %H:%M"),
    }
    if code:
        text += _("，来自活码「%(code)s」") % {"code": code.name}
    if not callback.account.options.get("agent_id"):  # no app to send from: nothing to retry
        callback.notes.append(_("未配置企业微信应用 agent_id，没有发送流失提醒"))
        return
    adapters.adapter_for(callback.account).send_app_message([staff.userid], text)


# --- WeCom group chats ---------------------------------------------------------------------


def _number(fields: dict[str, str], name: str) -> int:
    try:
        return int(fields.get(name) or 0)
    except ValueError:
        return 0


def _group_detail(adapter, chat_id: str, callback: Callback) -> dict | None:
    """The group chat as WeCom has it now: its members, their names and the state of whoever
    joined through a join way. A transient error is raised (the task tries again); without
    the details the change still counts, with nothing to tell which live code brought it."""
    try:
        return adapter.group_chat(chat_id)
    except PlatformError as exc:
        if exc.transient:
            raise
        callback.notes.append(_("读取客户群详情失败：%(e)s") % {"e": exc})
        return None


def _changed_members(callback: Callback, detail: dict | None, joined: bool) -> list[str]:
    """Who joined or left: the callback's MemChangeList; without one (older WeCom), for a
    join, the group's newest members, as many as MemChangeCnt."""
    listed = [u for u in callback.fields.get("MemChangeList", "").split(",") if u]
    if listed or not joined or detail is None:
        return listed
    count = _number(callback.fields, "MemChangeCnt")
    members = sorted(detail.get("member_list") or [], key=lambda m: m.get("join_time", 0))
    return [m["userid"] for m in members[-count:]] if count else []


def _group_chat(callback: Callback, chat_id: str, detail: dict | None, joined: bool):
    """Our row of the group with its member count now (WeCom's, else counted on), and
    whether it was full before."""
    chat, _created = GroupChat.objects.select_for_update().get_or_create(
        account=callback.account, chat_id=chat_id
    )
    was_full = chat.member_count >= chat.capacity
    if detail is not None:
        chat.member_count = len(detail.get("member_list") or [])
        chat.name = (detail.get("name") or chat.name)[:100]
        chat.owner = detail.get("owner") or chat.owner
    else:
        change = _number(callback.fields, "MemChangeCnt")
        chat.member_count = max(0, chat.member_count + (change if joined else -change))
    chat.save(update_fields=["member_count", "name", "owner"])
    return chat, was_full


def _group_code_joined(account: ChannelAccount, chat: GroupChat, external_userid: str):
    """The group live code a leaving customer joined this group through, if any."""
    hit = (
        CodeHit.objects.filter(
            live_code__account=account,
            live_code__kind=LiveCodeKind.GROUP,
            live_code__groups=chat,
            kind=HitKind.ADD,
            external_id=external_userid,
        )
        .select_related("live_code")
        .order_by("-occurred_at", "-pk")
        .first()
    )
    return hit.live_code if hit else None


def _member_event(callback: Callback, chat: GroupChat, userid: str, member: dict, code, joined):
    """The join_group / leave_group event of one customer: (name, identities, properties,
    part) for `_events`."""
    identities = [
        {
            "kind": IdentityKind.WECOM_EXTERNAL_USERID,
            "value": userid,
            "scope": callback.account.code,
        }
    ]
    if member.get("unionid"):
        identities.append({"kind": IdentityKind.WECHAT_UNIONID, "value": member["unionid"]})
    properties = {"chat_id": chat.chat_id}
    if joined:
        properties.update(
            join_scene=_number(callback.fields, "JoinScene"), state=member.get("state", "")
        )
    else:
        properties["quit_scene"] = _number(callback.fields, "QuitScene")
    if code:
        properties["live_code"] = code.pk
    return ("join_group" if joined else "leave_group", identities, properties, userid)


def _on_group_members(callback: Callback, joined: bool) -> None:
    """Customers joined or left a group chat: a join_group / leave_group event each (one
    source id per member, so a replay adds nothing), an add or a loss for the group live code
    whose state they joined with, the group's member count, and the code's join way moved on
    when the group filled up (or back when it got room again)."""
    account, fields = callback.account, callback.fields
    chat_id = fields.get("ChatId", "")
    if not chat_id:
        raise ValidationError("ChatId missing")
    adapter = adapters.adapter_for(account)
    detail = _group_detail(adapter, chat_id, callback)
    changed = _changed_members(callback, detail, joined)
    members = {m["userid"]: m for m in (detail or {}).get("member_list") or []}
    staff = set(
        Staff.objects.filter(account=account, userid__in=changed).values_list("userid", flat=True)
    )
    customers = [
        u
        for u in changed
        if u not in staff and members.get(u, {}).get("type", MEMBER_CUSTOMER) == MEMBER_CUSTOMER
    ]
    chat, was_full = _group_chat(callback, chat_id, detail, joined)
    if joined:
        states = {members.get(u, {}).get("state") for u in customers} - {None, ""}
        by_state = LiveCode.objects.filter(
            account=account, kind=LiveCodeKind.GROUP, state__in=states
        ).in_bulk(field_name="state")
        codes = [by_state.get(members.get(u, {}).get("state", "")) for u in customers]
    else:
        codes = [_group_code_joined(account, chat, u) for u in customers]
    events = [
        _member_event(callback, chat, u, members.get(u, {}), code, joined)
        for u, code in zip(customers, codes, strict=True)
    ]
    found = _events(callback, events) if events else []
    for userid, customer, code in zip(customers, found, codes, strict=True):
        name = (members.get(userid, {}).get("name") or "").strip()[:100]
        if joined and name and not customer.name:
            customers_profile_bulk(profiles={customer.pk: {"name": name}})
        if code is None:
            continue
        _hit(callback, HitKind.ADD if joined else HitKind.DELETE, customer, userid, live_code=code)
        if joined:
            _tag(customer, code.tags.all(), TagSource.LIVE_CODE, f"live_code:{code.pk}")
    full = chat.member_count >= chat.capacity
    if (joined and full) or (was_full and not full):
        _rotate_group_codes(adapter, callback, chat)


def _rotate_group_codes(adapter, callback: Callback, chat: GroupChat) -> None:
    """The group codes listing a group that filled up or got room: their join ways are
    re-pointed at their groups with room now."""
    for code in group_codes_of(chat):
        try:
            if not live_code_refresh_groups(code, adapter=adapter):
                callback.notes.append(
                    _("群活码「%(code)s」的客户群都已满员，入群二维码仍指向原来的群")
                    % {"code": code.name}
                )
        except Exception as exc:  # the periodic refresh puts it right
            callback.notes.append(
                _("更新群活码「%(code)s」的客户群失败：%(e)s") % {"code": code.name, "e": exc}
            )


def _on_group_joined(callback: Callback) -> None:
    _on_group_members(callback, joined=True)


def _on_group_left(callback: Callback) -> None:
    _on_group_members(callback, joined=False)


HANDLERS = {
    (ChannelKind.WECHAT_OA, "subscribe"): _on_subscribe,
    (ChannelKind.WECHAT_OA, "scan"): _on_scan,
    (ChannelKind.WECHAT_OA, "unsubscribe"): _on_unsubscribe,
    (ChannelKind.WECOM, "add_external_contact"): _on_contact_added,
    (ChannelKind.WECOM, "del_external_contact"): _on_contact_removed,
    (ChannelKind.WECOM, "del_follow_user"): _on_contact_lost,
    (ChannelKind.WECOM, "add_member"): _on_group_joined,
    (ChannelKind.WECOM, "del_member"): _on_group_left,
}
