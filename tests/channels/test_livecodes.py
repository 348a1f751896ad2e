"""Live codes: who serves the next scanner (round robin or random, schedule, daily caps,
backups), group codes, stats, QR images, and the whole path against the sandbox platform: a
customer adds staff through the code, is tagged and greeted; a loss alerts the staff member;
scanners of a group code join its groups in turn."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from channels.adapters import adapter_for
from channels.callbacks import callback_replay
from channels.choices import CallbackStatus, HitKind, LiveCodeKind, StaffStrategy, SyncStatus
from channels.livecodes import (
    contact_way_userids,
    live_code_create,
    live_code_pick_group,
    live_code_pick_staff,
    live_code_refresh_staff,
    live_code_stats,
    live_codes_refresh,
)
from channels.models import CallbackLog, CodeHit, GroupChat, Staff
from channels.qrcodes import qr_code_create, qr_code_stats
from channels.sandbox.client import SandboxControl
from channels.sandbox.server import SandboxServer
from channels.services import channel_account_create
from channels.syncs import account_sync
from customers.models import Customer, Event, Identity
from tags.models import TagMapping
from tags.services import tag_create
from tests.channels.test_callbacks import AES_KEY, TOKEN, FakeAdapter
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 5, 4, 10, 0, tzinfo=SHANGHAI)
WORKDAYS = {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}


@pytest.fixture
def fake(monkeypatch):
    adapter = FakeAdapter()
    monkeypatch.setattr("channels.adapters.adapter_for", lambda account: adapter)
    return adapter


@pytest.fixture
def wecom(db):
    return channel_account_create(
        kind="wecom", code="wecom-lc", name="企业微信", app_id="ww-lc", token=TOKEN,
        aes_key=AES_KEY,
    )  # fmt: skip


@pytest.fixture
def team(wecom):
    return {
        userid: Staff.objects.create(account=wecom, userid=userid, name=userid.title())
        for userid in ("anna", "ben", "carl")
    }


def add_hit(code, staff, at, external_id="wm", kind=HitKind.ADD):
    return CodeHit.objects.create(
        live_code=code, staff=staff, kind=kind, external_id=external_id, occurred_at=at
    )


# --- who serves ----------------------------------------------------------------------------


def test_round_robin_rotates_and_skips_whoever_reached_the_cap(fake, wecom, team):
    with time_machine.travel(MONDAY_10, tick=False):
        code = live_code_create(
            account=wecom, name="轮流", strategy=StaffStrategy.ROUND_ROBIN,
            staff=[(team["anna"], 1, False), (team["ben"], None, False)],
        )  # fmt: skip
        # round robin lists only whose turn it is: anna first
        assert fake.named("add_contact_way") == [(code.state, ["anna"])]
        assert code.state.startswith("lc") and len(code.state) <= 30
        assert [live_code_pick_staff(code).userid for _ in range(3)] == ["ben", "anna", "ben"]
        add_hit(code, team["anna"], MONDAY_10)  # anna's one add today
        assert [live_code_pick_staff(code).userid for _ in range(3)] == ["ben", "ben", "ben"]
    with time_machine.travel(MONDAY_10 + timedelta(days=1), tick=False):
        assert {live_code_pick_staff(code).userid for _ in range(2)} == {"anna", "ben"}


def test_schedule_and_backups_decide_who_serves(fake, wecom, team):
    with time_machine.travel(MONDAY_10, tick=False):
        code = live_code_create(
            account=wecom, name="工作日", schedule=WORKDAYS,
            staff=[(team["anna"], None, False), (team["carl"], 1, True)],
        )  # fmt: skip
    for moment, expected in [
        (MONDAY_10, "anna"),
        (MONDAY_10.replace(hour=8, minute=59), "carl"),  # before opening: the backup
        (MONDAY_10.replace(hour=18), "carl"),  # closing time is exclusive
        (MONDAY_10 + timedelta(days=5), "carl"),  # Saturday
    ]:
        assert live_code_pick_staff(code, moment).userid == expected, moment
    saturday = MONDAY_10 + timedelta(days=5)
    add_hit(code, team["carl"], saturday)
    assert live_code_pick_staff(code, saturday) is None
    # a contact way is never empty: with nobody free every regular seat is listed
    assert contact_way_userids(code, saturday) == ["anna"]


def test_periodic_refresh_follows_opening_hours_and_keeps_whose_turn_it_is(fake, wecom, team):
    with time_machine.travel(MONDAY_10, tick=False):
        code = live_code_create(
            account=wecom, name="工作日轮流", schedule=WORKDAYS,
            staff=[(team["anna"], 1, False), (team["ben"], None, False),
                   (team["carl"], None, True)],
        )  # fmt: skip
    for moment in [MONDAY_10, MONDAY_10, MONDAY_10.replace(hour=20), MONDAY_10 + timedelta(days=1)]:
        assert live_codes_refresh(moment) == 1
    # after an add the turn moves on, past anna who reached her cap today
    add_hit(code, team["anna"], MONDAY_10 + timedelta(days=1))
    live_code_refresh_staff(code, now=MONDAY_10 + timedelta(days=1, minutes=5))
    pointed = [users for _config, users in fake.named("update_contact_way")]
    assert pointed == [["anna"], ["anna"], ["carl"], ["ben"], ["ben"]]


def test_random_lists_every_free_seat(fake, wecom, team):
    with time_machine.travel(MONDAY_10, tick=False):
        code = live_code_create(
            account=wecom, name="随机", strategy=StaffStrategy.RANDOM,
            staff=[(team["anna"], 1, False), (team["ben"], None, False),
                   (team["carl"], None, True)],
        )  # fmt: skip
        assert fake.named("add_contact_way") == [(code.state, ["anna", "ben"])]
        assert {live_code_pick_staff(code).userid for _ in range(20)} == {"anna", "ben"}
        add_hit(code, team["anna"], MONDAY_10)
        assert contact_way_userids(code) == ["ben"]


def test_group_code_fills_the_first_group_with_room(fake, wecom):
    full, roomy, spare = (
        GroupChat.objects.create(
            account=wecom, chat_id=f"wr{i}", name=f"群{i}", member_count=count, capacity=200
        )  # fmt: skip
        for i, count in enumerate([200, 150, 0])
    )
    code = live_code_create(
        account=wecom, name="群活码", kind=LiveCodeKind.GROUP, groups=[full, roomy, spare]
    )
    assert fake.named("add_join_way") == [(code.state, ["wr1", "wr2"])]
    assert code.config_id == f"join-{code.state}"
    assert live_code_pick_group(code) == roomy


def test_live_code_create_checks_its_input(fake, wecom, team, db):
    other = channel_account_create(kind="wecom", code="wecom-other", name="别的企业")
    stranger = Staff.objects.create(account=other, userid="zed")
    oa = channel_account_create(kind="wechat_oa", code="oa-lc", name="公众号")
    cases = [
        ({"staff": [(stranger, None, False)]}, "staff"),
        ({"staff": [(team["anna"], None, True)]}, "staff"),  # backups only
        ({"welcome_text": "{{ balance }} 积分"}, "welcome_text"),
        ({"schedule": {"start": "18:00", "end": "09:00"}}, "schedule"),
        ({"account": oa}, "account"),
        ({"kind": LiveCodeKind.GROUP}, "groups"),
    ]
    for extra, field in cases:
        arguments = {"account": wecom, "name": "x", "staff": [(team["anna"], None, False)]}
        with pytest.raises(ValidationError) as caught:
            live_code_create(**{**arguments, **extra})
        assert field in caught.value.message_dict, extra
    assert not fake.named("add_contact_way")


# --- stats ---------------------------------------------------------------------------------


def test_stats_count_adds_losses_net_and_the_7_day_keep(fake, wecom, team):
    with time_machine.travel(MONDAY_10, tick=False):
        code = live_code_create(
            account=wecom,
            name="统计",
            staff=[(team["anna"], None, False), (team["ben"], None, False)],
        )
    anna, ben, day = team["anna"], team["ben"], timedelta(days=1)
    add_hit(code, anna, MONDAY_10 - 20 * day, "wm-kept")  # kept
    add_hit(code, anna, MONDAY_10 - 20 * day, "wm-lost")  # lost within 7 days
    add_hit(code, anna, MONDAY_10 - 17 * day, "wm-lost", kind=HitKind.DELETE)
    add_hit(code, ben, MONDAY_10 - 12 * day, "wm-late")  # lost after 9 days: still kept
    add_hit(code, ben, MONDAY_10 - 3 * day, "wm-late", kind=HitKind.DELETE)
    add_hit(code, ben, MONDAY_10 - 2 * day, "wm-new")  # too recent to count for the keep
    stats = live_code_stats(code, now=MONDAY_10)
    assert {k: stats[k] for k in ("scans", "adds", "deletes", "net", "kept_7d")} == {
        "scans": 0, "adds": 4, "deletes": 2, "net": 2, "kept_7d": 2,
    }  # fmt: skip
    by_staff = {row["userid"]: (row["adds"], row["deletes"], row["net"]) for row in stats["staff"]}
    assert by_staff == {"anna": (2, 1, 1), "ben": (2, 1, 1)}
    series = {row["date"]: row for row in stats["series"]}
    assert len(series) == 30 and series["2026-04-14"]["adds"] == 2
    assert series["2026-05-01"]["deletes"] == 1 and series["2026-05-04"]["adds"] == 0
    assert set(live_code_stats(code, now=MONDAY_10, detail=False)) == {
        "scans", "adds", "deletes", "net", "kept_7d",
    }  # fmt: skip


def test_qr_code_stats_count_scans_follows_and_unfollows(fake, db):
    oa = channel_account_create(kind="wechat_oa", code="oa-st", name="公众号")
    qr = qr_code_create(account=oa, name="海报", scene="poster")
    now = MONDAY_10
    for kind, openid, days_ago in [
        (HitKind.SUBSCRIBE, "o1", 10), (HitKind.SUBSCRIBE, "o2", 10), (HitKind.DELETE, "o2", 9),
        (HitKind.SCAN, "o1", 1),
    ]:  # fmt: skip
        CodeHit.objects.create(
            qr_code=qr, kind=kind, external_id=openid, occurred_at=now - timedelta(days=days_ago)
        )
    stats = qr_code_stats(qr, now=now)
    assert (stats["scans"], stats["subscribes"], stats["adds"]) == (3, 2, 2)
    assert (stats["deletes"], stats["net"], stats["kept_7d"]) == (1, 1, 1)


# --- QR images -----------------------------------------------------------------------------


def test_qr_code_images_need_the_view_permission(client, fake, django_user_model, db):
    oa = channel_account_create(kind="wechat_oa", code="oa-img", name="公众号")
    qr = qr_code_create(account=oa, name="海报", scene="poster")
    url = f"/channels/qr/qrcode/{qr.pk}"
    assert client.get(f"{url}.svg").status_code == 302  # to the login page
    client.force_login(make_user(django_user_model, "guide", "staff"))
    assert client.get(f"{url}.svg").status_code == 403
    client.force_login(make_user(django_user_model, "analyst9", "analyst"))
    svg = client.get(f"{url}.svg")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    png = client.get(f"{url}.png", {"download": "1"})
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png["Content-Disposition"] == f'attachment; filename="qr-code-{qr.pk}.png"'
    assert client.get(f"/channels/qr/qrcode/{qr.pk + 1}.svg").status_code == 404
    assert client.get(f"/channels/qr/other/{qr.pk}.svg").status_code == 404


# --- end to end, against the sandbox platform ----------------------------------------------

CORPID, SECRET, AGENT_ID = "ww-live-corp", "corp-secret-live", "1000002"


@pytest.fixture
def platform():
    with SandboxServer(port=0) as server:
        yield server


@pytest.fixture
def corp(live_server, platform):
    """A WeCom account in sandbox mode whose callbacks reach this test's live server, with
    the corp's staff synced."""
    account = channel_account_create(
        kind="wecom", code="wecom-live", name="品牌企业微信", app_id=CORPID, secret=SECRET,
        token=TOKEN, aes_key=AES_KEY, sandbox=True, api_base_url=platform.url,
        options={"agent_id": AGENT_ID},
    )  # fmt: skip
    control = SandboxControl(platform.url)
    control.tenant(
        CORPID, kind="wecom", secret=SECRET, token=TOKEN, aes_key=AES_KEY, agent_id=AGENT_ID,
        callback_url=live_server.url + account.callback_path, staff=3, contacts=0,
    )  # fmt: skip
    assert account_sync(account=account, kind="staff").status == SyncStatus.SUCCEEDED
    return account, control


