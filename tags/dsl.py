"""The audience DSL: a JSON tree saying "who", validated and compiled to one ORM query.

    {"all": [{"attr": "city", "op": "in", "value": ["上海", "北京"]},
             {"tag": "高价值"},
             {"event": "add_to_cart", "within": "30d", "count": {"gte": 1}},
             {"not": {"event": "order_paid", "within": "30d"}}]}

Nodes: `all` / `any` (lists of nodes), `not` (a node), `attr` (profile field or
`attributes.<key>` with an operator), `tag` (a name or id; or `{"any"|"all"|"none": [...]}`),
`event` (name, optional `within` or `between`, `where` on properties, and one of `count`,
`sum`, `avg`, `first`, `last`), `identity` (a kind, optional `scope`), `consent` (a channel,
optional `status`). Every node becomes a `Q` on `Customer`; conditions on related rows are
sets of customer ids (subqueries) that combine as UNION, IN, anti-joins or EXCEPT, so the
whole tree is one SQL statement (docs/audiences.md, "How it runs").

Errors name the path in the tree and what is wrong, e.g.
`all[2].event.within: expected a duration like 30d, 12h or 90m`.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.apps import apps
from django.db.models import (
    Avg,
    Count,
    Exists,
    FloatField,
    Max,
    Min,
    OuterRef,
    Q,
    Sum,
    TextField,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from customers.choices import ConsentChannel, ConsentStatus, IdentityKind
from customers.models import Consent, Customer, Event, Identity

MAX_DEPTH = 12
MAX_NODES = 200

OPS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "between", "contains", "startswith",
       "is_null")  # fmt: skip
COMPARATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")

# Profile fields the DSL may name, by type.
TEXT_FIELDS = {"name", "gender", "city", "province", "phone", "email", "lifecycle", "rfm_segment",
               "value_cluster", "tier"}  # fmt: skip
NUMBER_FIELDS = {"rfm_recency", "rfm_frequency", "rfm_monetary", "total_orders", "total_revenue",
                 "points_balance", "points_expiring", "tier_score"}  # fmt: skip
FIELD_ALIASES = {"points": "points_balance"}
DATE_FIELDS = {"birthday"}
DATETIME_FIELDS = {"last_order_at", "first_seen_at", "last_seen_at", "created_at",
                   "points_expire_at"}  # fmt: skip
ATTR_FIELDS = TEXT_FIELDS | NUMBER_FIELDS | DATE_FIELDS | DATETIME_FIELDS
DURATION = re.compile(r"^(\d{1,6})\s*([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class DslError(ValueError):
    """A definition that cannot be compiled; `errors` maps JSON paths to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors.items()))
        self.errors = errors


@dataclass
class _Context:
    now: datetime
    errors: dict
    nodes: int = 0
    # Conditions that are a set of customer ids (a `values("customer")` queryset), keyed by
    # id() of their Q: groups of them combine as sets (UNION, IN, anti-join) the way one
    # would write the query by hand, and a count can be taken on the set itself.
    sets: dict = field(default_factory=dict)
    negated_sets: dict = field(default_factory=dict)

    def fail(self, path: str, message: str) -> Q:
        self.errors.setdefault(path or "$", message)
        return Q(pk__in=[])

    def set_of(self, members, *, unique: bool, filterable: bool = True, grouped: bool = False):
        """A condition "the customer is in `members`"; `unique`: no id twice in it."""
        q = Q(pk__in=members)
        self.sets[id(q)] = (q, _Members(members, unique, filterable, grouped))
        return q

    def members(self, q: Q):
        entry = self.sets.get(id(q))
        return entry[1] if entry and entry[0] is q else None


@dataclass(frozen=True)
class _Members:
    queryset: object
    unique: bool
    filterable: bool  # a UNION cannot be filtered further
    grouped: bool  # GROUP BY … HAVING: negated as NOT IN, never as a correlated NOT EXISTS


def compile_definition(definition, *, now: datetime | None = None) -> Q:
    """The `Q` selecting the customers a definition describes; raises DslError."""
    ctx = _Context(now=now or timezone.now(), errors={})
    q = _node(definition, "", ctx, depth=0)
    if ctx.errors:
        raise DslError(ctx.errors)
    return q


