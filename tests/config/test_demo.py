"""seed_demo: a plausible, deterministic, idempotent demo brand built through ingestion."""

from collections import defaultdict
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import Count, Sum

from channels.models import ChannelAccount
from config.demo import BAG, demo_load
from customers.membership import redemption_create, reward_items_for
from customers.models import (
    Customer,
    Event,
    Identity,
    MergeLog,
    Order,
    PointsEarnRule,
    PointsEntry,
    PointsEventRule,
    Redemption,
    RewardItem,
    ValueCluster,
)
from tags.models import Audience, CustomerTag, TagRule

pytestmark = pytest.mark.django_db(transaction=True)


def identity_set():
    return set(Identity.objects.values_list("kind", "scope", "value"))


def test_demo_is_plausible_and_idempotent():
    out = StringIO()
    call_command("seed_demo", customers=150, seed=7, stdout=out)
    assert "merges" in out.getvalue()
    assert_platform_accounts()
    customers = Customer.objects.count()
    assert 150 <= customers <= 150 * 2  # unlinked fragments exist, as in real data
    assert not Customer.objects.annotate(n=Count("identities")).filter(n=0).exists()
    assert MergeLog.objects.exists()
    survivors = Customer.objects.filter(pk__in=MergeLog.objects.values("survivor_id_value"))
    for merged in survivors:  # a merge joins what two channels knew of one person
        assert len(set(merged.identities.values_list("kind", flat=True))) >= 2
    assert MergeLog.objects.count() >= customers * 0.01
    events = Event.objects.count()
    assert events > customers * 5
    online = Event.objects.exclude(channel_account__code="store")  # shops sell without a cart
    names = dict(online.values_list("name").annotate(n=Count("id")))
    assert names["view_product"] > names["add_to_cart"] > names["checkout"] > names["order_paid"]
    assert Order.objects.filter(status="refunded").exists() and Order.objects.count() > 20
    assert CustomerTag.objects.filter(tag__group__name="兴趣偏好").exists()
    assert Customer.objects.exclude(rfm_segment="prospects").exists()
    assert Customer.objects.filter(lifecycle="active").exists()
    assert Customer.objects.exclude(name="").count() == customers
    assert Customer.objects.filter(consents__status="revoked").exists()  # replied TD to SMS
    assert not Customer.objects.filter(lifecycle="").exists()
    assert_membership()
    audiences = set(Audience.objects.values_list("name", flat=True))
    assert audiences >= {"高价值客户", "沉睡与流失", "积分 30 天内到期"}
    assert TagRule.objects.filter(runs__status="done").count() == 2
    assert ValueCluster.objects.exists()
    assert_marketing()

    before = (identity_set(), events, Order.objects.count(), CustomerTag.objects.count(),
              PointsEntry.objects.count(), Redemption.objects.count())  # fmt: skip
    again = StringIO()
    call_command("seed_demo", customers=150, seed=7, stdout=again)
    assert "already loaded" in again.getvalue()
    after = (identity_set(), Event.objects.count(), Order.objects.count(),
             CustomerTag.objects.count(), PointsEntry.objects.count(),
             Redemption.objects.count())  # fmt: skip
    assert after == before


def assert_marketing():
    """Campaigns with goals and spend, pushes sent as history (clicks, an A/B), journeys from
    every template with four running, the seed's cart trigger."""
    from campaigns.choices import JourneyStatus
    from campaigns.journey_templates import TEMPLATES
    from campaigns.models import Campaign, Delivery, Journey, LinkClick, Push, TriggerRule
    from campaigns.pushes import ab_result
    from campaigns.results import campaign_results

    assert Campaign.objects.count() == 3
    spring = Campaign.objects.get(utm_code="spring-tea")
    assert spring.goals.count() == 3 and spring.spend.exists()
    assert Delivery.objects.filter(status="sent").count() > 50
    assert LinkClick.objects.exists()
    results = campaign_results(campaign=spring)
    assert results is not None
    ab_push = Push.objects.filter(variants__isnull=False).distinct().get()
    assert {row["variant"].label for row in ab_result(ab_push)["variants"]} == {"A", "B"}
    assert Journey.objects.count() == len(TEMPLATES)
    assert Journey.objects.filter(status=JourneyStatus.ACTIVE).count() == 4
    assert TriggerRule.objects.get().event_a == "add_to_cart"


