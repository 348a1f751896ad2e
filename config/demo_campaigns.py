"""The demo brand's marketing: three campaigns from the seeds with goals, budgets and spend;
content in the library; pushes already sent over the last months (their deliveries and
clicks written as history, so results, attribution and A/B read as they would after real
sends); SOP journeys from every template, four of them running; the seed's real-time trigger.

Nothing here calls a platform: the demo is loaded before the sandbox platform starts.
"""

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from campaigns.choices import (
    AbMetric,
    CampaignStatus,
    DeliveryStatus,
    GoalMetric,
    PushStatus,
    RunStatus,
    ScheduleKind,
    SkipReason,
)
from campaigns.content import content_save
from campaigns.delivery import CHANNEL_IDENTITY
from campaigns.journey_templates import TEMPLATES, journey_from_template
from campaigns.journeys import journey_activate
from campaigns.models import (
    Campaign,
    CampaignGoal,
    ContentItem,
    Delivery,
    Journey,
    LinkClick,
    Push,
    PushChannel,
    PushRun,
    PushVariant,
    SpendEntry,
    TrackingLink,
    TriggerRule,
)
from campaigns.triggers import trigger_rule_save
from channels.models import ChannelAccount
from customers.models import Identity
from tags.models import Audience

RUNNING_TEMPLATES = ("oa_follower_137", "wecom_new_contact", "cart_abandonment", "birthday")

# name, objective, status, days ago it started / ended, budget, utm, goals, spend per channel
CAMPAIGNS = [
    ("春茶上新", "新品春茶上市：老客复购、公众号与企微触达，目标一个月 8,000 元归因销售额",
     CampaignStatus.ACTIVE, 40, -20, 5000, "spring-tea",
     [(GoalMetric.REVENUE, 8000), (GoalMetric.ORDERS, 60), (GoalMetric.ROI, 1)],
     {"oa": 600, "wecom": 900, "sms": 500, "douyin": 1200}),
    ("双11 会员日", "双倍积分 + 会员券，拉动高价值会员下单", CampaignStatus.FINISHED, 150, 120,
     8000, "double11",
     [(GoalMetric.REVENUE, 10000), (GoalMetric.REACH, 3000)],
     {"oa": 500, "wecom": 900, "sms": 800, "app": 600, "tmall": 1500}),
    ("沉睡客户唤醒", "给沉睡与流失客户发回归券，争取 15% 回购", CampaignStatus.ACTIVE, 25, -35,
     4000, "win-back", [(GoalMetric.ORDERS, 80), (GoalMetric.CLICKS, 150)],
     {"sms": 2000, "wecom": 800}),
]  # fmt: skip

# campaign utm, push name, content (name, core text, variants), channel codes, audience name,
# days ago sent, recipients, A/B variant text or None
PUSHES = [
    ("spring-tea", "春茶上新 · 老客首发", ("春茶上新首发",
     "{{ name }}，明前龙井到店，会员价 8 折，积分 {{ points }} 可抵现",
     {"sms": {"text": "{{ name }}，明前龙井上新，会员 8 折，回 TD 退订"}}),
     ("wecom", "oa", "sms"), "高价值客户", 35, 1200, "{{ name }}，今年第一批明前龙井，限量 500 罐"),
    ("spring-tea", "春茶上新 · 短信二次提醒", ("春茶二次提醒",
     "{{ name }}，明前龙井会员 8 折最后 3 天",
     {"sms": {"text": "{{ name }}，明前龙井 8 折最后 3 天，回 TD 退订"}}),
     ("sms",), "高价值客户", 32, 900, None),
    ("spring-tea", "春茶上新 · 公众号推文", ("春茶推文", "春茶品鉴会开放报名，点击了解",
     {}), ("oa",), "品质追求型", 22, 900, None),
    ("double11", "双11 会员日预热", ("双11 预热",
     "{{ name }}，双11 会员日双倍积分，{{ tier }}专享券已到账",
     {"sms": {"text": "{{ name }}，双11 双倍积分，专享券已到账，回 TD 退订"}}),
     ("app", "wecom", "sms"), "价格敏感型", 135, 1500, None),
    ("win-back", "沉睡客户回归券", ("回归券", "{{ name }}，好久不见，20 元回归券 7 天有效",
     {"sms": {"text": "{{ name }}，好久不见！20 元回归券 7 天有效，回 TD 退订"}}),
     ("sms",), "沉睡与流失", 20, 1000, None),
]  # fmt: skip


