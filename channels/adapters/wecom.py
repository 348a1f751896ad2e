"""WeCom (企业微信) customer contact: staff, external contacts, corp tags, contact ways,
welcome messages, group chats and their join ways, customer mass messages and app messages
to staff."""

from collections.abc import Iterator

from channels.adapters.base import OutMessage, PlatformError, SendResult
from channels.adapters.shared import ClientAdapter, chunks, failed
from channels.choices import ChannelKind
from channels.clients import wecom_client

CONTACTS_USERIDS = 100  # batch/get_by_user takes this many staff a call…
CONTACTS_PAGE = 100  # …and answers this many contacts a page
GROUPS_PAGE = 1000
MSG_TEMPLATE_BATCH = 10_000  # add_msg_template takes this many external_userids
JOIN_WAY_QR = 2  # a join way's scene: 1 a mini program button, 2 a QR code
# get_group_msg_result's status: 0 waiting for the staff member to confirm, 1 sent
NOT_SENT = {2: "not a contact (any more)", 3: "already got another mass message today"}


class WecomAdapter(ClientAdapter):
    """A WeCom corp (the account's `app_id` is the corp id, `secret` the customer-contact
    secret, `options["agent_id"]` the app that messages staff).

    `send` posts one `add_msg_template` per distinct text and sender (`content["text"]`,
    `content.get("sender")`) and reads the per-recipient results back with
    `get_group_msg_result`: a message is ok while it waits for its staff member to confirm.
    """

    kind = ChannelKind.WECOM
    capabilities = frozenset(
        {
            "sync:contacts", "sync:staff", "sync:groups", "sync:tags", "send", "qrcode",
            "contact_way", "join_way", "welcome", "tags", "app_message", "callback",
        }
    )  # fmt: skip
    make_client = staticmethod(wecom_client)

    # --- staff, contacts, groups -------------------------------------------------------------

    def follow_users(self) -> list[str]:
        """The userids of staff with customer contact enabled."""
        return self.call(self.client.external_contact.get_follow_user_list).get("follow_user", [])

    def staff_name(self, userid: str) -> str:
        return self.call(self.client.user.get, userid).get("name", "")

    def contacts(self, userids: list[str]) -> Iterator[dict]:
        """Every (external contact, follow info) pair of these staff: batch/get_by_user items,
        `{"external_contact": {…}, "follow_info": {"userid", "createtime", "state", "tag_id"…}}`;
        a contact added by two staff comes twice."""
        for part in chunks(userids, CONTACTS_USERIDS):
            cursor = ""
            while True:
                page = self.call(
                    self.client.post,
                    "externalcontact/batch/get_by_user",
                    data={"userid_list": part, "cursor": cursor, "limit": CONTACTS_PAGE},
                )
                yield from page.get("external_contact_list", [])
                cursor = page.get("next_cursor")
                if not cursor:
                    break

    def group_chats(self) -> list[dict]:
        """Every customer group chat with its details (name, owner, member_list…)."""
        api, chat_ids, cursor = self.client.external_contact_group_chat, [], None
        while True:
            page = self.call(api.list, cursor=cursor, limit=GROUPS_PAGE)
            chat_ids += [g["chat_id"] for g in page.get("group_chat_list", [])]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return [self.call(api.get, chat_id)["group_chat"] for chat_id in chat_ids]

    def group_chat(self, chat_id: str) -> dict:
        """One group chat with its members' names (groupchat/get, need_name 1): `{"chat_id",
        "name", "owner", "member_list": [{"userid", "type", "join_time", "join_scene",
        "unionid"?, "name", "state"?…}]…}`."""
        answer = self.call(
            self.client.post,
            "externalcontact/groupchat/get",
            data={"chat_id": chat_id, "need_name": 1},
        )
        return answer["group_chat"]

    def external_contact(self, external_userid: str) -> dict:
        """`{"external_contact": {…}, "follow_user": [{"userid", "state", "tags"…}]}`."""
        answer = self.call(self.client.external_contact.get, external_userid)
        return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}

    # --- corp tags -----------------------------------------------------------------------------

    def corp_tags(self) -> list[dict]:
        """`[{"id", "name", "group_id", "group_name"}]`, every corp tag."""
        answer = self.call(self.client.external_contact.get_corp_tag_list)
        return [
            {
                "id": t["id"],
                "name": t["name"],
                "group_id": g["group_id"],
                "group_name": g.get("group_name", ""),
            }
            for g in answer.get("tag_group", [])
            for t in g.get("tag", [])
        ]

    def corp_tag_create(self, name: str, group_name: str) -> str:
        """A corp tag in the group named `group_name` (created when missing); its id."""
        answer = self.call(
            self.client.external_contact.add_corp_tag, None, group_name, None, [{"name": name}]
        )
        return answer["tag_group"]["tag"][0]["id"]

    def mark_tag(
        self, userid: str, external_userid: str, add_tag_ids=(), remove_tag_ids=()
    ) -> None:
        self.call(
            self.client.external_contact.mark_tag,
            userid,
            external_userid,
            add_tag=list(add_tag_ids),
            remove_tag=list(remove_tag_ids),
        )

    # --- live codes and welcome ----------------------------------------------------------------

    def add_contact_way(self, state: str, userids: list[str], skip_verify: bool = True) -> dict:
        """A 联系我 QR code for these staff carrying `state`: `{"config_id", "qr_code"}`.

        Always a multi-member way (type 2), even for one member: a way's type is fixed, and
        live codes re-point it at other staff later (`update_contact_way`).
        """
        answer = self.call(
            self.client.external_contact.add_contact_way,
            2,  # type: several members
            2,  # scene: a QR code
            skip_verify=skip_verify,
            state=state,
            user=list(userids),
        )
        return {"config_id": answer["config_id"], "qr_code": answer.get("qr_code", "")}

    def update_contact_way(
        self, config_id: str, userids: list[str], skip_verify: bool | None = None
    ) -> None:
        """Re-point a contact way at these staff (live codes rotate who serves)."""
        self.call(
            self.client.external_contact.update_contact_way,
            config_id,
            None,  # remark: unchanged
            skip_verify=skip_verify,  # None: unchanged
            user=list(userids),
        )

    def create_qrcode(self, state: str, userids: list[str], skip_verify: bool = True) -> dict:
        return self.add_contact_way(state, userids, skip_verify)

    def add_join_way(self, state: str, chat_ids: list[str]) -> dict:
        """A 加入群聊 QR code over these group chats (at most 5) carrying `state`:
        `{"config_id", "qr_code"}`. WeCom answers the config id only; the QR code is read back
        with get_join_way (a way that cannot be read back is deleted again).

        WeCom never creates groups for it (`auto_create_room` 0): group live codes move the
        way on to their next group with room themselves (`update_join_way`).
        """
        answer = self.call(
            self.client.post,
            "externalcontact/groupchat/add_join_way",
            data=_join_way_config(state, chat_ids),
        )
        config_id = answer["config_id"]
        try:
            qr_code = self.join_way(config_id).get("qr_code", "")
        except Exception:
            try:
                self.del_join_way(config_id)
            except Exception:  # the first error is the one to report
                pass
            raise
        return {"config_id": config_id, "qr_code": qr_code}

    def join_way(self, config_id: str) -> dict:
        """A join way's configuration: `{"config_id", "scene", "chat_id_list", "state",
        "qr_code", "auto_create_room"…}`."""
        answer = self.call(
            self.client.post,
            "externalcontact/groupchat/get_join_way",
            data={"config_id": config_id},
        )
        return answer["join_way"]

    def update_join_way(self, config_id: str, chat_ids: list[str], state: str | None = None):
        """Re-point a join way at these group chats (group live codes move on when one fills).

        WeCom overwrites the whole configuration, so the state goes again: `state`, or the
        way's own, read back first when not given. The QR code stays the same.
        """
        if state is None:
            state = self.join_way(config_id).get("state", "")
        self.call(
            self.client.post,
            "externalcontact/groupchat/update_join_way",
            data={"config_id": config_id, **_join_way_config(state, chat_ids)},
        )

    def del_join_way(self, config_id: str) -> None:
        self.call(
            self.client.post,
            "externalcontact/groupchat/del_join_way",
            data={"config_id": config_id},
        )

    def send_welcome_msg(self, welcome_code: str, text: str) -> None:
        self.call(
            self.client.external_contact.send_welcome_msg,
            {"welcome_code": welcome_code, "text": {"content": text}},
        )

    def send_app_message(self, userids: list[str], text: str) -> dict:
        """A text from the corp app to staff (the loss alert); `{"invaliduser": …}`."""
        answer = self.call(
            self.client.message.send_text, self.account.options.get("agent_id"), userids, text
        )
        return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}

    def send_group_message(self, sender: str, chat_ids: list[str], text: str) -> dict:
        """A message to customer groups owned by `sender` (the owner confirms it in WeCom);
        `{"msgid", "fail_list"}`."""
        template = {"chat_type": "group", "sender": sender, "chat_id_list": chat_ids,
                    "text": {"content": text}}  # fmt: skip
        answer = self.call(self.client.external_contact.add_msg_template, template)
        return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}

    # --- customer mass messages ----------------------------------------------------------------

    def send(self, batch: list[OutMessage]) -> list[SendResult]:
        groups: dict[tuple[str, str], list[int]] = {}
        for index, message in enumerate(batch):
            key = (message.content.get("text", ""), message.content.get("sender", ""))
            groups.setdefault(key, []).append(index)
        results: dict[int, SendResult] = {}
        for (text, sender), indexes in groups.items():
            for part in chunks(indexes, MSG_TEMPLATE_BATCH):
                messages = [batch[i] for i in part]
                results.update(zip(part, self._msg_template(text, sender, messages), strict=True))
        return [results[i] for i in range(len(batch))]

    def _msg_template(self, text: str, sender: str, messages: list[OutMessage]) -> list[SendResult]:
        template = {"chat_type": "single", "external_userid": [m.to for m in messages]}
        template["text"] = {"content": text}
        if sender:
            template["sender"] = sender
        try:
            answer = self.call(self.client.external_contact.add_msg_template, template)
        except PlatformError as error:
            return [failed(m, error) for m in messages]
        msgid, refused = answer.get("msgid", ""), set(answer.get("fail_list") or [])
        statuses = self.msg_template_results(msgid) if msgid else {}
        results = []
        for message in messages:
            status = statuses.get(message.to)
            if message.to in refused:
                results.append(failed(message, "refused by the platform (fail_list)"))
            elif status in NOT_SENT:
                results.append(failed(message, NOT_SENT[status]))
            else:
                results.append(SendResult(key=message.key, ok=True, platform_id=msgid))
        return results

    def msg_template_results(self, msgid: str) -> dict[str, int]:
        """`{external_userid: status}` of a mass message (0 waiting, 1 sent, 2/3 not sent)."""
        answer = self.call(self.client.external_contact.get_group_msg_result, msgid)
        return {d["external_userid"]: d.get("status", 0) for d in answer.get("detail_list", [])}


def _join_way_config(state: str, chat_ids: list[str]) -> dict:
    """What add_join_way and update_join_way take: a QR code over these groups, no groups
    created when they are full."""
    return {
        "scene": JOIN_WAY_QR,
        "chat_id_list": list(chat_ids),
        "state": state,
        "auto_create_room": 0,
    }
