"""Writes on channel accounts and OA auto replies, and the console's hand-offs to Celery."""

import re
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from channels.adapters import adapter_for
from channels.callbacks import CALLBACK_KINDS  # they post signed, encrypted callbacks
from channels.choices import ChannelKind, ReplyKind
from channels.models import AutoReply, ChannelAccount

SECRET_FIELDS = ("secret", "token", "aes_key")
AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")  # WeChat's EncodingAESKey: 43 base64 characters


def callback_url(account: ChannelAccount) -> str:
    """The address to paste into the platform's console for this account's callbacks."""
    return settings.PUBLIC_URL.rstrip("/") + account.callback_path


def _check_secrets(account: ChannelAccount, *, require_callback: bool) -> None:
    errors = {}
    if require_callback and account.kind in CALLBACK_KINDS:
        for name in ("token", "aes_key"):
            if not getattr(account, name):
                errors[name] = _("微信类账号接收回调需要填写此项。")
    if account.aes_key and not AES_KEY.match(account.aes_key):
        errors["aes_key"] = _("EncodingAESKey 应为 43 位字母或数字。")
    if not isinstance(account.options, dict):
        errors["options"] = _('其他配置应为 JSON 对象，例如 {"agent_id": 1000002}。')
    if errors:
        raise ValidationError(errors)


def channel_account_create(
    *,
    kind: str,
    code: str,
    name: str,
    app_id: str = "",
    sandbox: bool = False,
    secret: str = "",
    token: str = "",
    aes_key: str = "",
    require_callback: bool = False,
    **settings_fields,
) -> ChannelAccount:
    """Register a platform account of the brand; `code` names it in identities and events.

    `require_callback` (the console and the API) insists on the token and AES key that the
    WeChat kinds need to receive callbacks; `settings_fields` are the other editable columns
    (api_base_url, status, rate_limit, sync_interval_minutes, options).
    """
    account = ChannelAccount(
        kind=kind, code=code, name=name, app_id=app_id, sandbox=sandbox,
        secret=secret, token=token, aes_key=aes_key, **settings_fields,
    )  # fmt: skip
    account.full_clean()
    _check_secrets(account, require_callback=require_callback)
    account.save()
    return account


def channel_account_update(
    *, account: ChannelAccount, require_callback: bool = False, **fields
) -> ChannelAccount:
    """Change an account's settings. `code` cannot change (identities and events name it);
    an empty secret, token or AES key keeps the stored one."""
    if "code" in fields and fields.pop("code") != account.code:
        raise ValidationError({"code": _("代码创建后不能修改。")})
    for name in SECRET_FIELDS:
        if not fields.get(name, ""):
            fields.pop(name, None)
    for name, value in fields.items():
        setattr(account, name, value)
    account.full_clean()
    _check_secrets(account, require_callback=require_callback)
    account.save(update_fields=[*fields, "updated_at"])
    return account


def sync_kinds(account: ChannelAccount) -> list[str]:
    """What the account's adapter can sync (its `sync:<kind>` capabilities)."""
    capabilities = adapter_for(account).capabilities
    return sorted(c.split(":", 1)[1] for c in capabilities if c.startswith("sync:"))


def account_sync_request(*, account: ChannelAccount, kind: str, full: bool = False) -> None:
    """Queue one sync of the account once the current transaction commits."""
    from channels.tasks import account_sync_task  # tasks import the syncs, which write rows

    if kind not in sync_kinds(account):
        raise ValidationError({"kind": _("这个账号不支持同步该内容。")})
    transaction.on_commit(lambda: account_sync_task.delay(account.pk, kind, full=full))


@transaction.atomic
def auto_reply_save(
    *,
    account: ChannelAccount,
    kind: str,
    reply_text: str,
    keyword: str = "",
    match: str = "exact",
    tags: Iterable = (),
    priority: int = 100,
    enabled: bool = True,
    reply: AutoReply | None = None,
) -> AutoReply:
    """Create or change an OA auto reply: on follow, on a keyword, or the fallback."""
    if account.kind != ChannelKind.WECHAT_OA:
        raise ValidationError({"account": _("自动回复只适用于微信公众号。")})
    if kind == ReplyKind.KEYWORD and not keyword.strip():
        raise ValidationError({"keyword": _("关键词回复需要填写关键词。")})
    reply = reply or AutoReply()
    reply.account = account
    reply.kind = kind
    reply.keyword = keyword.strip() if kind == ReplyKind.KEYWORD else ""
    reply.match = match
    reply.reply_text = reply_text
    reply.priority = priority
    reply.enabled = enabled
    reply.full_clean()
    reply.save()
    reply.tags.set(tags)
    return reply


def mini_program_login(*, account: ChannelAccount, js_code: str, actor_label: str = "api"):
    """A Mini Program user's wx.login() code → session → the customer their openid (and
    unionid, which links them to the OA and WeCom) belongs to, created on first login.
    The session key stays on the platform side of this call: it is never stored or returned."""
    from channels.adapters import PlatformError
    from customers.identities import normalize_identity
    from customers.services import customer_resolve

    if account.kind != ChannelKind.WECHAT_MINI:
        raise ValidationError({"channel": _("需要微信小程序账号")})
    if not js_code or len(js_code) > 128:
        raise ValidationError({"code": _("缺少 wx.login() 返回的 code")})
    try:
        session = adapter_for(account).code_to_session(js_code)
    except PlatformError as exc:
        raise ValidationError({"code": _("登录凭证无效或已使用（%(e)s）") % {"e": exc}}) from exc
    keys = [normalize_identity("wechat_openid", session["openid"], account.code)]
    if session.get("unionid"):
        keys.append(normalize_identity("wechat_unionid", session["unionid"]))
    result = customer_resolve(identities=keys, actor_label=actor_label)
    return result, session["openid"], session.get("unionid", "")
