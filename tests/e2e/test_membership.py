"""Membership in a real browser: open a member, redeem an item, see the ledger and the points
dashboard change."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from channels.services import channel_account_create
from customers.choices import RewardKind
from customers.models import Customer, MemberTier, Redemption, RewardItem
from customers.points import points_earn
from tests.conftest import resolve
from tests.e2e.conftest import shot
from tests.e2e.test_console import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def club(django_user_model):
    app = channel_account_create(kind="app", code="app", name="品牌 App")
    oa = channel_account_create(kind="wechat_oa", code="oa", name="品牌公众号")
    MemberTier.objects.create(code="silver", name="银卡", threshold=300, benefits="生日礼\n包邮")
    MemberTier.objects.create(code="gold", name="金卡", threshold=2000, color="#d4a017")
    member = resolve(("phone", "13800000001", ""), name="王芳")
    points_earn(customer=member, points=520, channel_account=app, reason="App 消费每元 1 分")
    points_earn(customer=member, points="0.5", channel_account=oa, reason="签到")
    shipping = RewardItem.objects.create(name="App 包邮券", kind=RewardKind.FREE_SHIPPING,
                                         points_price=100)  # fmt: skip
    shipping.channel_accounts.set([app])
    bag = RewardItem.objects.create(name="联名帆布袋（限量）", kind=RewardKind.MERCHANDISE,
                                    points_price=300, stock=2)  # fmt: skip
    bag.channel_accounts.set([oa])
    user = django_user_model.objects.create_user(username="ops", password="pw-ops")
    user.groups.add(Group.objects.get(name="operator"))
    return member


def test_redeem_on_the_member_card_then_see_ledger_and_dashboard(page, club):
    login(page, "ops")
    page.goto(page.base + "/membership/")
    expect(page.get_by_test_id("kpi-redeemed")).to_have_text("0")
    expect(page.get_by_test_id("kpi-liability")).to_have_text("520.5")
    expect(page.locator("[data-testid=chart-flow] .main-svg").first).to_be_visible()

    page.goto(page.base + f"/customers/{club.pk}/")
    card = page.get_by_test_id("member-card")
    expect(card.get_by_test_id("points-balance")).to_have_text("520.5")
    expect(card.get_by_test_id("member-tier")).to_have_text("银卡")
    card.locator("select[name=redeem-item]").select_option(label="App 包邮券（100 积分）")
    card.locator("select[name=redeem-channel_account]").select_option(label="品牌公众号")
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_test_id("redeem-submit").click()
    expect(page.get_by_test_id("redeem-channel-error")).to_contain_text("品牌 App")
    card = page.get_by_test_id("member-card")
    card.locator("select[name=redeem-channel_account]").select_option(label="品牌 App")
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_test_id("redeem-submit").click()
    expect(page.get_by_test_id("points-balance")).to_have_text("420.5")
    expect(page.get_by_test_id("card-message")).to_contain_text("App 包邮券")
    expect(page.get_by_test_id("points-ledger")).to_contain_text("-100")
    expect(page.get_by_test_id("member-redemptions")).to_contain_text("已发放")
    shot(page, "member-card-redeemed")
    assert Redemption.objects.get().channel_account.code == "app"

    page.get_by_test_id("ledger-link").click()
    expect(page.get_by_test_id("ledger-balance")).to_have_text("420.5")
    expect(page.get_by_test_id("ledger-table")).to_contain_text("兑换：App 包邮券")
    shot(page, "member-ledger")

    page.goto(page.base + "/membership/")
    expect(page.get_by_test_id("kpi-redeemed")).to_have_text("100")
    expect(page.get_by_test_id("kpi-liability")).to_have_text("420.5")
    expect(page.get_by_test_id("spend-headline")).to_contain_text("100%")
    expect(page.locator("[data-testid=chart-spend] .main-svg").first).to_be_visible()
    expect(page.get_by_test_id("channel-table")).to_contain_text("品牌 App")
    page.wait_for_timeout(300)
    shot(page, "points-dashboard")
    page.get_by_test_id("lang-en").click()
    expect(page.locator("nav")).to_contain_text("Member points")
    expect(page.get_by_test_id("membership-tabs")).to_contain_text("Points dashboard")
    page.wait_for_timeout(300)
    shot(page, "points-dashboard-en")
    page.get_by_test_id("lang-zh-hans").click()

    page.goto(page.base + "/membership/rewards/")
    expect(page.get_by_test_id("reward-table")).to_contain_text("联名帆布袋（限量）")
    expect(page.get_by_test_id("redemption-table")).to_contain_text("王芳")
    shot(page, "rewards")
    page.goto(page.base + "/membership/rules/")
    expect(page.get_by_test_id("tier-table")).to_contain_text("金卡")
    expect(page).to_have_url(re.compile(r"/membership/rules/$"))
    shot(page, "membership-rules")
    assert Customer.objects.get(pk=club.pk).points_balance == 420.5
