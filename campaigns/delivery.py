"""Who a push reaches, on which channel, and why not: the estimate and the materialisation.

Every rule is a set of customers expressed as a `Q` on `Customer`, so `push_estimate` counts
with the same conditions `run_materialise` inserts with (one `INSERT … SELECT` per channel,
then one for the customers no channel can reach). Each customer of the audience gets exactly
one row in a run: pending (or deferred by quiet hours) on the first channel in the push's
fallback order that can reach them, otherwise skipped on the first channel with the reason.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.fields.json import KT, KeyTextTransform
from django.db.models.functions import Mod
from django.utils import timezone

from campaigns.choices import DeliveryStatus, SkipReason
from campaigns.models import Delivery, MessagingSettings, Push, PushRun
from channels.choices import ChannelKind
from customers.choices import ConsentChannel, ConsentStatus, IdentityKind
from customers.models import Consent, Identity

# channel kind → (identity kind, scoped by the account code)
CHANNEL_IDENTITY = {
    ChannelKind.WECHAT_OA: (IdentityKind.WECHAT_OPENID, True),
    ChannelKind.WECHAT_MINI: (IdentityKind.WECHAT_OPENID, True),
    ChannelKind.WECOM: (IdentityKind.WECOM_EXTERNAL_USERID, True),
    ChannelKind.DOUYIN: (IdentityKind.DOUYIN_OPEN_ID, True),
    ChannelKind.SMS: (IdentityKind.PHONE, False),
    ChannelKind.EMAIL: (IdentityKind.EMAIL, False),
    ChannelKind.APP: (IdentityKind.APP_USER_ID, False),
}
CHANNEL_CONSENT = {
    ChannelKind.WECHAT_OA: ConsentChannel.WECHAT_OA,
    ChannelKind.WECHAT_MINI: ConsentChannel.WECHAT_MINI,
    ChannelKind.WECOM: ConsentChannel.WECOM,
    ChannelKind.DOUYIN: ConsentChannel.DOUYIN,
    ChannelKind.SMS: ConsentChannel.SMS,
    ChannelKind.EMAIL: ConsentChannel.EMAIL,
    ChannelKind.APP: ConsentChannel.APP_PUSH,
}
SENDABLE_KINDS = tuple(CHANNEL_IDENTITY)
FREQUENCY_WINDOW = timedelta(days=7)
OA_MONTHLY_MASS_MESSAGES = 4  # what WeChat allows a follower to receive per calendar month
HASH_MULTIPLIER = 61  # spreads consecutive ids over the 100 A/B buckets


def _identity(account, customer_ref="pk"):
    kind, scoped = CHANNEL_IDENTITY[account.kind]
    return Identity.objects.filter(
        customer=OuterRef(customer_ref), kind=kind, scope=account.code if scoped else ""
    )


@dataclass
class _Rules:
    """The push's conditions as sets of customers, evaluated at `now`."""

    push: Push
    now: datetime
    settings: MessagingSettings

    @cached_property
    def accounts(self) -> list:
        channels = self.push.channels.select_related("channel_account").order_by("position")
        return [c.channel_account for c in channels]

    @cached_property
    def zone(self):
        return _zone(self.settings.timezone) or ZoneInfo("Asia/Shanghai")

    def do_not_contact(self) -> Q:
        # has_key first: the comparison alone is NULL for customers without the key, and a
        # NULL would drop them from the negated conditions below
        return Q(attributes__has_key="do_not_contact", attributes__do_not_contact=True)

    def capped(self) -> Q:
        if not self.push.apply_frequency_cap:
            return Q(pk__in=[])
        recent = (
            Delivery.objects.filter(
                status=DeliveryStatus.SENT, sent_at__gte=self.now - FREQUENCY_WINDOW
            )
            .values("customer")
            .annotate(n=Count("id"))
            .filter(n__gte=self.settings.frequency_cap)
            .values("customer")
        )
        return Q(pk__in=recent)

    def blocked(self) -> Q:
        """Customer-wide reasons: nothing may be sent on any channel."""
        return self.do_not_contact() | self.capped()

    def has_identity(self, account) -> Q:
        return Q(Exists(_identity(account)))

    def consented(self, account) -> Q:
        revoked = Consent.objects.filter(
            customer=OuterRef("pk"),
            channel=CHANNEL_CONSENT[account.kind],
            status=ConsentStatus.REVOKED,
        )
        return ~Q(Exists(revoked))

    def within_quota(self, account) -> Q:
        if account.kind != ChannelKind.WECHAT_OA:
            return Q()
        local = self.now.astimezone(self.zone)
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        used = (
            Delivery.objects.filter(
                channel_account=account, status=DeliveryStatus.SENT, sent_at__gte=month_start
            )
            .values("customer")
            .annotate(n=Count("id"))
            .filter(n__gte=OA_MONTHLY_MASS_MESSAGES)
            .values("customer")
        )
        return ~Q(pk__in=used)

    def reachable(self, account) -> Q:
        return self.has_identity(account) & self.reachable_given_identity(account)

    def reachable_given_identity(self, account) -> Q:
        """`reachable` for customers known to have an identity on the account's channel."""
        return ~self.blocked() & self.consented(account) & self.within_quota(account)

    def first_reachable(self) -> list[tuple[object, Q]]:
        """(account, the customers whose first reachable channel it is), in fallback order."""
        result, earlier = [], Q(pk__in=[])
        for account in self.accounts:
            here = self.reachable(account)
            result.append((account, here & ~earlier))
            earlier |= here
        return result

    def unreachable(self) -> Q:
        anywhere = Q(pk__in=[])
        for account in self.accounts:
            anywhere |= self.reachable(account)
        return ~anywhere

    def skip_reason(self) -> Case:
        """Why an unreachable customer is skipped: the first that applies."""
        any_identity, quota_only = Q(pk__in=[]), Q(pk__in=[])
        for account in self.accounts:
            any_identity |= self.has_identity(account)
            quota_only |= self.has_identity(account) & self.consented(account)
        return Case(
            When(self.do_not_contact(), then=Value(SkipReason.DO_NOT_CONTACT.value)),
            When(self.capped(), then=Value(SkipReason.FREQUENCY_CAP.value)),
            When(~any_identity, then=Value(SkipReason.NO_IDENTITY.value)),
            When(quota_only, then=Value(SkipReason.PLATFORM_QUOTA.value)),
            default=Value(SkipReason.NO_CONSENT.value),
            output_field=CharField(),
        )