def demo_campaigns_load(*, seed: int = 42) -> None:
    """Load the demo's campaigns, pushes, journeys and trigger (once)."""
    if Campaign.objects.filter(utm_code="spring-tea").exists():
        return
    rng = random.Random(f"{seed}:campaigns")
    today = timezone.localdate()
    accounts = {a.code: a for a in ChannelAccount.objects.all()}
    campaigns = {}
    for name, objective, status, started, ended, budget, utm, goals, spend in CAMPAIGNS:
        campaign = Campaign.objects.create(
            name=name, objective=objective, status=status, budget=Decimal(budget), utm_code=utm,
            starts_on=today - timedelta(days=started), ends_on=today - timedelta(days=ended),
        )  # fmt: skip
        for metric, target in goals:
            CampaignGoal.objects.create(campaign=campaign, metric=metric, target=Decimal(target),
                                        deadline=campaign.ends_on)  # fmt: skip
        _spend(campaign, spend, accounts, today, rng)
        campaigns[utm] = campaign
    for row in PUSHES:
        _push(row, campaigns, accounts, today, rng)
    _journeys()
    _trigger(accounts)


def _spend(campaign, spend: dict, accounts, today: date, rng) -> None:
    days = max(1, (min(campaign.ends_on, today) - campaign.starts_on).days)
    for code, total in spend.items():
        parts = 4
        for part in range(parts):
            day = campaign.starts_on + timedelta(days=days * part // parts)
            amount = Decimal(total) / parts * Decimal(str(rng.uniform(0.8, 1.2)))
            SpendEntry.objects.create(
                campaign=campaign, channel_account=accounts.get(code), spent_on=day,
                amount=amount.quantize(Decimal("0.01")), note="演示",
            )  # fmt: skip


def _reachable(account, limit: int, rng) -> list[tuple[int, str]]:
    kind, scoped = CHANNEL_IDENTITY[account.kind]
    rows = list(
        Identity.objects.filter(kind=kind, scope=account.code if scoped else "")
        .order_by("customer_id")
        .values_list("customer_id", "value")
    )
    seen, unique = set(), []
    for customer_id, value in rows:
        if customer_id not in seen:
            seen.add(customer_id)
            unique.append((customer_id, value))
    rng.shuffle(unique)
    return unique[:limit]


def _push(row, campaigns, accounts, today: date, rng) -> None:
    utm, name, (content_name, core, variants), codes, audience_name, ago, size, ab_text = row
    campaign = campaigns[utm]
    content = content_save(content=ContentItem(name=content_name, core_text=core),
                           variants=variants)  # fmt: skip
    audience = Audience.objects.filter(name=audience_name).first() or Audience.objects.first()
    sent_day = today - timedelta(days=ago)
    at = timezone.make_aware(datetime.combine(sent_day, time(10, 0)))
    push = Push.objects.create(
        name=name, campaign=campaign, audience=audience, content=content,
        status=PushStatus.DONE, schedule_kind=ScheduleKind.AT, send_at=at,
        ab_metric=AbMetric.CLICK_RATE if ab_text else "", ab_test_percent=100,
    )  # fmt: skip
    channel_accounts = [accounts[c] for c in codes if c in accounts]
    for position, account in enumerate(channel_accounts):
        PushChannel.objects.create(push=push, channel_account=account, position=position)
    variants_made = []
    if ab_text:
        other = content_save(content=ContentItem(name=f"{content_name}（B）", core_text=ab_text),
                             variants={})  # fmt: skip
        variants_made = [
            PushVariant.objects.create(push=push, label="A", content=content, share=50),
            PushVariant.objects.create(push=push, label="B", content=other, share=50),
        ]
    run = PushRun.objects.create(push=push, status=RunStatus.DONE, scheduled_for=at)
    PushRun.objects.filter(pk=run.pk).update(started_at=at, finished_at=at + timedelta(hours=1))
    link = TrackingLink.objects.create(
        code=f"{utm[:8]}{push.pk}", url="https://shop.example.com/spring", campaign=campaign,
        push=push,
    )  # fmt: skip
    deliveries, taken = [], set()
    for account in channel_accounts:
        for customer_id, recipient in _reachable(account, size // len(channel_accounts), rng):
            if customer_id in taken:
                continue
            taken.add(customer_id)
            roll = rng.random()
            variant = variants_made[customer_id % 2] if variants_made else None
            if roll < 0.9:
                status, reason = DeliveryStatus.SENT, ""
            elif roll < 0.95:
                status, reason = DeliveryStatus.SKIPPED, SkipReason.FREQUENCY_CAP
            else:
                status, reason = DeliveryStatus.FAILED, ""
            sent_at = at + timedelta(seconds=rng.randint(0, 3000))
            deliveries.append(Delivery(
                run=run, customer_id=customer_id, channel_account=account, variant=variant,
                recipient=recipient, status=status, skip_reason=reason,
                sent_at=sent_at if status == DeliveryStatus.SENT else None,
                claimed_at=sent_at, error="演示：平台返回失败" if status == "failed" else "",
            ))  # fmt: skip
    Delivery.objects.bulk_create(deliveries, batch_size=2000)
    PushRun.objects.filter(pk=run.pk).update(planned=len(deliveries))
    Push.objects.filter(pk=push.pk).update(estimated_reach=len(deliveries))
    clicks = []
    for delivery in Delivery.objects.filter(run=run, status=DeliveryStatus.SENT):
        rate = 0.16 if delivery.variant and delivery.variant.label == "B" else 0.11
        if rng.random() < rate:
            clicks.append(LinkClick(link=link, delivery=delivery, customer_id=delivery.customer_id))
    made = LinkClick.objects.bulk_create(clicks, batch_size=2000)
    for click in made:  # clicked within a day of the send
        click.clicked_at = at + timedelta(minutes=rng.randint(5, 24 * 60))
    LinkClick.objects.bulk_update(made, ["clicked_at"], batch_size=2000)


def _journeys() -> None:
    for template in TEMPLATES:
        if Journey.objects.filter(template=template.key).exists():
            continue
        journey = journey_from_template(key=template.key)
        if template.key in RUNNING_TEMPLATES:
            journey_activate(journey=journey)


def _trigger(accounts) -> None:
    if TriggerRule.objects.exists() or "sms" not in accounts:
        return
    coupon = content_save(
        content=ContentItem(name="加购未支付 · 5 元券",
                            core_text="{{ name }}，购物车里的好茶还在，5 元券 2 小时内有效"),
        variants={"sms": {"text": "{{ name }}，购物车好茶还在，5 元券 2 小时内有效，回 TD 退订"}},
    )  # fmt: skip
    channels = [accounts[c].pk for c in ("wecom", "oa", "sms") if c in accounts]
    trigger_rule_save(
        rule=TriggerRule(), name="加购 30 分钟未支付 · 常购客发券", event_a="add_to_cart",
        event_b="order_paid", within_minutes=30,
        condition={"attr": "total_orders", "op": "gte", "value": 3},
        action={"action": "send", "content": coupon.pk, "channels": channels},
    )  # fmt: skip
