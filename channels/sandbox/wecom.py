"""WeCom / 企业微信 customer contact (qyapi.weixin.qq.com, under `/qyapi`): the paths and shapes
wechatpy 1.8.18's enterprise client calls, plus the newer group-message result APIs.

Staff are follow users (`lina`, `wangfang`, …); contact `wm{seed}_{n:06d}` is added by staff
n % staff (every tenth by the next one too) and shares the unionid `u{seed}_{n:06d}` with OA
follower n. `add_msg_template` is confirmed by the staff at once: per recipient, status 1 sent,
2 not (or no longer) a friend of the sender, 3 over `mass_quota` group messages this month;
external_userids never seen are returned in `fail_list`. A welcome code (from a simulated
`add_external_contact`) works once (41051 afterwards; 40058 when unknown).

Join ways (客户群「加入群聊」, groupchat/*_join_way) list 1–5 group chats; update_join_way
overwrites the whole configuration, as WeCom's does (a field left out is reset). groupchat/get
names members only with `need_name` 1, and gives a member who joined through a join way with
a state that `state`.
"""

import hashlib
from urllib.parse import quote

from channels.sandbox.gateway import Call, Endpoint
from channels.sandbox.oa import check_secret, payload
from channels.sandbox.population import Person, mix
from channels.sandbox.router import ApiError
from channels.sandbox.state import china_month
from channels.sandbox.wecom_data import (
    Follow,
    WecomData,
    contact_way_view,
    join_way_view,
    member_version,
)

WECOM = ("wecom",)
JOIN_WAY_CHATS = 5  # a join way lists at most this many group chats


def external_contact(person: Person) -> dict:
    return {
        "external_userid": person.uid,
        "name": person.nickname,
        "avatar": "",
        "type": 1,
        "gender": person.gender,
        "unionid": person.unionid,
    }


def follow_info(follow: Follow, data: WecomData, with_tag_names: bool) -> dict:
    info = {
        "userid": follow.userid,
        "remark": follow.remark,
        "description": "",
        "createtime": follow.createtime,
        "remark_corp_name": "",
        "remark_mobiles": [],
        "oper_userid": follow.userid,
        "add_way": follow.add_way,
        "state": follow.state,
    }
    if with_tag_names:
        info["tags"] = [
            {
                "group_name": data.tags[t][0]["group_name"],
                "tag_name": data.tags[t][1]["name"],
                "tag_id": t,
                "type": 1,
            }
            for t in follow.tags
            if t in data.tags
        ]
    else:
        info["tag_id"] = list(follow.tags)
    return info


def page_of(items: list, body: dict, default: int, most: int) -> tuple[list, str]:
    """One page of `items` and the next cursor (an offset, as the platforms' cursors are opaque)."""
    try:
        start = int(body.get("cursor") or 0)
        limit = int(body.get("limit") or default)
    except (TypeError, ValueError):
        raise ApiError(40058)
    if not 0 < limit <= most:
        raise ApiError(40058)
    page = items[start : start + limit]
    return page, str(start + limit) if start + limit < len(items) else ""


# -- token and staff ---------------------------------------------------------------------------


def gettoken(call: Call) -> dict:
    if not check_secret(call.tenant, call.arg("corpsecret")):
        raise ApiError(40001, "invalid secret")
    access_token, expires_in = call.state.issue_token(call.tenant, reuse=True)
    return {"access_token": access_token, "expires_in": expires_in}


def user_get(call: Call) -> dict:
    data: WecomData = call.data
    userid = data.staff_member(call.arg("userid"))
    h = mix(call.tenant.seed, list(data.staff).index(userid), 9)
    return {
        "userid": userid,
        "name": data.staff[userid],
        "department": [1],
        "main_department": 1,
        "position": "客户经理",
        "mobile": f"138{h % 100000000:08d}",
        "gender": str(1 + h % 2),
        "email": f"{userid}@example.com",
        "avatar": "",
        "status": 1,
    }


def follow_user_list(call: Call) -> dict:
    return {"follow_user": list(call.data.staff)}


