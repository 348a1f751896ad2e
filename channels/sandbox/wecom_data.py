"""A WeCom corp's data in the sandbox: staff, external contacts and who follows whom, corp
tags, contact ways, welcome codes, customer groups with their join ways (加入群聊) and
group-message tasks (see `wecom` for the APIs over it). Contact n is added by staff n % staff,
every tenth by the next one too.

A customer group takes new members by QR code while it has fewer than the tenant's
`group_capacity` (200, as on WeCom); a join way sends each scanner to the first of its groups
with room, and when none has any, creates a group (`auto_create_room`, named
`room_base_name` + `room_base_id`, `room_base_id` + 1…) or refuses.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from channels.sandbox.population import DAY, Person, Population, mix
from channels.sandbox.router import ApiError
from channels.sandbox.state import Tenant

STAFF_NAMES = (
    ("lina", "李娜"),
    ("wangfang", "王芳"),
    ("zhangwei", "张伟"),
    ("liuyang", "刘洋"),
    ("chenjing", "陈静"),
    ("yangmin", "杨敏"),
    ("zhaolei", "赵磊"),
    ("huangyan", "黄艳"),
    ("zhoujie", "周杰"),
    ("wujuan", "吴娟"),
)
CORP_TAGS = {
    "客户等级": ("普通客户", "重要客户", "VIP客户"),
    "来源渠道": ("线下门店", "直播", "公众号", "员工活码"),
}


@dataclass
class Follow:
    """A staff member's side of a contact: remark, corp tags, the live-code `state`."""

    userid: str
    external_userid: str
    createtime: int
    seq: int
    state: str = ""
    remark: str = ""
    add_way: int = 1
    tags: list[str] = field(default_factory=list)