def _zone(name: str):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _rules(push: Push, now: datetime | None = None) -> _Rules:
    return _Rules(push=push, now=now or timezone.now(), settings=MessagingSettings.load())


def audience_customers(push: Push):
    """The push's audience as a Customer queryset (a snapshot's frozen list, or live)."""
    from tags.selectors import audience_members

    return audience_members(audience=push.audience).order_by()


def push_estimate(*, push: Push, now: datetime | None = None) -> dict:
    """What a run would do now: audience size, first-reachable count per channel account,
    skipped customers per reason. Counts only; writes nothing."""
    rules = _rules(push, now)
    members = audience_customers(push)
    by_channel = {
        account.pk: members.filter(condition).count()
        for account, condition in rules.first_reachable()
    }
    skipped = (
        members.filter(rules.unreachable())
        .annotate(reason=rules.skip_reason())
        .values("reason")
        .annotate(n=Count("id"))
    )
    skips = {row["reason"]: row["n"] for row in skipped}
    return {"audience": members.count(), "by_channel": by_channel, "skips": skips}


# --- materialisation -----------------------------------------------------------------------


def quiet_until(*, now: datetime, settings: MessagingSettings, zone) -> datetime | None:
    """The next end of quiet hours when `now` (in `zone`) is inside them, else None."""
    local = now.astimezone(zone)
    start, end, t = settings.quiet_start, settings.quiet_end, local.time()
    if isinstance(start, str):  # an unsaved default
        start, end = (datetime.strptime(v, "%H:%M").time() for v in (start, end))
    inside = (t >= start or t < end) if start > end else (start <= t < end)
    if not inside or start == end:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until


