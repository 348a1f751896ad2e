"""Membership console pages: dashboard, rules, rewards, the member card's redeem and adjust."""

from decimal import Decimal

import pytest

from customers.choices import RedemptionStatus, RewardKind
from customers.membership import redemption_create
from customers.models import Customer, MemberTier, PointsEntry, Redemption, RewardItem
from customers.points import points_earn
from tests.conftest import resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def member(channels):
    customer = resolve(("phone", "13800000001", ""), name="王芳")
    points_earn(customer=customer, points=500, channel_account=channels["app"])
    return customer


@pytest.fixture
def shipping(channels):
    item = RewardItem.objects.create(name="App 包邮券", kind=RewardKind.FREE_SHIPPING,
                                     points_price=100)  # fmt: skip
    item.channel_accounts.set([channels["app"]])
    return item


def test_dashboard_shows_the_flow_by_channel(console, member, shipping, channels):
    redemption_create(customer=member, item=shipping, channel_account=channels["app"],
                      idempotency_key="d1")  # fmt: skip
    page = console.get("/membership/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="chart-flow"' in html and 'data-testid="chart-spend"' in html
    assert "plotly/plotly.min.js" in html
    context = page.context
    assert context["totals"]["earn"] == 500 and context["totals"]["redeem"] == 100
    assert context["liability"]["outstanding"] == 400
    app_row = next(r for r in context["channel_rows"] if r["account"] == channels["app"])
    assert app_row["share"] == 100
    csv = console.get("/membership/?format=csv").content.decode("utf-8-sig")
    assert "app" in csv and "-100" in csv
    empty = console.get("/membership/?from=2001-01-01&to=2001-02-01&channel=oa")
    assert empty.status_code == 200 and 'data-testid="chart-flow-empty"' in empty.content.decode()


def test_bad_dates_fall_back_instead_of_failing(console):
    assert console.get("/membership/?from=yesterday&to=2026-13-45").status_code == 200


def test_rules_page_creates_a_tier_and_reports_form_errors(console):
    assert console.get("/membership/rules/").status_code == 200
    tier = {"code": "gold", "name": "金卡", "threshold": "abc", "earn_multiplier": "1"}
    bad = console.post("/membership/tier/new/", tier)
    assert bad.status_code == 400 and not MemberTier.objects.exists()
    tier.update(threshold="1000", earn_multiplier="1.5", benefits="生日礼\n包邮", color="#d4a017")
    good = console.post("/membership/tier/new/", tier)
    assert good.status_code == 302
    tier = MemberTier.objects.get()
    assert tier.benefit_list == ["生日礼", "包邮"]
    assert "金卡" in console.get("/membership/rules/").content.decode()
    promo = console.post("/membership/promotion/new/", {"name": "双11", "multiplier": "2",
                                                        "starts_at": "2026-11-12T00:00",
                                                        "ends_at": "2026-11-01T00:00"})  # fmt: skip
    assert promo.status_code == 400 and "ends_at" in promo.context["form"].errors
    assert console.get("/membership/nothing/new/").status_code == 404


def test_member_card_redeems_and_refuses_clearly(console, member, shipping, channels):
    profile = console.get(f"/customers/{member.pk}/").content.decode()
    assert 'data-testid="member-card"' in profile and 'data-testid="redeem-form"' in profile
    url = f"/membership/members/{member.pk}/redeem/"
    body = {"redeem-item": shipping.pk, "redeem-channel_account": channels["oa"].pk,
            "redeem-key": "k1"}  # fmt: skip
    wrong = console.post(url, body, HTTP_HX_REQUEST="true")
    assert wrong.status_code == 400 and "品牌 App" in wrong.content.decode()
    body = {"redeem-item": shipping.pk, "redeem-channel_account": channels["app"].pk,
            "redeem-key": "k2"}  # fmt: skip
    done = console.post(url, body, HTTP_HX_REQUEST="true")
    assert done.status_code == 200 and "App 包邮券" in done.content.decode()
    again = console.post(url, body, HTTP_HX_REQUEST="true")  # a double click: the same key
    assert again.status_code == 200 and Redemption.objects.count() == 1
    assert Customer.objects.get(pk=member.pk).points_balance == 400
    shipping.points_price = 1000
    shipping.save()
    short = console.post(url, {**body, "redeem-key": "k3"}, HTTP_HX_REQUEST="true")
    assert short.status_code == 409 and "积分不足" in short.content.decode()


def test_member_card_adjusts_with_a_reason(console, member):
    url = f"/membership/members/{member.pk}/adjust/"
    missing = console.post(url, {"adjust-points": "10", "adjust-reason": ""})
    assert missing.status_code == 400
    done = console.post(url, {"adjust-points": "-20.5", "adjust-reason": "误发"})
    assert done.status_code == 200
    assert Customer.objects.get(pk=member.pk).points_balance == Decimal("479.5")
    too_much = console.post(url, {"adjust-points": "-1000", "adjust-reason": "误发"})
    assert too_much.status_code == 409
    ledger = console.get(f"/membership/members/{member.pk}/?kind=adjust")
    assert ledger.status_code == 200 and list(ledger.context["page"].object_list) == list(
        PointsEntry.objects.filter(kind="adjust")
    )


def test_rewards_page_fulfils_and_cancels(console, member, channels):
    bag = RewardItem.objects.create(name="联名帆布袋", kind=RewardKind.MERCHANDISE,
                                    points_price=200, stock=5)  # fmt: skip
    made = redemption_create(customer=member, item=bag, idempotency_key="b1").redemption
    page = console.get("/membership/rewards/?status=pending")
    assert page.status_code == 200 and "联名帆布袋" in page.content.decode()
    console.post(f"/membership/redemptions/{made.pk}/fulfil/")
    assert Redemption.objects.get().status == RedemptionStatus.FULFILLED
    no_reason = console.post(f"/membership/redemptions/{made.pk}/cancel/", {"reason": ""})
    assert no_reason.status_code == 302 and Redemption.objects.get().status == "fulfilled"
    console.post(f"/membership/redemptions/{made.pk}/cancel/", {"reason": "客户不要了"})
    assert Redemption.objects.get().status == RedemptionStatus.CANCELLED
    assert RewardItem.objects.get().stock == 5
    assert Customer.objects.get(pk=member.pk).points_balance == 500


def test_analysts_see_the_dashboard_but_cannot_redeem(client, analyst, member, shipping):
    client.force_login(analyst)
    assert client.get("/membership/").status_code == 200
    profile = client.get(f"/customers/{member.pk}/").content.decode()
    assert 'data-testid="redeem-form"' not in profile
    denied = client.post(f"/membership/members/{member.pk}/redeem/", {"redeem-item": shipping.pk})
    assert denied.status_code == 403
    assert client.post("/membership/tier/new/", {}).status_code == 403


def test_profile_renders_with_a_tier_change_beside_channel_events(console, member, channels):
    from customers.ingest import events_ingest
    from customers.membership import tiers_refresh

    MemberTier.objects.create(code="silver", name="银卡", threshold=100)
    tiers_refresh()
    events_ingest(rows=[{"name": "page_view", "channel": "oa", "source_id": "pv1",
                         "occurred_at": "2026-11-01T10:00:00+08:00",
                         "identities": [{"kind": "phone", "value": "13800000001"}]}])  # fmt: skip
    names = set(member.events.values_list("name", flat=True))
    assert {"tier_changed", "page_view"} <= names
    page = console.get(f"/customers/{member.pk}/")
    assert page.status_code == 200 and "会员等级变化" in page.content.decode()
