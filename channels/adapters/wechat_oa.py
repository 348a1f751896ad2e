"""The WeChat Official Account (公众号): followers, tags, scene QR codes, messages."""

import hashlib
from datetime import timedelta

from django.utils import timezone

from channels.adapters.base import OutMessage, PlatformError, SendResult
from channels.adapters.shared import ClientAdapter, chunks, failed
from channels.choices import ChannelKind
from channels.clients import wechat_client

FOLLOWERS_PAGE = 10_000  # user/get answers this many openids a page
USER_INFO_BATCH = 100  # user/info/batchget takes this many
TAGGING_BATCH = 50  # tags/members/batchtagging takes this many
MASS_BATCH = 10_000  # message/mass/send takes this many openids


class WechatOAAdapter(ClientAdapter):
    """An OA through wechatpy. `send` handles `content["type"]`: `mass_text` (one mass message
    per distinct text, by openid list), `template` (`template_id`, `data`, `url`,
    `miniprogram`), `text` (a customer-service message: 45015 outside the 48-hour window)."""

    kind = ChannelKind.WECHAT_OA
    capabilities = frozenset({"sync:followers", "sync:tags", "send", "qrcode", "tags", "callback"})
    make_client = staticmethod(wechat_client)

    # --- followers ---------------------------------------------------------------------------

    def follower_openids(self) -> list[str]:
        """Every follower's openid, in the platform's order (10,000 a call)."""
        openids, next_openid, seen = [], None, set()
        while True:
            page = self.call(self.client.user.get_followers, next_openid)
            openids += (page.get("data") or {}).get("openid", [])
            next_openid = page.get("next_openid")
            # the last page still names a next_openid: the total, an empty page or a repeat
            # ends the list
            done = len(openids) >= page.get("total", 0) or not page.get("count")
            if done or not next_openid or next_openid in seen:
                return openids
            seen.add(next_openid)

    def users_info(self, openids: list[str]) -> list[dict]:
        """user/info/batchget for each hundred openids."""
        users = []
        for chunk in chunks(openids, USER_INFO_BATCH):
            users += self.call(self.client.user.get_batch, chunk)
        return users

    # --- tags ----------------------------------------------------------------------------------

    def tags(self) -> list[dict]:
        """The OA's user tags: `[{"id", "name", "count"}]`."""
        return self.call(self.client.tag.get)

    def tag_create(self, name: str) -> int:
        return self.call(self.client.tag.create, name)["id"]

    def tag_users(self, tag_id: int, openids: list[str]) -> None:
        for chunk in chunks(list(openids), TAGGING_BATCH):
            self.call(self.client.tag.tag_user, tag_id, chunk)

    def untag_users(self, tag_id: int, openids: list[str]) -> None:
        for chunk in chunks(list(openids), TAGGING_BATCH):
            self.call(self.client.tag.untag_user, tag_id, chunk)

    # --- QR codes ------------------------------------------------------------------------------

    def create_qrcode(
        self, scene: str, permanent: bool = True, expire_seconds: int = 2_592_000
    ) -> dict:
        """A scene QR code (带参数二维码): `{"ticket", "url", "expires_at"}`; `url` is what the
        code encodes, `expires_at` None for a permanent one."""
        data = {"action_info": {"scene": {"scene_str": scene}}}
        if permanent:
            data["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            data.update(action_name="QR_STR_SCENE", expire_seconds=expire_seconds)
        answer = self.call(self.client.qrcode.create, data)
        expires_at = None
        if not permanent:
            seconds = answer.get("expire_seconds") or expire_seconds
            expires_at = timezone.now() + timedelta(seconds=seconds)
        return {"ticket": answer["ticket"], "url": answer.get("url", ""), "expires_at": expires_at}

    # --- sending -------------------------------------------------------------------------------

    def send(self, batch: list[OutMessage]) -> list[SendResult]:
        results: dict[int, SendResult] = {}
        mass: dict[str, list[int]] = {}
        for index, message in enumerate(batch):
            if message.content.get("type") == "mass_text":
                mass.setdefault(message.content.get("text", ""), []).append(index)
        for text, indexes in mass.items():
            for part in chunks(indexes, MASS_BATCH):
                sent = self._mass_text(text, [batch[i] for i in part])
                results.update(zip(part, sent, strict=True))
        rest = [i for i in range(len(batch)) if i not in results]
        sent = self.send_each([batch[i] for i in rest], self._send_one)
        results.update(zip(rest, sent, strict=True))
        return [results[i] for i in range(len(batch))]

    def _mass_text(self, text: str, messages: list[OutMessage]) -> list[SendResult]:
        # clientmsgid: the platform refuses the same mass message twice within 24 hours
        client_msg_id = hashlib.sha1("|".join(m.key for m in messages).encode()).hexdigest()
        try:
            answer = self.call(
                self.client.message.send_mass_text,
                [m.to for m in messages],
                text,
                client_msg_id=client_msg_id[:32],
            )
        except PlatformError as error:
            return [failed(m, error) for m in messages]
        msg_id = str(answer.get("msg_id", ""))
        return [SendResult(key=m.key, ok=True, platform_id=msg_id) for m in messages]

    def _send_one(self, message: OutMessage) -> str:
        content, kind = message.content, message.content.get("type")
        if kind == "template":
            answer = self.call(
                self.client.message.send_template,
                message.to,
                content["template_id"],
                content.get("data", {}),
                url=content.get("url"),
                mini_program=content.get("miniprogram"),
            )
        elif kind == "text":
            answer = self.call(self.client.message.send_text, message.to, content.get("text", ""))
        else:
            raise PlatformError(47001, f"unsupported OA message type {kind!r}")
        return str(answer.get("msgid", ""))