def contact_list(call: Call) -> dict:
    data: WecomData = call.data
    ids = list(data.by_staff[data.staff_member(call.arg("userid"))])
    if not ids:
        raise ApiError(84061)
    return {"external_userid": ids}


def contact_get(call: Call) -> dict:
    data: WecomData = call.data
    person = data.contact(call.arg("external_userid"))
    follows = data.follows.get(person.uid, {})
    if not follows:
        raise ApiError(84061)
    return {
        "external_contact": external_contact(person),
        "next_cursor": "",
        "follow_user": [follow_info(f, data, True) for f in follows.values()],
    }


def batch_get_by_user(call: Call) -> dict:
    data: WecomData = call.data
    userids = call.body.get("userid_list") or (
        [call.body["userid"]] if "userid" in call.body else []
    )
    if not isinstance(userids, list) or not 0 < len(userids) <= 100:
        raise ApiError(40058)
    follows = [f for userid in userids for f in data.by_staff[data.staff_member(userid)].values()]
    page, cursor = page_of(follows, call.body, 50, 100)
    return {
        "external_contact_list": [
            {
                "external_contact": external_contact(data.contacts.get(f.external_userid)),
                "follow_info": follow_info(f, data, False),
            }
            for f in page
        ],
        "next_cursor": cursor,
    }


# -- corp tags ---------------------------------------------------------------------------------


def corp_tag_list(call: Call) -> dict:
    data: WecomData = call.data
    tag_ids, group_ids = call.body.get("tag_id") or [], call.body.get("group_id") or []
    groups = []
    for group in data.tag_groups.values():
        tags = [t for t in group["tag"] if not tag_ids or t["id"] in tag_ids]
        if (not group_ids or group["group_id"] in group_ids) and (tags or not tag_ids):
            groups.append({**group, "tag": tags})
    return {"tag_group": groups}


def add_corp_tag(call: Call) -> dict:
    data: WecomData = call.data
    names = [str(t.get("name", "")).strip() for t in call.body.get("tag") or []]
    if not names or not all(names):
        raise ApiError(40058)
    group_id, group_name = call.body.get("group_id"), call.body.get("group_name")
    if group_id:
        if group_id not in data.tag_groups:
            raise ApiError(40068)
        group_name = data.tag_groups[group_id]["group_name"]
    if not group_name:
        raise ApiError(40058)
    group, tags = data.add_tag_group(str(group_name), names, call.now())
    return {"tag_group": {**group, "tag": tags}}


def mark_tag(call: Call) -> dict:
    data: WecomData = call.data
    userid = data.staff_member(call.body.get("userid"))
    person = data.contact(call.body.get("external_userid"))
    follow = data.follows.get(person.uid, {}).get(userid)
    if follow is None:
        raise ApiError(84061)
    add, remove = call.body.get("add_tag") or [], call.body.get("remove_tag") or []
    if not add and not remove:
        raise ApiError(40058)
    if any(t not in data.tags for t in [*add, *remove]):
        raise ApiError(40068)
    follow.tags = [t for t in follow.tags if t not in remove]
    follow.tags += [t for t in add if t not in follow.tags]
    return {}


# -- contact ways and welcome messages ---------------------------------------------------------


def add_contact_way(call: Call) -> dict:
    data: WecomData = call.data
    body = call.body
    users, state = body.get("user") or [], str(body.get("state") or "")
    if body.get("type") not in (1, 2) or body.get("scene") not in (1, 2) or len(state) > 30:
        raise ApiError(40058)
    if (not users and not body.get("party")) or (body.get("type") == 1 and len(users) != 1):
        raise ApiError(40058)
    users = [data.staff_member(u) for u in users]
    config_id = hashlib.md5(f"{call.tenant.appid}:way:{data.next_serial()}".encode()).hexdigest()
    qr_code = ""
    if body["scene"] == 2:
        contact_url = f"https://work.weixin.qq.com/ca/{config_id}"
        qr_code = f"{call.request.base_url}/sandbox/qr.png?text={quote(contact_url, safe='')}"
    data.contact_ways[config_id] = {
        "config_id": config_id,
        "type": body["type"],
        "scene": body["scene"],
        "style": body.get("style", 1),
        "remark": body.get("remark", ""),
        "skip_verify": body.get("skip_verify", True),
        "state": state,
        "qr_code": qr_code,
        "user": users,
        "party": body.get("party") or [],
        "is_temp": False,
        "served": 0,
    }
    answer = {"config_id": config_id}
    if qr_code:
        answer["qr_code"] = qr_code
    return answer


