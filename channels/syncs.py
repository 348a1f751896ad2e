"""Channel syncs: pull one kind of data from a platform into Quanyu, recorded as a SyncRun.

`account_sync` is the entry point (the `channels.sync_account` task, the console's "sync now",
the nightly reconcile). Each (account kind, sync kind) has a procedure here: it asks the
account's adapter for the platform's data and writes it set-wise through the customers
ingestion path (events with identities, `resolve_many`) and the tags models.

Follow state is kept as events, so callbacks and syncs agree: a customer follows an OA (or a
Douyin account) when their latest `subscribe`/`unsubscribe` event on it is a subscribe, and a
WeCom contact is kept by a staff member while their latest `add_external_contact` /
`del_external_contact` / `lost_contact` event with that `properties["staff"]` (the callback
handlers' key) is an add. A sync writes the events that callbacks missed, with source ids
that make a re-run a duplicate, not a double count: `follow:<openid>`, `unfollow:<openid>`
(`:<n>` from the second time on),
`add:<external_userid>:<userid>:<createtime>`, `del:<external_userid>:<userid>:<added at>`,
`comment:<comment_id>`.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from channels.adapters import PlatformError, SyncResult, Unsupported, adapter_for
from channels.adapters.shared import chunks
from channels.choices import ChannelKind, SyncKind, SyncStatus
from channels.clients import CallCounter, counting
from channels.models import ChannelAccount, GroupChat, Staff, SyncRun
from customers.choices import Gender, IdentityKind
from customers.identities import IdentityKey, normalize_identity
from customers.ingest import events_ingest, resolve_many
from customers.models import Customer, Event, Identity
from customers.services import customers_profile_bulk
from tags.models import CustomerTag, TagMapping, TagSource
from tags.services import tag_for_platform_tag

logger = logging.getLogger(__name__)

RUN_TIMEOUT = timedelta(minutes=20)  # a run still "running" after this died with its worker
INGEST_CHUNK = 5000
ANALYSIS_DAYS = 30  # how far back the first Mini Program analysis sync goes
ANALYSIS_KEEP = 400  # days of analysis kept in account.sync_cursor
RETENTION_DAYS = 8  # a day's retention keeps filling in for a week: fetch it again till then
GENDERS = {1: Gender.MALE, 2: Gender.FEMALE}
PROFILE_FIELDS = ("name", "gender", "city", "province")
RELATION_ADDED = "add_external_contact"
RELATION_ENDED = ("del_external_contact", "lost_contact")  # by the staff member, by the customer
DEFAULT_KINDS = {
    ChannelKind.WECHAT_OA: SyncKind.FOLLOWERS,
    ChannelKind.WECOM: SyncKind.CONTACTS,
    ChannelKind.WECHAT_MINI: SyncKind.ANALYSIS,
    ChannelKind.DOUYIN: SyncKind.FANS,
}


def account_sync(
    *, account: ChannelAccount, kind: str, full: bool = False, raise_transient: bool = False
) -> SyncRun:
    """Run one sync of the account and record it: status, counts, API calls and retries,
    the error. `kind` "reconcile" is the account's default kind in full.

    A platform error fails the run (and sets the account's `last_error`) without raising,
    unless `raise_transient` and it is worth retrying later (the task retries it); other
    exceptions are recorded and raised. While the same sync of the account runs, another
    call returns that run.
    """
    now = timezone.now()
    runs = account.sync_runs.filter(kind=kind, status=SyncStatus.RUNNING)
    runs.filter(started_at__lt=now - RUN_TIMEOUT).update(
        status=SyncStatus.FAILED, error="lost: its worker stopped", finished_at=now
    )
    running = runs.first()
    if running is not None:
        return running
    run = SyncRun.objects.create(
        account=account, kind=kind, full=full or kind == SyncKind.RECONCILE
    )
    with counting() as counter:
        try:
            result = adapter_for(account).sync(kind, full=run.full)
        except (PlatformError, Unsupported) as exc:
            _run_finish(run, counter, error=exc)
            if raise_transient and isinstance(exc, PlatformError) and exc.transient:
                raise
            return run
        except Exception as exc:
            _run_finish(run, counter, error=exc)
            raise
    _run_finish(run, counter, result=result)
    return run


def _run_finish(run: SyncRun, counter: CallCounter, *, result=None, error=None) -> None:
    now, account = timezone.now(), run.account
    run.api_calls, run.retries, run.finished_at = counter.api_calls, counter.retries, now
    if error is None:
        run.status = SyncStatus.SUCCEEDED
        run.fetched, run.created, run.updated = result.fetched, result.created, result.updated
        run.cursor = result.cursor
        account.last_sync_at, account.last_error = now, ""
        fields = ["last_sync_at", "last_error", "sync_cursor"]
    else:
        run.status = SyncStatus.FAILED
        run.error = f"{type(error).__name__}: {error}"[:2000]
        account.last_error = f"sync {run.kind}: {error}"[:2000]
        account.last_error_at = now
        fields = ["last_error", "last_error_at"]
    run.save()
    account.save(update_fields=[*fields, "updated_at"])


def sync_procedure(adapter, kind: str, *, full: bool) -> SyncResult:
    """Run the procedure for the adapter's account kind and `kind` (Adapter.sync calls it)."""
    account_kind = adapter.account.kind
    if kind == SyncKind.RECONCILE and account_kind in DEFAULT_KINDS:
        kind, full = DEFAULT_KINDS[account_kind], True
    procedure = PROCEDURES.get((account_kind, kind))
    if procedure is None:
        raise Unsupported(kind)
    return procedure(adapter, full=full)


# --- shared pieces ----------------------------------------------------------------------------


def _scoped_customers(account: ChannelAccount, kind: str) -> dict[str, int]:
    """`{value: customer id}` of one scoped identity kind on this account."""
    rows = Identity.objects.filter(kind=kind, scope=account.code).values_list("value", "customer")
    return dict(rows.iterator(chunk_size=10_000))


def _at(timestamp) -> str:
    """A platform's unix time as ISO 8601 (now when it gives none)."""
    if not timestamp:
        return timezone.now().isoformat()
    return datetime.fromtimestamp(int(timestamp), tz=UTC).isoformat()


def _identity(kind: str, value: str, scope: str = "") -> dict:
    return {"kind": kind, "value": value, "scope": scope}


def _ingest(account: ChannelAccount, rows: list[dict]) -> dict:
    """Write event rows through the events ingestion path (which resolves and creates the
    customers set-wise); returns the counts for the run's cursor."""
    counts = defaultdict(int)
    for part in chunks(rows, INGEST_CHUNK):
        result = events_ingest(rows=part, actor_label=f"sync:{account.code}")
        counts["events"] += result.accepted
        counts["duplicates"] += result.duplicates
        if result.errors:  # a platform value we cannot store (too long…): skip, say so
            counts["rejected"] += len(result.errors)
            logger.warning("sync %s: rows rejected: %s", account.code, result.errors[:3])
    return dict(counts)


def _profiles_fill(profiles: dict[int, dict]) -> int:
    """Fill the blank profile fields (name, gender, city, province) of these customers from
    what the platform says, set-wise; what a customer already has stays."""
    blank = ("", None, Gender.UNKNOWN)
    merged = {}
    for part in chunks(sorted(profiles), 500):
        for row in Customer.objects.filter(pk__in=part).values("pk", *PROFILE_FIELDS):
            offered = profiles[row["pk"]]
            filled = {
                f: offered.get(f) if row[f] in blank and offered.get(f) else row[f]
                for f in PROFILE_FIELDS
            }
            if filled != {f: row[f] for f in PROFILE_FIELDS}:
                merged[row["pk"]] = filled
    return customers_profile_bulk(profiles=merged)


def _tags_apply(account: ChannelAccount, desired: dict[int, set[int]]) -> tuple[int, int]:
    """Make the platform-synced tags of these customers exactly `desired` (our tag ids, from
    this account's tag mappings); tags put on by hand, rules or other accounts stay.
    Returns (added, removed)."""
    mapped = set(TagMapping.objects.filter(account=account).values_list("tag", flat=True))
    added = removed = 0
    for part in chunks(sorted(desired), 500):
        existing = CustomerTag.objects.filter(customer__in=part, tag__in=mapped).values_list(
            "pk", "customer", "tag", "source", "source_ref"
        )
        have, stale = set(), []
        for pk, customer_id, tag_id, source, ref in existing:
            have.add((customer_id, tag_id))
            synced = source == TagSource.CHANNEL_SYNC and ref == account.code
            if synced and tag_id not in desired[customer_id]:
                stale.append(pk)
        new = [
            CustomerTag(
                customer_id=c, tag_id=t, source=TagSource.CHANNEL_SYNC, source_ref=account.code
            )
            for c in part
            for t in sorted(desired[c])
            if (c, t) not in have
        ]
        CustomerTag.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
        removed += CustomerTag.objects.filter(pk__in=stale).delete()[0]
        added += len(new)
    return added, removed


def _tag_map(account: ChannelAccount, platform_tags: Callable[[], list[dict]], ids) -> dict:
    """`{platform tag id: our tag id}` for these platform tag ids (mapped or created)."""
    ids = {str(i) for i in ids}
    if not ids:
        return {}
    names = {str(t["id"]): t["name"] for t in platform_tags()}
    return {
        i: tag_for_platform_tag(account=account, external_id=i, external_name=names.get(i, "")).pk
        for i in sorted(ids)
    }


def _tags_sync(adapter, platform_tags: Callable[[], list[dict]]) -> SyncResult:
    """Map every platform tag to one of ours (a new tag for an unknown one)."""
    account = adapter.account
    before = TagMapping.objects.filter(account=account).count()
    tags = platform_tags()
    _tag_map(account, lambda: tags, [t["id"] for t in tags])
    created = TagMapping.objects.filter(account=account).count() - before
    return SyncResult(fetched=len(tags), created=created, cursor={"tags": len(tags)})


# --- follows (OA followers, Douyin fans) --------------------------------------------------------


@dataclass
class FollowChanges:
    """How the platform's follower list differs from the follow state our events record."""

    new: list[str] = field(default_factory=list)  # never seen on this account
    returning: list[str] = field(default_factory=list)  # known to us, following (again)
    staying: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    times: dict[int, list[int]] = field(default_factory=dict)  # customer → [follows, leaves]


def _follow_changes(account: ChannelAccount, current: list[str], known: dict) -> FollowChanges:
    times: dict[int, list[int]] = {}
    following: dict[int, bool] = {}
    events = (
        Event.objects.filter(channel_account=account, name__in=("subscribe", "unsubscribe"))
        .order_by("occurred_at", "id")
        .values_list("customer", "name")
    )
    for customer_id, name in events.iterator(chunk_size=10_000):
        times.setdefault(customer_id, [0, 0])[name == "unsubscribe"] += 1
        following[customer_id] = name == "subscribe"
    changes = FollowChanges(times=times)
    listed = set(current)
    for uid in current:
        customer_id = known.get(uid)
        if customer_id is None:
            changes.new.append(uid)
        elif following.get(customer_id):
            changes.staying.append(uid)
        else:
            changes.returning.append(uid)
    changes.gone = [u for u, c in known.items() if u not in listed and following.get(c)]
    return changes


def _follow_rows(account, changes: FollowChanges, known: dict, kind: str) -> list[dict]:
    """The (re)subscribe events of returning followers and the unsubscribes of those gone."""
    rows = []
    changed = (("subscribe", changes.returning, 0), ("unsubscribe", changes.gone, 1))
    for name, uids, which in changed:
        for uid in uids:
            n = changes.times.get(known[uid], [0, 0])[which] + 1
            prefix = "follow" if which == 0 else "unfollow"
            rows.append(
                {
                    "event_id": f"{prefix}:{uid}" + (f":{n}" if n > 1 else ""),
                    "name": name,
                    "occurred_at": timezone.now().isoformat(),
                    "channel": account.code,
                    "identities": [_identity(kind, uid, account.code)],
                    "properties": {"via": "sync"},
                }
            )
    return rows


def _follow_cursor(changes: FollowChanges, listed: int) -> dict:
    return {
        "listed": listed,
        "new": len(changes.new),
        "returned": len(changes.returning),
        "unfollowed": len(changes.gone),
    }


def oa_followers_sync(adapter, *, full: bool) -> SyncResult:
    """OA followers, incrementally: the whole openid list (10,000 a call) against the openids
    we hold; user info (100 a call) only for new followers — for everyone on `full` — then
    customers and `subscribe` events for the new ones, (re)subscribes and unsubscribes for
    the changes, blank profile fields filled, and the OA's tags mapped to ours."""
    account = adapter.account
    current = adapter.follower_openids()
    known = _scoped_customers(account, IdentityKind.WECHAT_OPENID)
    changes = _follow_changes(account, current, known)
    users = adapter.users_info(changes.new + (changes.staying + changes.returning if full else []))
    new = set(changes.new)
    rows = [  # subscribe 0: left between the list and the user info
        _oa_subscribe_row(account, u) for u in users if u["openid"] in new and u.get("subscribe")
    ]
    rows += _follow_rows(account, changes, known, IdentityKind.WECHAT_OPENID)
    cursor = _follow_cursor(changes, len(current)) | _ingest(account, rows)
    if full:  # a unionid the platform gives now for someone we knew without one
        _identities_attach(account, [u for u in users if u["openid"] not in new])
    cursor.update(_oa_users_apply(adapter, users))
    account.sync_cursor["followers"] = {"total": len(current), "at": timezone.now().isoformat()}
    return SyncResult(
        fetched=len(current),
        created=len(changes.new),
        updated=len(changes.returning) + len(changes.gone) + (len(changes.staying) if full else 0),
        cursor=cursor | {"user_info": len(users)},
    )


def _oa_subscribe_row(account: ChannelAccount, user: dict) -> dict:
    identities = [_identity(IdentityKind.WECHAT_OPENID, user["openid"], account.code)]
    if user.get("unionid"):
        identities.append(_identity(IdentityKind.WECHAT_UNIONID, user["unionid"]))
    return {
        "event_id": f"follow:{user['openid']}",
        "name": "subscribe",
        "occurred_at": _at(user.get("subscribe_time")),
        "channel": account.code,
        "identities": identities,
        "properties": {
            "via": "sync",
            "scene": user.get("subscribe_scene", ""),
            "qr_scene_str": user.get("qr_scene_str", ""),
        },
    }


def _identities_attach(account: ChannelAccount, users: list[dict]) -> None:
    """Attach the unionids of known followers (merging where the unionid is someone else's)."""
    key_sets = [
        [
            normalize_identity(IdentityKind.WECHAT_OPENID, u["openid"], account.code),
            normalize_identity(IdentityKind.WECHAT_UNIONID, u["unionid"]),
        ]
        for u in users
        if u.get("unionid")
    ]
    for part in chunks(key_sets, INGEST_CHUNK):
        resolve_many(part, f"sync:{account.code}")


def _oa_users_apply(adapter, users: list[dict]) -> dict:
    """Profiles and tags of the followers whose user info we fetched."""
    account = adapter.account
    if not users:
        return {}
    known = _scoped_customers(account, IdentityKind.WECHAT_OPENID)
    mine = {u["openid"]: known[u["openid"]] for u in users if u["openid"] in known}
    profiles = {
        mine[u["openid"]]: {
            "name": u.get("nickname", ""),
            "gender": GENDERS.get(u.get("sex"), Gender.UNKNOWN),
            "city": u.get("city", ""),
            "province": u.get("province", ""),
        }
        for u in users
        if u["openid"] in mine
    }
    tag_ids = {t for u in users for t in u.get("tagid_list") or []}
    ours = _tag_map(account, adapter.tags, tag_ids)
    desired = {
        mine[u["openid"]]: {ours[str(t)] for t in u.get("tagid_list") or []}
        for u in users
        if u["openid"] in mine
    }
    added, removed = _tags_apply(account, desired)
    return {"profiles": _profiles_fill(profiles), "tags_added": added, "tags_removed": removed}


def oa_tags_sync(adapter, *, full: bool) -> SyncResult:
    """Map the OA's user tags to ours."""
    return _tags_sync(adapter, adapter.tags)


# --- WeCom ------------------------------------------------------------------------------------


def wecom_staff_sync(adapter, *, full: bool) -> SyncResult:
    """Staff with customer contact (follow users) → Staff rows; the others inactive."""
    return _staff_refresh(adapter)[1]


def _staff_refresh(adapter) -> tuple[list[str], SyncResult]:
    """The follow users' userids, their Staff rows made or updated (a name fetched for each
    one we have none for)."""
    account, now = adapter.account, timezone.now()
    userids = adapter.follow_users()
    existing = {s.userid: s for s in account.staff.all()}
    names = {
        u: adapter.staff_name(u)[:64] for u in userids if u not in existing or not existing[u].name
    }
    fresh = [u for u in userids if u not in existing]
    Staff.objects.bulk_create(
        [Staff(account=account, userid=u, name=names[u], synced_at=now) for u in fresh],
        ignore_conflicts=True,  # a concurrent contacts sync made them
    )
    for userid, name in names.items():
        if userid in existing and name:
            account.staff.filter(userid=userid).update(name=name)
    account.staff.filter(userid__in=userids).update(active=True, synced_at=now)
    left = account.staff.exclude(userid__in=userids).filter(active=True).update(active=False)
    result = SyncResult(
        fetched=len(userids),
        created=len(fresh),
        updated=len(names) - len(fresh) + left,
        cursor={"staff": len(userids), "left": left},
    )
    return userids, result


def wecom_groups_sync(adapter, *, full: bool) -> SyncResult:
    """Customer group chats → GroupChat rows (name, owner, member count)."""
    account, now = adapter.account, timezone.now()
    chats = adapter.group_chats()
    before = set(account.group_chats.values_list("chat_id", flat=True))
    GroupChat.objects.bulk_create(
        [
            GroupChat(
                account=account,
                chat_id=c["chat_id"],
                name=c.get("name", "")[:100],
                owner=c.get("owner", ""),
                member_count=len(c.get("member_list") or []),
                synced_at=now,
            )
            for c in chats
        ],
        update_conflicts=True,
        unique_fields=["account", "chat_id"],
        update_fields=["name", "owner", "member_count", "synced_at"],
    )
    created = len({c["chat_id"] for c in chats} - before)
    return SyncResult(fetched=len(chats), created=created, updated=len(chats) - created, cursor={})


def wecom_contacts_sync(adapter, *, full: bool) -> SyncResult:
    """Staff, every external contact of every staff member (batch/get_by_user, 100 a page)
    and the group chats. Contacts become customers (external userid + unionid), each
    follow relation new to us an `add_external_contact` event (`staff`, `state`, at its
    `createtime`), each one gone a `del_external_contact` (who ended it is unknown to a
    sync: `initiator` ""); corp tags map to our tags."""
    account = adapter.account
    userids, _staff = _staff_refresh(adapter)
    contacts: dict[str, dict] = {}
    follows: list[tuple[str, dict]] = []
    for item in adapter.contacts(userids):
        contact = item["external_contact"]
        contacts[contact["external_userid"]] = contact
        follows.append((contact["external_userid"], item.get("follow_info") or {}))
    known = _scoped_customers(account, IdentityKind.WECOM_EXTERNAL_USERID)
    new = [ext for ext in contacts if ext not in known]
    customers = _contacts_resolve(account, contacts)
    profiles = {
        customers[ext]: {
            "name": contacts[ext].get("name", ""),
            "gender": GENDERS.get(contacts[ext].get("gender"), Gender.UNKNOWN),
        }
        for ext in new
    }
    rows, changed = _relation_rows(account, follows, customers, known)
    cursor = {"contacts": len(contacts), "relations": len(follows), **changed}
    cursor |= _ingest(account, rows)
    tag_ids = {t for _, info in follows for t in info.get("tag_id") or []}
    ours = _tag_map(account, adapter.corp_tags, tag_ids)
    desired: dict[int, set[int]] = {customers[ext]: set() for ext in contacts}
    for ext, info in follows:
        desired[customers[ext]] |= {ours[str(t)] for t in info.get("tag_id") or []}
    added, removed = _tags_apply(account, desired)
    groups = wecom_groups_sync(adapter, full=full)
    cursor |= {
        "profiles": _profiles_fill(profiles),
        "tags_added": added,
        "tags_removed": removed,
        "staff": len(userids),
        "groups": groups.fetched,
    }
    return SyncResult(
        fetched=len(contacts),
        created=len(new),
        updated=changed["added_known"] + changed["lost"],
        cursor=cursor,
    )


def _contacts_resolve(account: ChannelAccount, contacts: dict[str, dict]) -> dict[str, int]:
    """`{external_userid: customer id}`, new customers made and unionids attached set-wise."""
    key_sets: list[list[IdentityKey]] = []
    for ext, contact in contacts.items():
        keys = [normalize_identity(IdentityKind.WECOM_EXTERNAL_USERID, ext, account.code)]
        if contact.get("unionid"):
            keys.append(normalize_identity(IdentityKind.WECHAT_UNIONID, contact["unionid"]))
        key_sets.append(keys)
    ids: list[int] = []
    for part in chunks(key_sets, INGEST_CHUNK):
        ids += resolve_many(part, f"sync:{account.code}")
    return dict(zip(contacts, ids, strict=True))


def _relation_rows(account, follows, customers: dict, known: dict) -> tuple[list[dict], dict]:
    """add/del events for the follow relations that changed since our events last said, and
    how many: relations added (to contacts we knew: `added_known`) and lost. Events that
    name no `staff` cannot be matched to a relation and are left out."""
    kept: dict[tuple[int, str], datetime] = {}  # (customer, staff) → added at
    events = (
        Event.objects.filter(channel_account=account, name__in=(RELATION_ADDED, *RELATION_ENDED))
        .order_by("occurred_at", "id")
        .values_list("customer", "name", "properties", "occurred_at")
    )
    for customer_id, name, properties, occurred_at in events.iterator(chunk_size=10_000):
        staff = (properties or {}).get("staff")
        if not staff:
            continue
        key = (customer_id, staff)
        if name == RELATION_ADDED:
            kept[key] = occurred_at
        else:
            kept.pop(key, None)
    rows, now_kept, added_known = [], set(), 0
    for ext, info in follows:
        key = (customers[ext], info.get("userid", ""))
        now_kept.add(key)
        if key not in kept:
            rows.append(_relation_row(account, RELATION_ADDED, ext, info))
            added_known += ext in known
    by_customer = {c: ext for ext, c in known.items()} | {c: ext for ext, c in customers.items()}
    lost = [(key, at) for key, at in kept.items() if key not in now_kept and key[0] in by_customer]
    for (customer_id, userid), added_at in lost:
        info = {"userid": userid, "added_at": int(added_at.timestamp())}
        rows.append(_relation_row(account, RELATION_ENDED[0], by_customer[customer_id], info))
    return rows, {"added": len(rows) - len(lost), "added_known": added_known, "lost": len(lost)}


def _relation_row(account, name: str, ext: str, info: dict) -> dict:
    userid = info.get("userid", "")
    if name == RELATION_ADDED:
        source = f"add:{ext}:{userid}:{info.get('createtime', 0)}"
        at = _at(info.get("createtime"))
        properties = {"staff": userid, "state": info.get("state", ""), "via": "sync"}
    else:
        source, at = f"del:{ext}:{userid}:{info['added_at']}", timezone.now().isoformat()
        properties = {"staff": userid, "initiator": "", "via": "sync"}
    return {
        "event_id": source[:128],
        "name": name,
        "occurred_at": at,
        "channel": account.code,
        "identities": [_identity(IdentityKind.WECOM_EXTERNAL_USERID, ext, account.code)],
        "properties": properties,
    }


def wecom_tags_sync(adapter, *, full: bool) -> SyncResult:
    """Map the corp's customer tags to ours."""
    return _tags_sync(adapter, adapter.corp_tags)


# --- Mini Program -----------------------------------------------------------------------------


def mini_analysis_sync(adapter, *, full: bool) -> SyncResult:
    """Daily visit trend and retention, one day per call pair, up to yesterday.

    Events need a customer, so the numbers are kept on the account for reports to roll up:
    `account.sync_cursor["analysis"] = {"YYYY-MM-DD": {"visits": {session_cnt, visit_pv,
    visit_uv, visit_uv_new, stay_time_uv, …}, "retention": {"visit_uv_new": {"0": n, "1": n…},
    "visit_uv": {…}}, "fetched_on": "YYYY-MM-DD"}}` (the last ANALYSIS_KEEP days). Of the last
    ANALYSIS_DAYS days, those missing are fetched (all of them on `full`), and those younger
    than a week again once a day while their retention fills in.
    """
    account = adapter.account
    today = timezone.localdate()
    stored: dict = dict(account.sync_cursor.get("analysis") or {})
    filling = today - timedelta(days=RETENTION_DAYS)
    wanted = [
        day
        for day in (today - timedelta(days=n) for n in range(ANALYSIS_DAYS, 0, -1))
        if full
        or day.isoformat() not in stored
        or (day >= filling and stored[day.isoformat()].get("fetched_on") != today.isoformat())
    ]
    created = 0
    for day in wanted:
        key = day.isoformat()
        created += key not in stored
        stored[key] = {
            "visits": adapter.daily_visits(day),
            "retention": adapter.daily_retention(day),
            "fetched_on": today.isoformat(),
        }
    account.sync_cursor["analysis"] = dict(sorted(stored.items())[-ANALYSIS_KEEP:])
    return SyncResult(
        fetched=len(wanted),
        created=created,
        updated=len(wanted) - created,
        cursor={"days": [d.isoformat() for d in wanted]},
    )


# --- Douyin -----------------------------------------------------------------------------------


def douyin_fans_sync(adapter, *, full: bool) -> SyncResult:
    """Fans (with their profile) as customers and follow events like OA followers; the
    account's videos and their data kept on the account (`sync_cursor["videos"]`, item id →
    title, create_time and counts) for reports; comments as `comment` events of their
    authors, fetched only for videos whose comment count grew (every video on `full`)."""
    account = adapter.account
    fans = {fan["open_id"]: fan for fan in adapter.fans()}
    known = _scoped_customers(account, IdentityKind.DOUYIN_OPEN_ID)
    changes = _follow_changes(account, list(fans), known)
    rows = [_douyin_fan_row(account, fans[uid]) for uid in changes.new]
    rows += _follow_rows(account, changes, known, IdentityKind.DOUYIN_OPEN_ID)
    videos = adapter.videos()
    before = account.sync_cursor.get("videos") or {}
    data = {v["item_id"]: v for v in adapter.video_data([v["item_id"] for v in videos])}
    stats = {}
    for video in videos:
        counts = (data.get(video["item_id"]) or video).get("statistics") or {}
        stats[video["item_id"]] = {
            "title": video.get("title", ""),
            "create_time": video.get("create_time"),
            **counts,
        }
    commented = [
        item_id
        for item_id, s in stats.items()
        if full or s.get("comment_count", 0) > (before.get(item_id) or {}).get("comment_count", 0)
    ]
    for item_id in commented:
        rows += [_douyin_comment_row(account, item_id, c) for c in adapter.comments(item_id)]
    cursor = _follow_cursor(changes, len(fans)) | _ingest(account, rows)
    known = _scoped_customers(account, IdentityKind.DOUYIN_OPEN_ID)
    cursor["profiles"] = _profiles_fill(
        {
            known[uid]: {
                "name": fans[uid].get("nickname", ""),
                "gender": GENDERS.get(fans[uid].get("gender"), Gender.UNKNOWN),
                "city": fans[uid].get("city", ""),
                "province": fans[uid].get("province", ""),
            }
            for uid in changes.new
            if uid in known
        }
    )
    account.sync_cursor["videos"] = stats
    return SyncResult(
        fetched=len(fans) + len(videos),
        created=len(changes.new),
        updated=len(changes.returning) + len(changes.gone),
        cursor=cursor | {"videos": len(videos), "comments_fetched_for": len(commented)},
    )


def _douyin_fan_row(account: ChannelAccount, fan: dict) -> dict:
    return {
        "event_id": f"follow:{fan['open_id']}",
        "name": "subscribe",
        "occurred_at": _at(fan.get("follow_time")),
        "channel": account.code,
        "identities": [_identity(IdentityKind.DOUYIN_OPEN_ID, fan["open_id"], account.code)],
        "properties": {"via": "sync"},
    }


def _douyin_comment_row(account: ChannelAccount, item_id: str, comment: dict) -> dict:
    return {
        "event_id": f"comment:{comment['comment_id']}"[:128],
        "name": "comment",
        "occurred_at": _at(comment.get("create_time")),
        "channel": account.code,
        "identities": [
            _identity(IdentityKind.DOUYIN_OPEN_ID, comment["comment_user_id"], account.code)
        ],
        "properties": {
            "item_id": item_id,
            "content": (comment.get("content") or "")[:500],
            "digg_count": comment.get("digg_count", 0),
        },
    }


PROCEDURES: dict[tuple[str, str], Callable[..., SyncResult]] = {
    (ChannelKind.WECHAT_OA, SyncKind.FOLLOWERS): oa_followers_sync,
    (ChannelKind.WECHAT_OA, SyncKind.TAGS): oa_tags_sync,
    (ChannelKind.WECOM, SyncKind.CONTACTS): wecom_contacts_sync,
    (ChannelKind.WECOM, SyncKind.STAFF): wecom_staff_sync,
    (ChannelKind.WECOM, SyncKind.GROUPS): wecom_groups_sync,
    (ChannelKind.WECOM, SyncKind.TAGS): wecom_tags_sync,
    (ChannelKind.WECHAT_MINI, SyncKind.ANALYSIS): mini_analysis_sync,
    (ChannelKind.DOUYIN, SyncKind.FANS): douyin_fans_sync,
}