def audience_queryset(definition, *, now: datetime | None = None):
    """Customers matching a definition: one query, ordered newest first."""
    return Customer.objects.filter(compile_definition(definition, now=now)).order_by("-id")


def audience_count(definition, *, now: datetime | None = None) -> int:
    """How many customers a definition selects.

    A definition that is one set of ids (an event aggregate such as "coupon used twice in
    90 days") is counted on that set directly: every id in it references a customer.
    """
    ctx = _Context(now=now or timezone.now(), errors={})
    q = _node(definition, "", ctx, depth=0)
    if ctx.errors:
        raise DslError(ctx.errors)
    members = ctx.members(q)
    if members is not None:
        return (members.queryset if members.unique else members.queryset.distinct()).count()
    return Customer.objects.filter(q).count()


def validate_definition(definition) -> dict[str, str]:
    """Path → message for everything wrong with a definition (empty when it is fine)."""
    try:
        compile_definition(definition)
    except DslError as exc:
        return exc.errors
    return {}


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


NODE_KEYS = ("all", "any", "not", "attr", "tag", "event", "identity", "consent")


def _node(node, path: str, ctx: _Context, *, depth: int) -> Q:
    ctx.nodes += 1
    if ctx.nodes > MAX_NODES:
        return ctx.fail(path, f"too many conditions (at most {MAX_NODES})")
    if depth > MAX_DEPTH:
        return ctx.fail(path, f"nested too deep (at most {MAX_DEPTH} levels)")
    if not isinstance(node, dict):
        return ctx.fail(path, "expected an object")
    kinds = [k for k in NODE_KEYS if k in node]
    if len(kinds) != 1:
        expected = ", ".join(NODE_KEYS)
        if not kinds:
            return ctx.fail(path, f"expected one of the keys {expected}")
        return ctx.fail(path, f"one condition per object, got {', '.join(kinds)}")
    kind = kinds[0]
    return NODE_COMPILERS[kind](node, _join(path, kind), ctx, depth)


def _group(node, path, ctx, depth) -> Q:
    kind = path.rsplit(".", 1)[-1]
    children = node[kind]
    _no_extra(node, {kind}, path, ctx)
    if not isinstance(children, list):
        return ctx.fail(path, "expected a list of conditions")
    if not children:
        return Q() if kind == "all" else Q(pk__in=[])  # all of nothing is true, any is false
    parts = [
        _node(child, _join(path, index), ctx, depth=depth + 1)
        for index, child in enumerate(children)
    ]
    if len(parts) > 1 and not ctx.errors:
        combined = _any_as_set(parts, ctx) if kind == "any" else _all_as_set(parts, ctx)
        if combined is not None:
            return combined
    q = parts[0]
    for part in parts[1:]:
        q = q & part if kind == "all" else q | part
    return q


def _any_as_set(parts: list[Q], ctx: _Context) -> Q | None:
    """Any of several id sets is their UNION (one pass each, no scan of every customer)."""
    members = [ctx.members(part) for part in parts]
    if not all(members):
        return None
    first, *rest = (m.queryset for m in members)
    return ctx.set_of(first.union(*rest), unique=True, filterable=False)


def _all_as_set(parts: list[Q], ctx: _Context) -> Q | None:
    """All of: one id set narrowed by the others (IN) and minus the negated ones."""
    candidates = [m for p in parts if (m := ctx.members(p)) and m.filterable]
    if not candidates:
        return None
    base = min(candidates, key=lambda m: m.grouped)  # plain sets narrow best
    if base.grouped:
        return _grouped_minus(base, parts, ctx)
    members, unique = base.queryset, base.unique
    for part in parts:
        positive, negative = ctx.members(part), ctx.negated_sets.get(id(part))
        if positive is base:
            continue
        if positive is not None:
            members = members.filter(customer__in=positive.queryset)
        elif negative is not None and negative[0] is part:
            members = _without(members, negative[1])
        else:
            return None
    return ctx.set_of(members, unique=unique, grouped=base.grouped)


