"""SOP journeys: saving and checking them, enrolling whom their trigger names, and the engine
that moves enrolments through the steps (docs/journeys.md).

The engine runs from a Beat tick each minute (`journeys_tick`): it enrols (each journey's row
locked with SKIP LOCKED, so two ticks never enrol for the same journey at once), exits the
enrolments whose goal event arrived, then claims due enrolments (`next_run_at` passed) with
SKIP LOCKED, pushing `next_run_at` ahead as a lease, and advances each as far as it can go
now. An action step writes its `StepRun` (unique per enrolment and step) and commits before
the action: a second attempt finds the row and does not act again; a worker that died
mid-action leaves it `running`, and whoever takes the enrolment next marks it `unknown` and
moves on.
"""

import random
import time
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.actions import action_clean, actions_perform, int_or_none
from campaigns.choices import (
    ActionKind,
    EnrolmentStatus,
    JourneyKind,
    JourneyStatus,
    JourneyTrigger,
    ReentryPolicy,
    StepKind,
    StepRunStatus,
)
from campaigns.delivery import _zone, quiet_until
from campaigns.models import Enrolment, Journey, JourneyStep, MessagingSettings, StepRun
from channels.choices import ChannelKind
from channels.models import ChannelAccount, GroupChat, LiveCode
from common.audit import audit_record
from common.bulk import rows_update
from customers.choices import REVENUE_STATUSES
from customers.models import Customer, Event, Order

LEASE = timedelta(minutes=5)  # a claimed enrolment is due again after this if its worker died
LOOKBACK = timedelta(minutes=10)  # triggering rows committed late are still seen
# an event that reaches us more than this after it happened (a backfill) triggers nothing;
# it also lets the scan use the (name, occurred_at) index
STALE_EVENTS = timedelta(days=1)
BATCH = 200
MAX_STEPS = 30
BIRTHDAY_REPEAT = timedelta(days=300)
# "entered an audience" and birthdays evaluate a whole set of customers: every 15 minutes
WHOLE_SET_EVERY = timedelta(minutes=15)
TRIGGER_EVENTS = {
    JourneyTrigger.FOLLOWED: "subscribe",
    JourneyTrigger.LIVE_CODE: "add_external_contact",
}


# --- checking and saving -------------------------------------------------------------------


def _hhmm(value, path: str, errors: dict) -> str:
    try:
        return datetime.strptime(str(value), "%H:%M").strftime("%H:%M")
    except ValueError:
        errors[path] = _("时间格式应为 HH:MM，例如 10:00")
        return "00:00"


def _count(value, path: str, errors: dict, *, low: int = 0, high: int = 365) -> int:
    try:
        number = int(str(value if value not in (None, "") else 0))
        if isinstance(value, bool) or not low <= number <= high:
            raise ValueError
        return number
    except ValueError:
        errors[path] = _("应为 %(low)s 到 %(high)s 之间的整数") % {"low": low, "high": high}
        return 0


def _wait_clean(config: dict, path: str, errors: dict) -> dict:
    mode = config.get("mode", "duration")
    if mode == "duration":
        clean = {"mode": mode}
        for unit, high in (("days", 365), ("hours", 23 * 365), ("minutes", 59 * 365 * 24)):
            clean[unit] = _count(config.get(unit), f"{path}.{unit}", errors, high=high)
        if not errors and not (clean["days"] or clean["hours"] or clean["minutes"]):
            errors[f"{path}.days"] = _("等待时长不能为 0")
        return clean
    if mode == "day_at":
        return {
            "mode": mode,
            "day": _count(config.get("day"), f"{path}.day", errors),
            "time": _hhmm(config.get("time", "10:00"), f"{path}.time", errors),
        }
    if mode == "window":
        days = config.get("weekdays") or []
        if not isinstance(days, list) or not days or any(d not in range(7) for d in days):
            errors[f"{path}.weekdays"] = _("请选择星期（0 为周一）")
            days = []
        start = _hhmm(config.get("start", "09:00"), f"{path}.start", errors)
        end = _hhmm(config.get("end", "21:00"), f"{path}.end", errors)
        if start >= end:
            errors[f"{path}.end"] = _("结束时间必须晚于开始时间")
        return {"mode": mode, "weekdays": sorted(set(days)), "start": start, "end": end}
    errors[f"{path}.mode"] = _("等待方式只能是时长、第 N 天某时或时间窗口")
    return {}


