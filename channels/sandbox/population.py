"""Deterministic fake users, kept in subscription order and paged cheaply.

Person `n` of seed `S` is the same human on every platform of that seed: the OA follower
`o{S}_{n:06d}`, the Mini Program user `o{S}_mp{n:06d}` and the WeCom contact `wm{S}_{n:06d}` share
the unionid `u{S}_{n:06d}`, so identity resolution has something to merge. Nothing is
generated until first used; 20,000 people take a few tens of milliseconds.
"""

import random
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕"
)
GIVEN_NAMES = (
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 小雨 子涵 欣怡 梓轩 浩然 诗琪 "
    "一诺 雨桐 思远 佳怡 俊杰 晓燕"
).split()
CITIES = (
    ("上海", "上海"),
    ("北京", "北京"),
    ("广州", "广东"),
    ("深圳", "广东"),
    ("杭州", "浙江"),
    ("成都", "四川"),
    ("南京", "江苏"),
    ("武汉", "湖北"),
    ("西安", "陕西"),
    ("苏州", "江苏"),
    ("重庆", "重庆"),
    ("长沙", "湖南"),
)
DAY = 86400


def mix(seed: int, number: int, salt: int = 0) -> int:
    """A well-spread 32-bit hash of (seed, number, salt): cheap, stable across runs."""
    x = (number * 0x9E3779B1 + seed * 0x85EBCA77 + salt * 0xC2B2AE3D + 0x165667B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    x = (x * 0x297A2D39) & 0xFFFFFFFF
    return x ^ (x >> 15)


def fake_name(seed: int, number: int, salt: int = 0) -> str:
    h = mix(seed, number, salt)
    return SURNAMES[h % len(SURNAMES)] + GIVEN_NAMES[(h >> 8) % len(GIVEN_NAMES)]


@dataclass(slots=True)
class Person:
    """One fake user of one tenant; `uid` is their openid / external_userid / open_id."""

    number: int
    uid: str
    unionid: str
    nickname: str
    gender: int  # 0 unknown, 1 male, 2 female (the platforms' numbering)
    city: str
    province: str
    since: int  # followed / added at (unix seconds)
    last_seen: int  # last message or event from them: the 48-hour window
    tags: list = field(default_factory=list)
    remark: str = ""
    scene: str = "ADD_SCENE_SEARCH"
    qr_scene_str: str = ""
    active: bool = True
    seq: int = 0


class Population:
    """The people of one tenant: active ones in subscription order, plus everyone ever seen.

    `uid_format` / `unionid_format` are `str.format` patterns over `seed` and `n`. Initial
    members subscribed over the last year (all more than 48 hours ago); `decorate` gives them
    platform extras (tags, scenes). Callers hold the sandbox lock.
    """

    def __init__(
        self,
        *,
        seed: int,
        size: int,
        uid_format: str,
        anchor: int,
        unionid_format: str = "u{seed}_{n:06d}",
        decorate: Callable[[Person], None] | None = None,
    ):
        self.seed = seed
        self.size = size
        self.uid_format = uid_format
        self.unionid_format = unionid_format
        self.anchor = anchor  # start of the current day: generated data is stable within it
        self.decorate = decorate
        self._known: dict[str, Person] | None = None
        self._order: list[Person] | None = None
        self._seqs: list[int] = []
        self._next_seq = 0
        self._next_number = size

    # -- building ---------------------------------------------------------------------------

    def _people(self) -> dict[str, Person]:
        if self._known is None:
            self._known = {}
            step = max(1, min(3600, 365 * DAY // max(self.size, 1)))
            start = self.anchor - 2 * DAY - self.size * step
            for n in range(self.size):
                since = start + n * step
                self._insert(self._make(n, None, since, since))
            for person in self._known.values():
                if self.decorate:
                    self.decorate(person)
        return self._known

    def _make(self, number: int, uid: str | None, since: int, last_seen: int) -> Person:
        h = mix(self.seed, number, 1)
        city, province = CITIES[h % len(CITIES)]
        return Person(
            number=number,
            uid=uid or self.uid_format.format(seed=self.seed, n=number),
            unionid=self.unionid_format.format(seed=self.seed, n=number),
            nickname=fake_name(self.seed, number),
            gender=1 + (h >> 4) % 2,
            city=city,
            province=province,
            since=since,
            last_seen=last_seen,
        )

    def _insert(self, person: Person) -> None:
        person.seq = self._next_seq
        self._next_seq += 1
        self._known[person.uid] = person
        self._order = None

    def create(self, now: int, *, uid: str | None = None, number: int | None = None) -> Person:
        """A new follower, at the end of the order; a new number unless one is given."""
        people = self._people()
        if number is None:
            number = self._next_number
        self._next_number = max(self._next_number, number + 1)
        person = self._make(number, uid, now, now)
        if person.uid in people:
            raise ValueError(f"{person.uid} exists")
        self._insert(person)
        return person

    def activate(self, person: Person, now: int) -> None:
        """A returning follower: subscribed again, so at the end of the order."""
        person.active = True
        person.since = person.last_seen = now
        self._insert(person)

    def deactivate(self, person: Person) -> None:
        person.active = False
        self._order = None

    # -- reading ----------------------------------------------------------------------------

    def _ordered(self) -> list[Person]:
        if self._order is None:
            self._order = [p for p in self._people().values() if p.active]
            self._order.sort(key=lambda p: p.seq)
            self._seqs = [p.seq for p in self._order]
        return self._order

    def get(self, uid: str) -> Person | None:
        """Anyone ever seen, active or not."""
        return self._people().get(uid)

    def active(self, uid: str) -> Person | None:
        person = self.get(uid)
        return person if person and person.active else None

    def by_number(self, number: int) -> Person | None:
        return self.get(self.uid_format.format(seed=self.seed, n=number))

    def page(self, after: str | None, limit: int) -> list[Person] | None:
        """Up to `limit` active people after `after` (None: from the start); None if `after`
        was never seen."""
        order = self._ordered()
        start = 0
        if after:
            person = self.get(after)
            if person is None:
                return None
            start = bisect_right(self._seqs, person.seq)
        return order[start : start + limit]

    def __iter__(self) -> Iterator[Person]:
        return iter(self._ordered())

    def __len__(self) -> int:
        return self.size if self._known is None else len(self._ordered())

    # -- changes between two syncs ------------------------------------------------------------

    def mutate(
        self,
        rng: random.Random,
        *,
        now: int,
        follow: int = 0,
        unfollow: int = 0,
        update: int = 0,
        on_update: Callable[[Person, random.Random], None] | None = None,
    ) -> dict:
        """Some follow, some leave, some change name or tags: what an incremental sync finds."""
        members = list(self._ordered())
        leaving = rng.sample(members, min(unfollow, len(members)))
        for person in leaving:
            self.deactivate(person)
        gone = {p.uid for p in leaving}
        staying = [p for p in members if p.uid not in gone]
        changing = rng.sample(staying, min(update, len(staying)))
        for person in changing:
            person.nickname = fake_name(self.seed, person.number, salt=rng.randrange(1, 1 << 30))
            person.remark = f"更新于 {now}"
            if on_update:
                on_update(person, rng)
        followed = [self.create(now) for _ in range(follow)]
        return {
            "followed": [p.uid for p in followed],
            "unfollowed": [p.uid for p in leaving],
            "updated": [p.uid for p in changing],
        }
