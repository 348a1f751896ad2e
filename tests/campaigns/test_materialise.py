"""Materialisation of a push run: fallback order, every skip reason, quiet hours, the
frequency cap, consent, idempotence, the A/B split; the estimate agrees with what is written."""

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from campaigns.choices import DeliveryStatus, SkipReason
from campaigns.content import content_save
from campaigns.delivery import push_estimate, run_materialise
from campaigns.models import ContentItem, Delivery, MessagingSettings, PushRun
from campaigns.pushes import push_save
from channels.services import channel_account_create
from customers.choices import ConsentChannel, ConsentStatus
from customers.models import Consent, Customer, Identity
from tags.models import Audience
from tags.services import audience_save
from tests.conftest import resolve

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
CITY = "上海"


# --- builders shared with the other push tests ---------------------------------------------


def make_accounts() -> dict:
    specs = [("wecom", "wecom"), ("wechat_oa", "oa"), ("sms", "sms"), ("email", "mail")]
    return {code: channel_account_create(kind=kind, code=code, name=code) for kind, code in specs}


def make_content(name: str = "新品上市", text: str = "{{ name }}，新茶到店") -> ContentItem:
    return content_save(content=ContentItem(name=name, core_text=text), variants={})


def make_audience(name: str = "上海客户", city: str = CITY):
    existing = Audience.objects.filter(name=name).first()
    definition = {"attr": "city", "op": "eq", "value": city}
    return existing or audience_save(name=name, definition=definition)


def make_push(accounts: list, *, actor=None, **fields):
    fields.setdefault("name", "双十一预热")
    fields.setdefault("audience", make_audience())
    fields.setdefault("content", make_content())
    return push_save(channels=accounts, actor=actor, **fields)


def bulk_customers(count: int, *, city: str = CITY, phones: bool = True) -> list[int]:
    """`count` customers in `city`, each with a phone identity (fast: two bulk inserts)."""
    start = Customer.objects.count()
    made = Customer.objects.bulk_create(
        [Customer(name=f"客户{start + i}", city=city) for i in range(count)]
    )
    if phones:
        Identity.objects.bulk_create(
            [Identity(customer=c, kind="phone", value=f"139{c.pk:08d}") for c in made]
        )
    return [c.pk for c in made]


def materialise(push, **kwargs) -> PushRun:
    run = PushRun.objects.create(push=push)
    run_materialise(run=run, **kwargs)
    return run


def labels(run) -> dict:
    return dict(Counter(run.deliveries.values_list("variant__label", flat=True)))


def rows(run) -> dict:
    """customer name → (channel code, status, skip reason, recipient)."""
    return {
        d.customer.name: (d.channel_account.code, d.status, d.skip_reason, d.recipient)
        for d in run.deliveries.select_related("customer", "channel_account")
    }


# --- tests ---------------------------------------------------------------------------------


@pytest.fixture
def accounts():
    return make_accounts()


@pytest.fixture
def people(accounts):
    """Five customers in the audience, reachable on different channels; one elsewhere."""
    resolve(("wecom_external_userid", "wm-1", "wecom"), ("phone", "13800000001", ""),
            name="甲", city=CITY)  # fmt: skip
    resolve(("wechat_openid", "o-2", "oa"), ("phone", "13800000002", ""), name="乙", city=CITY)
    resolve(("phone", "13800000003", ""), name="丙", city=CITY)
    resolve(("email", "d@example.com", ""), name="丁", city=CITY)
    resolve(("phone", "13800000005", ""), name="戊", city="北京")


@pytest.fixture(autouse=True)
def daytime():
    with time_machine.travel(datetime(2026, 11, 23, 14, 0, tzinfo=SHANGHAI), tick=True):
        yield


def test_first_reachable_channel_in_fallback_order(accounts, people):
    push = make_push([accounts["wecom"], accounts["oa"], accounts["sms"]])
    run = materialise(push)
    assert rows(run) == {
        "甲": ("wecom", "pending", "", "wm-1"),
        "乙": ("oa", "pending", "", "o-2"),
        "丙": ("sms", "pending", "", "+8613800000003"),
        "丁": ("wecom", "skipped", "no_identity", ""),
    }
    assert run.planned == 4
    other_order = materialise(make_push([accounts["sms"], accounts["wecom"]], name="短信优先"))
    assert rows(other_order)["甲"] == ("sms", "pending", "", "+8613800000001")


def test_estimate_counts_what_materialise_writes(accounts, people):
    push = make_push([accounts["wecom"], accounts["oa"], accounts["sms"]])
    estimate = push_estimate(push=push)
    assert estimate == {
        "audience": 4,
        "by_channel": {accounts["wecom"].pk: 1, accounts["oa"].pk: 1, accounts["sms"].pk: 1},
        "skips": {"no_identity": 1},
    }
    assert not Delivery.objects.exists()


def test_revoked_consent_falls_back_then_skips(accounts, people):
    for name, channel in (("乙", ConsentChannel.WECHAT_OA), ("丙", ConsentChannel.SMS)):
        Consent.objects.create(
            customer=Customer.objects.get(name=name), channel=channel, status=ConsentStatus.REVOKED
        )
    run = materialise(make_push([accounts["wecom"], accounts["oa"], accounts["sms"]]))
    assert rows(run)["乙"] == ("sms", "pending", "", "+8613800000002")
    assert rows(run)["丙"] == ("wecom", "skipped", SkipReason.NO_CONSENT, "")