class WecomData:
    """A corp's staff, external contacts and who follows whom, corp tags, contact ways,
    welcome codes, customer groups and group-message tasks."""

    def __init__(self, tenant: Tenant):
        self.tenant = tenant
        config = tenant.config
        self.staff = {userid: name for userid, name in staff_names(config["staff"])}
        self.tag_groups: dict[str, dict] = {}
        self.tags: dict[str, tuple[dict, dict]] = {}  # tag id → (group, tag)
        self.contact_ways: dict[str, dict] = {}
        self.join_ways: dict[str, dict] = {}
        self.welcome_codes: dict[str, dict] = {}
        self.msg_templates: dict[str, dict] = {}
        self.received: Counter = Counter()  # (external_userid, month) → group messages
        self.serial = 0
        self.follows: dict[str, dict[str, Follow]] = {}  # external_userid → userid → Follow
        self.by_staff: dict[str, dict[str, Follow]] = {userid: {} for userid in self.staff}
        for group_name, names in CORP_TAGS.items():
            self.add_tag_group(group_name, names, tenant.anchor - 400 * DAY)
        self.contacts = Population(
            seed=tenant.seed,
            size=config["contacts"],
            uid_format="wm{seed}_{n:06d}",
            anchor=tenant.anchor,
        )
        self._first_follows()
        self.groups = {g["chat_id"]: g for g in self._make_groups(config["groups"])}

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    # -- generation ---------------------------------------------------------------------------

    def _first_follows(self) -> None:
        userids = list(self.staff)
        levels = [t for t, (g, _) in self.tags.items() if g["group_name"] == "客户等级"]
        for person in list(self.contacts):
            if not userids:
                self.contacts.deactivate(person)
                continue
            h = mix(self.tenant.seed, person.number, 5)
            owners = [userids[person.number % len(userids)]]
            if person.number % 10 == 9 and len(userids) > 1:
                owners.append(userids[(person.number + 1) % len(userids)])
            for userid in owners:
                follow = self.follow(person, userid, person.since)
                follow.tags = [levels[h % len(levels)]]
                follow.add_way = 1 + (h >> 8) % 3

    def _make_groups(self, count: int) -> list[dict]:
        userids = list(self.staff)
        members: dict[int, list[Person]] = {g: [] for g in range(count)}
        for person in self.contacts:
            group = members.get(person.number % max(count, 1))
            if group is not None and len(group) < 60:
                group.append(person)
        groups = []
        for g in range(count if userids else 0):
            owner = userids[g % len(userids)]
            created = self.tenant.anchor - (count - g) * 3 * DAY
            member_list = [{"userid": owner, "type": 1, "join_time": created, "join_scene": 1}]
            member_list += [
                {
                    "userid": p.uid,
                    "type": 2,
                    "join_time": created + 3600,
                    "join_scene": 3,
                    "unionid": p.unionid,
                    "name": p.nickname,
                }
                for p in members[g]
            ]
            groups.append(
                {
                    "chat_id": f"wr{self.tenant.seed}_{g:04d}",
                    "name": f"会员福利群 {g + 1}",
                    "owner": owner,
                    "create_time": created,
                    "notice": "欢迎加入会员福利群",
                    "member_list": member_list,
                    "admin_list": [{"userid": owner}],
                }
            )
        return groups

    def add_tag_group(self, name: str, tag_names, now: int) -> tuple[dict, list[dict]]:
        """A corp tag group (found by name, or new) with these tags added to it."""
        group = next((g for g in self.tag_groups.values() if g["group_name"] == name), None)
        if group is None:
            group_id = f"et{self.tenant.seed}_g{len(self.tag_groups) + 1:03d}"
            group = {
                "group_id": group_id,
                "group_name": name,
                "create_time": now,
                "order": 0,
                "tag": [],
            }
            self.tag_groups[group_id] = group
        return group, [self.add_tag(group, tag_name, now) for tag_name in tag_names]

    def add_tag(self, group: dict, name: str, now: int) -> dict:
        if any(t["name"] == name for t in group["tag"]):
            raise ApiError(40071)
        tag = {
            "id": f"et{self.tenant.seed}_{len(self.tags) + 1:04d}",
            "name": name,
            "create_time": now,
            "order": 0,
        }
        group["tag"].append(tag)
        self.tags[tag["id"]] = (group, tag)
        return tag

    # -- contacts -----------------------------------------------------------------------------

    def follow(self, person: Person, userid: str, now: int, state: str = "") -> Follow:
        """`userid` adds the contact (again): the relation is new, at the end of the order."""
        follow = Follow(userid, person.uid, now, self.next_serial(), state=state)
        self.follows.setdefault(person.uid, {})[userid] = follow
        self.by_staff[userid].pop(person.uid, None)
        self.by_staff[userid][person.uid] = follow
        if not person.active:
            self.contacts.activate(person, now)
        return follow

    def unfollow(self, follow: Follow) -> None:
        del self.follows[follow.external_userid][follow.userid]
        del self.by_staff[follow.userid][follow.external_userid]
        if not self.follows[follow.external_userid]:
            self.contacts.deactivate(self.contacts.get(follow.external_userid))

    def staff_member(self, userid) -> str:
        if userid not in self.staff:
            raise ApiError(60111)
        return userid

    def contact(self, external_userid) -> Person:
        person = self.contacts.get(str(external_userid or ""))
        if person is None:
            raise ApiError(40096)
        return person

    def all_follows(self) -> list[Follow]:
        return sorted((f for fs in self.follows.values() for f in fs.values()), key=seq_of)

    # -- what simulated users do --------------------------------------------------------------

    def add_contact(self, external_userid: str, userid: str, state: str, now: int) -> Follow:
        """A customer adds a staff member (through the contact way carrying `state`, if any)
        and the platform issues a one-time welcome code."""
        userid = userid or self._staff_for(state)
        if userid not in self.staff:
            raise ValueError(f"unknown staff userid {userid!r}")
        person = self.contacts.get(external_userid) if external_userid else None
        if person is None:
            person = self.contacts.create(now, uid=external_userid or None)
        follow = self.follow(person, userid, now, state)
        follow.add_way = 1
        return follow

    def _staff_for(self, state: str) -> str:
        for way in self.contact_ways.values():
            if state and way["state"] == state and way["user"]:
                way["served"] += 1
                return way["user"][(way["served"] - 1) % len(way["user"])]
        return next(iter(self.staff), "")

    def welcome_code(self, follow: Follow, now: int) -> str:
        code = "WC" + hashlib.sha1(f"{self.tenant.appid}:{follow.seq}".encode()).hexdigest()
        self.welcome_codes[code] = {
            "welcome_code": code,
            "userid": follow.userid,
            "external_userid": follow.external_userid,
            "created": now,
            "used": False,
        }
        return code

    def remove_contact(self, external_userid: str, userid: str) -> Follow:
        """A relation ends (either side deletes): the named one, else the newest that fits."""
        candidates = [
            f
            for f in self.all_follows()
            if (not external_userid or f.external_userid == external_userid)
            and (not userid or f.userid == userid)
        ]
        if not candidates:
            raise ValueError("no such contact relation")
        self.unfollow(candidates[-1])
        return candidates[-1]

    def join_group(self, external_userid: str, state: str, chat_id: str, now: int) -> tuple:
        """A customer joins a group by QR code: the group of the join way carrying `state`
        (its first with room), or the group `chat_id` (its own QR code, or one of the way's).
        A missing external_userid is a new customer, who need not be anybody's contact.
        Returns (group, member)."""
        way = None
        if state:
            way = next((w for w in self.join_ways.values() if w["state"] == state), None)
            if way is None:
                raise ValueError(f"no join way carries state {state!r}")
        if chat_id:
            chat = self.groups.get(chat_id)
            if chat is None:
                raise ValueError(f"unknown chat_id {chat_id!r}")
            if way and chat_id not in way["chat_id_list"]:
                raise ValueError(f"{chat_id} is not a group of the join way")
            if self.group_full(chat):
                raise ValueError(f"{chat_id} is full")
        elif way:
            chat = self._group_with_room(way, now)
        else:
            raise ValueError("join_group needs a state or a chat_id")
        person = self.contacts.get(external_userid) if external_userid else None
        if person is None:
            person = self.contacts.create(now, uid=external_userid or None)
            if not self.follows.get(person.uid):
                self.contacts.deactivate(person)  # a group member, nobody's contact
        if any(m["userid"] == person.uid for m in chat["member_list"]):
            raise ValueError(f"{person.uid} is already in {chat['chat_id']}")
        member = {
            "userid": person.uid,
            "type": 2,
            "join_time": now,
            "join_scene": 3,  # by scanning the group's QR code
            "unionid": person.unionid,
            "name": person.nickname,
            "group_nickname": "",
        }
        if way and way["state"]:
            member["state"] = way["state"]
        chat["member_list"].append(member)
        return chat, member

    def _group_with_room(self, way: dict, now: int) -> dict:
        for chat_id in way["chat_id_list"]:
            chat = self.groups.get(chat_id)
            if chat and not self.group_full(chat):
                return chat
        if not way["auto_create_room"]:
            raise ValueError("every group of the join way is full")
        model = self.groups[way["chat_id_list"][-1]]
        number = way["room_base_id"] + way["rooms_created"]
        way["rooms_created"] += 1
        chat = self.new_group(model["owner"], f"{way['room_base_name']}{number}", now)
        way["chat_id_list"].append(chat["chat_id"])
        return chat

    def new_group(self, owner: str, name: str, now: int) -> dict:
        chat_id = f"wr{self.tenant.seed}_{len(self.groups):04d}"
        while chat_id in self.groups:
            chat_id += "x"
        self.groups[chat_id] = {
            "chat_id": chat_id,
            "name": name,
            "owner": owner,
            "create_time": now,
            "notice": "",
            "member_list": [{"userid": owner, "type": 1, "join_time": now, "join_scene": 1}],
            "admin_list": [{"userid": owner}],
        }
        return self.groups[chat_id]

    def group_full(self, chat: dict) -> bool:
        return len(chat["member_list"]) >= self.tenant.config["group_capacity"]

    def leave_group(self, external_userid: str, chat_id: str) -> tuple:
        """A customer leaves a group chat (or is removed): the named customer of `chat_id`,
        else its newest customer, else the named customer's newest group. (group, member)."""
        if not (external_userid or chat_id):
            raise ValueError("leave_group needs an external_userid or a chat_id")
        if chat_id and chat_id not in self.groups:
            raise ValueError(f"unknown chat_id {chat_id!r}")
        chats = [self.groups[chat_id]] if chat_id else list(self.groups.values())
        found = [
            (member["join_time"], position, chat, member)
            for chat in chats
            for position, member in enumerate(chat["member_list"])
            if member["type"] == 2 and member["userid"] == (external_userid or member["userid"])
        ]
        if not found:
            raise ValueError("no such group member")
        _join_time, _position, chat, member = max(found, key=lambda item: item[:2])
        chat["member_list"].remove(member)
        return chat, member

    # -- sync views ---------------------------------------------------------------------------

    def summary(self) -> dict:
        return {
            "agent_id": self.tenant.config["agent_id"],
            "mass_quota": self.tenant.config["mass_quota"],
            "staff": len(self.staff),
            "contacts": len(self.contacts),
            "follows": sum(len(f) for f in self.by_staff.values()),
            "groups": len(self.groups),
            "join_ways": len(self.join_ways),
        }

    def describe(self) -> dict:
        people = list(self.contacts)
        return {
            "staff_list": [{"userid": u, "name": n} for u, n in self.staff.items()],
            "tag_group": list(self.tag_groups.values()),
            "contact_ways": [contact_way_view(w) for w in self.contact_ways.values()],
            "join_ways": [join_way_view(w) for w in self.join_ways.values()],
            "welcome_codes": list(self.welcome_codes.values()),
            "group_chats": [
                {
                    "chat_id": g["chat_id"],
                    "name": g["name"],
                    "owner": g["owner"],
                    "members": len(g["member_list"]),
                }
                for g in self.groups.values()
            ],
            "msg_templates": list(self.msg_templates),
            "sample": [p.uid for p in people[:5]],
            "newest": [p.uid for p in people[-5:]],
            "recent_follows": [
                {
                    "external_userid": f.external_userid,
                    "userid": f.userid,
                    "state": f.state,
                    "tag_id": list(f.tags),
                    "remark": f.remark,
                    "createtime": f.createtime,
                }
                for f in self.all_follows()[-10:]
            ],
        }

    def mutate(self, rng, now: int, follow: int = 0, unfollow: int = 0, update: int = 0) -> dict:
        """New contacts added round robin, relations ended, remarks and tags changed."""
        relations = self.all_follows()
        leaving = rng.sample(relations, min(unfollow, len(relations)))
        for relation in leaving:
            self.unfollow(relation)
        gone = {id(f) for f in leaving}
        staying = [f for f in relations if id(f) not in gone]
        changing = rng.sample(staying, min(update, len(staying)))
        for relation in changing:
            relation.remark = f"更新于 {now}"
            relation.tags = [rng.choice(sorted(self.tags))]
        userids = list(self.staff)
        added = []
        for k in range(follow if userids else 0):
            added.append(self.follow(self.contacts.create(now), userids[k % len(userids)], now))
        return {
            "followed": [f.external_userid for f in added],
            "unfollowed": [f.external_userid for f in leaving],
            "updated": [f.external_userid for f in changing],
        }


def staff_names(count: int) -> list[tuple[str, str]]:
    names = []
    for j in range(count):
        userid, name = STAFF_NAMES[j % len(STAFF_NAMES)]
        rounds = j // len(STAFF_NAMES)
        names.append((f"{userid}{rounds + 1}", f"{name}{rounds + 1}") if rounds else (userid, name))
    return names


def seq_of(follow: Follow) -> int:
    return follow.seq


def contact_way_view(way: dict) -> dict:
    return {k: v for k, v in way.items() if k != "served"}


def join_way_view(way: dict) -> dict:
    return {k: v for k, v in way.items() if k != "rooms_created"}


def member_version(chat: dict) -> str:
    """What WeCom calls a group's member version: changes with every join and leave."""
    userids = ",".join(sorted(m["userid"] for m in chat["member_list"]))
    return hashlib.md5(f"{chat['chat_id']}:{userids}".encode()).hexdigest()
