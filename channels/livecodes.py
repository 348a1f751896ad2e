"""员工活码 / 群活码: live codes made on WeCom, who serves the next scanner, and their stats.

A staff live code is a WeCom "contact me" way (add_contact_way) carrying our `state`. WeCom
itself decides which member of the way's user list a scanner adds, so our strategy works by
re-pointing that list (update_contact_way): round robin points it at the one member whose
turn is next and moves on after every add; random lists everyone free and lets WeCom choose.
"Free" means in the code's schedule (local time) and under the seat's daily cap; when no
regular seat is free the backups serve, and when nobody is, the regular seats stay listed
(a contact way cannot be empty; round robin lists the first of them).

A group live code is a WeCom join way ("加入群聊", groupchat/add_join_way) over the first five
of its groups with room (fewer members than the group's capacity), carrying our `state`;
WeCom sends each scanner to the first of those with room by its own count, so when one of
our groups fills up (or gets room again) the way is re-pointed (update_join_way) at the
groups with room now. A way over full groups only keeps its last groups.
"""

import base64
import logging
import random
import re
import secrets
from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from channels import adapters
from channels.choices import AccountStatus, ChannelKind, HitKind, LiveCodeKind, StaffStrategy
from channels.models import ChannelAccount, CodeHit, GroupChat, LiveCode, LiveCodeStaff, Staff
from customers.placeholders import placeholders_check, placeholders_for, placeholders_render
from tags.models import TagMapping, TagPlatform

logger = logging.getLogger(__name__)

STATE_PREFIX = "lc"
KEPT_WINDOW = timedelta(days=7)
SERIES_DAYS = 30
JOIN_WAY_GROUPS = 5  # a WeCom join way lists at most 5 group chats
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


# --- creating ------------------------------------------------------------------------------


def schedule_clean(schedule: dict | None) -> dict:
    """`{"days": [1..7 ISO weekdays], "start": "HH:MM", "end": "HH:MM"}`, parts optional;
    empty means always."""
    schedule = dict(schedule or {})
    if set(schedule) - {"days", "start", "end"}:
        raise ValidationError({"schedule": _("接待时间只能包含 days、start、end")})
    days = schedule.get("days")
    if days is not None and (
        not isinstance(days, list) or not days or any(d not in range(1, 8) for d in days)
    ):
        raise ValidationError({"schedule": _("接待日应为 1（周一）到 7（周日）的列表")})
    start, end = schedule.get("start"), schedule.get("end")
    if (start or end) and not (
        isinstance(start, str) and isinstance(end, str) and TIME.match(start) and TIME.match(end)
    ):
        raise ValidationError({"schedule": _("开始和结束时间应一起填写，格式 HH:MM")})
    if start and start >= end:
        raise ValidationError({"schedule": _("结束时间应晚于开始时间")})
    return schedule


def _check(account, name, seats, groups, strategy, kind, welcome_text) -> None:
    errors = {}
    if account.kind != ChannelKind.WECOM:
        errors["account"] = _("活码需要企业微信账号")
    if not name.strip():
        errors["name"] = _("名称不能为空")
    if strategy not in StaffStrategy.values:
        errors["strategy"] = _("未知的分配方式")
    if kind not in LiveCodeKind.values:
        errors["kind"] = _("未知的活码类型")
    if any(s.account_id != account.pk or not s.active for s, _cap, _backup in seats):
        errors["staff"] = _("只能选择该企业微信下在职的员工")
    elif kind == LiveCodeKind.STAFF and all(backup for _s, _cap, backup in seats):
        errors["staff"] = _("员工活码至少需要一位非备用的接待员工")
    if any(cap is not None and cap < 1 for _s, cap, _backup in seats):
        errors["staff"] = _("每日上限应为正整数")
    if any(g.account_id != account.pk for g in groups):
        errors["groups"] = _("只能选择该企业微信下的客户群")
    elif kind == LiveCodeKind.GROUP and not groups:
        errors["groups"] = _("群活码至少选择一个客户群")
    elif kind == LiveCodeKind.GROUP and all(g.member_count >= g.capacity for g in groups):
        errors["groups"] = _("所选客户群都已满员")
    try:
        placeholders_check(welcome_text)
    except ValidationError as exc:
        errors["welcome_text"] = exc.messages
    if errors:
        raise ValidationError(errors)


def _new_state() -> str:
    """`lc` + 16 base32 characters: short enough for WeCom's 30-character state."""
    while True:
        state = STATE_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode().lower()
        if not LiveCode.objects.filter(state=state).exists():
            return state


