"""Demo brand 「茶小满」: customers spread over every channel, six months of activity, and a
year of membership (points migrated from the old member system, redemptions, expiry, tiers).

Everything goes through the product's own ingestion (events/batch and orders/batch shapes,
identity resolution, scoring), in time order, so identities that overlap the way real ones do
(one unionid across the OA, the Mini Program and WeCom; a phone shared by Tmall and the app)
produce real merges. Deterministic for a seed: the same people, identities, amounts and
events each time (timestamps are relative to today's date). Idempotent: events and orders
carry source ids, so a second run adds nothing.
"""

import functools
import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from channels.models import ChannelAccount
from channels.services import channel_account_create
from common.audit import audit_record
from common.models import AuditLog
from config.demo_campaigns import demo_campaigns_load
from customers.choices import (
    ConsentChannel,
    ConsentStatus,
    ExpiryPolicy,
    PointsKind,
    RewardKind,
    TierBasis,
)
from customers.clusters import value_clusters_compute
from customers.ingest import events_ingest, orders_ingest
from customers.membership import (
    RedemptionRefused,
    redemption_cancel,
    redemption_create,
    redemption_fulfil,
    tiers_refresh,
)
from customers.models import (
    Consent,
    Customer,
    Event,
    Identity,
    MembershipSettings,
    MemberTier,
    MergeLog,
    Order,
    PointsEntry,
    PointsPromotion,
    Redemption,
    RewardItem,
)
from customers.points import (
    PointsShort,
    expiry_for,
    points_balances_refresh,
    points_expire,
    points_expiring_refresh,
)
from customers.scoring import customers_score
from customers.services import customers_profile_bulk, customers_refresh_aggregates
from reports.alerts import alert_rules_seed
from reports.rollups import rollups_refresh
from tags.models import TagSource
from tags.services import customers_tag_bulk, tag_create, tag_group_lookup

DAYS = 182
BATCH = 5000

ACCOUNTS = [
    ("wechat_oa", "oa", "茶小满公众号"),
    ("wecom", "wecom", "茶小满企业微信"),
    ("wechat_mini", "mini", "茶小满小程序"),
    ("douyin", "douyin", "茶小满抖音号"),
    ("app", "app", "茶小满 App"),
    ("tmall", "tmall", "茶小满天猫旗舰店"),
    ("sms", "sms", "短信通道"),
    ("offline_store", "store", "上海南京西路门店"),
]

# sku, name, category, price, scene
PRODUCTS = [
    ("GT-01", "西湖龙井", "绿茶", 128, ""),
    ("GT-02", "洞庭碧螺春", "绿茶", 98, ""),
    ("GT-03", "安吉白茶", "绿茶", 158, "送礼"),
    ("BT-01", "正山小种", "红茶", 88, ""),
    ("BT-02", "滇红金芽", "红茶", 76, ""),
    ("BT-03", "红茶冷泡茶包", "红茶", 39, "办公室"),
    ("FT-01", "茉莉花茶", "花茶", 58, ""),
    ("FT-02", "桂花乌龙", "花茶", 68, ""),
    ("FT-03", "玫瑰花茶礼盒", "花茶", 198, "送礼"),
    ("SN-01", "冻干柠檬片", "零食", 29, "办公室"),
    ("SN-02", "每日坚果", "零食", 59, "办公室"),
    ("SN-03", "茶点礼盒", "零食", 168, "送礼"),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉玲丹宇浩凯婷雪琳晨欣怡梓涵子轩雨萱思远佳琪一诺俊杰嘉怡紫萱天佑"  # noqa: E501
CITIES = [
    ("上海", "上海"), ("北京", "北京"), ("杭州", "浙江"), ("宁波", "浙江"), ("广州", "广东"),
    ("深圳", "广东"), ("成都", "四川"), ("重庆", "重庆"), ("南京", "江苏"), ("苏州", "江苏"),
    ("武汉", "湖北"), ("西安", "陕西"), ("长沙", "湖南"), ("天津", "天津"), ("青岛", "山东"),
    ("厦门", "福建"), ("福州", "福建"), ("合肥", "安徽"), ("郑州", "河南"), ("昆明", "云南"),
]  # fmt: skip

# (channel, probability a person uses it)
PRESENCE = [("oa", 0.62), ("mini", 0.45), ("wecom", 0.3), ("douyin", 0.25), ("app", 0.35),
            ("tmall", 0.42), ("store", 0.15)]  # fmt: skip
MOBILE_PREFIXES = ["133", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
                   "159", "177", "180", "181", "186", "187", "188", "189", "199"]  # fmt: skip


@dataclass
class Person:
    index: int
    name: str
    gender: str
    city: str
    province: str
    birthday: date
    phone: str
    email: str
    channels: list[str]
    activity: float
    tastes: list[str]
    price_sensitive: bool
    ids: dict = field(default_factory=dict)  # channel → identity dict

    def identity(self, channel: str) -> dict:
        return self.ids[channel]


@dataclass
class Plan:
    events: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)