def contact_way(call: Call) -> dict:
    way = call.data.contact_ways.get(call.body.get("config_id"))
    if way is None:
        raise ApiError(40058, "invalid config_id")
    return way


def get_contact_way(call: Call) -> dict:
    return {"contact_way": contact_way_view(contact_way(call))}


def update_contact_way(call: Call) -> dict:
    """Change a contact way in place (a live code re-pointed at other staff keeps its QR)."""
    way = contact_way(call)
    body = call.body
    users = body.get("user", way["user"])
    if len(str(body.get("state", way["state"]))) > 30 or (way["type"] == 1 and len(users) != 1):
        raise ApiError(40058)
    way["user"] = [call.data.staff_member(u) for u in users]
    for key in ("remark", "skip_verify", "style", "state", "party"):
        if key in body:
            way[key] = body[key]
    return {}


def del_contact_way(call: Call) -> dict:
    del call.data.contact_ways[contact_way(call)["config_id"]]
    return {}


def send_welcome_msg(call: Call) -> dict:
    code = call.data.welcome_codes.get(call.body.get("welcome_code"))
    if code is None:
        raise ApiError(40058, "invalid welcome_code")
    if code["used"]:
        raise ApiError(41051)
    content = payload(call.body, "welcome_code")
    if not content.get("text") and not content.get("attachments"):
        raise ApiError(40058, "empty content")
    code["used"] = True
    call.log("welcome", code["external_userid"], content, sender=code["userid"])
    return {}


# -- customer groups ---------------------------------------------------------------------------


def groupchat_list(call: Call) -> dict:
    owners = (call.body.get("owner_filter") or {}).get("userid_list") or []
    chats = [g for g in call.data.groups.values() if not owners or g["owner"] in owners]
    page, cursor = page_of(chats, call.body, 100, 1000)
    return {
        "group_chat_list": [{"chat_id": g["chat_id"], "status": 0} for g in page],
        "next_cursor": cursor,
    }


def groupchat_get(call: Call) -> dict:
    chat = call.data.groups.get(call.body.get("chat_id"))
    if chat is None:
        raise ApiError(40050)
    named = call.body.get("need_name") in (1, "1", True)
    members = [
        m if named else {k: v for k, v in m.items() if k != "name"} for m in chat["member_list"]
    ]
    return {"group_chat": {**chat, "member_list": members, "member_version": member_version(chat)}}


# -- join ways (加入群聊) ------------------------------------------------------------------------


def join_way_config(call: Call) -> dict:
    """The configurable fields of a join way from the body (add and update take the same)."""
    data: WecomData = call.data
    body = call.body
    chat_ids, state = body.get("chat_id_list"), str(body.get("state") or "")
    if body.get("scene") not in (1, 2) or len(state) > 30:
        raise ApiError(40058)
    if not isinstance(chat_ids, list) or not 0 < len(chat_ids) <= JOIN_WAY_CHATS:
        raise ApiError(40058, "invalid chat_id_list")
    if any(chat_id not in data.groups for chat_id in chat_ids):
        raise ApiError(40050)
    auto_create_room = body.get("auto_create_room", 1)
    room_base_name = str(body.get("room_base_name") or "")
    if auto_create_room not in (0, 1) or len(room_base_name) > 40:
        raise ApiError(40058)
    try:
        room_base_id = int(body.get("room_base_id") or 1)
    except (TypeError, ValueError):
        raise ApiError(40058)
    return {
        "scene": body["scene"],
        "remark": str(body.get("remark") or "")[:30],
        "auto_create_room": auto_create_room,
        "room_base_name": room_base_name if auto_create_room else "",
        "room_base_id": room_base_id if auto_create_room else 0,
        "chat_id_list": list(dict.fromkeys(chat_ids)),
        "state": state,
        "mark_source": bool(body.get("mark_source", True)),
    }


