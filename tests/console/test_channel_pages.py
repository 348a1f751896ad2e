"""Console pages of the channels area: accounts (settings, health, syncs, callbacks), live
codes, OA QR codes, auto replies, staff and group chats."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.choices import CallbackStatus, HitKind, SyncStatus
from channels.models import (
    AutoReply,
    CallbackLog,
    ChannelAccount,
    CodeHit,
    GroupChat,
    LiveCode,
    QrCode,
    Staff,
)
from channels.qrcodes import qr_code_create
from channels.sandbox.client import SandboxControl
from channels.services import channel_account_create
from channels.syncs import account_sync
from tags.models import Tag, TagGroup

pytestmark = pytest.mark.django_db

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
LIST_PAGES = ["/channels/", "/channels/live-codes/", "/channels/qr-codes/",
              "/channels/auto-replies/", "/channels/staff/", "/channels/groups/"]  # fmt: skip


@pytest.fixture
def console(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def reader(client, analyst):
    client.force_login(analyst)
    return client


def account(kind: str, code: str, name: str, **extra) -> ChannelAccount:
    return channel_account_create(
        kind=kind, code=code, name=name, app_id=f"app-{code}", secret=f"secret-of-{code}",
        token=f"token-{code}", aes_key=AES_KEY, require_callback=True, **extra,
    )  # fmt: skip


@pytest.fixture
def wecom(db):
    corp = account("wecom", "wecom-sh", "上海企业微信", sandbox=True)
    for n, name in enumerate(["王芳", "李娜", "张伟"], start=1):
        Staff.objects.create(account=corp, userid=f"user{n}", name=name)
    GroupChat.objects.create(account=corp, chat_id="wrchat1", name="会员福利 1 群",
                             owner="user1", member_count=120)  # fmt: skip
    return corp


@pytest.fixture
def oa(db):
    return account("wechat_oa", "oa-main", "品牌服务号")


def sandboxed(sandbox: SandboxControl, kind: str, code: str, name: str, **tenant):
    """An account in sandbox mode with its tenant (a fresh app id: no cached token reused)."""
    app_id = f"{code}-{uuid.uuid4().hex[:8]}"
    made = channel_account_create(
        kind=kind, code=code, name=name, app_id=app_id, secret="s3cret", token="tok",
        aes_key=AES_KEY, sandbox=True, api_base_url=sandbox.base_url, rate_limit=1000,
    )  # fmt: skip
    sandbox.tenant(app_id, kind=kind, secret="s3cret", token="tok", aes_key=AES_KEY, **tenant)
    return made


@pytest.fixture
def corp(sandbox):
    """A sandbox WeCom corp with its staff and groups synced."""
    made = sandboxed(sandbox, "wecom", "corp", "品牌企业微信", staff=3, contacts=0, groups=2)
    for kind in ("staff", "groups"):
        assert account_sync(account=made, kind=kind).status == SyncStatus.SUCCEEDED
    return made


@pytest.fixture
def sandbox_oa(sandbox):
    return sandboxed(sandbox, "wechat_oa", "oa-sandbox", "品牌订阅号", followers=0)


@pytest.fixture
def tag(db):
    return Tag.objects.create(group=TagGroup.objects.create(name="渠道来源"), name="门店扫码")


# --- every page ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", LIST_PAGES)
def test_empty_pages_render_with_a_next_step(console, url):
    response = console.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="empty-state"' in html and 'data-testid="channel-tabs"' in html


@pytest.mark.parametrize("url", LIST_PAGES)
def test_pages_need_login(client, url):
    assert client.get(url).status_code == 302


# --- accounts ------------------------------------------------------------------------------


ACCOUNT_FORM = {"kind": "wecom", "code": "wecom-bj", "name": "北京企业微信", "app_id": "wwcorp",
                "secret": "s3cret-value-123", "token": "tok-456", "aes_key": AES_KEY,
                "status": "active", "rate_limit": "20", "sync_interval_minutes": "60",
                "options": '{"agent_id": 1000002}', "sandbox": "on"}  # fmt: skip


def test_account_list_shows_health(console, wecom, oa):
    ChannelAccount.objects.filter(pk=wecom.pk).update(
        token_state="failed", last_error="40001: invalid credential, access_token is invalid"
    )
    html = console.get("/channels/").content.decode()
    assert "上海企业微信" in html and "品牌服务号" in html and "沙箱" in html
    assert "获取失败" in html and "40001: invalid credential" in html
    assert console.get("/channels/").context["accounts"].get(pk=wecom.pk).staff_count == 3


def test_account_create_encrypts_secrets_and_shows_only_hints(console):
    created = console.post("/channels/accounts/new/", ACCOUNT_FORM)
    made = ChannelAccount.objects.get(code="wecom-bj")
    assert created.status_code == 302 and created["Location"] == f"/channels/accounts/{made.pk}/"
    assert made.options == {"agent_id": 1000002} and made.sandbox
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM channels_channelaccount WHERE id = %s", [made.pk])
        assert "s3cret-value-123" not in cursor.fetchone()[0]
    for url in (f"/channels/accounts/{made.pk}/", f"/channels/accounts/{made.pk}/edit/"):
        html = console.get(url).content.decode()
        assert "s3cret-value-123" not in html and "tok-456" not in html and AES_KEY not in html
        assert "••••-123" in html
    detail = console.get(f"/channels/accounts/{made.pk}/")
    assert detail.context["callback_url"].endswith("/channels/callback/wecom-bj/")
    assert 'data-testid="copy-callback"' in detail.content.decode()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"token": "", "aes_key": ""}, "token"),
        ({"aes_key": "short"}, "aes_key"),
        ({"options": "[1, 2]"}, "options"),
        ({"options": "{not json"}, "options"),
        ({"code": "Bad Code"}, "code"),
        ({"kind": "fax"}, "kind"),
        ({"name": ""}, "name"),
        ({"rate_limit": "-5"}, "rate_limit"),
    ],
)
def test_account_create_rejects_bad_input(console, change, field):
    response = console.post("/channels/accounts/new/", {**ACCOUNT_FORM, **change})
    assert response.status_code == 400 and field in response.context["form"].errors
    assert not ChannelAccount.objects.exists()


def test_account_edit_keeps_empty_secrets_and_the_code(console, wecom):
    url = f"/channels/accounts/{wecom.pk}/edit/"
    page = console.get(url)
    assert page.status_code == 200 and "留空保持不变" in page.content.decode()
    changed = console.post(url, {**ACCOUNT_FORM, "code": "renamed", "name": "华东企业微信",
                                 "secret": "", "token": "", "aes_key": ""})  # fmt: skip
    assert changed.status_code == 302
    wecom.refresh_from_db()
    assert (wecom.code, wecom.name) == ("wecom-sh", "华东企业微信")
    assert (wecom.secret, wecom.token, wecom.aes_key) == ("secret-of-wecom-sh", "token-wecom-sh",
                                                          AES_KEY)  # fmt: skip
    rotated = console.post(url, {**ACCOUNT_FORM, "name": "华东企业微信", "secret": "rotated-999"})
    assert rotated.status_code == 302
    wecom.refresh_from_db()
    assert wecom.secret == "rotated-999"
    bad = console.post(url, {**ACCOUNT_FORM, "name": "不该保存", "options": "[]"})
    assert bad.status_code == 400 and "不该保存" not in bad.context["account"].name
    assert ChannelAccount.objects.get(pk=wecom.pk).name == "华东企业微信"


def test_account_detail_lists_sync_runs_and_callbacks(console, wecom):
    for n in range(25):
        wecom.sync_runs.create(kind="staff", status="succeeded", fetched=n, api_calls=2)
    wecom.sync_runs.create(kind="contacts", status="failed", error="45009: api daily quota")
    CallbackLog.objects.create(account=wecom, msg_key="k1", msg_type="event",
                               event="change_external_contact", body="<xml/>",
                               status=CallbackStatus.FAILED, error="boom")  # fmt: skip
    CallbackLog.objects.create(account=wecom, msg_key="k2", msg_type="event", event="subscribe",
                               body="<xml/>", status=CallbackStatus.PROCESSED)  # fmt: skip
    page = console.get(f"/channels/accounts/{wecom.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and "45009: api daily quota" in html
    assert page.context["runs"].paginator.num_pages == 2 and 'data-testid="pagination"' in html
    assert console.get(f"/channels/accounts/{wecom.pk}/?page=2").status_code == 200
    assert "重放" in html and "1 条失败" in html
    failed = console.get(f"/channels/accounts/{wecom.pk}/?callbacks=failed")
    assert [log.msg_key for log in failed.context["callbacks"]] == ["k1"]


# --- auto replies --------------------------------------------------------------------------


def test_auto_replies_crud(console, oa, tag):
    assert "关注回复" in console.get("/channels/auto-replies/").content.decode()
    form = console.get(f"/channels/auto-replies/new/?kind=keyword&account={oa.pk}")
    assert form.status_code == 200 and form.context["form"]["kind"].value() == "keyword"
    body = {"account": oa.pk, "kind": "keyword", "keyword": "", "match": "exact",
            "reply_text": "门店地址：南京西路 1 号", "priority": "10", "enabled": "on"}  # fmt: skip
    missing = console.post("/channels/auto-replies/new/", body)
    assert missing.status_code == 400 and "keyword" in missing.context["form"].errors
    assert not AutoReply.objects.exists()
    done = console.post("/channels/auto-replies/new/", {**body, "keyword": "地址", "tags": tag.pk})
    assert done.status_code == 302
    reply = AutoReply.objects.get()
    assert reply.keyword == "地址" and list(reply.tags.all()) == [tag]
    listing = console.get("/channels/auto-replies/").content.decode()
    assert "南京西路" in listing and "门店扫码" in listing
    edited = console.post(f"/channels/auto-replies/{reply.pk}/",
                          {**body, "kind": "subscribe", "keyword": "地址"})  # fmt: skip
    assert edited.status_code == 302
    reply.refresh_from_db()
    assert reply.kind == "subscribe" and reply.keyword == "" and not reply.tags.exists()
    console.post(f"/channels/auto-replies/{reply.pk}/", {"delete": "1"})
    assert not AutoReply.objects.exists()


def test_auto_replies_are_for_oa_accounts_only(console, oa, wecom):
    body = {"account": wecom.pk, "kind": "default", "match": "exact", "reply_text": "你好",
            "priority": "100"}  # fmt: skip
    response = console.post("/channels/auto-replies/new/", body)
    assert response.status_code == 400 and "account" in response.context["form"].errors
    assert not AutoReply.objects.exists()


# --- staff and group chats -----------------------------------------------------------------


def test_staff_and_groups_search_and_paginate(console, wecom):
    Staff.objects.bulk_create(
        Staff(account=wecom, userid=f"bulk{n:03}", name=f"导购{n:03}") for n in range(60)
    )
    page = console.get("/channels/staff/")
    assert page.status_code == 200 and page.context["page"].paginator.count == 63
    assert 'data-testid="pagination"' in page.content.decode()
    assert console.get("/channels/staff/?page=2").status_code == 200
    assert console.get("/channels/staff/?page=999").status_code == 200
    found = console.get("/channels/staff/", {"q": "李娜"})
    assert [s.userid for s in found.context["page"]] == ["user2"]
    nothing = console.get("/channels/staff/", {"q": "没有这个人"})
    assert 'data-testid="empty-state"' in nothing.content.decode()
    groups = console.get("/channels/groups/", {"q": "福利"})
    assert "会员福利 1 群" in groups.content.decode() and "120 / 200" in groups.content.decode()


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_pages_do_not_query_per_row(console, wecom, oa):
    def grow(n: int) -> None:
        for i in range(n):
            corp = account("wecom", f"corp-{n}-{i}", "企业微信")
            member = Staff.objects.create(account=corp, userid=f"u{n}{i}", name="导购")
            group = GroupChat.objects.create(account=corp, chat_id=f"c{n}{i}", name="群")
            code = LiveCode.objects.create(account=corp, name="码", state=f"s{n}{i}")
            code.seats.create(staff=member)
            code.groups.add(group)
            CodeHit.objects.create(live_code=code, staff=member, kind=HitKind.ADD,
                                   occurred_at=timezone.now())  # fmt: skip
            AutoReply.objects.create(account=oa, kind="keyword", keyword=f"k{n}{i}",
                                     reply_text="r")  # fmt: skip

    pages = ["/channels/", "/channels/staff/", "/channels/groups/", "/channels/auto-replies/"]
    grow(2)
    before = {url: queries(console, url) for url in pages}
    grow(5)
    assert {url: queries(console, url) for url in pages} == before


# --- permissions ---------------------------------------------------------------------------


def test_analyst_reads_every_page_but_cannot_write(reader, wecom, oa):
    reply = AutoReply.objects.create(account=oa, kind="default", reply_text="你好")
    log = CallbackLog.objects.create(account=wecom, msg_key="k", body="<xml/>",
                                     status=CallbackStatus.FAILED)  # fmt: skip
    for url in [*LIST_PAGES, f"/channels/accounts/{wecom.pk}/"]:
        page = reader.get(url)
        assert page.status_code == 200, url
        assert 'data-testid="account-edit"' not in page.content.decode()
    posts = {
        "/channels/accounts/new/": ACCOUNT_FORM,
        f"/channels/accounts/{wecom.pk}/edit/": {**ACCOUNT_FORM, "name": "x"},
        f"/channels/accounts/{wecom.pk}/sync/": {"kind": "staff"},
        f"/channels/callbacks/{log.pk}/replay/": {},
        "/channels/live-codes/new/": {"name": "x"},
        "/channels/qr-codes/new/": {"name": "x"},
        "/channels/auto-replies/new/": {"kind": "default", "reply_text": "x"},
        f"/channels/auto-replies/{reply.pk}/": {"delete": "1"},
    }
    for url, body in posts.items():
        assert reader.post(url, body).status_code == 403, url
    for url in ("/channels/accounts/new/", "/channels/live-codes/new/", "/channels/qr-codes/new/"):
        assert reader.get(url).status_code == 403, url
    assert ChannelAccount.objects.count() == 2 and AutoReply.objects.filter(pk=reply.pk).exists()
    assert not wecom.sync_runs.exists()


# --- live codes ----------------------------------------------------------------------------


def live_code_form(corp, **change) -> dict:
    first, second, third = corp.staff.order_by("userid")
    return {
        "account": corp.pk, "kind": "staff", "name": "门店活码", "strategy": "round_robin",
        "staff": [first.pk, second.pk, third.pk], f"cap-{first.pk}": "30",
        f"backup-{third.pk}": "1", "days": ["1", "2", "3", "4", "5"], "start": "09:00",
        "end": "18:00", "welcome_text": "{{ name }} 你好", "skip_verify": "on", **change,
    }  # fmt: skip


def test_live_code_create_and_its_pages(console, corp, tag):
    form = console.get("/channels/live-codes/new/")
    assert form.status_code == 200 and len(form.context["form"].staff_rows()) == 3
    created = console.post("/channels/live-codes/new/", live_code_form(corp, tags=[tag.pk]))
    code = LiveCode.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/channels/live-codes/{code.pk}/"
    assert code.config_id and code.qr_url and list(code.tags.all()) == [tag]
    assert code.schedule == {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}
    seats = [(s.staff.userid, s.daily_cap, s.backup) for s in code.seats.select_related("staff")]
    first, second, third = corp.staff.order_by("userid")
    assert seats == [(first.userid, 30, False), (second.userid, None, False),
                     (third.userid, None, True)]  # fmt: skip

    now = timezone.now()
    for n, kind in enumerate([HitKind.ADD, HitKind.SCAN, HitKind.ADD, HitKind.DELETE]):
        CodeHit.objects.create(live_code=code, staff=first, kind=kind, external_id=f"wm{n}",
                               occurred_at=now - timedelta(days=n))  # fmt: skip
    detail = console.get(f"/channels/live-codes/{code.pk}/")
    html = detail.content.decode()
    assert detail.status_code == 200
    assert f'src="/channels/qr/livecode/{code.pk}.svg"' in html and "?download=1" in html
    assert {k: detail.context["stats"][k] for k in ("scans", "adds", "deletes", "net")} == {
        "scans": 1, "adds": 2, "deletes": 1, "net": 1}  # fmt: skip
    assert 'data-testid="chart-hits"' in html and "plotly/plotly.min.js" in html
    assert "周一、周二、周三、周四、周五 09:00–18:00" in html
    seat = detail.context["seats"][0]
    assert (seat.stats["adds"], seat.adds_today) == (2, 1)
    listing = console.get("/channels/live-codes/")
    assert listing.context["codes"][0].stats["adds"] == 2 and "门店活码" in listing.content.decode()
    assert console.get("/channels/live-codes/", {"q": code.state}).context["codes"]
    staff_page = console.get("/channels/staff/")
    assert "门店活码" in staff_page.content.decode()
    assert {s.pk: s.adds_today for s in staff_page.context["page"]}[first.pk] == 1
    assert console.get(f"/channels/accounts/{corp.pk}/").status_code == 200
    assert console.get("/channels/").context["accounts"].get().live_code_count == 1


def test_group_live_code_picks_groups(console, corp):
    groups = list(corp.group_chats.all())
    missing = console.post("/channels/live-codes/new/",
                           live_code_form(corp, kind="group", name="福利群活码"))  # fmt: skip
    assert missing.status_code == 400 and "groups" in missing.context["form"].errors
    made = console.post("/channels/live-codes/new/", live_code_form(
        corp, kind="group", name="福利群活码", groups=[g.pk for g in groups]))  # fmt: skip
    assert made.status_code == 302
    code = LiveCode.objects.get()
    assert code.kind == "group" and not code.seats.exists() and code.groups.count() == 2
    page = console.get(f"/channels/live-codes/{code.pk}/")
    assert page.status_code == 200 and 'data-testid="group-table"' in page.content.decode()
    assert "福利群活码" in console.get("/channels/groups/").content.decode()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"staff": []}, "staff"),
        ({"cap-STAFF": "abc"}, "staff"),
        ({"backup-FIRST": "1", "backup-SECOND": "1"}, "staff"),
        ({"start": "18:00", "end": "09:00"}, "end"),
        ({"start": "09:00", "end": ""}, "end"),
        ({"welcome_text": "{{ nickname }} 你好"}, "welcome_text"),
        ({"name": ""}, "name"),
        ({"strategy": "lottery"}, "strategy"),
        ({"account": "999999"}, "account"),
    ],
)
def test_live_code_create_rejects_bad_input(console, corp, change, field):
    first, second, _third = corp.staff.order_by("userid")
    names = {"STAFF": first.pk, "FIRST": first.pk, "SECOND": second.pk}
    change = {next((k.replace(n, str(pk)) for n, pk in names.items() if n in k), k): v
              for k, v in change.items()}  # fmt: skip
    response = console.post("/channels/live-codes/new/", live_code_form(corp, **change))
    assert response.status_code == 400 and field in response.context["form"].errors
    assert not LiveCode.objects.exists()


def test_live_code_create_shows_a_platform_error(console, corp, sandbox):
    sandbox.fault(appid=corp.app_id, path="/cgi-bin/externalcontact/add_contact_way",
                  errcode=48001, times=5)  # fmt: skip
    response = console.post("/channels/live-codes/new/", live_code_form(corp))
    assert response.status_code == 400 and "48001" in response.content.decode()
    assert not LiveCode.objects.exists()


# --- OA QR codes ---------------------------------------------------------------------------


QR_FORM = {"name": "南京西路店", "scene": "store-nj-01", "permanent": "on", "expire_days": "30",
           "reply_text": "欢迎光临南京西路店"}  # fmt: skip


def test_qr_code_create_and_its_pages(console, sandbox_oa, tag):
    assert console.get("/channels/qr-codes/new/").status_code == 200
    created = console.post("/channels/qr-codes/new/",
                           {**QR_FORM, "account": sandbox_oa.pk, "tags": tag.pk})  # fmt: skip
    qr = QrCode.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/channels/qr-codes/{qr.pk}/"
    assert qr.permanent and qr.ticket and qr.url and list(qr.tags.all()) == [tag]
    CodeHit.objects.create(qr_code=qr, kind=HitKind.SUBSCRIBE, external_id="o1",
                           occurred_at=timezone.now())  # fmt: skip
    detail = console.get(f"/channels/qr-codes/{qr.pk}/")
    html = detail.content.decode()
    assert detail.status_code == 200 and f'src="/channels/qr/qrcode/{qr.pk}.svg"' in html
    assert detail.context["stats"]["subscribes"] == 1 and 'data-testid="chart-hits"' in html
    listing = console.get("/channels/qr-codes/")
    assert listing.context["codes"][0].stats["subscribes"] == 1 and "store-nj-01" in html

    seven_days = {"scene": "poster-7d", "permanent": "", "expire_days": "7"}
    temporary = console.post(
        "/channels/qr-codes/new/", {**QR_FORM, "account": sandbox_oa.pk, **seven_days}
    )
    assert temporary.status_code == 302
    made = QrCode.objects.get(scene="poster-7d")
    assert not made.permanent and made.expire_seconds == 7 * 86400 and made.expires_at


@pytest.mark.parametrize(
    "change, field",
    [
        ({"scene": "store-nj-01"}, "scene"),
        ({"scene": ""}, "scene"),
        ({"permanent": "", "expire_days": ""}, "expire_days"),
        ({"permanent": "", "expire_days": "31"}, "expire_days"),
        ({"name": ""}, "name"),
    ],
)
def test_qr_code_create_rejects_bad_input(console, sandbox_oa, change, field):
    qr_code_create(account=sandbox_oa, name="已有", scene="store-nj-01")
    response = console.post("/channels/qr-codes/new/",
                            {**QR_FORM, "account": sandbox_oa.pk, **change})  # fmt: skip
    assert response.status_code == 400 and field in response.context["form"].errors
    assert QrCode.objects.count() == 1


def test_qr_codes_are_for_oa_accounts_only(console, corp, sandbox_oa):
    response = console.post("/channels/qr-codes/new/", {**QR_FORM, "account": corp.pk})
    assert response.status_code == 400 and "account" in response.context["form"].errors


# --- syncs and callbacks -------------------------------------------------------------------


def test_sync_now_queues_the_sync_after_commit(console, corp, django_capture_on_commit_callbacks):
    page = console.get(f"/channels/accounts/{corp.pk}/").content.decode()
    assert 'data-testid="sync-staff"' in page and 'data-testid="sync-followers"' not in page
    before = corp.sync_runs.count()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        done = console.post(f"/channels/accounts/{corp.pk}/sync/", {"kind": "groups"})
    assert done.status_code == 302 and len(callbacks) == 1
    run = corp.sync_runs.first()
    assert corp.sync_runs.count() == before + 1
    assert (run.kind, run.status) == ("groups", SyncStatus.SUCCEEDED)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        refused = console.post(f"/channels/accounts/{corp.pk}/sync/", {"kind": "followers"},
                               follow=True)  # fmt: skip
    assert not callbacks and "不支持" in refused.content.decode()
    assert corp.sync_runs.count() == before + 1


def test_failed_callbacks_can_be_replayed(console, wecom):
    event = ("<xml><ToUserName>ww</ToUserName><FromUserName>sys</FromUserName>"
             "<CreateTime>1700000000</CreateTime><MsgType>event</MsgType>"
             "<Event>unknown_event</Event></xml>")  # fmt: skip
    fixable = CallbackLog.objects.create(account=wecom, msg_key="a", msg_type="event", body=event,
                                         status=CallbackStatus.FAILED, error="timeout")  # fmt: skip
    broken = CallbackLog.objects.create(account=wecom, msg_key="b", body="<xml><broken",
                                        status=CallbackStatus.FAILED)  # fmt: skip
    done = console.post(f"/channels/callbacks/{fixable.pk}/replay/", follow=True)
    fixable.refresh_from_db()
    assert fixable.status == CallbackStatus.PROCESSED and "已重放" in done.content.decode()
    again = console.post(f"/channels/callbacks/{broken.pk}/replay/", follow=True)
    assert "仍然失败" in again.content.decode()
    assert CallbackLog.objects.get(pk=broken.pk).status == CallbackStatus.FAILED
    twice = console.post(f"/channels/callbacks/{fixable.pk}/replay/", follow=True)
    assert "只有处理失败的回调可以重放" in twice.content.decode()