def _person(rng: random.Random, index: int, seed: int) -> Person:
    city, province = rng.choice(CITIES)
    channels = [c for c, p in PRESENCE if rng.random() < p] or [rng.choice(["oa", "tmall"])]
    person = Person(
        index=index,
        name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2))),
        gender=rng.choice(["male", "female", "female"]),
        city=city,
        province=province,
        birthday=date(rng.randint(1970, 2004), rng.randint(1, 12), rng.randint(1, 28)),
        phone=f"{rng.choice(MOBILE_PREFIXES)}{index:08d}",
        email=f"user{seed}x{index}@example.com" if rng.random() < 0.25 else "",
        channels=channels,
        activity=rng.lognormvariate(0, 0.8),
        tastes=rng.sample(["绿茶", "红茶", "花茶", "零食"], rng.randint(1, 2)),
        price_sensitive=rng.random() < 0.45,
    )
    tag = f"{seed}-{index}"
    unionid = {"kind": "wechat_unionid", "value": f"demo-u-{tag}"}
    phone = {"kind": "phone", "value": person.phone}
    person.ids = {
        "oa": {"kind": "wechat_openid", "value": f"demo-oa-{tag}", "scope": "oa"},
        "mini": {"kind": "wechat_openid", "value": f"demo-mp-{tag}", "scope": "mini"},
        "wecom": {"kind": "wecom_external_userid", "value": f"demo-wm-{tag}", "scope": "wecom"},
        "douyin": {"kind": "douyin_open_id", "value": f"demo-dy-{tag}", "scope": "douyin"},
        "app": {"kind": "app_user_id", "value": f"demo-app-{tag}", "scope": "app"},
        "tmall": {"kind": "platform_buyer_id", "value": f"demo-tb-{tag}", "scope": "tmall"},
        "store": {"kind": "member_no", "value": f"M{seed:02d}{index:07d}"},
        "unionid": unionid,
        "phone": phone,
    }
    return person


def _first_touch(person: Person, channel: str, rng: random.Random) -> list[dict]:
    """The identities a channel reveals the first time we see the person there."""
    ids = person.ids
    if channel in ("oa", "wecom"):
        return [ids[channel], ids["unionid"]]
    if channel == "mini":  # phone authorisation in the Mini Program, for some
        return [ids["mini"], ids["unionid"]] + ([ids["phone"]] if rng.random() < 0.5 else [])
    if channel == "app":  # phone sign-up, and WeChat login for WeChat users
        wechat = [ids["unionid"]] if {"oa", "mini", "wecom"} & set(person.channels) else []
        return [ids["app"], ids["phone"]] + (wechat if rng.random() < 0.5 else [])
    if channel == "store":
        return [ids["store"], ids["phone"]]
    if channel == "tmall":
        return [ids["tmall"]] + ([ids["phone"]] if rng.random() < 0.85 else [])
    return [ids[channel]]


def _season(day: date) -> float:
    """Weekends, 618 and Double 11 sell more."""
    weight = 1.3 if day.weekday() >= 5 else 1.0
    for month, mday in ((6, 18), (11, 11)):
        gap = abs((day - date(day.year, month, mday)).days)
        if gap <= 7:
            weight *= 3.0 - gap * 0.25
    return weight


def _when(rng: random.Random, start: date, end: date) -> datetime:
    span = max((end - start).days, 0)
    day = start + timedelta(days=rng.randint(0, span))
    moment = time(rng.choice([8, 9, 10, 12, 13, 15, 19, 20, 21, 22]), rng.randint(0, 59))
    return timezone.make_aware(datetime.combine(day, moment))


def _pick_day(rng: random.Random, days: list[date], weights: list[float]) -> date:
    return rng.choices(days, weights)[0]


@functools.cache
def _calendar(today: date) -> tuple[list[date], list[float]]:
    """The six months' days and their seasonal weights (the same for every person)."""
    start = today - timedelta(days=DAYS)
    days = [start + timedelta(days=i) for i in range(DAYS)]
    return days, [_season(d) for d in days]