def contact_customer(account, external_userid):
    return Identity.objects.get(
        kind="wecom_external_userid", scope=account.code, value=external_userid
    ).customer


@pytest.mark.django_db(transaction=True)
def test_an_add_through_a_live_code_tags_greets_and_rotates(corp):
    account, control = corp
    first, second, _third = account.staff.order_by("userid")
    vip = tag_create(name="活码客户")
    code = live_code_create(
        account=account, name="门店活码", strategy=StaffStrategy.ROUND_ROBIN,
        staff=[(first, 1, False), (second, None, False)], tags=[vip],
        welcome_text="{{ name }}您好，我是您的专属顾问",
    )  # fmt: skip

    answer = control.simulate(CORPID, "add_external_contact", state=code.state)
    assert (answer["status"], answer["reply"], answer["userid"]) == (200, "success", first.userid)
    customer = contact_customer(account, answer["external_userid"])
    assert Customer.objects.count() == 1 and customer.name
    assert [(t.tag, t.source) for t in customer.customer_tags.all()] == [(vip, "live_code")]
    assert CodeHit.objects.get(live_code=code, kind=HitKind.ADD).staff == first
    [welcome] = control.messages(appid=CORPID, kind="welcome")
    assert welcome["to"] == answer["external_userid"]
    assert welcome["content"]["text"]["content"] == f"{customer.name}您好，我是您的专属顾问"
    corp_tag = TagMapping.objects.get(account=account, tag=vip).external_id
    [follow] = adapter_for(account).external_contact(answer["external_userid"])["follow_user"]
    assert [t["tag_id"] for t in follow["tags"]] == [corp_tag]  # tagged in WeCom too

    log = CallbackLog.objects.get(account=account)
    assert (log.status, log.error) == (CallbackStatus.PROCESSED, "")
    ways = {way["state"]: way for way in control.state(CORPID)["contact_ways"]}
    assert ways[code.state]["user"] == [second.userid]  # round robin moved on (first is capped)

    again = control.simulate(CORPID, "add_external_contact", state=code.state)
    assert again["userid"] == second.userid
    assert Customer.objects.count() == 2
    assert live_code_stats(code, detail=False)["adds"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_loss_alerts_the_staff_member_and_counts_in_the_stats(corp):
    account, control = corp
    member = account.staff.order_by("userid").first()
    code = live_code_create(account=account, name="直播间活码", staff=[(member, None, False)])
    start = timezone.now()
    with time_machine.travel(start - timedelta(days=10)):
        stays = control.simulate(CORPID, "add_external_contact", state=code.state)
        leaves = control.simulate(CORPID, "add_external_contact", state=code.state)
    with time_machine.travel(start - timedelta(days=8)):
        lost = control.simulate(
            CORPID, "del_follow_user", external_userid=leaves["external_userid"],
            userid=member.userid,
        )  # fmt: skip
    assert lost["status"] == 200
    customer = contact_customer(account, leaves["external_userid"])
    assert customer.events.filter(name="lost_contact").count() == 1
    [alert] = control.messages(appid=CORPID, kind="app")
    assert alert["to"] == member.userid
    assert customer.name in alert["content"]["text"]["content"]
    assert "直播间活码" in alert["content"]["text"]["content"]
    assert contact_customer(account, stays["external_userid"]) != customer

    stats = live_code_stats(code)
    assert {k: stats[k] for k in ("adds", "deletes", "net", "kept_7d")} == {
        "adds": 2, "deletes": 1, "net": 1, "kept_7d": 1,
    }  # fmt: skip
    assert stats["staff"] == [{"staff_id": member.pk, "userid": member.userid,
                               "name": member.name, "adds": 2, "deletes": 1, "net": 1}]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_live_code_image_is_the_one_wecom_made(corp, client, django_user_model):
    account, _control = corp
    member = account.staff.first()
    code = live_code_create(account=account, name="海报活码", staff=[(member, None, False)])
    client.force_login(make_user(django_user_model, "analyst7", "analyst"))
    response = client.get(f"/channels/qr/livecode/{code.pk}.svg", {"download": "1"})
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    assert response["Content-Disposition"] == f'attachment; filename="live-code-{code.pk}.png"'


@pytest.mark.django_db(transaction=True)
def test_a_group_live_code_fills_its_groups_in_turn(corp, client, django_user_model):
    account, control = corp
    assert account_sync(account=account, kind="groups").status == SyncStatus.SUCCEEDED
    first, second, _third = account.group_chats.order_by("chat_id")
    assert (first.member_count, second.member_count) == (1, 1)  # their owners
    GroupChat.objects.filter(pk=first.pk).update(capacity=3)  # room for two customers
    first.refresh_from_db()
    member_tag = tag_create(name="福利群成员")
    code = live_code_create(
        account=account, name="福利群活码", kind=LiveCodeKind.GROUP, groups=[first, second],
        tags=[member_tag],
    )  # fmt: skip
    [way] = control.state(CORPID)["join_ways"]
    assert (way["config_id"], way["qr_code"], way["state"]) == (
        code.config_id, code.qr_url, code.state,
    )  # fmt: skip
    assert (way["chat_id_list"], way["auto_create_room"]) == ([first.chat_id, second.chat_id], 0)
    client.force_login(make_user(django_user_model, "analyst8", "analyst"))
    image = client.get(f"/channels/qr/livecode/{code.pk}.png")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")

    joined = control.simulate(CORPID, "join_group", state=code.state)
    assert (joined["status"], joined["reply"], joined["chat_id"]) == (200, "success", first.chat_id)
    customer = contact_customer(account, joined["external_userid"])
    assert customer.name  # from the group's member list
    assert customer.events.get(name="join_group").properties == {
        "chat_id": first.chat_id, "join_scene": 3, "state": code.state, "live_code": code.pk,
    }  # fmt: skip
    hit = CodeHit.objects.get(live_code=code)
    assert (hit.kind, hit.customer, hit.external_id) == (
        HitKind.ADD, customer, joined["external_userid"],
    )  # fmt: skip
    assert [(t.tag, t.source) for t in customer.customer_tags.all()] == [(member_tag, "live_code")]
    first.refresh_from_db()
    assert first.member_count == 2
    log = CallbackLog.objects.get(account=account)
    assert (log.event, log.status, log.error) == ("add_member", CallbackStatus.PROCESSED, "")

    # WeCom sends the next join twice, and its log is replayed: nothing counts twice
    again = control.simulate(CORPID, "join_group", state=code.state, repeat=2)
    assert (again["reply"], again["chat_id"]) == ("success", first.chat_id)
    log = CallbackLog.objects.exclude(pk=log.pk).get(account=account)
    CallbackLog.objects.filter(pk=log.pk).update(status=CallbackStatus.FAILED)
    log.refresh_from_db()
    replayed = callback_replay(log)
    assert (replayed.status, replayed.attempts) == (CallbackStatus.PROCESSED, 2)
    assert Event.objects.filter(name="join_group").count() == 2
    assert CodeHit.objects.filter(live_code=code).count() == 2

    # the first group is full now (its owner and two customers): the way moved on
    first.refresh_from_db()
    assert first.member_count == 3
    assert control.state(CORPID)["join_ways"][0]["chat_id_list"] == [second.chat_id]
    assert live_code_pick_group(code) == second
    third = control.simulate(CORPID, "join_group", state=code.state)
    assert third["chat_id"] == second.chat_id
    second.refresh_from_db()
    assert second.member_count == 2
    assert live_code_stats(code, detail=False)["adds"] == 3

    # a customer leaves the first group: a loss for the code, and the group has room again
    left = control.simulate(CORPID, "leave_group", external_userid=joined["external_userid"])
    assert left["chat_id"] == first.chat_id
    assert customer.events.get(name="leave_group").properties == {
        "chat_id": first.chat_id, "quit_scene": 0, "live_code": code.pk,
    }  # fmt: skip
    stats = live_code_stats(code, detail=False)
    assert (stats["adds"], stats["deletes"], stats["net"]) == (3, 1, 2)
    first.refresh_from_db()
    assert first.member_count == 2
    way = control.state(CORPID)["join_ways"][0]
    assert way["chat_id_list"] == [first.chat_id, second.chat_id]
    assert way["state"] == code.state  # the overwriting updates kept it
    assert not CallbackLog.objects.exclude(status=CallbackStatus.PROCESSED).exists()
