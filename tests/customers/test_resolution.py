from datetime import date

import pytest
from django.core.exceptions import ValidationError

from common.models import AuditLog
from customers.identities import IdentityKey, normalize_identity
from customers.models import Customer, Event, Identity, MergeLog, Order
from customers.services import customer_merge, customer_resolve
from tags.services import customer_tags_change

pytestmark = pytest.mark.django_db


def key(kind, value, scope=""):
    return normalize_identity(kind, value, scope)


def test_phone_and_email_are_normalised():
    assert key("phone", "138 1234 5678").value == "+8613812345678"
    assert key("phone", "+86-138-1234-5678").value == "+8613812345678"
    assert key("phone", "008613812345678").value == "+8613812345678"
    assert key("email", " Alice@Example.COM ").value == "alice@example.com"
    assert key("wechat_unionid", "u1", "oa").scope == ""  # global kinds drop the scope


@pytest.mark.parametrize(
    "kind,value,scope",
    [
        ("phone", "12", ""),
        ("email", "not-an-email", ""),
        ("nope", "x", ""),
        ("wechat_openid", "o1", ""),
    ],
)
def test_bad_identities_are_rejected(kind, value, scope):
    with pytest.raises(ValidationError):
        normalize_identity(kind, value, scope)


def test_new_identities_create_one_customer_and_reuse_it(channels):
    first = customer_resolve(
        identities=[key("wechat_openid", "o1", "oa"), key("wechat_unionid", "u1")]
    )
    again = customer_resolve(identities=[key("wechat_unionid", "u1")])
    assert first.created and not again.created
    assert again.customer.pk == first.customer.pk
    assert Identity.objects.filter(customer=first.customer).count() == 2


def test_person_seen_on_four_channels_ends_as_one_customer(channels):
    """OA (openid+unionid) → WeCom (external id+unionid) → Tmall (buyer+phone) → app (id+phone)."""
    oa = customer_resolve(
        identities=[key("wechat_openid", "o1", "oa"), key("wechat_unionid", "u1")]
    )
    wecom = customer_resolve(
        identities=[key("wecom_external_userid", "wm1", "wecom"), key("wechat_unionid", "u1")]
    )
    tmall = customer_resolve(
        identities=[key("platform_buyer_id", "b1", "tmall"), key("phone", "13812345678")]
    )
    assert wecom.customer.pk == oa.customer.pk
    assert tmall.created  # no shared identity yet: a second profile, for now
    Event.objects.create(
        customer=oa.customer,
        channel_account=channels["oa"],
        name="subscribe",
        occurred_at="2026-01-01T10:00:00+08:00",
        source_id="e1",
    )
    Order.objects.create(
        customer=tmall.customer,
        channel_account=channels["tmall"],
        external_id="T1",
        amount="99.00",
        status="paid",
        paid_at="2026-01-02T10:00:00+08:00",
    )
    customer_tags_change(customer=tmall.customer, add=["天猫买家"])
    app = customer_resolve(
        identities=[
            key("app_user_id", "a1", "app"),
            key("phone", "138-1234-5678"),
            key("wechat_unionid", "u1"),
        ]
    )
    assert app.merged_ids == [tmall.customer.pk]
    assert Customer.objects.count() == 1
    person = Customer.objects.get()
    assert person.pk == oa.customer.pk  # the oldest survives
    assert set(person.identities.values_list("kind", flat=True)) == {
        "wechat_openid",
        "wechat_unionid",
        "wecom_external_userid",
        "platform_buyer_id",
        "phone",
        "app_user_id",
    }
    assert person.events.count() == 1 and person.orders.count() == 1
    assert person.total_orders == 1 and str(person.total_revenue) == "99.00"
    assert person.phone == "+8613812345678"
    assert list(person.customer_tags.values_list("tag__name", flat=True)) == ["天猫买家"]
    log = MergeLog.objects.get()
    assert log.merged_ids == [tmall.customer.pk] and log.survivor_id == person.pk
    assert str(tmall.customer.pk) in log.snapshot
    assert AuditLog.objects.filter(action="merge").count() == 1


def test_merge_keeps_survivor_row_where_both_have_the_same_tag(channels):
    a = customer_resolve(identities=[key("member_no", "M1")]).customer
    b = customer_resolve(identities=[key("member_no", "M2")]).customer
    customer_tags_change(customer=a, add=["VIP"])
    customer_tags_change(customer=b, add=["VIP", "新客"])
    customer_merge(survivor_id=a.pk, other_ids=[b.pk])
    assert sorted(a.customer_tags.values_list("tag__name", flat=True)) == ["VIP", "新客"]
    assert not Customer.objects.filter(pk=b.pk).exists()