def _plan_person(person: Person, rng: random.Random, today: date, seed: int) -> Plan:
    plan = Plan()
    start = today - timedelta(days=DAYS)
    days, weights = _calendar(today)
    counter = iter(range(10_000))

    def event(channel, name, at, identities, **props):
        plan.events.append(
            {
                "event_id": f"demo-{seed}-{person.index}-{next(counter)}",
                "name": name,
                "occurred_at": at.isoformat(),
                "channel": channel,
                "identities": identities,
                "properties": props,
            }
        )

    joined = {}
    for channel in person.channels:  # first touches spread over the six months
        at = _when(rng, start, today - timedelta(days=1))
        joined[channel] = at
        first = _first_touch(person, channel, rng)
        name = {
            "oa": "subscribe",
            "wecom": "add_external_contact",
            "douyin": "like",
            "store": "store_visit",
            "tmall": "view_product",
        }.get(channel, "sign_in")
        props = {"scene": rng.choice(["qr_store", "qr_package", "search", "article"])}
        event(channel, name, at, first, **props)
    if "douyin" in joined and rng.random() < 0.6:  # a Douyin fan claims a coupon with a phone
        at = min(joined["douyin"] + timedelta(days=rng.randint(1, 20)), timezone.now())
        ids = [person.ids["douyin"], person.ids["phone"]]
        event("douyin", "coupon_claim", at, ids, coupon="DY-NEW-10")
    sessions = max(1, int(person.activity * 12))
    for _ in range(sessions):
        channel = rng.choice(person.channels)
        day = _pick_day(rng, days, weights)
        if timezone.make_aware(datetime.combine(day, time(23, 59))) < joined[channel]:
            continue
        at = _when(rng, day, day)
        ident = [person.identity(channel)]
        _session(event, person, channel, at, ident, rng, plan, seed)
    return plan


def _session(event, person, channel, at, ident, rng, plan, seed) -> None:
    step = timedelta(minutes=rng.randint(1, 6))
    if channel == "douyin":
        event(channel, "video_play", at, ident, video_id=f"v{rng.randint(1, 40)}")
        if rng.random() < 0.3:
            event(channel, rng.choice(["like", "comment", "share"]), at + step, ident)
        if rng.random() < 0.15:
            event(channel, "live_watch", at + 2 * step, ident, room=f"live-{rng.randint(1, 9)}")
        return
    if channel in ("oa", "wecom"):
        event(channel, rng.choice(["message_in", "link_click", "page_view"]), at, ident,
              page=f"/article/{rng.randint(1, 30)}")  # fmt: skip
        if channel == "wecom" and rng.random() < 0.2:
            event(channel, "join_group", at + step, ident, group=f"茶友群{rng.randint(1, 8)}")
        return
    if channel in ("mini", "app") and rng.random() < 0.4:
        event(channel, "sign_in", at, ident)
    product = _product(person, rng)
    sku, name, category, price, _scene = product
    props = {"sku": sku, "product": name, "category": category, "price": price}
    if channel == "store":
        event(channel, "store_visit", at, ident, store="上海南京西路门店")
        if rng.random() < 0.6:
            _purchase(event, person, channel, at + step, ident, [product], rng, plan, seed)
        return
    event(channel, "page_view", at, ident, page="/home")
    event(channel, "view_product", at + step, ident, **props)
    if rng.random() < 0.35:
        event(channel, "add_to_cart", at + 2 * step, ident, **props)
        if rng.random() < 0.55:
            event(channel, "checkout", at + 3 * step, ident, **props)
            if rng.random() < 0.8:
                basket = [product] + ([_product(person, rng)] if rng.random() < 0.3 else [])
                _purchase(event, person, channel, at + 4 * step, ident, basket, rng, plan, seed)


