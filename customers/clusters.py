"""Value clusters: k-means on RFM and channel features, named after their centroids.

Features per customer: days since the last order (capped at a year; a year for non-buyers),
orders, revenue, and how many channel accounts know them (scoped identities). Counts and
money are log-scaled, then everything is standardised, so no feature dominates by its unit.
Each cluster gets a readable name from its centroid in the original units, e.g.
"高价值·近期·多渠道" or "未购买·单渠道", which is what the DSL's `value_cluster` field
compares against.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import Customer, Identity, ValueCluster

DEFAULT_CLUSTERS = 5
RECENCY_CAP_DAYS = 365
FIT_SAMPLE = 100_000  # above this, fit on a sample and assign everyone by nearest centroid
UPDATE_CHUNK = 5_000


@dataclass(frozen=True)
class Centroid:
    recency_days: float
    orders: float
    revenue: float
    channels: float


def _features(now: datetime):
    """(ids, rows of raw features) for every customer, from one query."""
    channels = (
        Identity.objects.filter(customer=OuterRef("pk"))
        .exclude(scope="")
        .order_by()
        .values("customer")
        .annotate(n=Count("scope", distinct=True))
        .values("n")
    )
    rows = Customer.objects.order_by("pk").values_list(
        "pk",
        "last_order_at",
        "total_orders",
        "total_revenue",
        Coalesce(Subquery(channels, output_field=IntegerField()), Value(0)),
    )
    ids, raw = [], []
    for pk, last_order_at, orders, revenue, channel_count in rows.iterator(chunk_size=20_000):
        days = RECENCY_CAP_DAYS
        if last_order_at is not None:
            days = min(RECENCY_CAP_DAYS, max(0.0, (now - last_order_at).total_seconds() / 86400))
        ids.append(pk)
        raw.append((days, orders or 0, float(revenue or 0), channel_count or 0))
    return ids, raw


def _names(centroids: list[Centroid]) -> list[tuple[str, str]]:
    """A (Chinese, English) name for each centroid, unique among them."""
    revenues = [c.revenue for c in centroids]
    top = max(revenues) if revenues else 0
    names, seen = [], {}
    for c in centroids:
        if c.orders < 0.5 or c.revenue < 1:
            value = ("未购买", "no purchase")
        elif c.revenue >= 0.6 * top:
            value = ("高价值", "high value")
        elif c.revenue >= 0.25 * top:
            value = ("中价值", "mid value")
        else:
            value = ("低价值", "low value")
        if c.recency_days <= 30:
            recency = ("近期", "recent")
        elif c.recency_days <= 120:
            recency = ("渐冷", "cooling")
        elif c.recency_days < RECENCY_CAP_DAYS * 0.9:
            recency = ("沉睡", "sleeping")
        else:
            recency = ("久未下单", "long gone")
        reach = ("多渠道", "multichannel") if c.channels >= 2 else ("单渠道", "single channel")
        parts = (value, reach) if value[0] == "未购买" else (value, recency, reach)
        zh = "·".join(part[0] for part in parts)
        en = ", ".join(part[1] for part in parts)
        seen[zh] = seen.get(zh, 0) + 1
        if seen[zh] > 1:
            zh, en = f"{zh}{seen[zh]}", f"{en} ({seen[zh]})"
        names.append((zh, en))
    return names


def value_clusters_compute(*, k: int = DEFAULT_CLUSTERS, now=None, seed: int = 0) -> int:
    """Cluster everyone, name the clusters and label each customer; returns the cluster count."""
    import numpy as np
    from sklearn.cluster import KMeans, MiniBatchKMeans

    now = now or timezone.now()
    ids, raw = _features(now)
    if not ids:
        ValueCluster.objects.all().delete()
        return 0
    data = np.asarray(raw, dtype=float)
    scaled = data.copy()
    scaled[:, 1:3] = np.log1p(scaled[:, 1:3])
    mean, std = scaled.mean(axis=0), scaled.std(axis=0)
    std[std == 0] = 1.0
    scaled = (scaled - mean) / std
    k = max(1, min(k, len(np.unique(scaled, axis=0))))
    if len(ids) > FIT_SAMPLE:
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
        sample = np.random.default_rng(seed).choice(len(ids), FIT_SAMPLE, replace=False)
        model.fit(scaled[sample])
        labels = model.predict(scaled)
    else:
        labels = KMeans(n_clusters=k, random_state=seed, n_init=4).fit_predict(scaled)
    # centroids in original units: the mean of each cluster's raw features
    order = sorted(range(k), key=lambda c: -data[labels == c][:, 2].mean())
    centroids = [Centroid(*data[labels == c].mean(axis=0)) for c in order]
    names = _names(centroids)
    id_array = np.asarray(ids)
    with transaction.atomic():
        ValueCluster.objects.all().delete()
        for number, (cluster, centroid, (zh, en)) in enumerate(
            zip(order, centroids, names, strict=True), start=1
        ):
            members = id_array[labels == cluster].tolist()
            ValueCluster.objects.create(
                number=number,
                name=zh,
                name_en=en,
                centroid={
                    "recency_days": round(centroid.recency_days, 1),
                    "orders": round(centroid.orders, 2),
                    "revenue": round(centroid.revenue, 2),
                    "channels": round(centroid.channels, 2),
                },
                size=len(members),
                computed_at=now,
            )
            for start in range(0, len(members), UPDATE_CHUNK):
                Customer.objects.filter(pk__in=members[start : start + UPDATE_CHUNK]).update(
                    value_cluster=zh
                )
    return k
