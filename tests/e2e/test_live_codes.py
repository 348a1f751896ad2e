"""Live codes in a real browser against the sandbox platform: create a live code, see the
image WeCom made for it, then a customer scans it and adds the staff member — the add comes
back as a signed, encrypted callback to the live server and shows in the code's stats."""

import re
import uuid

import pytest
from django.contrib.auth.models import Group
from django.urls import include, path
from playwright.sync_api import expect

from channels.choices import SyncStatus
from channels.models import CodeHit, LiveCode
from channels.sandbox.client import SandboxControl
from channels.sandbox.server import SandboxServer
from channels.services import channel_account_create
from channels.syncs import account_sync
from config.urls import urlpatterns as site_urls
from tags.models import Tag, TagGroup
from tests.e2e.conftest import shot
from tests.e2e.test_console import login

# The callback endpoint and QR images, until config/urls.py includes channels.callback_urls.
urlpatterns = [path("channels/", include("channels.callback_urls")), *site_urls]
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SECRET, TOKEN = "corp-secret-e2e", "callback-token-e2e"


@pytest.fixture
def platform():
    with SandboxServer(port=0) as server:
        yield server


@pytest.fixture
def corp(live_server, platform, django_user_model):
    """A sandbox WeCom corp whose callbacks reach the live server, its staff synced, and an
    operator to log in as."""
    corpid = f"ww-e2e-{uuid.uuid4().hex[:8]}"  # a fresh corp: no cached token from elsewhere
    account = channel_account_create(
        kind="wecom", code="wecom-store", name="品牌企业微信", app_id=corpid, secret=SECRET,
        token=TOKEN, aes_key=AES_KEY, sandbox=True, api_base_url=platform.url,
    )  # fmt: skip
    control = SandboxControl(platform.url)
    control.tenant(
        corpid, kind="wecom", secret=SECRET, token=TOKEN, aes_key=AES_KEY, staff=3, contacts=0,
        callback_url=live_server.url + account.callback_path,
    )  # fmt: skip
    assert account_sync(account=account, kind="staff").status == SyncStatus.SUCCEEDED
    Tag.objects.create(group=TagGroup.objects.create(name="渠道来源"), name="门店活码")
    user = django_user_model.objects.create_user(username="ops", password="pw-ops")
    user.groups.add(Group.objects.get(name="operator"))
    return account, control


def test_create_a_live_code_then_a_scan_adds_a_customer(page, corp):
    account, control = corp
    first, second, _third = account.staff.order_by("userid")
    login(page, "ops")
    page.goto(page.base + "/channels/")
    expect(page.get_by_test_id("channel-table")).to_contain_text("品牌企业微信")
    page.get_by_test_id("channel-tabs").get_by_text("活码", exact=True).click()
    expect(page.get_by_test_id("empty-state")).to_contain_text("还没有活码")
    page.get_by_test_id("live-code-new").click()

    form = page.get_by_test_id("live-code-form")
    form.locator("input[name=name]").fill("南京西路店活码")
    form.locator(f"#staff-{first.pk}").check()
    form.locator(f"#staff-{second.pk}").check()
    form.locator(f"input[name=cap-{first.pk}]").fill("50")
    form.locator("select[name=tags]").select_option(label="渠道来源 / 门店活码")
    form.locator("textarea[name=welcome_text]").fill("{{ name }} 你好，我是你的专属顾问")
    form.locator("input[name=start]").fill("09:00")
    form.locator("input[name=end]").fill("18:00")
    shot(page, "live-code-form")
    page.get_by_test_id("live-code-save").click()

    code = LiveCode.objects.get()
    expect(page).to_have_url(re.compile(rf"/channels/live-codes/{code.pk}/$"))
    image = page.get_by_test_id("qr-image")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('[data-testid=qr-image]').naturalWidth > 0")
    expect(page.get_by_test_id("stat-adds")).to_have_text("0")
    expect(page.get_by_test_id("seat-table")).to_contain_text(first.name)
    shot(page, "live-code")

    answer = control.simulate(
        account.app_id, "add_external_contact", state=code.state, userid=first.userid
    )
    assert answer["status"] == 200
    hit = CodeHit.objects.get(live_code=code)
    assert (hit.kind, hit.staff, hit.external_id) == ("add", first, answer["external_userid"])

    page.reload()
    expect(page.get_by_test_id("stat-adds")).to_have_text("1")
    expect(page.get_by_test_id("stat-net")).to_have_text("1")
    expect(page.get_by_test_id("hit-table")).to_contain_text(hit.customer.name)
    expect(page.get_by_test_id("hit-table")).to_contain_text("添加")
    expect(page.locator("[data-testid=chart-hits] .main-svg").first).to_be_visible()
    page.wait_for_timeout(300)
    shot(page, "live-code-added")

    page.goto(page.base + "/channels/live-codes/")
    expect(page.get_by_test_id("row-adds")).to_have_text("1")
    shot(page, "live-codes")
    page.goto(page.base + "/channels/staff/")
    expect(page.get_by_test_id("staff-table")).to_contain_text("南京西路店活码")
    page.goto(page.base + f"/channels/accounts/{account.pk}/")
    expect(page.get_by_test_id("callback-url")).to_have_value(
        re.compile(r"/channels/callback/wecom-store/$")
    )
    expect(page.get_by_test_id("callback-table")).to_contain_text("已处理")
    shot(page, "channel-account")


