"""Campaign results on a small hand-made dataset, and spend import."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignGoal,
    ContentItem,
    Delivery,
    LinkClick,
    Push,
    PushRun,
    SpendEntry,
)
from campaigns.results import (
    SpendImportError,
    attributed_orders,
    campaign_results,
    spend_by_channel,
    spend_import,
)
from campaigns.tracking import tracking_link_create
from customers.models import Order
from tags.models import Audience
from tests.conftest import resolve

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=30)


def make_run(campaign: Campaign, name: str) -> PushRun:
    """A push of the campaign with one run (deliveries are added by hand below)."""
    audience, _ = Audience.objects.get_or_create(name="全部客户")
    content, _ = ContentItem.objects.get_or_create(name="内容", core_text="你好")
    push = Push.objects.create(name=name, campaign=campaign, audience=audience, content=content)
    return PushRun.objects.create(push=push)


def deliver(run, customer, account, at, status="sent") -> Delivery:
    sent_at = at if status == "sent" else None
    return Delivery.objects.create(run=run, customer=customer, channel_account=account,
                                   status=status, sent_at=sent_at)  # fmt: skip


def order(customer, account, at, amount, status="paid", number=[0]) -> Order:  # noqa: B006
    number[0] += 1
    return Order.objects.create(customer=customer, channel_account=account, status=status,
                                external_id=f"T{number[0]}", amount=amount, paid_at=at)  # fmt: skip


@pytest.fixture
def world(channels):
    oa, tmall = channels["oa"], channels["tmall"]
    autumn = Campaign.objects.create(name="秋季上新", utm_code="autumn", budget=100)
    other = Campaign.objects.create(name="会员日", utm_code="member-day")
    a = resolve(("phone", "13800000001", ""), name="甲")
    b = resolve(("phone", "13800000002", ""), name="乙")
    c = resolve(("phone", "13800000003", ""), name="丙")
    run = make_run(autumn, "秋季推送")
    deliver(run, a, oa, T0)
    deliver(run, b, oa, T0)
    deliver(run, c, oa, T0, status="failed")
    deliver(make_run(other, "会员日推送"), b, oa, T0 + timedelta(days=1))
    order(a, tmall, T0 - timedelta(days=1), 50)  # before the message
    order(a, tmall, T0 + timedelta(days=2), 100)  # credited to the autumn campaign
    order(a, tmall, T0 + timedelta(days=3), 500, status="refunded")  # not revenue
    order(a, tmall, T0 + timedelta(days=8), 70)  # outside the 7-day window
    order(b, tmall, T0 + timedelta(hours=12), 30)  # autumn: the only message so far
    order(b, tmall, T0 + timedelta(days=2), 200)  # the member-day message came last
    order(c, tmall, T0 + timedelta(days=1), 999)  # c's message failed
    link = tracking_link_create(url="https://shop.example.com/", campaign=autumn)
    LinkClick.objects.create(link=link, customer=a)
    LinkClick.objects.create(link=link, customer=a)
    LinkClick.objects.create(link=link)  # no genuine token: nobody to credit
    SpendEntry.objects.create(campaign=autumn, channel_account=oa, spent_on=T0.date(), amount=50)
    SpendEntry.objects.create(campaign=autumn, spent_on=T0.date(), amount=15)
    return {"autumn": autumn, "other": other}


def test_results_count_reach_clicks_and_last_touch_orders(world):
    autumn, other = world["autumn"], world["other"]
    CampaignGoal.objects.create(campaign=autumn, metric="revenue", target=260,
                                deadline=T0.date())  # fmt: skip
    CampaignGoal.objects.create(campaign=autumn, metric="new_followers", target=10,
                                deadline=T0.date())  # fmt: skip
    results = campaign_results(campaign=autumn)
    assert results["reach"] == 2
    assert results["clicks"] == 1
    assert results["orders"] == 2 and results["revenue"] == Decimal("130")
    assert results["spend"] == Decimal("65")
    assert results["roi"] == Decimal("1")  # (130 - 65) / 65
    assert results["budget_used"] == 65
    revenue_goal, followers_goal = results["goals"]
    assert revenue_goal["actual"] == Decimal("130") and revenue_goal["progress"] == 50
    assert followers_goal["actual"] is None and followers_goal["progress"] is None
    assert attributed_orders(campaign=other) == {"orders": 1, "revenue": Decimal("200")}


def test_a_campaign_without_spend_has_no_roi(world):
    results = campaign_results(campaign=world["other"])
    assert results["roi"] is None and results["budget_used"] is None


def test_spend_by_channel(world):
    rows = spend_by_channel(campaign=world["autumn"])
    assert rows == [{"channel": "品牌公众号", "total": Decimal("50")},
                    {"channel": None, "total": Decimal("15")}]  # fmt: skip


def test_spend_import_writes_every_row_or_none(channels):
    campaign = Campaign.objects.create(name="双11", utm_code="d11")
    good = "date,channel code,amount,note\n2026-11-01,oa,1200.50,朋友圈广告\n2026-11-02,,80,\n"
    assert spend_import(campaign=campaign, text="\ufeff" + good) == 2
    assert sorted(campaign.spend.values_list("amount", flat=True)) == [80, Decimal("1200.50")]
    assert campaign.spend.get(amount=80).channel_account is None
    bad = "2026-11-03,oa,10,ok\n2026-13-01,oa,10,\n2026-11-04,nowhere,10,\n2026-11-05,oa,-3,\n"
    with pytest.raises(SpendImportError) as caught:
        spend_import(campaign=campaign, text=bad)
    assert [line for line, _message in caught.value.rows] == [2, 3, 4]
    assert "nowhere" in caught.value.rows[1][1]
    assert campaign.spend.count() == 2  # the good first row was not written either
    with pytest.raises(SpendImportError):
        spend_import(campaign=campaign, text="date,channel code,amount,note\n")
