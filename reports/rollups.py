"""Daily rollups: what the dashboards read. Computed set-wise for a range of days at once (a
handful of GROUP BY queries per chunk of days, not a query per day), then written by
replacing the range's rows in one transaction, so recomputing a range is idempotent and a
dashboard never sees half a day. Beat recomputes the last days after midnight (T+1) and
today's figures through the day; operators backfill any range (console, command, task).

What each number means: docs/metrics.md.
"""

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from campaigns.choices import DeliveryStatus, EnrolmentStatus, StepRunStatus
from campaigns.models import Delivery, Enrolment, JourneyStep, LinkClick, SpendEntry, StepRun
from customers.choices import REVENUE_STATUSES, OrderStatus
from customers.models import Event, Order
from reports.attribution import WINDOW, Touch, in_window, split, weights
from reports.choices import AttributionModel, RollupStatus, RollupTrigger
from reports.models import (
    AttributionDay,
    CampaignDay,
    ChannelDay,
    JourneyStepDay,
    PushDay,
    RollupRun,
)

CHUNK_DAYS = 31
GROUP_EVENTS = ("join_group", "leave_group", "message_in")
ORDER_UNITS = 10_000  # attributed orders are kept to 4 decimals
ROLLUP_MODELS = (ChannelDay, CampaignDay, PushDay, JourneyStepDay, AttributionDay)


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The aware instants from local midnight of `start` to local midnight after `end`."""
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, time.min), tz),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz),
    )


def _day(field_name: str):
    return TruncDate(field_name, tzinfo=timezone.get_current_timezone())


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


@dataclass
class _Rows:
    """The rollup rows of one chunk, keyed so that several queries fill the same row."""

    channel: dict = field(default_factory=dict)
    campaign: dict = field(default_factory=dict)
    push: dict = field(default_factory=dict)
    step: dict = field(default_factory=dict)
    attribution: dict = field(default_factory=dict)

    def channel_row(self, day, account_id) -> ChannelDay:
        key = (day, account_id)
        if key not in self.channel:
            self.channel[key] = ChannelDay(
                day=day, channel_account_id=account_id, event_counts={}, event_users={}
            )
        return self.channel[key]

    def campaign_row(self, day, campaign_id, account_id) -> CampaignDay:
        key = (day, campaign_id, account_id)
        if key not in self.campaign:
            self.campaign[key] = CampaignDay(
                day=day, campaign_id=campaign_id, channel_account_id=account_id
            )
        return self.campaign[key]

    def push_row(self, day, push_id, account_id) -> PushDay:
        key = (day, push_id, account_id)
        if key not in self.push:
            self.push[key] = PushDay(day=day, push_id=push_id, channel_account_id=account_id)
        return self.push[key]

    def step_row(self, day, step_id, journey_id) -> JourneyStepDay:
        key = (day, step_id)
        if key not in self.step:
            self.step[key] = JourneyStepDay(day=day, step_id=step_id, journey_id=journey_id)
        return self.step[key]

    def all(self) -> dict:
        return {
            ChannelDay: list(self.channel.values()),
            CampaignDay: list(self.campaign.values()),
            PushDay: list(self.push.values()),
            JourneyStepDay: list(self.step.values()),
            AttributionDay: [
                AttributionDay(
                    day=day,
                    model=model,
                    campaign_id=campaign_id,
                    channel_account_id=account_id,
                    revenue=Decimal(cents) / 100,
                    orders=Decimal(units) / ORDER_UNITS,
                    new_buyers=Decimal(new_units) / ORDER_UNITS,
                )  # fmt: skip
                for (day, model, campaign_id, account_id), (
                    cents,
                    units,
                    new_units,
                ) in self.attribution.items()
            ],
        }


# --- channel accounts ------------------------------------------------------------------------


def new_user_counts(lo: datetime, hi: datetime) -> dict:
    """(day, account id) → customers whose first event ever on the account falls on that day,
    for the days in [lo, hi). One GROUP BY over all events, so a run makes it once, not once
    per chunk."""
    firsts = (
        Event.objects.exclude(channel_account=None)
        .values("customer", "channel_account")
        .annotate(first=Min("occurred_at"))
        .filter(first__gte=lo, first__lt=hi)
        .values_list("channel_account", "first")
    )
    counts: dict = defaultdict(int)
    for account_id, first in firsts.iterator(chunk_size=20_000):
        counts[(local_day(first), account_id)] += 1
    return dict(counts)


def _events(rows: _Rows, lo: datetime, hi: datetime, new_users: dict | None) -> None:
    events = Event.objects.filter(occurred_at__gte=lo, occurred_at__lt=hi).exclude(
        channel_account=None
    )
    by_name = (
        events.annotate(d=_day("occurred_at"))
        .values("d", "channel_account", "name")
        .annotate(n=Count("pk"), u=Count("customer", distinct=True))
        .order_by()
    )
    for r in by_name:
        row = rows.channel_row(r["d"], r["channel_account"])
        row.event_counts[r["name"]] = r["n"]
        row.event_users[r["name"]] = r["u"]
        row.events += r["n"]
    active = (
        events.annotate(d=_day("occurred_at"))
        .values("d", "channel_account")
        .annotate(u=Count("customer", distinct=True))
        .order_by()
    )
    for r in active:
        rows.channel_row(r["d"], r["channel_account"]).active_users = r["u"]
    groups = (
        events.filter(name__in=GROUP_EVENTS, properties__has_key="group")
        .annotate(d=_day("occurred_at"), g=KT("properties__group"))
        .values("d", "channel_account")
        .annotate(n=Count("g", distinct=True))
        .order_by()
    )
    for r in groups:
        rows.channel_row(r["d"], r["channel_account"]).active_groups = r["n"]
    for (day, account_id), n in (new_users or {}).items():
        if lo <= day_bounds(day, day)[0] < hi:
            rows.channel_row(day, account_id).new_users = n
    for row in rows.channel.values():
        row.returning_users = max(0, row.active_users - row.new_users)


def _orders(rows: _Rows, lo: datetime, hi: datetime) -> None:
    paid = Order.objects.filter(paid_at__gte=lo, paid_at__lt=hi).exclude(channel_account=None)
    first_paid = (
        Order.objects.filter(status__in=REVENUE_STATUSES, paid_at__isnull=False)
        .values("customer")
        .annotate(first=Min("paid_at"))
    )
    firsts = {
        r["customer"]: r["first"]
        for r in first_paid.filter(
            customer__in=paid.filter(status__in=REVENUE_STATUSES).values("customer")
        )
    }
    buyers: dict = defaultdict(set)
    returning: dict = defaultdict(set)
    for customer_id, account_id, paid_at, amount, status in paid.values_list(
        "customer", "channel_account", "paid_at", "amount", "status"
    ).iterator(chunk_size=20_000):
        day = local_day(paid_at)
        row = rows.channel_row(day, account_id)
        if status in REVENUE_STATUSES:
            row.orders += 1
            row.gmv += amount
            buyers[(day, account_id)].add(customer_id)
            if local_day(firsts[customer_id]) < day:
                returning[(day, account_id)].add(customer_id)
        elif status == OrderStatus.REFUNDED:
            row.refunds += 1
            row.refund_amount += amount
    for key, people in buyers.items():
        row = rows.channel.get(key)
        row.buyers = len(people)
        row.returning_buyers = len(returning.get(key, ()))


# --- messages, clicks, spend ----------------------------------------------------------------


def _messages(rows: _Rows, lo: datetime, hi: datetime) -> None:
    deliveries = Delivery.objects.filter(
        Q(status=DeliveryStatus.SENT, sent_at__gte=lo, sent_at__lt=hi)
        | Q(
            status__in=(DeliveryStatus.FAILED, DeliveryStatus.SKIPPED),
            sent_at__isnull=True,
            run__started_at__gte=lo,
            run__started_at__lt=hi,
        )
    )
    grouped = (
        deliveries.annotate(
            d=TruncDate(
                Coalesce("sent_at", "run__started_at"), tzinfo=timezone.get_current_timezone()
            )
        )
        .values("d", "channel_account", "run__push", "run__push__campaign", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for r in grouped:
        day, account_id, status, n = r["d"], r["channel_account"], r["status"], r["n"]
        push_row = rows.push_row(day, r["run__push"], account_id)
        channel_row = rows.channel_row(day, account_id)
        campaign_row = (
            rows.campaign_row(day, r["run__push__campaign"], account_id)
            if r["run__push__campaign"]
            else None
        )
        if status == DeliveryStatus.SENT:
            push_row.sent += n
            channel_row.sent += n
            if campaign_row:
                campaign_row.sent += n
        elif status == DeliveryStatus.FAILED:
            push_row.failed += n
            channel_row.failed += n
            if campaign_row:
                campaign_row.failed += n
        else:
            push_row.skipped += n
    journey_sends = (
        StepRun.objects.filter(
            outcome="sent", status=StepRunStatus.DONE, finished_at__gte=lo, finished_at__lt=hi
        )
        .exclude(channel_account=None)
        .annotate(d=_day("finished_at"))
        .values("d", "channel_account", "enrolment__journey__campaign")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for r in journey_sends:
        rows.channel_row(r["d"], r["channel_account"]).sent += r["n"]
        if r["enrolment__journey__campaign"]:
            rows.campaign_row(
                r["d"], r["enrolment__journey__campaign"], r["channel_account"]
            ).sent += r["n"]
    clicks = (
        LinkClick.objects.filter(clicked_at__gte=lo, clicked_at__lt=hi)
        .annotate(
            d=_day("clicked_at"),
            campaign=Coalesce("link__campaign", "link__push__campaign"),
            push=Coalesce("link__push", "delivery__run__push"),
        )
        .values("d", "delivery__channel_account", "campaign", "push")
        .annotate(n=Count("pk"), u=Count("customer", distinct=True))
        .order_by()
    )
    for r in clicks:
        account_id = r["delivery__channel_account"]
        if account_id:
            rows.channel_row(r["d"], account_id).clicks += r["n"]
            if r["push"]:
                rows.push_row(r["d"], r["push"], account_id).clicks += r["n"]
        if r["campaign"]:
            row = rows.campaign_row(r["d"], r["campaign"], account_id)
            row.clicks += r["n"]
            row.clickers += r["u"]
    spend = (
        SpendEntry.objects.filter(spent_on__gte=local_day(lo), spent_on__lt=local_day(hi))
        .values("spent_on", "campaign", "channel_account")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for r in spend:
        rows.campaign_row(r["spent_on"], r["campaign"], r["channel_account"]).spend += r["total"]
        if r["channel_account"]:
            rows.channel_row(r["spent_on"], r["channel_account"]).spend += r["total"]


def _journeys(rows: _Rows, lo: datetime, hi: datetime) -> None:
    runs = (
        StepRun.objects.filter(started_at__gte=lo, started_at__lt=hi)
        .annotate(d=_day("started_at"))
        .values("d", "step", "step__journey", "status", "outcome")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for r in runs:
        row = rows.step_row(r["d"], r["step"], r["step__journey"])
        row.entered += r["n"]
        if r["status"] == StepRunStatus.DONE:
            row.done += r["n"]
            if r["outcome"] == "sent":
                row.sent += r["n"]
        elif r["status"] == StepRunStatus.SKIPPED:
            row.skipped += r["n"]
        elif r["status"] in (StepRunStatus.FAILED, StepRunStatus.UNKNOWN):
            row.failed += r["n"]
    exits = (
        Enrolment.objects.filter(
            status=EnrolmentStatus.GOAL, finished_at__gte=lo, finished_at__lt=hi
        )
        .annotate(d=_day("finished_at"))
        .values("d", "journey", "position")
        .annotate(n=Count("pk"))
        .order_by()
    )
    steps: dict = defaultdict(dict)
    for step_id, journey_id, position in JourneyStep.objects.values_list(
        "pk", "journey", "position"
    ):
        steps[journey_id][position] = step_id
    for r in exits:
        positions = steps.get(r["journey"])
        if not positions:
            continue
        # the step the enrolment was waiting at, or the last one when it had gone past it
        step_id = positions.get(r["position"]) or positions[max(positions)]
        rows.step_row(r["d"], step_id, r["journey"]).goal_exits += r["n"]


# --- attribution -------------------------------------------------------------------------------


def _touches(customer_ids: list[int], lo: datetime, hi: datetime) -> dict[int, list[Touch]]:
    """Each customer's messages from a window before `lo` to `hi`, in time order."""
    touches: dict[int, list[Touch]] = defaultdict(list)
    for start in range(0, len(customer_ids), 5000):
        ids = customer_ids[start : start + 5000]
        for customer_id, at, account_id, campaign_id, push_id in Delivery.objects.filter(
            customer__in=ids,
            status=DeliveryStatus.SENT,
            sent_at__gte=lo - WINDOW,
            sent_at__lt=hi,
        ).values_list("customer", "sent_at", "channel_account", "run__push__campaign", "run__push"):
            touches[customer_id].append(Touch(at, account_id, campaign_id, push_id))
        for customer_id, at, account_id, campaign_id in StepRun.objects.filter(
            enrolment__customer__in=ids,
            outcome="sent",
            status=StepRunStatus.DONE,
            finished_at__gte=lo - WINDOW,
            finished_at__lt=hi,
        ).values_list(
            "enrolment__customer", "finished_at", "channel_account", "enrolment__journey__campaign"
        ):
            touches[customer_id].append(Touch(at, account_id, campaign_id))
    for found in touches.values():
        found.sort(key=lambda t: (t.at, t.channel_account_id or 0))
    return touches