def assert_membership():
    """The seed's omnichannel points (移动电商多渠道整合), as the demo left them."""
    rules = PointsEarnRule.objects.values_list("channel_account__code", "points_per_yuan")
    assert set(rules) == {("app", 1), ("store", Decimal("0.75"))}  # 1.5 points per 2 yuan
    assert PointsEventRule.objects.filter(event_name="sign_in", channel_account__code="mini",
                                          points=Decimal("0.5")).exists()  # fmt: skip
    earned = PointsEntry.objects.filter(kind="earn")
    channels = set(earned.values_list("channel_account__code", flat=True))
    assert channels == {"app", "store", "mini", None}  # None: migrated from the old system
    # shelves differ by channel: free shipping in the app, the co-branded bag in WeChat
    accounts = {a.code: a for a in ChannelAccount.objects.all()}
    shipping, bag = RewardItem.objects.get(name="App 包邮券"), RewardItem.objects.get(name=BAG)
    assert shipping in reward_items_for(accounts["app"]) and bag not in reward_items_for(
        accounts["app"]
    )
    for code in ("oa", "mini"):
        shelf = reward_items_for(accounts[code])
        assert bag in shelf and shipping not in shelf
    redeemed = Redemption.objects.values_list("item__name", "channel_account__code")
    assert {code for name, code in redeemed if name == shipping.name} == {"app"}
    assert {code for name, code in redeemed if name == BAG} <= {"oa", "mini"}
    member = Customer.objects.filter(points_balance__gt=0).first()
    for item, code in ((bag, "app"), (shipping, "mini")):
        with pytest.raises(ValidationError, match="只能在这些渠道兑换"):
            redemption_create(customer=member, item=item, channel_account=accounts[code],
                              idempotency_key=f"test:{item.pk}:{code}")  # fmt: skip
    # the app takes the large majority of redeemed points (the seed says 80%)
    live = Redemption.objects.exclude(status="cancelled")
    total = live.aggregate(s=Sum("points"))["s"]
    in_app = live.filter(channel_account__code="app").aggregate(s=Sum("points"))["s"]
    assert total and in_app >= Decimal("0.7") * total
    assert Redemption.objects.filter(status="cancelled").exists()
    # lots from two years ago expired; tiers were graded and the change recorded
    assert PointsEntry.objects.filter(kind="expire").exists()
    assert Customer.objects.exclude(tier="").exists()
    assert Event.objects.filter(name="tier_changed").exists()
    # every balance is the sum of its ledger, and of what is left of its lots
    ledger, lots = defaultdict(Decimal), defaultdict(Decimal)
    for customer_id, points, remaining in PointsEntry.objects.values_list(
        "customer_id", "points", "remaining"
    ):
        ledger[customer_id] += points
        lots[customer_id] += remaining
    for pk, balance in Customer.objects.values_list("pk", "points_balance"):
        assert balance == ledger[pk] == lots[pk], pk


def test_same_seed_gives_the_same_people():
    demo_load(seed=3, customers=40)
    first = identity_set()
    names = set(Customer.objects.values_list("name", flat=True))
    for model in (Event, Order, CustomerTag, Identity, MergeLog, Customer):
        model.objects.all().delete()
    from common.models import AuditLog

    AuditLog.objects.all().delete()
    demo_load(seed=3, customers=40)
    assert identity_set() == first
    assert set(Customer.objects.values_list("name", flat=True)) == names
    demo_load(seed=4, customers=40)  # another seed adds other people
    assert len(identity_set()) > len(first)


def test_demo_uses_the_accounts_that_exist_already(channels):
    demo_load(seed=1, customers=30)
    codes = list(ChannelAccount.objects.values_list("code", flat=True))
    assert sorted(codes) == sorted({*channels, "sms", "store"})
    assert ChannelAccount.objects.get(code="oa").name == channels["oa"].name


def assert_platform_accounts():
    """The platform accounts run against the sandbox, their secrets encrypted at rest, and
    the OA greets followers and answers the "会员" keyword."""
    from django.db import connection

    from channels.models import AutoReply, ChannelAccount

    oa = ChannelAccount.objects.get(code="oa")
    assert oa.sandbox and oa.secret and len(oa.aes_key) == 43
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM channels_channelaccount WHERE code = 'oa'")
        assert oa.secret not in cursor.fetchone()[0]
    kinds = set(AutoReply.objects.filter(account=oa).values_list("kind", flat=True))
    assert kinds == {"subscribe", "keyword", "default"}
    assert not ChannelAccount.objects.get(code="tmall").sandbox  # stores import, no platform