def _product(person: Person, rng: random.Random) -> tuple:
    pool = [p for p in PRODUCTS if p[2] in person.tastes]
    if person.price_sensitive:
        pool = sorted(pool, key=lambda p: p[3])[: max(2, len(pool) // 2)]
    return rng.choice(pool or PRODUCTS)


def _purchase(event, person, channel, at, ident, basket, rng, plan, seed) -> None:
    order_id = f"DEMO{seed}-{person.index}-{len(plan.orders)}"
    items = [{"sku": p[0], "name": p[1], "qty": 1, "price": p[3]} for p in basket]
    amount = Decimal(sum(p[3] for p in basket))
    if person.price_sensitive and rng.random() < 0.5:
        amount = (amount * Decimal("0.85")).quantize(Decimal("0.01"))
        event(channel, "coupon_redeem", at, ident, coupon="MAN100-15")
    refunded = rng.random() < 0.05
    plan.orders.append(
        {
            "order_id": order_id,
            "channel": channel,
            "amount": str(amount),
            "currency": "CNY",
            "status": "refunded" if refunded else rng.choice(["paid", "completed", "completed"]),
            "paid_at": at.isoformat(),
            "items": items,
            "identities": ident,
        }
    )
    event(channel, "order_paid", at, ident, order_id=order_id, amount=float(amount))
    if refunded:
        event(channel, "refund", at + timedelta(days=2), ident, order_id=order_id)


# the platform kinds the sandbox platform stands in for (docs/channels.md)
SANDBOXED = ("wechat_oa", "wecom", "wechat_mini", "douyin", "sms", "app")


def accounts_ensure() -> dict[str, ChannelAccount]:
    """The demo brand's accounts; the platform ones in sandbox mode with credentials the
    sandbox platform is configured with (`manage.py sandbox_platform --seed-demo`)."""
    existing = {a.code: a for a in ChannelAccount.objects.all()}
    for kind, code, name in ACCOUNTS:
        if code not in existing:
            existing[code] = channel_account_create(kind=kind, code=code, name=name)
        account = existing[code]
        if kind in SANDBOXED and not account.sandbox and not account.secret:
            account.sandbox = True
            account.app_id = f"wxdemo{code}0001"
            account.secret = _demo_secret(code, "secret")
            account.token = _demo_secret(code, "token")[:32]
            account.aes_key = _demo_secret(code, "aes")[:43]
            account.save(update_fields=["sandbox", "app_id", "secret", "token", "aes_key"])
        if kind == "wecom" and not account.options.get("agent_id"):  # the app alerts come from
            account.options = {**account.options, "agent_id": 1000002}
            account.save(update_fields=["options"])
    return existing


def _demo_secret(code: str, purpose: str) -> str:
    """Deterministic demo credentials (43+ url-safe letters and digits), never real ones."""
    digest = hashlib.sha256(f"quanyu-demo:{code}:{purpose}".encode()).hexdigest()
    return (digest + digest)[:64]


def _weekly(rows: list, size: int, stamp: str):
    """Rows (in time order) one week at a time, as a weekly sync would send them; later
    weeks name people already known, so overlapping identities merge profiles."""
    batch, week = [], None
    for row in rows:
        row_week = date.fromisoformat(row[stamp][:10]).isocalendar()[:2]
        if batch and (row_week != week or len(batch) == size):
            yield batch
            batch = []
        batch.append(row)
        week = row_week
    if batch:
        yield batch


@dataclass
class DemoSummary:
    customers: int
    identities: int
    merges: int
    events: int
    orders: int
    tagged: int
    already_loaded: bool = False


def demo_marker(seed: int, customers: int) -> str:
    return f"演示数据已加载（seed={seed}, customers={customers}）"


def demo_load(*, seed: int = 42, customers: int = 5000, progress=None) -> DemoSummary:
    """Load the demo brand (see the module docstring); returns what the database holds."""
    accounts_ensure()
    marker = demo_marker(seed, customers)
    if AuditLog.objects.filter(actor_label="seed_demo", summary=marker).exists():
        return _summary(already_loaded=True)
    rng = random.Random(seed)
    today = timezone.localdate()
    people = [_person(rng, i, seed) for i in range(customers)]
    plans = [_plan_person(p, random.Random(f"{seed}:{p.index}"), today, seed) for p in people]
    events = sorted((e for plan in plans for e in plan.events), key=lambda e: e["occurred_at"])
    orders = sorted((o for plan in plans for o in plan.orders), key=lambda o: o["paid_at"])
    _points_rules()  # the seeds' earning rules, so the demo's orders and sign-ins earn
    _membership()  # before the orders, so that tiers and 双11 multiply what they earn
    done = 0
    for batch in _weekly(events, BATCH, "occurred_at"):
        result = events_ingest(rows=batch, actor_label="demo")
        if result.errors:
            raise RuntimeError(f"demo events rejected: {result.errors[:3]}")
        done += len(batch)
        if progress:
            progress(done, len(events))
    _legacy_points(people, seed, today)  # the people are known by now
    for start in range(0, len(orders), BATCH):
        batch = orders[start : start + BATCH]
        result = orders_ingest(rows=batch, actor_label="demo")
        if result.errors:
            raise RuntimeError(f"demo orders rejected: {result.errors[:3]}")
    _redemptions(people, seed)
    points_expire()  # what the nightly Beat tasks would have done since
    points_expiring_refresh()
    tiers_refresh()
    _profiles(people)
    _tags(people, rng)
    _consents(people, rng)
    customers_refresh_aggregates()
    customers_score()
    value_clusters_compute()
    _audiences_and_rules()
    _auto_replies()
    demo_campaigns_load(seed=seed)
    _reports(today)
    audit_record(action=AuditLog.Action.IMPORT, summary=marker, actor_label="seed_demo")
    return _summary()


def _reports(today: date) -> None:
    """Dashboards read daily rollups: fill them for the demo's months, as the nightly Beat
    task would have; the seeds' alert rule. The rule is evaluated by Beat (or "立即评估"),
    once the sandbox platform is up to receive its WeCom message."""
    rollups_refresh(start=today - timedelta(days=DAYS), end=today)
    alert_rules_seed()


def _owners(people: list[Person]) -> dict[int, list[int]]:
    """person index → the customers holding any of the person's identities (main one first).

    Identities a person never revealed together stay on separate profiles, as in real data.
    """
    values = {}
    for person in people:
        for key in ("phone", "unionid", *person.channels):
            values.setdefault(person.ids[key]["value"], person.index)
    owners: dict[int, list[int]] = {}
    keys = list(values)
    for start in range(0, len(keys), 5000):
        for value, customer_id in Identity.objects.filter(
            value__in=keys[start : start + 5000]
        ).values_list("value", "customer_id"):
            found = owners.setdefault(values[value], [])
            if customer_id not in found:
                found.append(customer_id)
    return owners


def _profiles(people: list[Person]) -> None:
    """Names, cities and birthdays, as a CRM import would fill them in."""
    owners = _owners(people)
    current = {
        pk: (name, email)
        for pk, name, email in Customer.objects.filter(
            pk__in=[cid for ids in owners.values() for cid in ids]
        ).values_list("pk", "name", "email")
    }
    profiles = {}
    for person in people:
        for cid in owners.get(person.index, []):
            name, email = current[cid]
            if name:
                continue
            profiles[cid] = {
                "name": person.name,
                "gender": person.gender,
                "city": person.city,
                "province": person.province,
                "birthday": person.birthday,
                "email": email or person.email,
            }
    customers_profile_bulk(profiles=profiles)


GROUP_COLOURS = {
    "兴趣偏好": "#2fb344",
    "消费能力": "#f76707",
    "渠道来源": "#206bc4",
    "场景": "#ae3ec9",
    "价值分层": "#d63939",
}


def _tag(group: str, name: str):
    from tags.models import Tag

    tag_group = tag_group_lookup(group)
    return Tag.objects.filter(group=tag_group, name=name).first() or tag_create(
        name=name, group=tag_group, color=GROUP_COLOURS.get(group, "")
    )


def _tags(people: list[Person], rng: random.Random) -> None:
    owners = _owners(people)
    wanted: dict[tuple[str, str], list[int]] = {}
    for person in people:
        if person.index not in owners:
            continue
        names = [("兴趣偏好", t) for t in person.tastes]
        names.append(("消费能力", "价格敏感" if person.price_sensitive else "品质追求"))
        source = {"oa": "公众号粉丝", "wecom": "企微好友", "douyin": "抖音粉丝"}
        names += [("渠道来源", source[c]) for c in person.channels if c in source]
        if rng.random() < 0.3:
            names.append(("场景", rng.choice(["办公室", "送礼"])))
        for key in names:
            wanted.setdefault(key, []).extend(owners[person.index])
    for (group, name), ids in sorted(wanted.items()):
        source = TagSource.CHANNEL_SYNC if group == "渠道来源" else TagSource.RULE
        customers_tag_bulk(customer_ids=ids, tag=_tag(group, name), source=source,
                           source_ref="demo")  # fmt: skip


def _points_rules() -> None:
    """移动电商多渠道整合: the app earns 1 point per yuan, stores 1.5 points per 2 yuan, a
    sign-in in the WeChat mini program 0.5 point (once a day)."""
    from customers.models import PointsEarnRule, PointsEventRule

    mini = ChannelAccount.objects.filter(code="mini").first()
    if mini and not PointsEventRule.objects.filter(event_name="sign_in").exists():
        PointsEventRule.objects.create(
            name="小程序签到 0.5 分",
            event_name="sign_in",
            channel_account=mini,
            points="0.5",
            daily_cap="0.5",
        )

    for code, name, rate in (
        ("app", "App 消费每元 1 分", "1"),
        ("store", "门店每 2 元 1.5 分", "0.75"),
    ):
        account = ChannelAccount.objects.filter(code=code).first()
        if account and not PointsEarnRule.objects.filter(channel_account=account).exists():
            PointsEarnRule.objects.create(name=name, channel_account=account, points_per_yuan=rate)


# code, name, threshold (points earned over 12 months), earning multiplier, benefits, colour
TIERS = [
    ("silver", "银卡", 300, "1", ["生日礼券 10 元", "会员日 9.5 折"], "#8c99a6"),
    ("gold", "金卡", 800, "1.2",
     ["消费积分 1.2 倍", "每月 2 张 App 包邮券", "生日礼券 30 元", "新品优先试饮"], "#d4a72c"),
    ("black", "黑金卡", 2000, "1.5",
     ["消费积分 1.5 倍", "App 订单全年包邮", "专属茶艺顾问（企业微信）", "门店品鉴会邀请"],
     "#1f2328"),
]  # fmt: skip
BAG = "联名帆布袋（限量）"
# name, kind, points, stock, per-member limit, channel account codes (none: every channel), note
REWARDS = [
    ("App 包邮券", RewardKind.FREE_SHIPPING, 100, None, None, ["app"], "App 下单免运费，30 天有效"),
    ("10 元无门槛券", RewardKind.COUPON, 300, None, None, [], "全渠道通用，30 天有效"),
    ("满 199 减 30 券", RewardKind.COUPON, 500, None, None, [], "全渠道通用，30 天有效"),
    (BAG, RewardKind.MERCHANDISE, 800, 200, 1, ["oa", "mini"], "茶小满 × 插画师联名，限量 200 个"),
]  # fmt: skip
# what the demo's members take in the app (the seed: free shipping there); in WeChat they
# take the limited co-branded bag, once, then a coupon
APP_CHOICES = ["App 包邮券", "App 包邮券", "10 元无门槛券", "满 199 减 30 券"]
APP_SHARE = Decimal("0.8")  # the seed: "80% of points are consumed in the app"


def _membership() -> None:
    """The seed's membership: points expire at the end of the next year, three tiers by the
    points of the last 12 months, double points over the latest 双11, and a reward shelf
    that differs by channel."""
    MembershipSettings.objects.get_or_create(
        pk=1,
        defaults={
            "expiry_policy": ExpiryPolicy.END_OF_NEXT_YEAR,
            "reminder_days": 30,
            "tier_basis": TierBasis.POINTS,
            "tier_window_months": 12,
        },
    )
    for code, name, threshold, multiplier, benefits, color in TIERS:
        MemberTier.objects.get_or_create(
            code=code,
            defaults={"name": name, "threshold": threshold, "earn_multiplier": multiplier,
                      "benefits": "\n".join(benefits), "color": color},
        )  # fmt: skip
    # the latest 双11 that has begun, so that the six months of orders cross it
    today = timezone.localdate()
    year = today.year if today >= date(today.year, 11, 1) else today.year - 1
    PointsPromotion.objects.get_or_create(
        name=f"{year} 双11 双倍积分",
        defaults={"multiplier": 2, "starts_at": timezone.make_aware(datetime(year, 11, 1)),
                  "ends_at": timezone.make_aware(datetime(year, 11, 13))},
    )  # fmt: skip
    accounts = {a.code: a for a in ChannelAccount.objects.all()}
    for name, kind, points, stock, limit, codes, description in REWARDS:
        item, created = RewardItem.objects.get_or_create(
            name=name,
            defaults={"kind": kind, "points_price": points, "stock": stock,
                      "per_customer_limit": limit, "description": description},
        )  # fmt: skip
        if created and codes:
            item.channel_accounts.set([accounts[c] for c in codes if c in accounts])


def _legacy_points(people: list[Person], seed: int, today: date) -> None:
    """Balances carried over from the brand's old member system when Quanyu took over, lot
    by lot with their original dates: lots from two years ago expired at the end of last
    year, as the policy says (the six months of orders alone would expire nothing yet).

    Written with bulk_create, then balances, expiring points and tiers refreshed set-wise
    (the product earns one entry at a time; a few thousand would double the seed time).
    """
    rng = random.Random(f"{seed}:legacy")
    owners = _owners(people)
    opened = today - timedelta(days=DAYS)
    before = (opened - timedelta(days=300), opened - timedelta(days=1))
    two_years_ago = (date(today.year - 2, 1, 1), date(today.year - 2, 12, 31))
    lots = []
    for person in people:
        if rng.random() >= 0.4 or person.index not in owners:
            continue
        dates = [(_when(rng, *before), 5.0)]
        if rng.random() < 0.6:
            dates.append((_when(rng, *two_years_ago), 4.6))
        for number, (at, mu) in enumerate(dates):  # medians of about 150 and 100 points
            points = Decimal(max(10, round(rng.lognormvariate(mu, 0.8))))
            lots.append(
                PointsEntry(
                    customer_id=owners[person.index][0], kind=PointsKind.EARN, points=points,
                    remaining=points, occurred_at=at, expires_at=expiry_for(at),
                    reason="老会员系统积分迁移", actor_label="demo",
                    idempotency_key=f"demo:{seed}:legacy:{person.index}:{number}",
                )
            )  # fmt: skip
    PointsEntry.objects.bulk_create(lots, batch_size=1000, ignore_conflicts=True)
    customer_ids = {lot.customer_id for lot in lots}
    points_balances_refresh(customer_ids=customer_ids)
    points_expiring_refresh(customer_ids=customer_ids)
    tiers_refresh(customer_ids=customer_ids)


def _redemptions(people: list[Person], seed: int) -> None:
    """A year of redemptions, in time order, by members who held the points at the time.

    Each member's lots are spent as the ledger spends them (soonest to expire first), so no
    redemption uses points earned after it, and lots past their date are expired in step.
    App users redeem in the app; a WeChat redemption happens only while the app keeps the
    seed's 80% of redeemed points. A few bags wait to ship; two coupons were cancelled.
    """
    rng = random.Random(f"{seed}:redemptions")
    now = timezone.now()
    wallets: dict[int, list[list]] = {}
    for customer_id, *lot in (
        PointsEntry.objects.filter(kind=PointsKind.EARN).order_by("expires_at", "id")
        .values_list("customer_id", "occurred_at", "expires_at", "points")
    ):  # fmt: skip
        wallets.setdefault(customer_id, []).append(lot)
    items = {item.name: item for item in RewardItem.objects.all()}
    accounts = {a.code: a for a in ChannelAccount.objects.all()}
    expiries = sorted(
        set(PointsEntry.objects.filter(remaining__gt=0, expires_at__lte=now)
            .values_list("expires_at", flat=True))
    )  # fmt: skip
    in_app, in_all = Decimal(0), Decimal(0)
    made, bags = [], set()
    attempts = _redemption_attempts(people, wallets, rng, now)
    for number, (at, customer_id, where) in enumerate(attempts):
        # members with both redeem in the app mostly; `where` ends with their WeChat account
        channel = where[0] if where[0] == "app" and rng.random() < 0.85 else where[-1]
        if channel == "app":
            item = items[rng.choice(APP_CHOICES)]
        else:
            item = items[BAG if customer_id not in bags else "10 元无门槛券"]
            if in_app < APP_SHARE * (in_all + item.points_price):
                continue
        if not _spend(wallets[customer_id], at, item.points_price):
            continue
        while expiries and expiries[0] < at:
            points_expire(now=expiries.pop(0))
        try:
            result = redemption_create(
                customer=Customer(pk=customer_id), item=item, channel_account=accounts[channel],
                idempotency_key=f"demo:{seed}:redeem:{number}", actor_label="demo",
            )  # fmt: skip
        except (PointsShort, RedemptionRefused):
            continue
        in_all += item.points_price
        in_app += item.points_price if channel == "app" else 0
        bags.update([customer_id] if item.name == BAG else [])
        if result.created:
            # demo only: the service stamps the moment it runs; these happened over the year
            PointsEntry.objects.filter(pk=result.redemption.entry_id).update(occurred_at=at)
            Redemption.objects.filter(pk=result.redemption.pk).update(created_at=at, updated_at=at)
            made.append(result.redemption)
    _redemptions_settle(made)


def _redemption_attempts(people: list[Person], wallets: dict, rng, now) -> list[tuple]:
    """(when, customer, channel codes) for half the members on the app or WeChat who have
    points: one to five tries each over the last 12 months, in time order."""
    owners = _owners(people)
    attempts = []
    for person in people:
        wechat = [c for c in ("mini", "oa") if c in person.channels][:1]
        where = (["app"] if "app" in person.channels else []) + wechat
        customer_id = owners.get(person.index, [None])[0]
        if not where or customer_id not in wallets or rng.random() >= 0.5:
            continue
        for _ in range(rng.randint(1, 5)):
            attempts.append((now - timedelta(days=rng.uniform(1, 365)), customer_id, where))
    return sorted(attempts)


def _spend(lots: list[list], at: datetime, points: Decimal) -> bool:
    """Take `points` from the lots a member held at `at`, soonest to expire first."""
    held = [lot for lot in lots if lot[0] <= at and (lot[1] is None or lot[1] > at) and lot[2]]
    if sum(lot[2] for lot in held) < points:
        return False
    for lot in held:
        taken = min(lot[2], points)
        lot[2] -= taken
        points -= taken
    return True


def _redemptions_settle(made: list[Redemption]) -> None:
    """All but the latest three bags have shipped; the two latest coupons were cancelled."""
    bags = [r for r in made if r.item.kind == RewardKind.MERCHANDISE]
    for redemption in bags[:-3]:
        redemption_fulfil(redemption=redemption, note="已发货")
    coupons = [r for r in made if r.item.kind != RewardKind.MERCHANDISE]
    for redemption in coupons[-2:]:
        redemption_cancel(redemption=redemption, reason="会员联系客服取消，积分退回")


# The seeds' audiences (docs/audiences.md), saved so the console opens on real examples.
DEMO_AUDIENCES = [
    ("价格敏感型", "90 天内用券两次以上", {"event": "coupon_redeem", "within": "90d",
                                          "count": {"gte": 2}}),
    ("品质追求型", "客单价高、很少用券", {"all": [
        {"event": "order_paid", "within": "180d", "avg": {"prop": "amount", "gte": 150}},
        {"not": {"event": "coupon_redeem", "within": "180d", "count": {"gte": 2}}}]}),
    ("高价值客户", "RFM 重要价值/忠诚，或累计消费 ≥ 1000", {"any": [
        {"attr": "rfm_segment", "op": "in", "value": ["champions", "loyal"]},
        {"attr": "total_revenue", "op": "gte", "value": 1000}]}),
    ("沉睡与流失", "生命周期为沉睡或流失", {"attr": "lifecycle", "op": "in",
                                           "value": ["sleeping", "churned"]}),
    ("30 天加购未支付", "加购后 30 天内没有支付", {"all": [
        {"event": "add_to_cart", "within": "30d", "count": {"gte": 1}},
        {"not": {"event": "order_paid", "within": "30d"}}]}),
    ("积分 30 天内到期", "有积分将在 30 天内过期的会员（到期提醒）", {"attr": "points_expiring",
                                                               "op": "gt", "value": 0}),
]  # fmt: skip


def _auto_replies() -> None:
    """The OA's greeting and keyword replies (from the seeds: a new follower gets the
    new-member coupon; "会员" explains the points)."""
    from channels.models import AutoReply
    from channels.services import auto_reply_save

    oa = ChannelAccount.objects.filter(code="oa").first()
    if oa is None or AutoReply.objects.filter(account=oa).exists():
        return
    welcome = "欢迎关注茶小满！新人专享 10 元券已放入小程序「我的」，回复「会员」了解积分。"
    points = ("App 消费每元 1 分，小程序每日签到 0.5 分，门店每 2 元 1.5 分；"
              "积分可在 App 兑换包邮券，公众号限量兑换联名帆布袋。")  # fmt: skip
    auto_reply_save(account=oa, kind="subscribe", reply_text=welcome)
    auto_reply_save(account=oa, kind="keyword", keyword="会员", match="contains",
                    reply_text=points, tags=[_tag("兴趣偏好", "会员权益")])  # fmt: skip
    auto_reply_save(account=oa, kind="default", reply_text="收到！客服会尽快回复您。")


def _audiences_and_rules() -> None:
    from tags.models import Audience, AudienceKind, RuleMode, TagMapping, TagPlatform, TagRule
    from tags.rules import tag_rule_run, tag_rule_save
    from tags.services import audience_save

    for index, (name, description, definition) in enumerate(DEMO_AUDIENCES):
        if not Audience.objects.filter(name=name).exists():
            kind = AudienceKind.SNAPSHOT if index == 3 else AudienceKind.DYNAMIC
            audience_save(name=name, description=description, definition=definition, kind=kind)
    rules = [
        ("高价值客户（每晚同步）", _tag("价值分层", "高价值"), DEMO_AUDIENCES[2][2], RuleMode.SYNC),
        ("加购未支付（只添加）", _tag("价值分层", "加购未支付"), DEMO_AUDIENCES[4][2],
         RuleMode.ADD_ONLY),
    ]  # fmt: skip
    for name, tag, definition, mode in rules:
        rule = TagRule.objects.filter(name=name).first() or tag_rule_save(
            name=name, tag=tag, definition=definition, mode=mode
        )
        tag_rule_run(rule=rule)
    wecom = ChannelAccount.objects.filter(code="wecom").first()
    for number, name in enumerate(["绿茶", "红茶", "花茶"], start=1):
        if wecom and not TagMapping.objects.filter(account=wecom, tag__name=name).exists():
            TagMapping.objects.create(
                tag=_tag("兴趣偏好", name),
                account=wecom,
                platform=TagPlatform.WECOM_CORP_TAG,
                external_id=f"etDEMO000{number}",
                external_name=name,
            )


def _consents(people: list[Person], rng: random.Random) -> None:
    """SMS consent as collected at sign-up; some replied TD to unsubscribe.

    Written with bulk_create (the product records consent one customer at a time)."""
    owners = _owners(people)
    rows = []
    for person in people:
        if person.index not in owners:
            continue
        if rng.random() < 0.08:
            status, source = ConsentStatus.REVOKED, "demo: 回复 TD 退订"
        elif rng.random() < 0.5:
            status, source = ConsentStatus.GRANTED, "demo: 注册时勾选"
        else:
            continue
        rows.append(
            Consent(
                customer_id=owners[person.index][0],
                channel=ConsentChannel.SMS,
                status=status,
                source=source,
            )
        )
    Consent.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


def _summary(*, already_loaded: bool = False) -> DemoSummary:
    from tags.models import CustomerTag

    return DemoSummary(
        customers=Customer.objects.count(),
        identities=Identity.objects.count(),
        merges=MergeLog.objects.count(),
        events=Event.objects.count(),
        orders=Order.objects.count(),
        tagged=CustomerTag.objects.values("customer").distinct().count(),
        already_loaded=already_loaded,
    )