def add_join_way(call: Call) -> dict:
    """Only the config id: the QR code comes with get_join_way."""
    data: WecomData = call.data
    config = join_way_config(call)
    config_id = hashlib.md5(f"{call.tenant.appid}:join:{data.next_serial()}".encode()).hexdigest()
    join_url = f"https://work.weixin.qq.com/gm/{config_id}"
    data.join_ways[config_id] = {
        "config_id": config_id,
        **config,
        "qr_code": f"{call.request.base_url}/sandbox/qr.png?text={quote(join_url, safe='')}",
        "rooms_created": 0,
    }
    return {"config_id": config_id}


def join_way(call: Call) -> dict:
    way = call.data.join_ways.get(call.body.get("config_id"))
    if way is None:
        raise ApiError(40058, "invalid config_id")
    return way


def get_join_way(call: Call) -> dict:
    way = join_way_view(join_way(call))
    if way["scene"] != 2:
        del way["qr_code"]  # a mini program button (scene 1) has no QR code
    return {"join_way": way}


def update_join_way(call: Call) -> dict:
    """Overwrite a join way's configuration; its config id and QR code stay."""
    way = join_way(call)
    way.update(join_way_config(call))
    return {}


def del_join_way(call: Call) -> dict:
    del call.data.join_ways[join_way(call)["config_id"]]
    return {}


# -- group messages (企业群发) and app messages --------------------------------------------------


def add_msg_template(call: Call) -> dict:
    data: WecomData = call.data
    body = call.body
    content = payload(body, "chat_type", "external_userid", "sender", "chat_id_list")
    if not content.get("text") and not content.get("attachments"):
        raise ApiError(40058, "empty content")
    sender = body.get("sender") or ""
    if sender:
        data.staff_member(sender)
    msgid = f"msg{call.tenant.seed}{data.next_serial():08d}"
    if body.get("chat_type", "single") == "group":
        if not sender:
            raise ApiError(40058)
        results, fail_list = group_deliveries(call, sender, content, msgid), []
    else:
        recipients = body.get("external_userid") or (list(data.by_staff[sender]) if sender else [])
        if not recipients or len(recipients) > 10000:
            raise ApiError(40058)
        fail_list = [e for e in recipients if data.contacts.get(str(e)) is None]
        wanted = [e for e in recipients if e not in fail_list]
        results = [deliver(call, e, sender, content, msgid) for e in wanted]
    data.msg_templates[msgid] = {"sender": sender, "results": results, "created": call.now()}
    return {"fail_list": fail_list, "msgid": msgid}


def deliver(call: Call, external_userid: str, sender: str, content: dict, msgid: str) -> dict:
    """One customer's result of a group message, confirmed by the staff at once."""
    data: WecomData = call.data
    follows = data.follows.get(external_userid, {})
    userid = sender or next(iter(follows), "")
    month = china_month(call.now())
    if userid not in follows:
        status = 2
    elif data.received[(external_userid, month)] >= call.tenant.config["mass_quota"]:
        status = 3
    else:
        status = 1
        data.received[(external_userid, month)] += 1
        call.log("msg_template", external_userid, content, msgid=msgid, sender=userid)
    return {
        "external_userid": external_userid,
        "chat_id": "",
        "userid": userid,
        "status": status,
        "send_time": call.now() if status == 1 else 0,
    }


def group_deliveries(call: Call, sender: str, content: dict, msgid: str) -> list[dict]:
    chats = call.body.get("chat_id_list") or [
        g["chat_id"] for g in call.data.groups.values() if g["owner"] == sender
    ]
    results = []
    for chat_id in chats:
        chat = call.data.groups.get(chat_id)
        status = 1 if chat and chat["owner"] == sender else 2
        if status == 1:
            call.log("msg_template", chat_id, content, msgid=msgid, sender=sender)
        results.append(
            {
                "external_userid": "",
                "chat_id": chat_id,
                "userid": sender,
                "status": status,
                "send_time": call.now() if status == 1 else 0,
            }
        )
    return results