def test_profile_fields_are_validated(channels):
    with pytest.raises(ValidationError):
        customer_resolve(identities=[key("member_no", "M1")], profile={"birthday": "not a date"})
    with pytest.raises(ValidationError):
        customer_resolve(identities=[key("member_no", "M1")], profile={"shoe_size": 42})
    assert not Customer.objects.exists()


def test_identity_key_orders_deterministically():
    keys = [IdentityKey("phone", "", "+2"), IdentityKey("email", "", "a@b.c")]
    assert sorted(keys)[0].kind == "email"


def test_a_batch_that_merges_keeps_every_event_on_the_survivor(channels):
    """One row lands on a customer that a later row of the same batch merges away."""
    from customers.ingest import events_ingest

    older = customer_resolve(identities=[key("phone", "13800000001")]).customer
    younger = customer_resolve(identities=[key("wechat_unionid", "u-young")]).customer
    customer_resolve(identities=[key("member_no", "M-1"), key("wechat_unionid", "u-young")])
    rows = [
        {
            "event_id": "a",
            "name": "sign_in",
            "occurred_at": "2026-10-01T10:00:00+08:00",
            "channel": "app",
            "identities": [{"kind": "member_no", "value": "M-1"}],
        },
        {
            "event_id": "b",
            "name": "sign_in",
            "occurred_at": "2026-10-01T11:00:00+08:00",
            "channel": "app",
            "identities": [
                {"kind": "phone", "value": "13800000001"},
                {"kind": "wechat_unionid", "value": "u-young"},
            ],
        },
    ]
    result = events_ingest(rows=rows)
    assert result.accepted == 2 and not result.errors
    assert not Customer.objects.filter(pk=younger.pk).exists()
    assert set(Event.objects.values_list("customer_id", flat=True)) == {older.pk}


def test_event_batches_widen_first_and_last_seen_only(channels):
    from customers.ingest import events_ingest

    def row(event_id, when):
        return {
            "event_id": event_id,
            "name": "page_view",
            "occurred_at": when,
            "channel": "app",
            "identities": [{"kind": "phone", "value": "13800000002"}],
        }

    events_ingest(
        rows=[row("a", "2026-06-01T10:00:00+08:00"), row("b", "2026-08-01T10:00:00+08:00")]
    )
    customer = Customer.objects.get()
    first, last = customer.first_seen_at, customer.last_seen_at
    assert (first.isoformat(), last.isoformat()) == (
        "2026-06-01T02:00:00+00:00",
        "2026-08-01T02:00:00+00:00",
    )
    events_ingest(rows=[row("c", "2026-07-01T10:00:00+08:00")])  # inside: nothing moves
    customer.refresh_from_db()
    assert (customer.first_seen_at, customer.last_seen_at) == (first, last)
    events_ingest(
        rows=[row("d", "2026-05-01T10:00:00+08:00"), row("e", "2026-09-01T10:00:00+08:00")]
    )
    customer.refresh_from_db()
    assert customer.first_seen_at.isoformat() == "2026-05-01T02:00:00+00:00"
    assert customer.last_seen_at.isoformat() == "2026-09-01T02:00:00+00:00"


def test_a_batch_attaches_new_identities_of_known_people_set_wise(channels):
    """A known person's new openid and phone join their profile; no one-by-one resolution."""
    from customers.ingest import events_ingest
    from customers.services import customers_profile_bulk

    known = customer_resolve(identities=[key("wechat_unionid", "u-known")]).customer
    rows = [
        {
            "event_id": f"e{n}",
            "name": "sign_in",
            "occurred_at": "2026-10-01T10:00:00+08:00",
            "channel": "mini",
            "identities": [
                {"kind": "wechat_unionid", "value": "u-known"},
                {"kind": "wechat_openid", "scope": "mini", "value": "o-mini"},
                {"kind": "phone", "value": "13800000003"},
            ],
        }
        for n in range(3)
    ]
    assert events_ingest(rows=rows).accepted == 3
    assert Customer.objects.get() == known
    assert set(known.identities.values_list("kind", flat=True)) == {
        "wechat_unionid",
        "wechat_openid",
        "phone",
    }
    known.refresh_from_db()
    assert known.phone == "+8613800000003" and not MergeLog.objects.exists()
    profile = {"name": "林小满", "gender": "female", "city": "杭州", "province": "浙江",
               "birthday": date(1990, 5, 1), "email": "lin@example.com"}  # fmt: skip
    assert customers_profile_bulk(profiles={known.pk: profile}) == 1
    known.refresh_from_db()
    assert (known.name, known.city, known.birthday, known.email) == (
        "林小满",
        "杭州",
        date(1990, 5, 1),
        "lin@example.com",
    )