def test_oa_qr_code_and_auto_reply_pages(page, corp, platform, live_server):
    account, control = corp
    appid = f"wx-e2e-{uuid.uuid4().hex[:8]}"
    oa = channel_account_create(
        kind="wechat_oa", code="oa-brand", name="品牌服务号", app_id=appid, secret=SECRET,
        token=TOKEN, aes_key=AES_KEY, sandbox=True, api_base_url=platform.url,
    )  # fmt: skip
    control.tenant(appid, kind="wechat_oa", secret=SECRET, token=TOKEN, aes_key=AES_KEY,
                   followers=0, callback_url=live_server.url + oa.callback_path)  # fmt: skip
    login(page, "ops")
    page.goto(page.base + "/channels/")
    expect(page.get_by_test_id("account-row")).to_have_count(2)
    shot(page, "channel-accounts")

    page.goto(page.base + "/channels/accounts/new/")
    page.locator("select[name=kind]").select_option("wechat_oa")
    page.locator("input[name=code]").fill("oa-2")
    page.locator("input[name=name]").fill("第二个服务号")
    page.get_by_test_id("account-save").click()
    expect(page.get_by_test_id("field-error").first).to_contain_text(
        "微信类账号接收回调需要填写此项"
    )
    shot(page, "channel-account-form-errors")

    page.goto(page.base + "/channels/qr-codes/new/")
    page.locator("input[name=name]").fill("南京西路店海报")
    page.locator("input[name=scene]").fill("store-nj-01")
    page.locator("textarea[name=reply_text]").fill("欢迎光临南京西路店，回复“地址”查看门店地址")
    page.get_by_test_id("qr-code-save").click()
    expect(page.get_by_test_id("qr-image")).to_be_visible()
    page.wait_for_function("document.querySelector('[data-testid=qr-image]').naturalWidth > 0")
    answer = control.simulate(appid, "subscribe", scene="store-nj-01")
    assert answer["status"] == 200 and "南京西路店" in answer["reply"]
    page.reload()
    expect(page.get_by_test_id("stat-adds")).to_have_text("1")
    page.wait_for_timeout(300)
    shot(page, "qr-code")

    page.goto(page.base + "/channels/auto-replies/")
    page.get_by_test_id("auto-reply-new").click()
    page.locator("select[name=kind]").select_option("keyword")
    page.locator("input[name=keyword]").fill("地址")
    page.locator("textarea[name=reply_text]").fill("南京西路 1 号，10:00–22:00")
    page.get_by_test_id("auto-reply-save").click()
    expect(page.get_by_test_id("reply-table")).to_contain_text("地址")
    assert oa.auto_replies.get().keyword == "地址"
    shot(page, "auto-replies")
    page.goto(page.base + "/channels/staff/")
    expect(page.get_by_test_id("staff-row")).to_have_count(3)
    shot(page, "channel-staff")