def journey_steps_clean(steps, *, kind: str = JourneyKind.CUSTOMER) -> list[dict]:
    """The steps normalised (`{"kind", "name", "config"}` in order), or ValidationError with
    errors keyed `steps[i].field`."""
    from tags.dsl import validate_definition

    if not isinstance(steps, list) or not steps:
        raise ValidationError({"steps": _("至少需要一个步骤")})
    if len(steps) > MAX_STEPS:
        raise ValidationError({"steps": _("最多 %(n)s 个步骤") % {"n": MAX_STEPS}})
    errors: dict[str, str] = {}
    clean = []
    for index, step in enumerate(steps):
        path = f"steps[{index}]"
        if not isinstance(step, dict):
            errors[path] = _("步骤必须是对象")
            continue
        step_kind, config = step.get("kind"), step.get("config") or {}
        name = str(step.get("name") or "")[:100]
        if not isinstance(config, dict):
            errors[f"{path}.config"] = _("配置必须是对象")
            continue
        if step_kind == StepKind.WAIT:
            config = _wait_clean(config, path, errors)
        elif step_kind == StepKind.CONDITION:
            if kind == JourneyKind.GROUP:
                errors[f"{path}.kind"] = _("客户群 SOP 不能使用条件分支")
                continue
            problems = validate_definition(config.get("definition"))
            for key, message in problems.items():
                errors[f"{path}.definition{'.' + key if key else ''}"] = message
            no = config.get("no", "end")
            if no != "end" and (not isinstance(no, int) or isinstance(no, bool)
                                or not index < no < len(steps)):  # fmt: skip
                errors[f"{path}.no"] = _("“否”分支只能结束或跳到后面的步骤")
            config = {"definition": config.get("definition"), "no": no}
        elif step_kind == StepKind.ACTION:
            try:
                config = action_clean(config, group=kind == JourneyKind.GROUP)
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    errors[f"{path}.{key}"] = " ".join(messages)
        else:
            errors[f"{path}.kind"] = _("步骤类型只能是等待、条件或动作")
            continue
        clean.append({"kind": step_kind, "name": name, "config": config})
    if errors:
        raise ValidationError(errors)
    return clean