def test_do_not_contact_skips_everywhere(accounts, people):
    Customer.objects.filter(name="甲").update(attributes={"do_not_contact": True})
    push = make_push([accounts["wecom"], accounts["sms"]])
    assert push_estimate(push=push)["skips"] == {"do_not_contact": 1, "no_identity": 1}
    assert rows(materialise(push))["甲"] == ("wecom", "skipped", "do_not_contact", "")


def _sent(run, customer, account, *, days_ago: float, count: int = 1):
    Delivery.objects.bulk_create(
        Delivery(run=run, customer=customer, channel_account=account, status="sent",
                 sent_at=timezone.now() - timedelta(days=days_ago))
        for _ in range(count)
    )  # fmt: skip


def _past_runs(push, count: int) -> list[PushRun]:
    return [PushRun.objects.create(push=push) for _ in range(count)]


def test_frequency_cap(accounts, people):
    MessagingSettings.objects.update_or_create(pk=1, defaults={"frequency_cap": 2})
    push = make_push([accounts["sms"]])
    first, second, old = _past_runs(push, 3)
    c = Customer.objects.get(name="丙")
    _sent(first, c, accounts["sms"], days_ago=1)
    _sent(second, c, accounts["sms"], days_ago=6)
    _sent(old, Customer.objects.get(name="甲"), accounts["sms"], days_ago=8)
    result = rows(materialise(push))
    assert result["丙"] == ("sms", "skipped", "frequency_cap", "")
    assert result["甲"][1] == "pending"  # the 8-day-old message is outside the window
    uncapped = make_push([accounts["sms"]], name="不限频", apply_frequency_cap=False)
    assert rows(materialise(uncapped))["丙"][1] == "pending"


def test_oa_monthly_quota_falls_back(accounts, people):
    push = make_push([accounts["oa"], accounts["sms"]], apply_frequency_cap=False)
    yi = Customer.objects.get(name="乙")
    for run in _past_runs(push, 4):
        _sent(run, yi, accounts["oa"], days_ago=0.1)
    assert rows(materialise(push))["乙"] == ("sms", "pending", "", "+8613800000002")
    oa_only = make_push([accounts["oa"]], name="仅公众号", apply_frequency_cap=False)
    assert rows(materialise(oa_only))["乙"] == ("oa", "skipped", "platform_quota", "")


def test_quiet_hours_defer_to_the_next_end(accounts, people):
    Customer.objects.filter(name="丙").update(attributes={"timezone": "Europe/London"})
    push = make_push([accounts["sms"]])
    with time_machine.travel(datetime(2026, 11, 23, 22, 30, tzinfo=SHANGHAI), tick=False):
        run = materialise(push)
        quiet_free = materialise(make_push([accounts["sms"]], name="x", respect_quiet_hours=False))
    jia = run.deliveries.get(customer__name="甲")
    assert jia.status == DeliveryStatus.DEFERRED
    assert jia.deferred_until == datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
    # 14:30 in London: not quiet there
    assert run.deliveries.get(customer__name="丙").status == DeliveryStatus.PENDING
    assert set(quiet_free.deliveries.values_list("status", flat=True)) == {"pending", "skipped"}


def test_quiet_hours_early_morning_defer_to_the_same_day(accounts, people):
    with time_machine.travel(datetime(2026, 11, 23, 7, 15, tzinfo=SHANGHAI), tick=False):
        run = materialise(make_push([accounts["sms"]]))
    row = run.deliveries.get(customer__name="甲")
    assert row.deferred_until == datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)


def test_materialise_again_adds_nothing(accounts, people):
    run = materialise(make_push([accounts["wecom"], accounts["oa"], accounts["sms"]]))
    before = list(run.deliveries.order_by("id").values_list("customer", "channel_account"))
    assert run_materialise(run=run) == 0
    assert list(run.deliveries.order_by("id").values_list("customer", "channel_account")) == (
        before
    )
    assert PushRun.objects.get(pk=run.pk).planned == 4


def test_ab_split_within_the_test_share_then_the_winner(accounts):
    bulk_customers(400)
    b_content = make_content("B 版", "新茶八折")
    push = make_push(
        [accounts["sms"]],
        variants=[
            {"label": "A", "content": make_content(), "share": 50},
            {"label": "B", "content": b_content, "share": 50},
        ],
        ab_test_percent=20,
    )
    run = materialise(push)
    split = labels(run)
    assert split == {"A": 40, "B": 40}
    again = materialise(push)
    assert labels(again) == split and set(
        again.deliveries.values_list("customer", "variant__label")
    ) == set(
        run.deliveries.values_list("customer", "variant__label")
    )  # deterministic: the same customers get the same variant
    winner = push.variants.get(label="B")
    run_materialise(run=run, winner=winner)
    assert labels(run) == {"A": 40, "B": 360}
    assert PushRun.objects.get(pk=run.pk).planned == 400
