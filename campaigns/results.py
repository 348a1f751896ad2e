"""A campaign's money and results: spend entries in (by hand or CSV), goals vs actuals out.

Attribution is last touch: an order paid within `ATTRIBUTION_WINDOW` after a sent delivery is
credited to the last delivery the customer got before it (whatever its campaign), so an order
counts once, for one campaign.
"""

import csv
import io
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    ExpressionWrapper,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from campaigns.choices import DeliveryStatus, GoalMetric
from campaigns.models import Campaign, Delivery, LinkClick, SpendEntry
from customers.choices import REVENUE_STATUSES
from customers.models import Order

ATTRIBUTION_WINDOW = timedelta(days=7)
ZERO = Decimal(0)


def _sent(campaign: Campaign):
    return Delivery.objects.filter(
        run__push__campaign=campaign, status=DeliveryStatus.SENT, sent_at__isnull=False
    )


def attributed_orders(*, campaign: Campaign) -> dict:
    """Orders (count and revenue) whose last preceding delivery in the window is this
    campaign's."""
    paid_at = OuterRef("paid_at")
    window_start = ExpressionWrapper(
        paid_at - Value(ATTRIBUTION_WINDOW), output_field=DateTimeField()
    )
    last_touch = (
        Delivery.objects.filter(
            customer=OuterRef("customer"),
            status=DeliveryStatus.SENT,
            sent_at__lte=paid_at,
            sent_at__gte=window_start,
        )
        .order_by("-sent_at", "-id")
        .values("run__push__campaign")[:1]
    )
    totals = (
        Order.objects.filter(
            status__in=REVENUE_STATUSES,
            paid_at__isnull=False,
            customer__in=_sent(campaign).values("customer"),
        )
        .annotate(credited_to=Subquery(last_touch))
        .filter(credited_to=campaign.pk)
        .aggregate(orders=Count("pk"), revenue=Sum("amount"))
    )
    return {"orders": totals["orders"], "revenue": totals["revenue"] or ZERO}


def campaign_results(*, campaign: Campaign) -> dict:
    """Reach, clicks, attributed orders and revenue, spend and ROI, and each goal's progress."""
    clickers = (
        LinkClick.objects.filter(customer__isnull=False)
        .filter(Q(link__campaign=campaign) | Q(link__push__campaign=campaign))
        .values("customer")
        .distinct()
    )
    spend = campaign.spend.aggregate(total=Sum("amount"))["total"] or ZERO
    numbers = {
        "reach": _sent(campaign).count(),
        "clicks": clickers.count(),
        **attributed_orders(campaign=campaign),
        "spend": spend,
    }
    numbers["roi"] = (numbers["revenue"] - spend) / spend if spend else None
    numbers["budget_used"] = int(spend * 100 / campaign.budget) if campaign.budget else None
    numbers["goals"] = [_goal(goal, numbers) for goal in campaign.goals.all()]
    return numbers


def _goal(goal, numbers: dict) -> dict:
    actual = {
        GoalMetric.REVENUE: numbers["revenue"],
        GoalMetric.ORDERS: numbers["orders"],
        GoalMetric.REACH: numbers["reach"],
        GoalMetric.CLICKS: numbers["clicks"],
        GoalMetric.ROI: numbers["roi"],
    }.get(goal.metric)  # new followers are not attributed to campaigns yet
    progress = None
    if actual is not None and goal.target > 0:
        progress = max(0, min(100, int(Decimal(actual) * 100 / goal.target)))
    return {"goal": goal, "actual": actual, "progress": progress}


def spend_by_channel(*, campaign: Campaign) -> list[dict]:
    """Spend per channel account (None: not tied to a channel), largest first."""
    rows = (
        campaign.spend.values("channel_account__name")
        .annotate(total=Sum("amount"))
        .order_by("-total")
    )
    return [{"channel": r["channel_account__name"], "total": r["total"]} for r in rows]


# --- spend import --------------------------------------------------------------------------


class SpendImportError(ValidationError):
    """Rows of a spend CSV that cannot be imported: `rows` lists (line, message)."""

    def __init__(self, rows: list[tuple[int, str]]):
        super().__init__([f"{line}: {message}" for line, message in rows])
        self.rows = rows


@transaction.atomic
def spend_import(*, campaign: Campaign, text: str) -> int:
    """Import spend rows `date,channel code,amount,note` (a header row is optional); nothing
    is written unless every row is valid. Returns the number of entries created."""
    from channels.models import ChannelAccount

    accounts = {a.code: a for a in ChannelAccount.objects.all()}
    entries, errors = [], []
    for line, row in enumerate(csv.reader(io.StringIO(text.lstrip("\ufeff"))), start=1):
        if not any(cell.strip() for cell in row):
            continue
        if line == 1 and row[0].strip().lower() in ("date", "日期"):
            continue
        entry, error = _spend_row(campaign, row, accounts)
        if error:
            errors.append((line, error))
        else:
            entries.append(entry)
    if errors:
        raise SpendImportError(errors)
    if not entries:
        raise SpendImportError([(0, _("文件里没有花费记录"))])
    SpendEntry.objects.bulk_create(entries)
    return len(entries)


def _spend_row(campaign, row, accounts) -> tuple[SpendEntry | None, str]:
    cells = [cell.strip() for cell in row] + [""] * 4
    day_text, code, amount_text, note = cells[:4]
    try:
        day = parse_date(day_text)
    except ValueError:
        day = None
    if day is None:
        return None, _("日期“%(value)s”无效，应为 YYYY-MM-DD") % {"value": day_text}
    account = accounts.get(code) if code else None
    if code and account is None:
        return None, _("未知的渠道代码“%(value)s”") % {"value": code}
    try:
        amount = Decimal(amount_text.replace(",", ""))
    except InvalidOperation:
        return None, _("金额“%(value)s”无效") % {"value": amount_text}
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:
        return None, _("金额必须是正数，最多两位小数")
    if len(note) > 200:
        return None, _("备注超过 200 字")
    entry = SpendEntry(
        campaign=campaign, channel_account=account, spent_on=day, amount=amount, note=note
    )
    return entry, ""
