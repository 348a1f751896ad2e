from datetime import timedelta

import pytest
from django.utils import timezone

from customers.identities import normalize_identity as key
from customers.models import Customer, Event, Order, ScoringSettings
from customers.scoring import customers_score
from customers.services import customer_resolve, customers_refresh_aggregates
from customers.tasks import customers_score_task

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def person(n: str, *, last_event_days=None, orders=(), first_days=400):
    customer = customer_resolve(identities=[key("member_no", n)]).customer
    Customer.objects.filter(pk=customer.pk).update(first_seen_at=NOW - timedelta(days=first_days))
    if last_event_days is not None:
        Event.objects.create(
            customer=customer, name="page_view", occurred_at=NOW - timedelta(days=last_event_days)
        )
    for i, (days, amount) in enumerate(orders):
        Order.objects.create(
            customer=customer,
            channel_account_id=1,
            external_id=f"{n}-{i}",
            amount=amount,
            status="paid",
            paid_at=NOW - timedelta(days=days),
        )
    return customer


@pytest.fixture
def store(channels):
    return channels["tmall"]


def test_lifecycle_and_rfm_from_thresholds(store):
    new = person("new", first_days=3, last_event_days=3)
    active = person("active", last_event_days=5)
    sleeping = person("sleeping", last_event_days=100)
    churned = person("churned", last_event_days=300)
    champion = person("champ", orders=[(2, 900), (10, 900), (20, 900), (40, 900), (60, 900)])
    lapsed = person("lapsed", orders=[(200, 900), (210, 900), (220, 900)])
    Order.objects.update(channel_account=store)
    customers_refresh_aggregates()
    customers_score_task.delay()  # eager in unit tests: the Beat task path
    stages = dict(Customer.objects.values_list("pk", "lifecycle"))
    assert stages[new.pk] == "new" and stages[active.pk] == "active"
    assert stages[sleeping.pk] == "sleeping" and stages[churned.pk] == "churned"
    segments = dict(Customer.objects.values_list("pk", "rfm_segment"))
    assert segments[champion.pk] == "champions"
    assert segments[lapsed.pk] == "at_risk"
    assert segments[active.pk] == "prospects"
    champ = Customer.objects.get(pk=champion.pk)
    assert (champ.rfm_recency, champ.rfm_frequency, champ.rfm_monetary) == (5, 4, 5)
    assert champ.total_orders == 5 and champ.total_revenue == 4500


def test_thresholds_are_configurable(store):
    sleeping = person("s", last_event_days=100)
    settings = ScoringSettings.load()
    settings.active_days = 120
    settings.save()
    customers_score()
    assert Customer.objects.get(pk=sleeping.pk).lifecycle == "active"