def _grouped_minus(base: "_Members", parts: list[Q], ctx: _Context) -> Q | None:
    """An aggregated set minus others: `… GROUP BY … HAVING … EXCEPT …`. Filtering the
    grouped query instead would test every event row before it is grouped."""
    excluded = []
    for part in parts:
        if ctx.members(part) is base:
            continue
        negative = ctx.negated_sets.get(id(part))
        if negative is None or negative[0] is not part:
            return None  # another positive condition: the plain composition plans better
        excluded.append(negative[1].queryset)
    if not excluded:
        return None
    return ctx.set_of(base.queryset.difference(*excluded), unique=True, filterable=False)


def _without(members, excluded: "_Members"):
    if excluded.grouped or not excluded.filterable:
        return members.exclude(customer__in=excluded.queryset)
    return members.filter(~Exists(excluded.queryset.filter(customer=OuterRef("customer"))))


def _not(node, path, ctx, depth) -> Q:
    _no_extra(node, {"not"}, path, ctx)
    return _negated(node["not"], path, ctx, depth + 1)


def _negated(node, path, ctx, depth) -> Q:
    """NOT pushed through groups (De Morgan), so each negated condition is a top-level NOT
    EXISTS the database can plan as an anti-join rather than a filter over every row."""
    if isinstance(node, dict) and len(node) == 1:
        (kind, children), = node.items()  # fmt: skip
        if kind in ("all", "any") and isinstance(children, list) and children:
            group_path = _join(path, kind)
            q = None
            for index, child in enumerate(children):
                part = _negated(child, _join(group_path, index), ctx, depth + 1)
                q = part if q is None else (q | part if kind == "all" else q & part)
            return q
        if kind == "not":
            return _node(children, _join(path, "not"), ctx, depth=depth + 1)
    q = _node(node, path, ctx, depth=depth)
    members = ctx.members(q)
    if members is None:
        return ~q
    if members.grouped or not members.filterable:
        negated = ~Q(pk__in=members.queryset)
    else:  # a plain NOT EXISTS: an anti-join
        negated = ~Q(Exists(members.queryset.filter(customer=OuterRef("pk"))))
    ctx.negated_sets[id(negated)] = (negated, members)
    return negated


def _no_extra(node: dict, allowed: set, path: str, ctx: _Context) -> None:
    base = path.rsplit(".", 1)[0] if "." in path else ""
    for key in node:
        if key not in allowed:
            ctx.fail(_join(base, key), "unknown key")


# --- attr ----------------------------------------------------------------------------------


def _attr(node, path, ctx, depth) -> Q:
    base = path[: -len(".attr")] if path.endswith(".attr") else ""
    _no_extra(node, {"attr", "op", "value"}, path, ctx)
    field = node["attr"]
    op = node.get("op", "eq")
    if op not in OPS:
        return ctx.fail(_join(base, "op"), f"unknown operator {op!r}; use one of {', '.join(OPS)}")
    if not isinstance(field, str):
        return ctx.fail(path, "expected a field name")
    value_path = _join(base, "value")
    if field.startswith("attributes."):
        key = field.split(".", 1)[1]
        if not key or not re.fullmatch(r"[\w-]{1,64}", key):
            return ctx.fail(path, "expected attributes.<key>")
        return _custom_attr(key, op, node.get("value"), value_path, ctx)
    field = FIELD_ALIASES.get(field, field)
    if field not in ATTR_FIELDS:
        return ctx.fail(path, f"unknown field {field!r}")
    if op == "is_null":
        return _is_null(field, node.get("value", True), value_path, ctx)
    parse = _parser(field)
    value = node.get("value")
    return _compare(field, op, value, parse, value_path, ctx, text=field in TEXT_FIELDS)


def _parser(field: str):
    if field in NUMBER_FIELDS:
        return _number
    if field in DATE_FIELDS:
        return _date
    if field in DATETIME_FIELDS:
        return _datetime
    return _text


def _text(value):
    if isinstance(value, str):
        return value
    raise ValueError("expected a string")


def _number(value):
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError("expected a number")