def _attribution(rows: _Rows, lo: datetime, hi: datetime) -> None:
    orders = list(
        Order.objects.filter(
            status__in=REVENUE_STATUSES, paid_at__gte=lo, paid_at__lt=hi
        ).values_list("customer", "channel_account", "paid_at", "amount", "pk")
    )
    if not orders:
        return
    customer_ids = sorted({o[0] for o in orders})
    firsts = dict(
        Order.objects.filter(
            status__in=REVENUE_STATUSES, paid_at__isnull=False, customer__in=customer_ids
        )
        .values("customer")
        .annotate(first=Min("paid_at"))
        .values_list("customer", "first")
    ) if len(customer_ids) <= 50_000 else _firsts_by_chunk(customer_ids)  # fmt: skip
    touches = _touches(customer_ids, lo, hi)
    first_order: dict[int, int] = {}
    for customer_id, _account, paid_at, _amount, pk in sorted(orders, key=lambda o: (o[2], o[4])):
        if paid_at == firsts.get(customer_id) and customer_id not in first_order:
            first_order[customer_id] = pk
    for customer_id, order_account, paid_at, amount, pk in orders:
        day = local_day(paid_at)
        found = touches.get(customer_id, [])
        cut = bisect.bisect_right([t.at for t in found], paid_at)
        window = in_window(found[:cut], paid_at)
        cents = int((amount * 100).to_integral_value())
        is_new = first_order.get(customer_id) == pk
        for model in AttributionModel.values:
            if window:
                shares = weights(model, window, paid_at)
                keys = [(day, model, t.campaign_id, t.channel_account_id) for t in window]
            else:  # no message before it: the order's own channel, no campaign
                shares = [1]
                keys = [(day, model, None, order_account)]
            for key, money, units in zip(
                keys, split(cents, shares), split(ORDER_UNITS, shares), strict=True
            ):
                total = rows.attribution.get(key, (0, 0, 0))
                rows.attribution[key] = (
                    total[0] + money,
                    total[1] + units,
                    total[2] + (units if is_new else 0),
                )
        if window and window[-1].push_id:  # the push's last-touch orders and revenue
            last = window[-1]
            row = rows.push_row(day, last.push_id, last.channel_account_id)
            row.orders += 1
            row.revenue += amount


