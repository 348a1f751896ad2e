"""Ready-made SOP journeys from the seeds (the CDP article's automation, the community
marketing SOPs): a template makes a draft journey with its content items, on the brand's
first channel account of each kind it needs; the operator adjusts it in the builder.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.choices import JourneyKind, JourneyTrigger, ReentryPolicy
from campaigns.content import content_save
from campaigns.journeys import journey_save
from campaigns.models import ContentItem, Journey
from channels.choices import ChannelKind
from channels.models import ChannelAccount

OA, WECOM, SMS, MINI = (ChannelKind.WECHAT_OA, ChannelKind.WECOM, ChannelKind.SMS,
                        ChannelKind.WECHAT_MINI)  # fmt: skip


@dataclass
class Template:
    key: str
    name: str
    description: str
    kind: str
    trigger_kind: str
    reentry: str = ReentryPolicy.ONCE
    cooldown_days: int = 30
    goal_event: str = "order_paid"
    trigger: dict = field(default_factory=dict)
    entry_filter: dict | None = None
    steps: list = field(default_factory=list)  # with "content": (name, text, {kind: fields})
    needs: tuple = ()


def wait_day(day: int, at: str, name: str = "") -> dict:
    return {"kind": "wait", "name": name, "config": {"mode": "day_at", "day": day, "time": at}}


def wait_for(name: str = "", **duration) -> dict:
    return {"kind": "wait", "name": name, "config": {"mode": "duration", **duration}}


def send(name: str, text: str, channels: tuple, variants: dict | None = None) -> dict:
    return {"kind": "action", "name": name,
            "config": {"action": "send", "channels": channels},
            "content": (name, text, variants or {})}  # fmt: skip


def task(title: str, body: str, due_hours: int = 24) -> dict:
    return {"kind": "action", "name": title,
            "config": {"action": "staff_task", "title": title, "body": body,
                       "due_hours": due_hours}}  # fmt: skip


def group_message(name: str, text: str) -> dict:
    return {"kind": "action", "name": name, "config": {"action": "group_message"},
            "content": (name, text, {})}  # fmt: skip


TEMPLATES = [
    Template(
        key="oa_follower_137",
        name=gettext_lazy("新关注公众号：第 1/3/7 天培育"),
        description=gettext_lazy(
            "关注后第 1 天送新人礼，第 3 天推荐爆款，第 7 天介绍会员权益；下单即退出"
        ),
        kind=JourneyKind.CUSTOMER,
        trigger_kind=JourneyTrigger.FOLLOWED,
        needs=(OA,),
        steps=[
            wait_day(1, "10:00", gettext_lazy("第 1 天 10:00")),
            send(
                gettext_lazy("第 1 天：新人礼"),
                "{{ name }}，欢迎关注！新人礼包已放入你的账户，点菜单「会员中心」领取。",
                (OA, SMS),
                {OA: {"template_id": "TM_WELCOME", "data": {"first": "{{ name }}，欢迎关注"}}},
            ),
            wait_day(3, "10:00", gettext_lazy("第 3 天 10:00")),
            send(
                gettext_lazy("第 3 天：爆款推荐"),
                "{{ name }}，本周人气 TOP3 已为你备好，新人价限时 3 天。",
                (OA, SMS),
                {OA: {"template_id": "TM_PICKS", "data": {"first": "本周人气 TOP3"}}},
            ),
            wait_day(7, "10:00", gettext_lazy("第 7 天 10:00")),
            send(
                gettext_lazy("第 7 天：会员权益"),
                "{{ name }}，你现在是{{ tier }}会员，积分 {{ points }}，下单还能多攒积分。",
                (OA, SMS),
                {OA: {"template_id": "TM_MEMBER", "data": {"first": "会员权益提醒"}}},
            ),
        ],
    ),
    Template(
        key="wecom_new_contact",
        name=gettext_lazy("企微新好友 SOP（员工任务）"),
        description=gettext_lazy(
            "通过活码添加后：当天员工发欢迎与新人礼，次日了解需求，第 3 天邀请进群，"
            "第 7 天未下单则一对一跟进"
        ),
        kind=JourneyKind.CUSTOMER,
        trigger_kind=JourneyTrigger.LIVE_CODE,
        needs=(WECOM,),
        steps=[
            task(
                gettext_lazy("添加当天：发送新人礼"),
                "您好 {{ name }}，我是您的专属顾问，新人礼已为您备好～",
                4,
            ),
            wait_day(1, "10:00", gettext_lazy("次日 10:00")),
            task(
                gettext_lazy("次日：了解需求并推荐"),
                "{{ name }}，方便说说平时喜欢的口味吗？我帮您挑几款。",
            ),
            wait_day(3, "20:00", gettext_lazy("第 3 天 20:00")),
            send(
                gettext_lazy("第 3 天：邀请进群"),
                "{{ name }}，会员福利群每周三有秒杀，回复「进群」拉你进来～",
                (WECOM,),
            ),
            wait_day(7, "10:00", gettext_lazy("第 7 天 10:00")),
            {
                "kind": "condition",
                "name": gettext_lazy("7 天内还没下单？"),
                "config": {
                    "definition": {"not": {"event": "order_paid", "within": "7d"}},
                    "no": "end",
                },
            },  # fmt: skip
            task(
                gettext_lazy("第 7 天：一对一跟进并发券"),
                "{{ name }}，给您申请了一张专属券，今天下单可用。",
            ),
        ],
    ),
    Template(
        key="group_sop",
        name=gettext_lazy("客户群 SOP：新群第 0/1/3 天"),
        description=gettext_lazy(
            "新建客户群后按时群发：当晚群规与欢迎，次日午间新品试饮，第 3 天秒杀预告"
        ),
        kind=JourneyKind.GROUP,
        trigger_kind=JourneyTrigger.GROUP_CHAT,
        reentry=ReentryPolicy.ONCE,
        goal_event="",
        needs=(WECOM,),
        steps=[
            wait_day(0, "20:00", gettext_lazy("当天 20:00")),
            group_message(
                gettext_lazy("群规与欢迎"),
                "欢迎加入会员福利群！群规：不发广告；每周三 20:00 秒杀，群内专享。",
            ),
            wait_day(1, "12:00", gettext_lazy("次日 12:00")),
            group_message(gettext_lazy("新品试饮"), "新品试饮开始报名，前 20 位免费寄送～"),
            wait_day(3, "20:00", gettext_lazy("第 3 天 20:00")),
            group_message(gettext_lazy("秒杀预告"), "明晚 20:00 群内秒杀，提前设好提醒！"),
        ],
    ),
    Template(
        key="cart_abandonment",
        name=gettext_lazy("加购未支付挽回"),
        description=gettext_lazy("加购 30 分钟未支付发提醒，次日再提醒一次；支付即退出"),
        kind=JourneyKind.CUSTOMER,
        trigger_kind=JourneyTrigger.EVENT,
        trigger={"event": "add_to_cart"},
        reentry=ReentryPolicy.COOLDOWN,
        cooldown_days=1,
        needs=(),
        steps=[
            wait_for(gettext_lazy("等待 30 分钟"), minutes=30),
            send(
                gettext_lazy("购物车提醒"),
                "{{ name }}，你加购的商品库存不多了，今天下单送 5 元券。",
                (WECOM, OA, SMS),
            ),
            wait_for(gettext_lazy("等待 1 天"), days=1),
            send(
                gettext_lazy("最后提醒"),
                "{{ name }}，购物车优惠券今晚 24 点到期。",
                (WECOM, OA, SMS),
            ),
        ],
    ),
    Template(
        key="win_back",
        name=gettext_lazy("沉睡客户召回"),
        description=gettext_lazy(
            "进入“沉睡”后发回归券；3 天没回来加赠积分；7 天仍未下单打上召回失败标签"
        ),
        kind=JourneyKind.CUSTOMER,
        trigger_kind=JourneyTrigger.ENTERED_AUDIENCE,
        reentry=ReentryPolicy.COOLDOWN,
        cooldown_days=90,
        needs=(),
        steps=[
            send(
                gettext_lazy("回归券"),
                "{{ name }}，好久不见！送你一张 20 元回归券，7 天有效。",
                (WECOM, OA, SMS),
            ),
            wait_for(gettext_lazy("等待 3 天"), days=3),
            {
                "kind": "action",
                "name": gettext_lazy("加赠 100 积分"),
                "config": {"action": "points", "points": 100, "reason": "沉睡召回"},
            },  # fmt: skip
            send(
                gettext_lazy("积分到账提醒"),
                "{{ name }}，100 积分已到账，当前积分 {{ points }}。",
                (WECOM, OA, SMS),
            ),
            wait_for(gettext_lazy("等待 7 天"), days=7),
            {
                "kind": "action",
                "name": gettext_lazy("标记召回失败"),
                "config": {"action": "tag_add", "tag_name": "召回失败"},
            },  # fmt: skip
        ],
    ),
    Template(
        key="birthday",
        name=gettext_lazy("生日关怀"),
        description=gettext_lazy("生日前 3 天送券和 200 生日积分，生日当天 9 点送祝福"),
        kind=JourneyKind.CUSTOMER,
        trigger_kind=JourneyTrigger.BIRTHDAY,
        trigger={"days_before": 3},
        goal_event="",
        reentry=ReentryPolicy.AFTER_EXIT,
        needs=(),
        steps=[
            send(
                gettext_lazy("生日券"),
                "{{ name }}，生日快乐提前说！生日券已放入账户。",
                (WECOM, OA, SMS),
            ),
            {
                "kind": "action",
                "name": gettext_lazy("生日积分"),
                "config": {"action": "points", "points": 200, "reason": "生日积分"},
            },  # fmt: skip
            wait_day(3, "09:00", gettext_lazy("生日当天 9:00")),
            send(
                gettext_lazy("生日祝福"),
                "{{ name }}，生日快乐！今天下单双倍积分。",
                (WECOM, OA, SMS),
            ),
        ],
    ),
]
TEMPLATE_BY_KEY = {t.key: t for t in TEMPLATES}


def _accounts() -> dict[str, ChannelAccount]:
    first: dict[str, ChannelAccount] = {}
    for account in ChannelAccount.objects.order_by("id"):
        first.setdefault(account.kind, account)
    return first


def template_missing(template: Template) -> list[str]:
    """The channel kinds the template needs that the brand has no account of."""
    accounts = _accounts()
    return [str(ChannelKind(kind).label) for kind in template.needs if kind not in accounts]


@transaction.atomic
def journey_from_template(*, key: str, user=None) -> Journey:
    """A draft journey from a template, its messages saved as content items."""
    from django.core.exceptions import ValidationError

    from tags.services import tag_lookup

    template = TEMPLATE_BY_KEY.get(key)
    if template is None:
        raise ValidationError(_("没有这个模板"))
    missing = template_missing(template)
    if missing:
        raise ValidationError(_("需要先接入：%(kinds)s") % {"kinds": "、".join(missing)})
    accounts = _accounts()
    steps = []
    for raw in template.steps:
        step = {"kind": raw["kind"], "name": str(raw.get("name", "")),
                "config": dict(raw["config"])}  # fmt: skip
        config = step["config"]
        if "content" in raw:
            name, text, variants = raw["content"]
            item = ContentItem(name=f"{template.name} · {name}", core_text=text, created_by=user)
            content_save(content=item, variants=dict(variants), user=user)
            config["content"] = item.pk
        if "channels" in config:
            config["channels"] = [accounts[k].pk for k in config["channels"] if k in accounts]
            if not config["channels"]:
                config["channels"] = [a.pk for k, a in accounts.items()
                                      if k in (WECOM, OA, SMS, MINI)][:1]  # fmt: skip
        if config.get("action") == "tag_add" and "tag_name" in config:
            config["tags"] = [tag_lookup(config.pop("tag_name"), create_missing=True).pk]
        steps.append(step)
    trigger = dict(template.trigger)
    if template.trigger_kind == JourneyTrigger.FOLLOWED:
        trigger["channel"] = accounts[OA].pk
    elif template.trigger_kind == JourneyTrigger.GROUP_CHAT:
        trigger.update(channel=accounts[WECOM].pk, group_chats=[], new_groups=True)
    elif template.trigger_kind == JourneyTrigger.ENTERED_AUDIENCE:
        trigger["audience"] = _sleeping_audience(user).pk
    return journey_save(
        journey=Journey(template=template.key),
        steps=steps,
        user=user,
        name=str(template.name),
        description=str(template.description),
        kind=template.kind,
        trigger_kind=template.trigger_kind,
        trigger=trigger,
        entry_filter=template.entry_filter,
        reentry=template.reentry,
        cooldown_days=template.cooldown_days,
        goal_event=template.goal_event,
    )


def _sleeping_audience(user):
    from tags.models import Audience
    from tags.services import audience_save

    definition = {"attr": "lifecycle", "op": "eq", "value": "sleeping"}
    found = Audience.objects.filter(definition=definition).first()
    if found:
        return found
    name = _("沉睡客户")
    if Audience.objects.filter(name=name).exists():
        name = _("沉睡客户（召回旅程）")
    return audience_save(name=name, definition=definition, actor=user)
