"""The actions a journey step or a real-time trigger carries out for one customer (or one
group chat): send content on the first channel that can reach them, add or remove tags,
award points, give a staff member a task, message a customer group, call a webhook.

`action_clean` checks a config before it is saved; `action_perform` carries it out once and
says what happened. Callers make it at-most-once (a unique row written before the call).
"""

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.choices import ActionKind, SkipReason
from campaigns.content import content_render
from campaigns.delivery import CHANNEL_CONSENT, CHANNEL_IDENTITY, SENDABLE_KINDS
from campaigns.models import ContentItem, StaffTask
from channels.adapters import OutMessage, adapter_for
from channels.choices import ChannelKind
from channels.models import ChannelAccount, GroupChat, Staff
from customers.choices import ConsentStatus
from customers.models import Consent, Customer, Event, Identity
from customers.placeholders import placeholders_for, placeholders_render

WEBHOOK_TIMEOUT = 5
DONE, SKIPPED, FAILED = "done", "skipped", "failed"
SKIP_CODES = {45015: SkipReason.OUTSIDE_WINDOW, 45009: SkipReason.PLATFORM_QUOTA,
              45028: SkipReason.PLATFORM_QUOTA}  # fmt: skip
CUSTOMER_ACTIONS = {
    ActionKind.SEND, ActionKind.TAG_ADD, ActionKind.TAG_REMOVE, ActionKind.POINTS,
    ActionKind.STAFF_TASK, ActionKind.WEBHOOK,
}  # fmt: skip
GROUP_ACTIONS = {ActionKind.GROUP_MESSAGE, ActionKind.STAFF_TASK, ActionKind.WEBHOOK}


@dataclass
class ActionResult:
    status: str  # done / skipped / failed
    outcome: str = ""  # a skip reason, the channel kind used…
    detail: str = ""
    channel_account: ChannelAccount | None = None
    platform_id: str = ""
    task: StaffTask | None = field(default=None, repr=False)


# --- checking ------------------------------------------------------------------------------


def _ids(value) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ValueError
    ids = [int(v) for v in value]
    if any(isinstance(v, bool) for v in value) or any(i <= 0 for i in ids):
        raise ValueError
    return ids