def _trigger_clean(kind: str, trigger_kind: str, trigger) -> dict:
    trigger = trigger if isinstance(trigger, dict) else {}
    errors: dict[str, str] = {}
    clean: dict = {}
    group = kind == JourneyKind.GROUP
    if group != (trigger_kind == JourneyTrigger.GROUP_CHAT):
        raise ValidationError({"trigger_kind": _("客户群 SOP 用“客户群”触发，客户 SOP 不能用它")})

    def ref(model, key, label, **filters):
        value = trigger.get(key)
        if value in (None, ""):
            return None
        found = model.objects.filter(pk=int_or_none(value), **filters).first()
        if found is None:
            errors[f"trigger.{key}"] = _("找不到%(label)s") % {"label": label}
            return None
        clean[key] = found.pk
        return found

    if trigger_kind == JourneyTrigger.FOLLOWED:
        ref(ChannelAccount, "channel", _("公众号"), kind=ChannelKind.WECHAT_OA)
    elif trigger_kind == JourneyTrigger.LIVE_CODE:
        ref(LiveCode, "live_code", _("活码"))
    elif trigger_kind == JourneyTrigger.TAG_ADDED:
        from tags.models import Tag

        if ref(Tag, "tag", _("标签")) is None and "trigger.tag" not in errors:
            errors["trigger.tag"] = _("请选择标签")
    elif trigger_kind == JourneyTrigger.ENTERED_AUDIENCE:
        from tags.models import Audience

        if ref(Audience, "audience", _("人群")) is None and "trigger.audience" not in errors:
            errors["trigger.audience"] = _("请选择人群")
    elif trigger_kind == JourneyTrigger.EVENT:
        name = str(trigger.get("event") or "").strip()
        if not name:
            errors["trigger.event"] = _("请填写事件名")
        clean["event"] = name[:64]
        ref(ChannelAccount, "channel", _("渠道"))
    elif trigger_kind == JourneyTrigger.BIRTHDAY:
        clean["days_before"] = _count(
            trigger.get("days_before", 0), "trigger.days_before", errors, high=30
        )
    elif trigger_kind == JourneyTrigger.GROUP_CHAT:
        account = ref(ChannelAccount, "channel", _("企业微信"), kind=ChannelKind.WECOM)
        if account is None and "trigger.channel" not in errors:
            errors["trigger.channel"] = _("请选择企业微信")
        chats = trigger.get("group_chats") or []
        ids = [int_or_none(c) for c in chats] if isinstance(chats, list) else [None]
        if None in ids or (
            account and GroupChat.objects.filter(pk__in=ids, account=account).count() != len(ids)
        ):
            errors["trigger.group_chats"] = _("客户群必须属于所选企业微信")
        clean["group_chats"] = [i for i in ids if i]
        clean["new_groups"] = bool(trigger.get("new_groups", True))
    else:
        errors["trigger_kind"] = _("请选择触发方式")
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def journey_save(*, journey: Journey, steps, user=None, **fields) -> Journey:
    """Check and save a journey and its steps (fields: name, description, kind, trigger_kind,
    trigger, entry_filter, reentry, cooldown_days, goal_event, respect_quiet_hours, campaign).
    Steps are replaced position by position, so running enrolments keep their place; steps
    past the new end are removed with their history."""
    from tags.dsl import validate_definition

    for name, value in fields.items():
        setattr(journey, name, value)
    errors: dict[str, str] = {}
    if not (journey.name or "").strip():
        errors["name"] = _("请填写名称")
    if journey.entry_filter in ({}, "", []):
        journey.entry_filter = None
    if journey.entry_filter is not None:
        if journey.kind == JourneyKind.GROUP:
            errors["entry_filter"] = _("客户群 SOP 没有进入条件")
        for key, message in validate_definition(journey.entry_filter).items():
            errors[f"entry_filter{'.' + key if key else ''}"] = message
    try:
        journey.trigger = _trigger_clean(journey.kind, journey.trigger_kind, journey.trigger)
    except ValidationError as exc:
        errors.update({k: " ".join(v) for k, v in exc.message_dict.items()})
    try:
        clean_steps = journey_steps_clean(steps, kind=journey.kind)
    except ValidationError as exc:
        errors.update({k: " ".join(v) for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    creating = journey.pk is None
    if creating:
        journey.created_by = user
    journey.save()
    for position, step in enumerate(clean_steps):
        JourneyStep.objects.update_or_create(journey=journey, position=position, defaults=step)
    journey.steps.filter(position__gte=len(clean_steps)).delete()
    audit_record(
        action="journey.create" if creating else "journey.update",
        summary=_("保存旅程：%(name)s") % {"name": journey.name},
        actor=user,
        obj=journey,
    )
    return journey


def journey_steps_data(journey: Journey) -> list[dict]:
    return [
        {"kind": s.kind, "name": s.name, "config": s.config}
        for s in journey.steps.order_by("position")
    ]


def journey_activate(*, journey: Journey, user=None, now: datetime | None = None) -> Journey:
    """Start (or resume) a journey: from now on its trigger enrols; a paused journey's
    enrolments carry on where they were."""
    now = now or timezone.now()
    if journey.status == JourneyStatus.ARCHIVED:
        raise ValidationError(_("已归档的旅程不能再启用"))
    if not journey.steps.exists():
        raise ValidationError(_("至少需要一个步骤"))
    journey_steps_clean(journey_steps_data(journey), kind=journey.kind)  # content still there
    fields = {"status": JourneyStatus.ACTIVE}
    if journey.activated_at is None:
        fields.update(activated_at=now, scanned_until=now)
        if journey.trigger_kind == JourneyTrigger.GROUP_CHAT:
            fields["watermark"] = GroupChat.objects.aggregate(m=Max("pk"))["m"] or 0
    Journey.objects.filter(pk=journey.pk).update(**fields)
    journey.refresh_from_db()
    if journey.trigger_kind == JourneyTrigger.GROUP_CHAT and "activated_at" in fields:
        chats = GroupChat.objects.filter(pk__in=journey.trigger.get("group_chats", []))
        _enrol_groups(journey, chats, now)
    audit_record(
        action="journey.activate",
        summary=_("启用旅程：%(name)s") % {"name": journey.name},
        actor=user,
        obj=journey,
    )
    return journey


def journey_pause(*, journey: Journey, user=None) -> Journey:
    """Stop enrolling and advancing; enrolments wait where they are."""
    Journey.objects.filter(pk=journey.pk, status=JourneyStatus.ACTIVE).update(
        status=JourneyStatus.PAUSED
    )
    journey.refresh_from_db()
    audit_record(action="journey.pause", summary=_("暂停旅程：%(name)s") % {"name": journey.name},
                 actor=user, obj=journey)  # fmt: skip
    return journey


def journey_archive(*, journey: Journey, user=None) -> Journey:
    """End a journey: its running enrolments stop."""
    now = timezone.now()
    with transaction.atomic():
        Journey.objects.filter(pk=journey.pk).update(status=JourneyStatus.ARCHIVED)
        journey.enrolments.filter(status=EnrolmentStatus.ACTIVE).update(
            status=EnrolmentStatus.STOPPED, finished_at=now, next_run_at=None
        )
    journey.refresh_from_db()
    audit_record(action="journey.archive",
                 summary=_("归档旅程：%(name)s") % {"name": journey.name},
                 actor=user, obj=journey)  # fmt: skip
    return journey


# --- enrolling -----------------------------------------------------------------------------


def _reentry_blocked(journey: Journey, now: datetime) -> Q:
    """Customers the re-entry policy keeps out (always: those enrolled now)."""
    mine = Enrolment.objects.filter(journey=journey, customer=OuterRef("pk"))
    blocked = Q(Exists(mine.filter(status=EnrolmentStatus.ACTIVE)))
    if journey.trigger_kind == JourneyTrigger.BIRTHDAY:
        blocked |= Q(Exists(mine.filter(entered_at__gte=now - BIRTHDAY_REPEAT)))
    if journey.reentry == ReentryPolicy.ONCE:
        blocked |= Q(Exists(mine))
    elif journey.reentry == ReentryPolicy.COOLDOWN:
        since = now - timedelta(days=journey.cooldown_days)
        blocked |= Q(Exists(mine.filter(entered_at__gte=since)))
    return blocked


def _candidates(journey: Journey, since: datetime, now: datetime):
    """(customers queryset, the source each entry is credited to) for this tick: the trigger's
    rows created since `since`; a customer enrolled after such a row was written has been
    through this already (ticks look back, so nothing committed late is missed)."""
    trigger, kind = journey.trigger, journey.trigger_kind
    later = Enrolment.objects.filter(
        journey=journey, customer=OuterRef("customer"), entered_at__gte=OuterRef("created_at")
    )
    if kind in TRIGGER_EVENTS or kind == JourneyTrigger.EVENT:
        name = TRIGGER_EVENTS.get(kind) or trigger.get("event")
        rows = Event.objects.filter(
            name=name, occurred_at__gte=since - STALE_EVENTS, created_at__gt=since,
            created_at__lte=now,
        )  # fmt: skip
        if trigger.get("channel"):
            rows = rows.filter(channel_account_id=trigger["channel"])
        if kind == JourneyTrigger.LIVE_CODE:
            rows = rows.filter(properties__has_key="live_code")
            if trigger.get("live_code"):
                rows = rows.filter(properties__live_code=trigger["live_code"])
        rows = rows.exclude(customer=None).exclude(Exists(later))
        return Customer.objects.filter(pk__in=rows.values("customer")), f"trigger:{kind}"
    if kind == JourneyTrigger.TAG_ADDED:
        from tags.models import CustomerTag

        rows = CustomerTag.objects.filter(
            tag_id=trigger["tag"], created_at__gt=since, created_at__lte=now
        ).exclude(Exists(later))
        return Customer.objects.filter(pk__in=rows.values("customer")), "tag"
    if kind == JourneyTrigger.ENTERED_AUDIENCE:
        from tags.models import Audience
        from tags.selectors import audience_members

        audience = Audience.objects.filter(pk=trigger["audience"]).first()
        if audience is None:
            return Customer.objects.none(), ""
        return audience_members(audience=audience).order_by(), "audience"
    if kind == JourneyTrigger.BIRTHDAY:
        day = (timezone.localtime(now) + timedelta(days=trigger.get("days_before", 0))).date()
        return (
            Customer.objects.filter(birthday__month=day.month, birthday__day=day.day),
            "birthday",
        )
    return Customer.objects.none(), ""


def _enrol_customers(journey: Journey, customers, source: str, now: datetime) -> int:
    from tags.dsl import compile_definition

    if journey.entry_filter:
        customers = customers.filter(compile_definition(journey.entry_filter, now=now))
    customers = customers.exclude(_reentry_blocked(journey, now))
    total = 0
    ids = list(customers.values_list("pk", flat=True))
    for start in range(0, len(ids), 5000):
        made = Enrolment.objects.bulk_create(
            [
                Enrolment(
                    journey=journey,
                    customer_id=pk,
                    entered_at=now,
                    next_run_at=now,
                    source_ref=source,
                )  # fmt: skip
                for pk in ids[start : start + 5000]
            ],
            ignore_conflicts=True,
        )
        total += len(made)
    return total


def _enrol_groups(journey: Journey, chats, now: datetime) -> int:
    busy = Enrolment.objects.filter(
        journey=journey, group_chat=OuterRef("pk"), status=EnrolmentStatus.ACTIVE
    )
    done = Enrolment.objects.filter(journey=journey, group_chat=OuterRef("pk"))
    chats = chats.exclude(Exists(busy))
    if journey.reentry == ReentryPolicy.ONCE:
        chats = chats.exclude(Exists(done))
    made = Enrolment.objects.bulk_create(
        [
            Enrolment(
                journey=journey,
                group_chat=chat,
                entered_at=now,
                next_run_at=now,
                source_ref="group_chat",
            )  # fmt: skip
            for chat in chats
        ],
        ignore_conflicts=True,
    )
    return len(made)


def journey_enrol(*, journey: Journey, now: datetime | None = None) -> int:
    """Enrol whom the journey's trigger names since its last scan; returns how many. The
    journey's row is locked (SKIP LOCKED): another tick enrolling it now is left to it."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            Journey.objects.select_for_update(skip_locked=True)
            .filter(pk=journey.pk, status=JourneyStatus.ACTIVE)
            .first()
        )
        if locked is None:
            return 0
        whole_set = locked.trigger_kind in (JourneyTrigger.ENTERED_AUDIENCE,
                                            JourneyTrigger.BIRTHDAY)  # fmt: skip
        if (
            whole_set
            and locked.scanned_until
            and locked.scanned_until != locked.activated_at
            and now - locked.scanned_until < WHOLE_SET_EVERY
        ):
            return 0  # evaluated a whole audience a moment ago
        since = (locked.scanned_until or locked.activated_at or now) - LOOKBACK
        since = max(since, locked.activated_at or since)
        if locked.trigger_kind == JourneyTrigger.GROUP_CHAT:
            made = 0
            if locked.trigger.get("new_groups", True):
                chats = GroupChat.objects.filter(
                    pk__gt=locked.watermark, account_id=locked.trigger.get("channel")
                )
                top = chats.aggregate(m=Max("pk"))["m"]
                made = _enrol_groups(locked, chats, now)
                if top:
                    locked.watermark = top
        else:
            customers, source = _candidates(locked, since, now)
            made = _enrol_customers(locked, customers, source, now)
        Journey.objects.filter(pk=locked.pk).update(scanned_until=now, watermark=locked.watermark)
    return made


def journeys_goal_exit(*, now: datetime | None = None) -> int:
    """Enrolments whose journey's goal event happened after they entered leave at once."""
    now = now or timezone.now()
    exited = 0
    for journey in Journey.objects.filter(status=JourneyStatus.ACTIVE).exclude(goal_event=""):
        running = Enrolment.objects.filter(
            journey=journey, status=EnrolmentStatus.ACTIVE, customer__isnull=False
        )
        exited += running.filter(_goal_reached(journey.goal_event)).update(
            status=EnrolmentStatus.GOAL, finished_at=now, next_run_at=None
        )
    return exited


def _goal_reached(goal_event: str) -> Q:
    """Enrolments (as a Q on Enrolment) whose customer reached the goal after entering;
    `order_paid` is also met by a paid order."""
    reached = Q(
        Exists(
            Event.objects.filter(
                customer=OuterRef("customer"), name=goal_event,
                occurred_at__gte=OuterRef("entered_at"),
            )
        )
    )  # fmt: skip
    if goal_event == "order_paid":
        reached |= Q(
            Exists(
                Order.objects.filter(
                    customer=OuterRef("customer"), status__in=REVENUE_STATUSES,
                    paid_at__gte=OuterRef("entered_at"),
                )
            )
        )  # fmt: skip
    return reached


# --- the engine ----------------------------------------------------------------------------


def wait_until_for(config: dict, *, now: datetime, entered_at: datetime, zone) -> datetime:
    """When a wait step that an enrolment reaches at `now` ends."""
    mode = config.get("mode", "duration")
    if mode == "duration":
        return now + timedelta(
            days=config.get("days", 0), hours=config.get("hours", 0),
            minutes=config.get("minutes", 0),
        )  # fmt: skip
    if mode == "day_at":
        local = entered_at.astimezone(zone)
        at = datetime.strptime(config.get("time", "10:00"), "%H:%M").time()
        day = local.date() + timedelta(days=config.get("day", 0))
        return max(now, datetime.combine(day, at, tzinfo=zone))
    # a time window on chosen weekdays: now if inside, else its next start
    start = datetime.strptime(config["start"], "%H:%M").time()
    end = datetime.strptime(config["end"], "%H:%M").time()
    local = now.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in config["weekdays"]:
            continue
        opens = datetime.combine(day, start, tzinfo=zone)
        closes = datetime.combine(day, end, tzinfo=zone)
        if local < closes:
            return max(now, opens)
    return now + timedelta(days=7)


def _quiet(journey: Journey, customer: Customer | None, now: datetime, settings) -> datetime | None:
    if not journey.respect_quiet_hours:
        return None
    zone = None
    if customer is not None:
        zone = _zone(str((customer.attributes or {}).get("timezone") or ""))
    zone = zone or _zone(settings.timezone) or _zone("Asia/Shanghai")
    return quiet_until(now=now, settings=settings, zone=zone)


def _claim(batch: int, now: datetime, journey_id: int | None = None) -> list[int]:
    """Take up to `batch` due enrolments: their `next_run_at` moves a lease ahead, committed;
    the rows moved to exactly this lease are ours. (On SQLite the transaction begins
    IMMEDIATE, so concurrent claims wait their turn rather than fail.)"""
    lease = now + LEASE + timedelta(microseconds=random.randrange(1, 999_999))
    with transaction.atomic():
        due = Enrolment.objects.filter(
            status=EnrolmentStatus.ACTIVE, next_run_at__lte=now,
            journey__status=JourneyStatus.ACTIVE,
        )  # fmt: skip
        if journey_id is not None:
            due = due.filter(journey_id=journey_id)
        ids = list(
            due.select_for_update(skip_locked=True, of=("self",))
            .order_by("next_run_at", "id")
            .values_list("pk", flat=True)[:batch]
        )
        Enrolment.objects.filter(pk__in=ids, next_run_at__lte=now).update(next_run_at=lease)
    return list(
        Enrolment.objects.filter(pk__in=ids, next_run_at=lease).values_list("pk", flat=True)
    )


ENROLMENT_FIELDS = ["status", "position", "wait_until", "next_run_at", "finished_at", "error"]


class _Batch:
    """A claimed batch of enrolments, moved on together: those at the same step of the same
    journey are handled at once (one query for a condition, one statement for a tag action,
    one adapter batch per channel for a send), and the enrolments' new state and the rows of
    their wait and condition steps are written once, before any action and at the end. An
    action's rows are written (`running`) and committed before the action."""

    def __init__(self, enrolments: list[Enrolment], steps_of: dict, now, settings):
        self.enrolments, self.steps_of = enrolments, steps_of
        self.now, self.settings = now, settings
        self.zone = _zone(settings.timezone) or _zone("Asia/Shanghai")
        self.conditions: dict[int, Q] = {}  # compiled once per step for this batch's `now`
        self.runs: list[StepRun] = []
        self.dirty: dict[int, Enrolment] = {}
        self.executed = 0

    def set(self, enrolment: Enrolment, **fields) -> None:
        for name, value in fields.items():
            setattr(enrolment, name, value)
        self.dirty[enrolment.pk] = enrolment

    def finish(self, enrolment: Enrolment, status: str, error: str = "") -> None:
        self.set(enrolment, status=status, finished_at=self.now, next_run_at=None,
                 wait_until=None, error=error[:300])  # fmt: skip

    def record(self, enrolment, step, outcome: str = "") -> None:
        self.runs.append(
            StepRun(
                enrolment=enrolment,
                step=step,
                status=StepRunStatus.DONE,
                outcome=outcome,
                started_at=self.now,
                finished_at=self.now,
            )  # fmt: skip
        )

    def flush(self) -> None:
        if self.runs:
            StepRun.objects.bulk_create(self.runs, ignore_conflicts=True, batch_size=1000)
            self.runs = []
        if self.dirty:
            rows_update(Enrolment, ENROLMENT_FIELDS, [
                (e.pk, *(getattr(e, name) for name in ENROLMENT_FIELDS))
                for e in self.dirty.values()
            ])  # fmt: skip
            self.dirty = {}

    def run(self) -> int:
        pending = self.enrolments
        try:
            for _guard in range(MAX_STEPS + 2):  # each pass moves every enrolment forward
                if not pending:
                    break
                groups: dict[tuple[int, int], list[Enrolment]] = {}
                for enrolment in pending:
                    if enrolment.position >= len(self.steps_of[enrolment.journey_id]):
                        self.finish(enrolment, EnrolmentStatus.DONE)
                    else:
                        key = (enrolment.journey_id, enrolment.position)
                        groups.setdefault(key, []).append(enrolment)
                pending = []
                for (journey_id, position), group in groups.items():
                    step = self.steps_of[journey_id][position]
                    try:
                        pending += self.step(step, group)
                    except Exception as exc:  # one step's fault does not stop the others
                        for enrolment in group:
                            self.finish(enrolment, EnrolmentStatus.FAILED,
                                        f"{type(exc).__name__}: {exc}")  # fmt: skip
            for enrolment in pending:
                self.finish(enrolment, EnrolmentStatus.FAILED, _("步骤无法推进"))
        finally:
            self.flush()
        return self.executed

    def step(self, step: JourneyStep, group: list[Enrolment]) -> list[Enrolment]:
        """Carry the group through `step`; returns those that moved on to another step."""
        if step.kind == StepKind.WAIT:
            return self.wait(step, group)
        group = self.not_at_goal(step.journey, group)
        if step.kind == StepKind.CONDITION:
            return self.condition(step, group)
        return self.action(step, group)

    def wait(self, step, group) -> list[Enrolment]:
        moved = []
        for enrolment in group:
            until = enrolment.wait_until or wait_until_for(
                step.config, now=self.now, entered_at=enrolment.entered_at, zone=self.zone
            )
            if until > self.now:
                self.set(enrolment, wait_until=until, next_run_at=until)
                continue
            self.record(enrolment, step)
            self.executed += 1
            self.set(enrolment, position=step.position + 1, wait_until=None)
            moved.append(enrolment)
        return moved

    def not_at_goal(self, journey: Journey, group) -> list[Enrolment]:
        if not journey.goal_event:
            return group
        ids = [e.pk for e in group if e.customer_id is not None]
        reached = set(
            Enrolment.objects.filter(pk__in=ids)
            .filter(_goal_reached(journey.goal_event))
            .values_list("pk", flat=True)
        )
        for enrolment in group:
            if enrolment.pk in reached:
                self.finish(enrolment, EnrolmentStatus.GOAL)
        return [e for e in group if e.pk not in reached]

    def condition(self, step, group) -> list[Enrolment]:
        from tags.dsl import compile_definition

        if step.pk not in self.conditions:
            self.conditions[step.pk] = compile_definition(step.config["definition"], now=self.now)
        matched = set(
            Customer.objects.filter(
                self.conditions[step.pk], pk__in=[e.customer_id for e in group]
            ).values_list("pk", flat=True)
        )
        moved, target = [], step.config.get("no", "end")
        for enrolment in group:
            yes = enrolment.customer_id in matched
            self.record(enrolment, step, "yes" if yes else "no")
            self.executed += 1
            if yes:
                self.set(enrolment, position=step.position + 1)
            elif target == "end":
                self.finish(enrolment, EnrolmentStatus.EXITED)
                continue
            else:
                self.set(enrolment, position=target)
            moved.append(enrolment)
        return moved

    def action(self, step, group) -> list[Enrolment]:
        config, journey = step.config, step.journey
        if config.get("action") in (ActionKind.SEND, ActionKind.GROUP_MESSAGE):
            ready = []
            for enrolment in group:
                until = _quiet(journey, enrolment.customer, self.now, self.settings)
                if until is None:
                    ready.append(enrolment)
                else:
                    self.set(enrolment, next_run_at=until)
            group = ready
        if not group:
            return []
        self.flush()  # what came before is on record before anything is done
        fresh = self.claim(step, group)
        if fresh:
            runs = dict(
                StepRun.objects.filter(
                    step=step, enrolment__in=fresh, status=StepRunStatus.RUNNING,
                    started_at=self.now,
                ).values_list("enrolment_id", "pk")
            )  # fmt: skip
            results = actions_perform(
                config,
                customers=[e.customer for e in fresh] if journey.kind != "group" else None,
                group_chats=[e.group_chat for e in fresh] if journey.kind == "group" else None,
                keys=[f"j{e.pk}s{step.pk}" for e in fresh],
                journey=journey,
            )
            finished = timezone.now()
            updates = []
            for enrolment, result in zip(fresh, results, strict=True):
                account = result.channel_account.pk if result.channel_account else None
                updates.append(
                    (runs[enrolment.pk], result.status, result.outcome[:40], result.detail[:300],
                     account, result.platform_id, finished)
                )  # fmt: skip
                if result.task is not None:
                    type(result.task).objects.filter(pk=result.task.pk).update(
                        step_run_id=runs[enrolment.pk]
                    )
            rows_update(StepRun, ["status", "outcome", "detail", "channel_account",
                                  "platform_id", "finished_at"], updates)  # fmt: skip
            self.executed += len(fresh)
        for enrolment in group:
            self.set(enrolment, position=step.position + 1)
        return group

    def claim(self, step, group) -> list[Enrolment]:
        """The step's rows for the group, written `running` and committed; those that had a
        row already are not acted on again (a `running` one, left by a dead worker, becomes
        unknown). Returns the enrolments to act for."""
        taken = set(
            StepRun.objects.filter(step=step, enrolment__in=group).values_list(
                "enrolment_id", flat=True
            )
        )
        if taken:
            StepRun.objects.filter(
                step=step, enrolment_id__in=taken, status=StepRunStatus.RUNNING
            ).update(status=StepRunStatus.UNKNOWN, finished_at=self.now)
        fresh = [e for e in group if e.pk not in taken]
        try:
            with transaction.atomic():
                StepRun.objects.bulk_create(
                    [StepRun(enrolment=e, step=step, started_at=self.now) for e in fresh]
                )
            return fresh
        except IntegrityError:  # another worker got there meanwhile: row by row
            mine = []
            for enrolment in fresh:
                try:
                    with transaction.atomic():
                        StepRun.objects.create(enrolment=enrolment, step=step,
                                               started_at=self.now)  # fmt: skip
                    mine.append(enrolment)
                except IntegrityError:
                    pass
            return mine


def journeys_advance(
    *, now: datetime | None = None, batch: int = BATCH, seconds: float | None = None,
    journey_id: int | None = None,
) -> int:  # fmt: skip
    """Claim due enrolments batch by batch and advance them; returns how many steps were
    executed. Stops when nothing is due or, with `seconds`, when time is up."""
    fixed_now = now
    settings = MessagingSettings.load()
    deadline = time.monotonic() + seconds if seconds is not None else None
    executed = 0
    steps_of: dict[int, list[JourneyStep]] = {}
    while True:
        now = fixed_now or timezone.now()
        ids = _claim(batch, now, journey_id)
        if not ids:
            return executed
        enrolments = list(
            Enrolment.objects.filter(pk__in=ids)
            .select_related("journey", "customer", "group_chat__account")
            .order_by("id")
        )
        for journey_id_ in {e.journey_id for e in enrolments} - set(steps_of):
            steps_of[journey_id_] = list(
                JourneyStep.objects.filter(journey_id=journey_id_)
                .select_related("journey")
                .order_by("position")
            )
        executed += _Batch(enrolments, steps_of, now, settings).run()
        if deadline is not None and time.monotonic() >= deadline:
            return executed


def journeys_tick(*, now: datetime | None = None, seconds: float | None = 50) -> dict:
    """What Beat runs each minute: enrol, goal exits, then advance what is due."""
    enrolled = 0
    for journey in Journey.objects.filter(status=JourneyStatus.ACTIVE):
        enrolled += journey_enrol(journey=journey, now=now)
    exited = journeys_goal_exit(now=now)
    executed = journeys_advance(now=now, seconds=seconds)
    return {"enrolled": enrolled, "goal_exits": exited, "steps": executed}


# --- stats ---------------------------------------------------------------------------------


def journey_stats(journey: Journey) -> dict:
    """Per step: entered (reached it), waiting there now, done, skipped, failed (incl.
    unknown), exited by the goal while there, yes/no for conditions; and totals by status."""
    steps = list(journey.steps.order_by("position"))
    runs: dict[tuple[int, str], int] = {}
    outcomes: dict[tuple[int, str], int] = {}
    for row in (
        StepRun.objects.filter(step__journey=journey)
        .values("step", "status", "outcome")
        .annotate(n=Count("id"))
    ):
        runs[(row["step"], row["status"])] = runs.get((row["step"], row["status"]), 0) + row["n"]
        outcomes[(row["step"], row["outcome"])] = (
            outcomes.get((row["step"], row["outcome"]), 0) + row["n"]
        )
    at = {}
    for row in (
        journey.enrolments.filter(status__in=[EnrolmentStatus.ACTIVE, EnrolmentStatus.GOAL])
        .values("status", "position")
        .annotate(n=Count("id"))
    ):
        at[(row["status"], row["position"])] = row["n"]
    table = []
    for step in steps:
        ran = sum(n for (s, _status), n in runs.items() if s == step.pk)
        waiting = at.get((EnrolmentStatus.ACTIVE, step.position), 0)
        table.append(
            {
                "step": step,
                "entered": ran + waiting,
                "waiting": waiting,
                "done": runs.get((step.pk, StepRunStatus.DONE), 0),
                "skipped": runs.get((step.pk, StepRunStatus.SKIPPED), 0),
                "failed": runs.get((step.pk, StepRunStatus.FAILED), 0)
                + runs.get((step.pk, StepRunStatus.UNKNOWN), 0),
                "goal": at.get((EnrolmentStatus.GOAL, step.position), 0),
                "yes": outcomes.get((step.pk, "yes"), 0),
                "no": outcomes.get((step.pk, "no"), 0),
            }
        )
    totals = dict(journey.enrolments.values_list("status").annotate(n=Count("id")))
    return {"steps": table, "totals": totals, "enrolled": sum(totals.values())}