def _deferrals(rules: _Rules, members) -> tuple[datetime | None, dict[str, datetime | None]]:
    """Deferral for the default time zone and for each time zone customers carry."""
    if not rules.push.respect_quiet_hours:
        return None, {}
    default = quiet_until(now=rules.now, settings=rules.settings, zone=rules.zone)
    zones = (
        members.filter(attributes__has_key="timezone")
        .annotate(tz=KT("attributes__timezone"))
        .values_list("tz", flat=True)
        .distinct()
    )
    by_zone = {}
    for name in zones:
        zone = _zone(name or "")
        if zone is not None:
            by_zone[name] = quiet_until(now=rules.now, settings=rules.settings, zone=zone)
    return default, by_zone


def _ab_split(push: Push, winner=None) -> tuple[int, list[tuple[float, int]]]:
    """(test share in %, [(bucket upper bound, variant id)]); no variants → (100, [])."""
    variants = list(push.variants.order_by("label"))
    if winner is not None:
        return 100, [(100.0, winner.pk)]
    if not variants:
        return 100, []
    percent, bounds, total = push.ab_test_percent or 100, [], 0
    for variant in variants:
        total += variant.share
        bounds.append((percent * total / 100.0, variant.pk))
    return percent, bounds


def _insert(run: PushRun, account, selected, *, status_sql: str, status_params: list) -> int:
    """INSERT … SELECT a delivery per row of `selected` (values d_customer, d_recipient,
    d_bucket, d_tz, d_reason) on `account`; `selected` holds no customer with a row on the
    account already (on SQLite, one that has is left alone)."""
    sql, params = selected.query.sql_with_params()
    table = connection.ops.quote_name(Delivery._meta.db_table)
    # PostgreSQL: the rows are unique already (DISTINCT ON, one statement per channel, the
    # skipped have no row yet) and ON CONFLICT would make every insert a speculative one,
    # which costs more a row. SQLite: it drops a customer's second identity (first one wins).
    conflicts = "" if connection.vendor == "postgresql" else " ON CONFLICT DO NOTHING"
    columns = (
        "run_id, customer_id, channel_account_id, variant_id, recipient, status, skip_reason, "
        "deferred_until, platform_id, error"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT %s, m.d_customer, %s, {status_sql}, '', '' "
            f"FROM ({sql}) m WHERE 1 = 1{conflicts}",
            [run.pk, account.pk, *status_params, *params],
        )
        return cursor.rowcount


def _variant_sql(bounds) -> tuple[str, list]:
    if not bounds:
        return "NULL", []
    whens = " ".join("WHEN m.d_bucket < %s THEN %s" for _ in bounds)
    return f"CASE {whens} END", [p for bound in bounds for p in bound]


def _deferred_sql(default, by_zone) -> tuple[str, list]:
    """SQL for (status, deferred_until) from the customer's time zone column m.d_tz."""
    adapt = connection.ops.adapt_datetimefield_value
    whens, params = [], []
    for name, until in by_zone.items():
        whens.append("WHEN m.d_tz = %s THEN %s")
        params += [name, adapt(until) if until else None]
    if not whens and default is None:
        return f"'{DeliveryStatus.PENDING}', '', NULL", []
    until_sql = f"CASE {' '.join(whens)} ELSE %s END" if whens else "%s"
    until_params = [*params, adapt(default) if default else None]
    status_sql = (
        f"CASE WHEN ({until_sql}) IS NULL THEN '{DeliveryStatus.PENDING}' "
        f"ELSE '{DeliveryStatus.DEFERRED}' END"
    )
    return f"{status_sql}, '', {until_sql}", [*until_params, *until_params]