def action_clean(config, *, group: bool = False) -> dict:
    """The config normalised, or ValidationError with field errors."""
    if not isinstance(config, dict):
        raise ValidationError({"action": _("动作配置必须是对象")})
    kind = config.get("action")
    allowed = GROUP_ACTIONS if group else CUSTOMER_ACTIONS
    if kind not in allowed:
        raise ValidationError({"action": _("不支持的动作：%(kind)s") % {"kind": kind}})
    clean = {"action": kind}
    errors: dict[str, str] = {}
    if kind in (ActionKind.SEND, ActionKind.GROUP_MESSAGE) or config.get("content"):
        content = ContentItem.objects.filter(pk=int_or_none(config.get("content"))).first()
        if content is None:
            errors["content"] = _("请选择内容")
        else:
            clean["content"] = content.pk
    if kind == ActionKind.SEND:
        try:
            ids = _ids(config.get("channels"))
        except (TypeError, ValueError):
            ids = []
        accounts = ChannelAccount.objects.in_bulk(ids)
        if not ids or len(accounts) != len(set(ids)):
            errors["channels"] = _("请按优先顺序选择至少一个发送渠道")
        elif any(accounts[i].kind not in SENDABLE_KINDS for i in ids):
            errors["channels"] = _("所选渠道不能发送消息")
        else:
            clean["channels"] = ids
    elif kind in (ActionKind.TAG_ADD, ActionKind.TAG_REMOVE):
        from tags.models import Tag

        try:
            ids = _ids(config.get("tags"))
        except (TypeError, ValueError):
            ids = []
        if not ids or Tag.objects.filter(pk__in=ids).count() != len(set(ids)):
            errors["tags"] = _("请选择标签")
        else:
            clean["tags"] = ids
    elif kind == ActionKind.POINTS:
        points = int_or_none(config.get("points"))
        if points is None or points <= 0 or points > 100000:
            errors["points"] = _("积分必须是 1 到 100000 之间的整数")
        else:
            clean["points"] = points
        clean["reason"] = str(config.get("reason") or "")[:100]
    elif kind in (ActionKind.STAFF_TASK, ActionKind.GROUP_MESSAGE):
        title = str(config.get("title") or "").strip()
        if kind == ActionKind.STAFF_TASK and not title:
            errors["title"] = _("请填写任务标题")
        clean["title"] = title[:200]
        clean["body"] = str(config.get("body") or "")[:2000]
        hours = int_or_none(config.get("due_hours", 24))
        if hours is None or not 1 <= hours <= 24 * 30:
            errors["due_hours"] = _("完成时限必须在 1 到 720 小时之间")
        else:
            clean["due_hours"] = hours
    elif kind == ActionKind.WEBHOOK:
        url = str(config.get("url") or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors["url"] = _("请填写 http(s) 地址")
        else:
            clean["url"] = url
    if errors:
        raise ValidationError(errors)
    return clean


def int_or_none(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


# --- carrying out --------------------------------------------------------------------------


def action_perform(
    config: dict, *, customer: Customer | None = None, group_chat: GroupChat | None = None,
    key: str = "", journey=None,
) -> ActionResult:  # fmt: skip
    """Carry out one action for one customer or group chat; `key` names it to the platform
    (logged with the message). Platform and network errors become a failed result."""
    kind = config.get("action")
    try:
        if kind == ActionKind.SEND:
            return _send(config, customer, key)
        if kind in (ActionKind.TAG_ADD, ActionKind.TAG_REMOVE):
            return _tags(config, customer, key)
        if kind == ActionKind.POINTS:
            return _points(config, customer, key)
        if kind == ActionKind.STAFF_TASK:
            return _staff_task(config, customer, group_chat, journey)
        if kind == ActionKind.GROUP_MESSAGE:
            return _group_message(config, group_chat, journey)
        if kind == ActionKind.WEBHOOK:
            return _webhook(config, customer, group_chat, key)
    except ValidationError as exc:
        return ActionResult(FAILED, detail="; ".join(exc.messages)[:300])
    except Exception as exc:  # a platform or network error: recorded, not retried
        return ActionResult(FAILED, detail=f"{type(exc).__name__}: {exc}"[:300])
    return ActionResult(FAILED, detail=_("不支持的动作：%(kind)s") % {"kind": kind})


def actions_perform(
    config: dict, *, customers: list | None = None, group_chats: list | None = None,
    keys: list[str], journey=None,
) -> list[ActionResult]:  # fmt: skip
    """`action_perform` for many customers (or group chats) at once, results in their order:
    sends go out in one adapter batch per channel, tags in one statement; the rest one by
    one. A failure of the whole batch fails each of its rows."""
    kind = config.get("action")
    subjects = customers if customers is not None else group_chats
    try:
        if kind == ActionKind.SEND:
            return _send_many(config, customers, keys)
        if kind in (ActionKind.TAG_ADD, ActionKind.TAG_REMOVE):
            return _tags_many(config, customers, keys)
    except Exception as exc:
        return [ActionResult(FAILED, detail=f"{type(exc).__name__}: {exc}"[:300])
                for _subject in subjects]  # fmt: skip
    return [
        action_perform(
            config, customer=subject if customers is not None else None,
            group_chat=subject if group_chats is not None else None, key=key, journey=journey,
        )
        for subject, key in zip(subjects, keys, strict=True)
    ]  # fmt: skip


def _do_not_contact(customer: Customer) -> bool:
    return bool((customer.attributes or {}).get("do_not_contact") is True)


class _Reach:
    """Who of `customers` each of `accounts` (in fallback order) can reach: their identities
    and revoked consents read in one query each."""

    def __init__(self, customers: list[Customer], accounts: list[ChannelAccount]):
        ids = [c.pk for c in customers]
        self.accounts = accounts
        self.revoked: dict[int, set] = {}
        for customer_id, channel in Consent.objects.filter(
            customer__in=ids, status=ConsentStatus.REVOKED
        ).values_list("customer_id", "channel"):
            self.revoked.setdefault(customer_id, set()).add(channel)
        self.recipients: dict[tuple[int, int], str] = {}
        for account in accounts:
            kind, scoped = CHANNEL_IDENTITY[account.kind]
            rows = Identity.objects.filter(
                customer__in=ids, kind=kind, scope=account.code if scoped else ""
            ).order_by("customer_id", "value")
            for customer_id, value in rows.values_list("customer_id", "value"):
                self.recipients.setdefault((account.pk, customer_id), value)

    def of(self, customer: Customer):
        """(account, recipient) of the first channel that can reach the customer, or
        (None, the first channel's reason)."""
        if _do_not_contact(customer):
            return None, SkipReason.DO_NOT_CONTACT
        reason = None
        for account in self.accounts:
            recipient = self.recipients.get((account.pk, customer.pk))
            if recipient is None:
                reason = reason or SkipReason.NO_IDENTITY
            elif CHANNEL_CONSENT[account.kind] in self.revoked.get(customer.pk, ()):
                reason = reason or SkipReason.NO_CONSENT
            else:
                return account, recipient
        return None, reason or SkipReason.NO_IDENTITY


def reach_of(customer: Customer, accounts: list[ChannelAccount]):
    """(account, recipient) of the first channel that can reach the customer, or
    (None, the first channel's reason)."""
    return _Reach([customer], accounts).of(customer)


def _send(config: dict, customer: Customer, key: str) -> ActionResult:
    return _send_many(config, [customer], [key])[0]


def _send_many(config: dict, customers: list[Customer], keys: list[str]) -> list[ActionResult]:
    content = ContentItem.objects.prefetch_related("variants").get(pk=config["content"])
    accounts = ChannelAccount.objects.in_bulk(config["channels"])
    ordered = [accounts[i] for i in config["channels"] if i in accounts]
    reach = _Reach(customers, ordered)
    values = placeholders_for([c.pk for c in customers])
    results: list[ActionResult | None] = [None] * len(customers)
    batches: dict[int, list[tuple[int, OutMessage]]] = {}
    for index, customer in enumerate(customers):
        account, recipient = reach.of(customer)
        if account is None:
            results[index] = ActionResult(SKIPPED, outcome=recipient)
            continue
        message = content_render(
            content=content, channel_kind=account.kind, values=values.get(customer.pk, {})
        )
        if account.kind == ChannelKind.WECHAT_OA and message.get("type") == "mass_text":
            # one follower at a time: a customer-service message (mass sends are for lists)
            message["type"] = "text"
        batches.setdefault(account.pk, []).append(
            (index, OutMessage(to=recipient, content=message, key=keys[index]))
        )
    for account_pk, items in batches.items():
        account = accounts[account_pk]
        try:
            sent = adapter_for(account).send([message for _index, message in items])
        except Exception as exc:
            sent = [None] * len(items)
            error = f"{type(exc).__name__}: {exc}"[:300]
        for (index, _message), result in zip(items, sent, strict=True):
            if result is None:
                results[index] = ActionResult(FAILED, channel_account=account, detail=error)
            else:
                results[index] = _sent(result, account)
    return results


def _sent(result, account) -> ActionResult:
    if result.ok:
        return ActionResult(DONE, outcome="sent", channel_account=account,
                            platform_id=result.platform_id[:100])  # fmt: skip
    if result.error_code in SKIP_CODES:
        return ActionResult(SKIPPED, outcome=SKIP_CODES[result.error_code],
                            channel_account=account, detail=(result.error or "")[:300])  # fmt: skip
    detail = f"{result.error_code or ''} {result.error or ''}".strip()
    return ActionResult(FAILED, channel_account=account, detail=detail[:300])


def _tags(config: dict, customer: Customer, key: str) -> ActionResult:
    return _tags_many(config, [customer], [key])[0]


def _tags_many(config: dict, customers: list[Customer], keys: list[str]) -> list[ActionResult]:
    from tags.models import CustomerTag, TagSource

    ids = config["tags"]  # checked to exist when the step was saved; a deleted tag is gone
    if config["action"] == ActionKind.TAG_ADD:
        CustomerTag.objects.bulk_create(
            [CustomerTag(customer=customer, tag_id=pk, source=TagSource.JOURNEY, source_ref=key)
             for customer, key in zip(customers, keys, strict=True) for pk in ids],
            ignore_conflicts=True,
        )  # fmt: skip
    else:
        CustomerTag.objects.filter(customer__in=customers, tag_id__in=ids).delete()
    return [ActionResult(DONE, outcome=config["action"]) for _customer in customers]


def _points(config: dict, customer: Customer, key: str) -> ActionResult:
    from customers.points import points_earn

    result = points_earn(
        customer=customer,
        points=config["points"],
        reason=config.get("reason") or _("旅程奖励"),
        source_ref=key,
        idempotency_key=f"journey:{key}" if key else None,
        actor_label="journey",
    )
    return ActionResult(DONE, outcome=f"+{config['points']}",
                        detail=_("余额 %(b)s") % {"b": result.balance})  # fmt: skip


def staff_of(customer: Customer) -> Staff | None:
    """The WeCom member who serves the customer: the one they added last."""
    added = (
        Event.objects.filter(customer=customer, name="add_external_contact")
        .exclude(channel_account=None)
        .order_by("-occurred_at", "-id")
        .values_list("channel_account_id", "properties")
        .first()
    )
    if added is None or not (added[1] or {}).get("staff"):
        return None
    return Staff.objects.filter(account_id=added[0], userid=added[1]["staff"]).first()


def _remind(task: StaffTask) -> str:
    """Tell the member by WeCom app message (when the account has an app); a note on why not
    otherwise."""
    staff = task.staff
    if staff is None:
        return _("没有找到负责的员工")
    if not staff.account.options.get("agent_id"):
        return _("未配置企业微信应用 agent_id，没有发送提醒")
    text = _("SOP 任务：%(title)s") % {"title": task.title}
    if task.body:
        text += "\n" + task.body
    adapter_for(staff.account).send_app_message([staff.userid], text)
    StaffTask.objects.filter(pk=task.pk).update(reminded_at=timezone.now())
    return ""


def _staff_task(config, customer, group_chat, journey) -> ActionResult:
    if group_chat is not None:
        staff = Staff.objects.filter(account=group_chat.account, userid=group_chat.owner).first()
    else:
        staff = staff_of(customer)
    values = placeholders_for([customer.pk]).get(customer.pk, {}) if customer else {}
    body = placeholders_render(config.get("body", ""), values) if values else config.get("body")
    if config.get("content") and not body:
        body = ContentItem.objects.get(pk=config["content"]).core_text
    task = StaffTask.objects.create(
        journey=journey,
        staff=staff,
        customer=customer,
        group_chat=group_chat,
        title=config.get("title") or _("发送群消息"),
        body=body or "",
        due_at=timezone.now() + timedelta(hours=config.get("due_hours", 24)),
    )
    note = _remind(task)
    return ActionResult(DONE, outcome="task", detail=note, task=task,
                        channel_account=staff.account if staff else None)  # fmt: skip


def _group_message(config, group_chat: GroupChat, journey) -> ActionResult:
    """A WeCom group message (the owner confirms it in WeCom) and a task to remind them."""
    content = ContentItem.objects.prefetch_related("variants").get(pk=config["content"])
    text = content_render(content=content, channel_kind=ChannelKind.WECOM, values={})["text"]
    adapter = adapter_for(group_chat.account)
    answer = adapter.send_group_message(group_chat.owner, [group_chat.chat_id], text)
    task = _staff_task(
        {**config, "title": config.get("title") or _("确认群发：%(n)s") % {"n": content.name},
         "body": text},
        None, group_chat, journey,
    ).task  # fmt: skip
    return ActionResult(DONE, outcome="group_message", task=task,
                        channel_account=group_chat.account,
                        platform_id=str(answer.get("msgid", ""))[:100])  # fmt: skip


def _webhook(config, customer, group_chat, key) -> ActionResult:
    host = urlsplit(config["url"]).hostname or ""
    try:
        if ipaddress.ip_address(host).is_link_local:  # cloud metadata endpoints
            return ActionResult(FAILED, detail=_("不允许的地址"))
    except ValueError:
        pass
    payload = {"key": key, "customer": customer.pk if customer else None,
               "group_chat": group_chat.chat_id if group_chat else None}  # fmt: skip
    answer = requests.post(config["url"], json=payload, timeout=WEBHOOK_TIMEOUT)
    if answer.status_code >= 400:
        return ActionResult(FAILED, outcome=str(answer.status_code),
                            detail=answer.text[:300])  # fmt: skip
    return ActionResult(DONE, outcome=str(answer.status_code))