def msg_template(call: Call) -> dict:
    task = call.data.msg_templates.get(call.body.get("msgid"))
    if task is None:
        raise ApiError(40058, "invalid msgid")
    return task


def group_msg_result(call: Call) -> dict:
    return {"check_status": 1, "detail_list": msg_template(call)["results"]}


def groupmsg_send_result(call: Call) -> dict:
    results = msg_template(call)["results"]
    userid = call.data.staff_member(call.body.get("userid"))
    page, cursor = page_of([r for r in results if r["userid"] == userid], call.body, 500, 1000)
    return {"send_list": page, "next_cursor": cursor}


def groupmsg_task(call: Call) -> dict:
    task = msg_template(call)
    userids = list(dict.fromkeys(r["userid"] for r in task["results"] if r["userid"]))
    tasks = [{"userid": u, "status": 2, "send_time": task["created"]} for u in userids]
    page, cursor = page_of(tasks, call.body, 500, 1000)
    return {"task_list": page, "next_cursor": cursor}


def message_send(call: Call) -> dict:
    data: WecomData = call.data
    agent_id = call.tenant.config["agent_id"]
    if agent_id and str(call.body.get("agentid")) != agent_id:
        raise ApiError(40056)
    touser = str(call.body.get("touser") or "")
    wanted = list(data.staff) if touser == "@all" else [u for u in touser.split("|") if u]
    valid = [u for u in wanted if u in data.staff]
    if not valid:
        raise ApiError(81013)
    content = payload(call.body, "touser", "toparty", "totag", "agentid")
    msgid = f"app{data.next_serial():010d}"
    for userid in valid:
        call.log("app", userid, content, msgid=msgid)
    return {
        "invaliduser": "|".join(u for u in wanted if u not in data.staff),
        "invalidparty": "",
        "invalidtag": "",
        "unlicenseduser": "",
        "msgid": msgid,
        "response_code": "",
    }


def _post(path: str, handler) -> Endpoint:
    return Endpoint("POST", "/cgi-bin/externalcontact/" + path, handler, WECOM)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/cgi-bin/gettoken",
        gettoken,
        WECOM,
        token=False,
        appid_of=lambda r: r.query.get("corpid", ""),
    ),
    Endpoint("GET", "/cgi-bin/user/get", user_get, WECOM),
    Endpoint("POST", "/cgi-bin/message/send", message_send, WECOM),
    Endpoint("GET", "/cgi-bin/externalcontact/get_follow_user_list", follow_user_list, WECOM),
    Endpoint("GET", "/cgi-bin/externalcontact/list", contact_list, WECOM),
    Endpoint("GET", "/cgi-bin/externalcontact/get", contact_get, WECOM),
    _post("batch/get_by_user", batch_get_by_user),
    _post("get_corp_tag_list", corp_tag_list),
    _post("add_corp_tag", add_corp_tag),
    _post("mark_tag", mark_tag),
    _post("add_contact_way", add_contact_way),
    _post("get_contact_way", get_contact_way),
    _post("update_contact_way", update_contact_way),
    _post("del_contact_way", del_contact_way),
    _post("send_welcome_msg", send_welcome_msg),
    _post("groupchat/list", groupchat_list),
    _post("groupchat/get", groupchat_get),
    _post("groupchat/add_join_way", add_join_way),
    _post("groupchat/get_join_way", get_join_way),
    _post("groupchat/update_join_way", update_join_way),
    _post("groupchat/del_join_way", del_join_way),
    _post("add_msg_template", add_msg_template),
    _post("get_group_msg_result", group_msg_result),
    _post("get_groupmsg_send_result", groupmsg_send_result),
    _post("get_groupmsg_task", groupmsg_task),
]