@transaction.atomic
def run_materialise(*, run: PushRun, winner=None, now: datetime | None = None) -> int:
    """Write the run's deliveries set-wise; returns how many rows were added.

    Without `winner`: the audience (only its A/B test share when the push tests variants on
    part of it). With `winner`: the rest of the audience, all on the winning variant.
    A run already materialised is left as it is (0 rows added); with `winner`, customers
    who already have a row are left out.
    """
    push = run.push
    # one materialisation of a run at a time; a repeated one (a task delivered twice) finds
    # the rows there. Checked here rather than row by row: the table being written has no
    # fresh statistics, and an anti-join against it can make the planner loop per customer.
    PushRun.objects.select_for_update().filter(pk=run.pk).first()
    if winner is None and run.deliveries.exists():
        return 0
    if connection.vendor == "postgresql":
        # JIT compiling the skip reasons' CASE of subqueries costs seconds on a large
        # audience and wins nothing: these statements are bound by writing the rows
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
    rules = _rules(push, now)
    members = audience_customers(push)
    if winner is not None:  # the test share's rows are few
        members = members.exclude(Exists(Delivery.objects.filter(run=run, customer=OuterRef("pk"))))
    members = members.annotate(d_bucket=Mod(F("id") * HASH_MULTIPLIER, 100))
    percent, bounds = _ab_split(push, winner)
    if winner is not None:
        members = members.filter(d_bucket__gte=push.ab_test_percent)
    elif percent < 100:
        members = members.filter(d_bucket__lt=percent)
    default, by_zone = _deferrals(rules, members)
    members = members.annotate(d_customer=F("pk"))
    variant_sql, variant_params = _variant_sql(bounds)
    added = 0
    # customers without a row in the run yet: those an earlier channel (or the test share)
    # did not take. Cheaper than evaluating the earlier channels' conditions again, and the
    # same set: every customer reachable on a channel got a row on the first such.
    no_row_yet = ~Q(Exists(Delivery.objects.filter(run=run, customer=OuterRef("pk"))))
    state_sql, state_params = _deferred_sql(default, by_zone)
    for position, account in enumerate(rules.accounts):
        # the eligible customers joined to the channel's identity rows (the join is the
        # "has an identity" condition): no correlated "their identity" subquery per customer,
        # which with stale statistics both SQLite and PostgreSQL run through the (kind, scope,
        # value) index for every customer. A second identity of the same kind is left out
        # (the lowest value wins: DISTINCT ON on PostgreSQL; on SQLite rows go in that order
        # and the second conflicts).
        kind, scoped = CHANNEL_IDENTITY[account.kind]
        condition = rules.reachable_given_identity(account)
        if position:
            condition &= no_row_yet
        selected = (
            members.filter(condition)
            .filter(identities__kind=kind, identities__scope=account.code if scoped else "")
            .annotate(
                d_recipient=F("identities__value"),
                d_tz=KeyTextTransform("timezone", "attributes"),
            )
            .order_by("pk", "identities__value")
        )
        if connection.vendor == "postgresql":
            selected = selected.distinct("pk")  # the first of a customer's identities
        selected = selected.values("d_customer", "d_recipient", "d_bucket", "d_tz")
        added += _insert(
            run, account, selected,
            status_sql=f"{variant_sql}, m.d_recipient, {state_sql}",
            status_params=[*variant_params, *state_params],
        )  # fmt: skip
    if rules.accounts:
        selected = (
            members.filter(no_row_yet)
            .annotate(d_reason=rules.skip_reason())
            .values("d_customer", "d_reason", "d_bucket")
        )
        added += _insert(
            run, rules.accounts[0], selected,
            status_sql=f"{variant_sql}, '', '{DeliveryStatus.SKIPPED}', m.d_reason, NULL",
            status_params=variant_params,
        )  # fmt: skip
    run.planned = run.deliveries.count()
    run.save(update_fields=["planned"])
    return added