def _date(value):
    parsed = parse_date(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError("expected a date like 2026-05-01")
    return parsed


def _datetime(value):
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None and parse_date(value):
            parsed = datetime.combine(parse_date(value), datetime.min.time())
        if parsed is not None:
            return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
    raise ValueError("expected a time like 2026-05-01T10:00:00+08:00")


def _is_null(field: str, value, path: str, ctx: _Context) -> Q:
    if not isinstance(value, bool):
        return ctx.fail(path, "expected true or false")
    empty = Q(**{f"{field}__isnull": True})
    if field in TEXT_FIELDS:
        empty |= Q(**{field: ""})
    return empty if value else ~empty


def _compare(field, op, value, parse, path, ctx, *, text: bool) -> Q:
    try:
        if op in ("in", "nin"):
            if not isinstance(value, list) or not value:
                raise ValueError("expected a non-empty list")
            q = Q(**{f"{field}__in": [parse(v) for v in value]})
            return q if op == "in" else ~q & Q(**{f"{field}__isnull": False})
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError("expected [low, high]")
            low, high = parse(value[0]), parse(value[1])
            return Q(**{f"{field}__gte": low, f"{field}__lte": high})
        if op in ("contains", "startswith"):
            if not text:
                raise ValueError(f"{op} works on text fields only")
            return Q(**{f"{field}__{op}": _text(value)})
        parsed = parse(value)
    except ValueError as exc:
        return ctx.fail(path, str(exc))
    if op == "eq":
        return Q(**{field: parsed})
    if op == "ne":
        return ~Q(**{field: parsed}) & Q(**{f"{field}__isnull": False})
    return Q(**{f"{field}__{op}": parsed})


def _is_numeric(value) -> bool:
    """A number, or a non-empty list of numbers: JSON values then compare as numbers."""
    values = value if isinstance(value, list) and value else [value]
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _custom_attr(key: str, op: str, value, path: str, ctx: _Context) -> Q:
    """Custom attributes are JSON: numbers compare as numbers, the rest as text."""
    Customer_ = Customer.objects.annotate(_v=Cast(KT(f"attributes__{key}"), TextField()))
    if op == "is_null":
        if not isinstance(value, bool):
            return ctx.fail(path, "expected true or false")
        present = Q(pk__in=Customer_.filter(_v__isnull=False).exclude(_v="").values("pk"))
        return ~present if value else present
    numeric = _is_numeric(value)
    if numeric:
        annotated = Customer.objects.annotate(_v=Cast(KT(f"attributes__{key}"), FloatField()))
        parse = float
    else:
        annotated = Customer_
        parse = _text
    inner = _compare("_v", op, value, parse, path, ctx, text=not numeric)
    return Q(pk__in=annotated.filter(inner).values("pk"))


# --- tag -----------------------------------------------------------------------------------


def _tag(node, path, ctx, depth) -> Q:
    _no_extra(node, {"tag"}, path, ctx)
    spec = node["tag"]
    mode, refs = "all", [spec]
    if isinstance(spec, dict):
        modes = [m for m in ("any", "all", "none") if m in spec]
        if len(modes) != 1 or len(spec) != 1:
            return ctx.fail(path, 'expected a tag, or {"any"|"all"|"none": [tags]}')
        mode, refs = modes[0], spec[modes[0]]
        if not isinstance(refs, list) or not refs:
            return ctx.fail(_join(path, mode), "expected a non-empty list of tags")
    CustomerTag = apps.get_model("tags", "CustomerTag")
    ids = []
    for index, ref in enumerate(refs):
        where = _join(_join(path, mode), index) if isinstance(spec, dict) else path
        tag_id = _tag_id(ref, where, ctx)
        if tag_id is not None:
            ids.append(tag_id)
    if not ids:
        return Q(pk__in=[])
    tagged = CustomerTag.objects.order_by()
    if mode == "none":
        return ~Q(Exists(tagged.filter(customer=OuterRef("pk"), tag_id__in=ids)))
    if mode == "any":
        return ctx.set_of(tagged.filter(tag_id__in=ids).values("customer"), unique=len(ids) == 1)
    members = tagged.filter(tag_id=ids[0]).values("customer")  # all of: narrowed tag by tag
    for more in ids[1:]:
        members = members.filter(customer__in=tagged.filter(tag_id=more).values("customer"))
    return ctx.set_of(members, unique=True)


def _tag_id(ref, path: str, ctx: _Context) -> int | None:
    from django.core.exceptions import ValidationError

    from tags.services import tag_lookup

    try:
        return tag_lookup(ref).pk
    except ValidationError as exc:
        ctx.fail(path, "; ".join(exc.messages))
        return None


# --- event ---------------------------------------------------------------------------------


AGGREGATES = {"count": Count, "sum": Sum, "avg": Avg, "first": Min, "last": Max}


def _event(node, path, ctx, depth) -> Q:
    base = path[: -len(".event")] if path.endswith(".event") else ""
    allowed = {"event", "within", "between", "where", "channel", *AGGREGATES}
    _no_extra(node, allowed, path, ctx)
    name = node["event"]
    if not isinstance(name, str) or not name:
        return ctx.fail(path, "expected an event name")
    events = Event.objects.filter(name=name)  # correlated below only where that plans best
    events = _event_window(node, events, base, ctx)
    if "channel" in node:
        if not isinstance(node["channel"], str):
            return ctx.fail(_join(base, "channel"), "expected a channel account code")
        events = events.filter(channel_account__code=node["channel"])
    for index, cond in enumerate(_list(node.get("where", []), _join(base, "where"), ctx)):
        where_path = _join(_join(base, "where"), index)
        events = _where(events, cond, where_path, ctx, alias=f"prop_{index}")
    aggregates = [a for a in AGGREGATES if a in node]
    if len(aggregates) > 1:
        return ctx.fail(base or "$", "use one of count, sum, avg, first, last per condition")
    if not aggregates:
        return ctx.set_of(events.order_by().values("customer"), unique=False)
    return _aggregate(aggregates[0], node[aggregates[0]], events, _join(base, aggregates[0]), ctx)


def _list(value, path, ctx) -> list:
    if not isinstance(value, list):
        ctx.fail(path, "expected a list")
        return []
    return value


def _event_window(node, events, base, ctx):
    if "within" in node and "between" in node:
        ctx.fail(base or "$", "use within or between, not both")
        return events
    if "within" in node:
        match = DURATION.match(str(node["within"])) if isinstance(node["within"], str) else None
        if not match:
            ctx.fail(_join(base, "within"), "expected a duration like 30d, 12h or 90m")
            return events
        span = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        return events.filter(occurred_at__gte=ctx.now - span)
    if "between" in node:
        window = node["between"]
        try:
            if not isinstance(window, list) or len(window) != 2:
                raise ValueError("expected [start, end]")
            start, end = _datetime(window[0]), _datetime(window[1])
        except ValueError as exc:
            ctx.fail(_join(base, "between"), str(exc))
            return events
        return events.filter(occurred_at__gte=start, occurred_at__lte=end)
    return events


def _where(events, cond, path, ctx, alias: str):
    """Narrow the event subquery by one condition on its properties."""
    if not isinstance(cond, dict) or "prop" not in cond:
        ctx.fail(path, 'expected {"prop", "op", "value"}')
        return events
    for key in cond:
        if key not in ("prop", "op", "value"):
            ctx.fail(_join(path, key), "unknown key")
    prop = cond["prop"]
    if not isinstance(prop, str) or not re.fullmatch(r"[\w-]{1,64}", prop):
        ctx.fail(_join(path, "prop"), "expected a property name")
        return events
    op = cond.get("op", "eq")
    if op not in OPS:
        ctx.fail(_join(path, "op"), f"unknown operator {op!r}")
        return events
    value = cond.get("value")
    lookup = f"properties__{prop}"
    if op == "is_null":
        if not isinstance(value, bool):
            ctx.fail(_join(path, "value"), "expected true or false")
            return events
        missing = Q(**{f"{lookup}__isnull": True})
        return events.filter(missing if value else ~missing)
    numeric = _is_numeric(value)
    field = Cast(KT(lookup), FloatField() if numeric else TextField())
    inner = _compare(alias, op, value, float if numeric else _text, _join(path, "value"), ctx,
                     text=not numeric)  # fmt: skip
    return events.alias(**{alias: field}).filter(inner)


def _aggregate(kind, spec, events, path, ctx) -> Q:
    if not isinstance(spec, dict):
        return ctx.fail(path, 'expected {"gte": 1} or similar')
    prop = spec.get("prop")
    if kind in ("sum", "avg"):
        if not isinstance(prop, str) or not re.fullmatch(r"[\w-]{1,64}", prop):
            return ctx.fail(_join(path, "prop"), f"{kind} needs the property to add up")
        value = AGGREGATES[kind](Cast(KT(f"properties__{prop}"), FloatField()))
        parse = float
    elif kind == "count":
        value, parse = Count("*"), _int  # COUNT(*): an index-only scan can answer it
        if spec in ({"gte": 1}, {"gt": 0}):  # "at least once" is plain existence
            return ctx.set_of(events.order_by().values("customer"), unique=False)
    else:
        value, parse = AGGREGATES[kind]("occurred_at"), _datetime_or_duration(ctx)
    comparisons = {k: v for k, v in spec.items() if k != "prop"}
    if not comparisons or any(k not in COMPARATORS for k in comparisons):
        return ctx.fail(path, f"expected comparisons among {', '.join(COMPARATORS)}")
    filters = Q()
    for op, raw in comparisons.items():
        try:
            if op == "between":
                if not isinstance(raw, list) or len(raw) != 2:
                    raise ValueError("expected [low, high]")
                filters &= Q(v__gte=parse(raw[0]), v__lte=parse(raw[1]))
            elif op == "ne":
                filters &= ~Q(v=parse(raw))
            else:
                filters &= Q(**{"v" if op == "eq" else f"v__{op}": parse(raw)})
        except ValueError as exc:
            ctx.fail(_join(path, op), str(exc))
    # An uncorrelated `pk IN (SELECT customer … GROUP BY customer HAVING …)`: the database
    # aggregates the matching events once instead of once per customer.
    grouped = events.order_by().values("customer").annotate(v=value).filter(filters)
    if kind == "count" and _zero_matches(comparisons):
        # "fewer than N" includes customers with no such event at all
        return ~Q(Exists(events.filter(customer=OuterRef("pk")))) | Q(
            pk__in=grouped.values("customer")
        )
    return ctx.set_of(grouped.values("customer"), unique=True, grouped=True)


def _int(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a whole number ≥ 0")
    return value


def _datetime_or_duration(ctx: _Context):
    def parse(value):
        if isinstance(value, str) and DURATION.match(value):
            number, unit = DURATION.match(value).groups()
            return ctx.now - timedelta(**{UNITS[unit]: int(number)})
        return _datetime(value)

    return parse


def _zero_matches(comparisons: dict) -> bool:
    """Whether a count of 0 satisfies the comparisons."""
    checks = {
        "eq": lambda v: v == 0,
        "ne": lambda v: v != 0,
        "gt": lambda v: 0 > v,
        "gte": lambda v: 0 >= v,
        "lt": lambda v: 0 < v,
        "lte": lambda v: 0 <= v,
        "between": lambda v: v[0] <= 0 <= v[1],
    }
    try:
        return all(checks[op](value) for op, value in comparisons.items())
    except (TypeError, IndexError):
        return False


# --- identity and consent ------------------------------------------------------------------


def _identity(node, path, ctx, depth) -> Q:
    base = path[: -len(".identity")] if path.endswith(".identity") else ""
    _no_extra(node, {"identity", "scope"}, path, ctx)
    kind = node["identity"]
    if kind not in IdentityKind.values:
        return ctx.fail(path, f"unknown identity kind {kind!r}")
    identities = Identity.objects.order_by().filter(kind=kind)
    if "scope" in node:
        if not isinstance(node["scope"], str):
            return ctx.fail(_join(base, "scope"), "expected a channel account code")
        identities = identities.filter(scope=node["scope"])
    return ctx.set_of(identities.values("customer"), unique=False)


def _consent(node, path, ctx, depth) -> Q:
    base = path[: -len(".consent")] if path.endswith(".consent") else ""
    _no_extra(node, {"consent", "status"}, path, ctx)
    channel = node["consent"]
    if channel not in ConsentChannel.values:
        return ctx.fail(path, f"unknown consent channel {channel!r}")
    status = node.get("status", ConsentStatus.GRANTED)
    if status not in ConsentStatus.values:
        return ctx.fail(_join(base, "status"), f"unknown status {status!r}")
    consents = Consent.objects.order_by().filter(channel=channel, status=status)
    return ctx.set_of(consents.values("customer"), unique=False)


NODE_COMPILERS = {
    "all": _group,
    "any": _group,
    "not": _not,
    "attr": _attr,
    "tag": _tag,
    "event": _event,
    "identity": _identity,
    "consent": _consent,
}

__all__ = [
    "DslError",
    "audience_count",
    "audience_queryset",
    "compile_definition",
    "validate_definition",
]