def _firsts_by_chunk(customer_ids: list[int]) -> dict[int, datetime]:
    firsts = {}
    for start in range(0, len(customer_ids), 50_000):
        firsts.update(
            Order.objects.filter(
                status__in=REVENUE_STATUSES,
                paid_at__isnull=False,
                customer__in=customer_ids[start : start + 50_000],
            )
            .values("customer")
            .annotate(first=Min("paid_at"))
            .values_list("customer", "first")
        )
    return firsts


# --- running ---------------------------------------------------------------------------------


def rollups_compute(*, start: date, end: date, new_users: dict | None = None) -> dict:
    """The rollup rows for `start`..`end` (not written); `new_users` may be given from a
    wider range (see new_user_counts)."""
    lo, hi = day_bounds(start, end)
    if new_users is None:
        new_users = new_user_counts(lo, hi)
    rows = _Rows()
    _events(rows, lo, hi, new_users)
    _orders(rows, lo, hi)
    _messages(rows, lo, hi)
    _journeys(rows, lo, hi)
    _attribution(rows, lo, hi)
    return rows.all()


@transaction.atomic
def rollups_write(*, start: date, end: date, rows: dict) -> int:
    """Replace the range's rollup rows with `rows`; returns how many were written."""
    written = 0
    for model in ROLLUP_MODELS:
        model.objects.filter(day__gte=start, day__lte=end).delete()
        made = [r for r in rows.get(model, []) if start <= r.day <= end]
        model.objects.bulk_create(made, batch_size=2000)
        written += len(made)
    return written


