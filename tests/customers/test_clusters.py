"""Value clusters: k-means on RFM and channel features, named by centroid, usable in the DSL."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.clusters import value_clusters_compute
from customers.models import Customer, Identity, ValueCluster
from customers.tasks import value_clusters_task
from tags.dsl import audience_queryset

pytestmark = pytest.mark.django_db


def population(now):
    """Three plainly different groups: big recent multichannel buyers, small old buyers, none."""
    rows = []
    for i in range(12):
        rows.append(Customer(name=f"vip{i}", total_orders=20 + i, total_revenue=Decimal(8000 + i),
                             last_order_at=now - timedelta(days=3 + i % 4)))  # fmt: skip
        rows.append(Customer(name=f"old{i}", total_orders=1, total_revenue=Decimal(60 + i),
                             last_order_at=now - timedelta(days=200 + i)))  # fmt: skip
        rows.append(Customer(name=f"none{i}"))
    Customer.objects.bulk_create(rows)
    for customer in Customer.objects.filter(name__startswith="vip"):
        Identity.objects.bulk_create(
            [
                Identity(
                    customer=customer, kind="wechat_openid", scope="oa", value=f"o{customer.pk}"
                ),
                Identity(
                    customer=customer, kind="app_user_id", scope="app", value=f"a{customer.pk}"
                ),
            ]
        )


def test_clusters_separate_the_groups_and_are_named_by_centroid():
    now = timezone.now()
    population(now)
    assert value_clusters_compute(k=3, now=now) == 3
    clusters = list(ValueCluster.objects.order_by("number"))
    assert [c.name for c in clusters] == [
        "高价值·近期·多渠道",
        "低价值·沉睡·单渠道",
        "未购买·单渠道",
    ]
    assert clusters[0].name_en == "high value, recent, multichannel"
    assert [c.size for c in clusters] == [12, 12, 12]
    assert clusters[0].centroid["channels"] == 2
    vip_clusters = set(
        Customer.objects.filter(name__startswith="vip").values_list("value_cluster", flat=True)
    )
    assert vip_clusters == {"高价值·近期·多渠道"}
    found = audience_queryset({"attr": "value_cluster", "op": "eq", "value": "高价值·近期·多渠道"})
    assert sorted(c.name for c in found) == sorted(f"vip{i}" for i in range(12))


def test_nightly_task_and_empty_database():
    assert value_clusters_task.delay().get() == 0
    Customer.objects.bulk_create([Customer(name="only")])
    assert value_clusters_task.delay().get() == 1
    assert Customer.objects.get().value_cluster == ValueCluster.objects.get().name


def test_points_and_tier_are_dsl_fields():
    Customer.objects.bulk_create([Customer(name="a", points_balance=500, tier="gold"),
                                  Customer(name="b", points_balance=20)])  # fmt: skip
    rich = audience_queryset({"all": [{"attr": "points", "op": "gte", "value": 100},
                                      {"attr": "tier", "op": "eq", "value": "gold"}]})  # fmt: skip
    assert [c.name for c in rich] == ["a"]
