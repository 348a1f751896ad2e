"""The ROI matrix: channel × campaign with spend, attributed revenue and orders, ROI, ROAS
and CAC, under any attribution model, from the daily rollups (AttributionDay for credit,
CampaignDay for spend)."""

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db.models import Sum
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from channels.choices import ChannelKind
from channels.models import ChannelAccount
from reports.choices import AttributionModel
from reports.models import AttributionDay, CampaignDay

ZERO = Decimal(0)
CENT, SHARE = Decimal("0.01"), Decimal("0.0001")
NO_CAMPAIGN = "none"


def _label_maps():
    accounts = {a.pk: a for a in ChannelAccount.objects.all()}
    campaigns = {c.pk: c.name for c in Campaign.objects.all()}
    return accounts, campaigns


def roi_matrix(
    *,
    start: date,
    end: date,
    model: str = AttributionModel.LAST_TOUCH,
    account_ids: list[int] | None = None,
    by: str = "account",
) -> dict:
    """Rows per (channel, campaign) — channel being an account, or a channel kind with
    `by="kind"` — plus per-channel, per-campaign and overall totals.

    ROI = (revenue − spend) ÷ spend, ROAS = revenue ÷ spend, CAC = spend ÷ attributed new
    buyers; None where the divisor is zero. Revenue with no campaign (orders after messages
    outside campaigns, or with no message at all) is shown as its own column so the
    matrix adds up to the period's revenue; the totals' ROI, ROAS and CAC count only what
    campaigns earned (`campaign_revenue`), not that organic revenue.
    """
    if model not in AttributionModel.values:
        raise ValueError(model)
    accounts, campaign_names = _label_maps()
    credit = AttributionDay.objects.filter(day__gte=start, day__lte=end, model=model)
    spend = CampaignDay.objects.filter(day__gte=start, day__lte=end)
    if account_ids:
        credit = credit.filter(channel_account__in=account_ids)
        spend = spend.filter(channel_account__in=account_ids)
    cells: dict = defaultdict(lambda: {"spend": ZERO, "revenue": ZERO, "orders": ZERO,
                                        "new_buyers": ZERO})  # fmt: skip

    def channel_key(account_id):
        if account_id is None:
            return None
        return accounts[account_id].kind if by == "kind" else account_id

    for r in (
        credit.values("campaign", "channel_account")
        .annotate(revenue=Sum("revenue"), orders=Sum("orders"), new_buyers=Sum("new_buyers"))
        .order_by()
    ):
        cell = cells[(channel_key(r["channel_account"]), r["campaign"])]
        cell["revenue"] += r["revenue"]
        cell["orders"] += r["orders"]
        cell["new_buyers"] += r["new_buyers"]
    for r in spend.values("campaign", "channel_account").annotate(total=Sum("spend")).order_by():
        if r["total"]:
            cells[(channel_key(r["channel_account"]), r["campaign"])]["spend"] += r["total"]

    kinds = dict(ChannelKind.choices)

    def channel_label(key):
        if key is None:
            return _("未指定渠道")
        return str(kinds.get(key, key)) if by == "kind" else accounts[key].name

    def channel_code(key):
        if key is None:
            return ""
        return key if by == "kind" else accounts[key].code

    rows = []
    for (channel, campaign), cell in cells.items():
        if not any(cell.values()):
            continue
        rows.append(
            {
                "channel": channel_code(channel),
                "channel_name": channel_label(channel),
                "campaign": campaign,
                "campaign_name": campaign_names.get(campaign) or _("无活动（自然）"),
                **_ratios({**cell, "campaign_revenue": cell["revenue"] if campaign else ZERO}),
            }
        )
    rows.sort(key=lambda r: (r["campaign"] is None, -r["revenue"], r["channel_name"]))
    return {
        "start": start, "end": end, "model": model, "by": by,
        "rows": rows,
        "channels": _totals(rows, "channel", "channel_name"),
        "campaigns": _totals(rows, "campaign", "campaign_name"),
        "total": _ratios(_sum(rows)),
    }  # fmt: skip


def _ratios(cell: dict) -> dict:
    """Money to the cent, shares to 4 decimals, and the ratios. ROI, ROAS and CAC are on
    `campaign_revenue` / `campaign_new_buyers` (what campaigns earned for their spend),
    which for a single cell is its own revenue."""
    spend = cell["spend"].quantize(CENT)
    revenue = cell["revenue"].quantize(CENT)
    earned = cell.get("campaign_revenue", cell["revenue"]).quantize(CENT)
    new_buyers = cell.get("campaign_new_buyers", cell["new_buyers"])
    return {
        "spend": spend,
        "revenue": revenue,
        "campaign_revenue": earned,
        "orders": cell["orders"].quantize(SHARE),
        "new_buyers": cell["new_buyers"].quantize(SHARE),
        "roi": float((earned - spend) / spend) if spend else None,
        "roas": float(earned / spend) if spend else None,
        "cac": float(spend / new_buyers) if spend and new_buyers else None,
    }


def _sum(rows: list[dict]) -> dict:
    total = {"spend": ZERO, "revenue": ZERO, "orders": ZERO, "new_buyers": ZERO,
             "campaign_revenue": ZERO, "campaign_new_buyers": ZERO}  # fmt: skip
    for row in rows:
        for name in ("spend", "revenue", "orders", "new_buyers"):
            total[name] += row[name]
        if row["campaign"] is not None:
            total["campaign_revenue"] += row["revenue"]
            total["campaign_new_buyers"] += row["new_buyers"]
    return total


def _totals(rows: list[dict], key: str, label: str) -> list[dict]:
    groups: dict = {}
    for row in rows:
        groups.setdefault(row[key], (row[label], []))[1].append(row)
    totals = [
        {key: k, label: name, **_ratios(_sum(members))} for k, (name, members) in groups.items()
    ]
    return sorted(totals, key=lambda r: -r["revenue"])


def top_campaigns(*, start: date, end: date, model=AttributionModel.LAST_TOUCH, limit=5):
    """The campaigns with the most attributed revenue in the range (no-campaign left out)."""
    matrix = roi_matrix(start=start, end=end, model=model)
    return [c for c in matrix["campaigns"] if c["campaign"] is not None][:limit]