def live_code_create(
    *,
    account: ChannelAccount,
    name: str,
    staff: list[tuple[Staff, int | None, bool]] = (),
    strategy: str = StaffStrategy.ROUND_ROBIN,
    tags=(),
    welcome_text: str = "",
    schedule: dict | None = None,
    kind: str = LiveCodeKind.STAFF,
    groups=(),
    skip_verify: bool = True,
    user=None,
) -> LiveCode:
    """Make a live code on WeCom and keep its rules: `staff` as (staff, daily cap or None,
    backup) seats in order for a contact way, or `groups` for a group code (a WeCom join way,
    "加入群聊", see `_join_way`). The code's tags get their WeCom corp tags now (created when
    missing), so an add only has to mark them."""
    seats, groups, tags = list(staff), list(groups), list(tags)
    schedule = schedule_clean(schedule)
    _check(account, name, seats, groups, strategy, kind, welcome_text)
    adapter = adapters.adapter_for(account)
    corp_tag_ids(adapter, account, tags)
    with transaction.atomic():
        code = LiveCode.objects.create(
            account=account, kind=kind, name=name.strip(), state=_new_state(),
            strategy=strategy, schedule=schedule, welcome_text=welcome_text,
            skip_verify=skip_verify, created_by=user,
        )  # fmt: skip
        LiveCodeStaff.objects.bulk_create(
            LiveCodeStaff(live_code=code, staff=member, daily_cap=cap, backup=backup, position=i)
            for i, (member, cap, backup) in enumerate(seats)
        )
        code.tags.set(tags)
        # in the order given (groups.set() would lose it): a group code fills them in turn
        LiveCode.groups.through.objects.bulk_create(
            LiveCode.groups.through(livecode=code, groupchat=group)
            for group in dict.fromkeys(groups)
        )
        if kind == LiveCodeKind.GROUP:
            way = _join_way(adapter, code)
        else:
            userids = contact_way_userids(code)
            way = adapter.add_contact_way(code.state, userids, skip_verify=skip_verify)
        code.config_id, code.qr_url = way["config_id"], way["qr_code"]
        code.save(update_fields=["config_id", "qr_url"])
    return code


def _join_way(adapter, code: LiveCode) -> dict:
    """WeCom's join way over the first groups with room, where the adapter offers it; without
    it a group code keeps no platform QR (live_code_pick_group still names the group)."""
    if not adapter.can("join_way"):
        return {"config_id": "", "qr_code": ""}
    return adapter.add_join_way(code.state, join_way_chat_ids(code))


def corp_tag_ids(adapter, account: ChannelAccount, tags) -> list[str]:
    """The WeCom corp tag ids of our tags; a tag without one gets a corp tag (in a group named
    like its tag group) and the mapping is recorded for the syncs."""
    mapped = dict(
        TagMapping.objects.filter(
            account=account, platform=TagPlatform.WECOM_CORP_TAG, tag__in=[t.pk for t in tags]
        ).values_list("tag_id", "external_id")
    )
    for tag in tags:
        if tag.pk not in mapped:
            external_id = str(adapter.corp_tag_create(tag.name, tag.group.name))
            TagMapping.objects.get_or_create(
                account=account,
                platform=TagPlatform.WECOM_CORP_TAG,
                external_id=external_id,
                defaults={"tag": tag, "external_name": tag.name},
            )
            mapped[tag.pk] = external_id
    return [mapped[tag.pk] for tag in tags]


def welcome_render(text: str, customer) -> str:
    """The live code's welcome with the customer's placeholders filled ({{ name }}…)."""
    values = placeholders_for([customer.pk]).get(customer.pk, {})
    return placeholders_render(text, values)


# --- who serves ----------------------------------------------------------------------------


def in_schedule(schedule: dict, now: datetime) -> bool:
    """Whether `now` (read in local time) falls in a live code's schedule."""
    local = timezone.localtime(now)
    if schedule.get("days") and local.isoweekday() not in schedule["days"]:
        return False
    if schedule.get("start"):
        return schedule["start"] <= local.strftime("%H:%M") < schedule["end"]
    return True


def _day_start(now: datetime) -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localtime(now).date(), time.min))