def rollup_run_create(*, start: date, end: date, trigger: str, user=None) -> RollupRun:
    """A queued run for the range (the task or command carries it out)."""
    return RollupRun.objects.create(
        start=start,
        end=end,
        trigger=trigger,
        days_total=(end - start).days + 1,
        created_by=user,
    )


def rollup_run_execute(*, run: RollupRun) -> RollupRun:
    """Compute and write the run's range, a chunk of days at a time, recording progress; a
    failure marks the run failed (the chunks already written stay correct)."""
    RollupRun.objects.filter(pk=run.pk).update(
        status=RollupStatus.RUNNING, started_at=timezone.now(), days_done=0, error=""
    )
    written = 0
    try:
        new_users = new_user_counts(*day_bounds(run.start, run.end))
        chunk_start = run.start
        while chunk_start <= run.end:
            chunk_end = min(run.end, chunk_start + timedelta(days=CHUNK_DAYS - 1))
            rows = rollups_compute(start=chunk_start, end=chunk_end, new_users=new_users)
            written += rollups_write(start=chunk_start, end=chunk_end, rows=rows)
            RollupRun.objects.filter(pk=run.pk).update(
                days_done=(chunk_end - run.start).days + 1, rows_written=written
            )
            chunk_start = chunk_end + timedelta(days=1)
    except Exception as exc:  # recorded for the operator, then raised for the worker's log
        RollupRun.objects.filter(pk=run.pk).update(
            status=RollupStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    RollupRun.objects.filter(pk=run.pk).update(
        status=RollupStatus.DONE, finished_at=timezone.now(), rows_written=written
    )
    run.refresh_from_db()
    return run


def rollups_refresh(*, start: date, end: date, trigger: str = RollupTrigger.COMMAND, user=None):
    """Create and carry out a run at once (the command, Beat's task, tests)."""
    run = rollup_run_create(start=start, end=end, trigger=trigger, user=user)
    return rollup_run_execute(run=run)


def rollups_recent(*, days: int = 2) -> RollupRun:
    """Beat: today so far and the `days` before it (late events and orders land there)."""
    today = timezone.localdate()
    return rollups_refresh(
        start=today - timedelta(days=days), end=today, trigger=RollupTrigger.BEAT
    )


def rollups_coverage() -> tuple[date | None, date | None]:
    """The first and last day any channel rollup exists for."""
    agg = ChannelDay.objects.aggregate(first=Min("day"), last=Max("day"))
    return agg["first"], agg["last"]
