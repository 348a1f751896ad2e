"""seed_demo: a plausible, deterministic, idempotent demo brand built through ingestion."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from channels.models import ChannelAccount
from config.demo import demo_load
from customers.models import Customer, Event, Identity, MergeLog, Order, ValueCluster
from tags.models import Audience, CustomerTag, TagRule

pytestmark = pytest.mark.django_db(transaction=True)


def identity_set():
    return set(Identity.objects.values_list("kind", "scope", "value"))


def test_demo_is_plausible_and_idempotent():
    out = StringIO()
    call_command("seed_demo", customers=150, seed=7, stdout=out)
    assert "merges" in out.getvalue()
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
    # the seeds' earning rules ran on the demo's app and store orders; refunds reversed
    from customers.models import PointsEntry

    earned = PointsEntry.objects.filter(kind="earn")
    channels = set(earned.values_list("channel_account__code", flat=True))
    assert channels <= {"app", "store", "mini"}
    assert earned.exists() and Customer.objects.filter(points_balance__gt=0).exists()
    assert set(Audience.objects.values_list("name", flat=True)) >= {"高价值客户", "沉睡与流失"}
    assert TagRule.objects.filter(runs__status="done").count() == 2
    assert ValueCluster.objects.exists()

    before = (identity_set(), events, Order.objects.count(), CustomerTag.objects.count())
    again = StringIO()
    call_command("seed_demo", customers=150, seed=7, stdout=again)
    assert "already loaded" in again.getvalue()
    after = (identity_set(), Event.objects.count(), Order.objects.count(),
             CustomerTag.objects.count())  # fmt: skip
    assert after == before


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