def _free_seats(code: LiveCode, now: datetime) -> tuple[list[LiveCodeStaff], list[LiveCodeStaff]]:
    """The code's seats of the role now serving (regular, else backup) in order, and which of
    them are free now."""
    seats = list(code.seats.select_related("staff").filter(staff__active=True))
    adds_today = dict(
        CodeHit.objects.filter(live_code=code, kind=HitKind.ADD, occurred_at__gte=_day_start(now))
        .order_by()
        .values_list("staff")
        .annotate(n=Count("id"))
    )
    under_cap = [
        s for s in seats if s.daily_cap is None or adds_today.get(s.staff_id, 0) < s.daily_cap
    ]
    regular = [s for s in under_cap if not s.backup] if in_schedule(code.schedule, now) else []
    if regular:
        return [s for s in seats if not s.backup], regular
    return [s for s in seats if s.backup], [s for s in under_cap if s.backup]


def live_code_pick_staff(
    code: LiveCode, now: datetime | None = None, *, advance: bool = True
) -> Staff | None:
    """Who serves the next scanner: the next free seat after the round-robin cursor (which
    moves on), or a random free one; backups when no regular seat is free; None if nobody.
    `advance=False` keeps the seat whose turn it is while it is still free."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = LiveCode.objects.select_for_update().get(pk=code.pk)
        ring, free = _free_seats(locked, now)
        if not free:
            return None
        if locked.strategy == StaffStrategy.RANDOM:
            return random.choice(free).staff
        start = (locked.round_robin_cursor - (0 if advance else 1)) % len(ring)
        for step in range(len(ring)):
            seat = ring[(start + step) % len(ring)]
            if seat in free:
                locked.round_robin_cursor = (start + step + 1) % len(ring)
                locked.save(update_fields=["round_robin_cursor"])
                code.round_robin_cursor = locked.round_robin_cursor
                return seat.staff
    raise AssertionError("a free seat is in the ring")


def contact_way_userids(
    code: LiveCode, now: datetime | None = None, *, advance: bool = True
) -> list[str]:
    """Who the contact way should list now (see the module's docstring)."""
    now = now or timezone.now()
    seats = code.seats.select_related("staff").filter(staff__active=True, backup=False)
    regular = [seat.staff.userid for seat in seats]
    if code.strategy == StaffStrategy.ROUND_ROBIN:  # always one member: whose turn it is
        picked = live_code_pick_staff(code, now, advance=advance)
        return [picked.userid] if picked else regular[:1]
    return [seat.staff.userid for seat in _free_seats(code, now)[1]] or regular


def live_code_refresh_staff(
    code: LiveCode, *, adapter=None, now: datetime | None = None, advance: bool = True
) -> list[str]:
    """Re-point the code's contact way at who should serve now; returns their userids.
    Round robin moves on to the next seat (`advance`) or keeps the current one while it is
    free; the cursor only moves when WeCom took the change."""
    with transaction.atomic():
        userids = contact_way_userids(code, now, advance=advance)
        adapter = adapter or adapters.adapter_for(code.account)
        adapter.update_contact_way(code.config_id, userids)
    return userids


def join_way_chat_ids(code: LiveCode) -> list[str]:
    """The groups a group code's join way should list now: the first five with room."""
    return [g.chat_id for g in groups_with_room(code)][:JOIN_WAY_GROUPS]


def live_code_refresh_groups(code: LiveCode, *, adapter=None) -> list[str]:
    """Re-point a group code's join way at its groups with room; returns their chat ids.
    With none left the way keeps its last groups (a join way cannot be empty) and [] is
    returned without calling WeCom."""
    chat_ids = join_way_chat_ids(code)
    if chat_ids:
        adapter = adapter or adapters.adapter_for(code.account)
        adapter.update_join_way(code.config_id, chat_ids, state=code.state)
    return chat_ids


def group_codes_of(chat: GroupChat):
    """The enabled group codes with a join way that list this group."""
    return (
        LiveCode.objects.filter(kind=LiveCodeKind.GROUP, enabled=True, groups=chat)
        .exclude(config_id="")
        .order_by("pk")
    )


def live_code_after_add(code: LiveCode, *, adapter=None) -> None:
    """After an add: round robin moves on; random drops whoever just reached a cap."""
    if code.kind == LiveCodeKind.STAFF and code.config_id and code.enabled:
        live_code_refresh_staff(code, adapter=adapter)


def live_codes_refresh(now: datetime | None = None) -> int:
    """For a periodic task: re-point every enabled staff code at who serves now, so opening
    hours and a new day's caps take effect without waiting for an add, and every group code
    at its groups with room (member counts also change by syncs). Returns how many codes
    WeCom accepted; a failing one is logged and tried again next time."""
    codes = LiveCode.objects.filter(enabled=True, account__status=AccountStatus.ACTIVE).exclude(
        config_id=""
    )
    done = 0
    for code in codes.select_related("account").order_by("pk"):
        try:
            if code.kind == LiveCodeKind.GROUP:
                live_code_refresh_groups(code)
            else:
                live_code_refresh_staff(code, now=now, advance=False)
        except Exception:
            logger.exception("live code %s: refresh failed", code.pk)
        else:
            done += 1
    return done


def groups_with_room(code: LiveCode) -> list[GroupChat]:
    """A group code's groups that still have room, in the order they were added; WeCom's join
    way sends each scanner to the first of them and moves on when it fills."""
    links = LiveCode.groups.through.objects.filter(livecode=code).select_related("groupchat")
    groups = [link.groupchat for link in links.order_by("id")]
    return [g for g in groups if g.member_count < g.capacity]


def live_code_pick_group(code: LiveCode) -> GroupChat | None:
    """The group a scanner of a group code joins now: the first with room."""
    return next(iter(groups_with_room(code)), None)


# --- stats ---------------------------------------------------------------------------------


def hit_stats(hits, *, code_field: str, add_kind: str, scan_kinds, now=None, detail=True) -> dict:
    """Scans, adds, deletes, net adds and the 7-day keep of one code's hits (live codes and QR
    codes alike), with a per-staff breakdown and a daily series of the last 30 days.

    `kept_7d` counts the adds older than 7 days whose contact was not lost (by the same
    code) within 7 days of adding.
    """
    now = now or timezone.now()
    stats = hits.order_by().aggregate(
        scans=Count("pk", filter=Q(kind__in=scan_kinds)),
        adds=Count("pk", filter=Q(kind=add_kind)),
        deletes=Count("pk", filter=Q(kind=HitKind.DELETE)),
    )
    lost_soon = CodeHit.objects.filter(
        **{code_field: OuterRef(code_field)},
        kind=HitKind.DELETE,
        external_id=OuterRef("external_id"),
        occurred_at__gte=OuterRef("occurred_at"),
        occurred_at__lte=ExpressionWrapper(
            OuterRef("occurred_at") + KEPT_WINDOW, output_field=DateTimeField()
        ),
    )
    stats["kept_7d"] = (
        hits.filter(kind=add_kind, occurred_at__lte=now - KEPT_WINDOW)
        .filter(~Exists(lost_soon))
        .count()
    )
    stats["net"] = stats["adds"] - stats["deletes"]
    if detail:
        stats["series"] = _series(hits, add_kind, scan_kinds, now)
    return stats


def _series(hits, add_kind: str, scan_kinds, now: datetime) -> list[dict]:
    first = timezone.localtime(now).date() - timedelta(days=SERIES_DAYS - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))
    rows = (
        hits.filter(occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values_list("day", "kind")
        .annotate(n=Count("id"))
    )
    counts = {(day, kind): n for day, kind, n in rows}
    series = []
    for offset in range(SERIES_DAYS):
        day = first + timedelta(days=offset)
        series.append(
            {
                "date": day.isoformat(),
                "scans": sum(counts.get((day, k), 0) for k in scan_kinds),
                "adds": counts.get((day, add_kind), 0),
                "deletes": counts.get((day, HitKind.DELETE), 0),
            }
        )
    return series


def live_code_stats(code: LiveCode, *, now=None, detail: bool = True) -> dict:
    """`scans`, `adds`, `deletes`, `net`, `kept_7d`; with `detail`, `staff` (per member:
    adds, deletes, net) and `series` (per day, last 30 days). Lists pass detail=False."""
    hits = CodeHit.objects.filter(live_code=code)
    stats = hit_stats(
        hits, code_field="live_code", add_kind=HitKind.ADD, scan_kinds=[HitKind.SCAN],
        now=now, detail=detail,
    )  # fmt: skip
    if detail:
        rows = (
            hits.filter(staff__isnull=False, kind__in=[HitKind.ADD, HitKind.DELETE])
            .order_by()
            .values("staff", "staff__userid", "staff__name")
            .annotate(
                adds=Count("pk", filter=Q(kind=HitKind.ADD)),
                deletes=Count("pk", filter=Q(kind=HitKind.DELETE)),
            )
        )
        stats["staff"] = sorted(
            (
                {
                    "staff_id": row["staff"],
                    "userid": row["staff__userid"],
                    "name": row["staff__name"] or row["staff__userid"],
                    "adds": row["adds"],
                    "deletes": row["deletes"],
                    "net": row["adds"] - row["deletes"],
                }
                for row in rows
            ),
            key=lambda row: (-row["adds"], row["userid"]),
        )
    return stats
