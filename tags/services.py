"""Writes on tags and tag assignments."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from tags.models import (
    Audience,
    AudienceKind,
    AudienceMember,
    AudienceSize,
    CustomerTag,
    Tag,
    TagGroup,
    TagSource,
)

DEFAULT_GROUP = "默认"


def tag_group_default() -> TagGroup:
    group, _created = TagGroup.objects.get_or_create(name=DEFAULT_GROUP)
    return group


def tag_group_lookup(ref: str) -> TagGroup:
    """A tag group by id or name; a new name creates the group."""
    ref = str(ref).strip()
    if ref.isdigit():
        group = TagGroup.objects.filter(pk=int(ref)).first()
        if group is None:
            raise ValidationError({"group": _("标签组 #%(id)s 不存在") % {"id": ref}})
        return group
    if not ref:
        return tag_group_default()
    return TagGroup.objects.get_or_create(name=ref[:50])[0]


def tag_create(
    *,
    name: str,
    group: TagGroup | None = None,
    color: str = "",
    description: str = "",
    created_by=None,
) -> Tag:
    """Create a tag in a group (the default group when none is given)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("标签名不能为空")})
    group = group or tag_group_default()
    if Tag.objects.filter(group=group, name=name).exists():
        raise ValidationError(
            {"name": _("标签组 %(g)s 中已有标签 %(n)s") % {"g": group.name, "n": name}}
        )
    tag = Tag(group=group, name=name, description=description, created_by=created_by)
    if color:
        tag.color = color
    tag.full_clean()
    tag.save()
    return tag


def tag_update(
    *,
    tag: Tag,
    name: str | None = None,
    group: TagGroup | None = None,
    color: str | None = None,
    description: str | None = None,
) -> Tag:
    """Rename, move or recolour a tag; its assignments stay."""
    for field, value in (
        ("name", name),
        ("group", group),
        ("color", color),
        ("description", description),
    ):
        if value is not None:
            setattr(tag, field, value.strip() if isinstance(value, str) else value)
    if Tag.objects.filter(group=tag.group, name=tag.name).exclude(pk=tag.pk).exists():
        raise ValidationError(
            {"name": _("标签组 %(g)s 中已有标签 %(n)s") % {"g": tag.group.name, "n": tag.name}}
        )
    tag.full_clean()
    tag.save()
    return tag


def tag_lookup(ref, *, create_missing: bool = False, created_by=None) -> Tag:
    """A tag by id or by name. A name shared by several tags is an error asking for the id."""
    if (
        isinstance(ref, int)
        and not isinstance(ref, bool)
        or (isinstance(ref, str) and ref.isdigit())
    ):
        tag = Tag.objects.filter(pk=int(ref)).first()
        if tag is None:
            raise ValidationError(_("标签 #%(id)s 不存在") % {"id": ref})
        return tag
    if not isinstance(ref, str) or not ref.strip():
        raise ValidationError(_("标签必须是名称或 ID"))
    matches = list(Tag.objects.filter(name=ref.strip()).select_related("group")[:10])
    if len(matches) > 1:
        options = ", ".join(f"{t.pk} ({t.group.name})" for t in matches)
        raise ValidationError(
            _("有多个名为 %(name)s 的标签，请改用 ID：%(options)s")
            % {"name": ref, "options": options}
        )
    if matches:
        return matches[0]
    if create_missing:
        return tag_create(name=ref, created_by=created_by)
    raise ValidationError(_("标签 %(name)s 不存在") % {"name": ref})


@transaction.atomic
def customer_tags_change(
    *,
    customer,
    add: Iterable = (),
    remove: Iterable = (),
    source: str = TagSource.MANUAL,
    source_ref: str = "",
    actor=None,
) -> list[CustomerTag]:
    """Add and remove tags on one customer; names unknown when adding become new tags."""
    errors = {}
    to_add, to_remove = [], []
    for field_name, refs, bucket, create in (
        ("add", add, to_add, True),
        ("remove", remove, to_remove, False),
    ):
        problems = []
        for ref in refs:
            try:
                bucket.append(tag_lookup(ref, create_missing=create, created_by=actor))
            except ValidationError as exc:
                problems.extend(exc.messages)
        if problems:
            errors[field_name] = problems
    if errors:
        raise ValidationError(errors)
    CustomerTag.objects.bulk_create(
        [
            CustomerTag(
                customer=customer, tag=tag, source=source, source_ref=source_ref, added_by=actor
            )
            for tag in to_add
        ],
        ignore_conflicts=True,
    )
    CustomerTag.objects.filter(customer=customer, tag__in=to_remove).delete()
    return list(CustomerTag.objects.filter(customer=customer).select_related("tag__group"))


def customers_tag_bulk(
    *,
    customer_ids: Iterable[int],
    tag: Tag,
    source: str = TagSource.MANUAL,
    actor=None,
    source_ref: str = "",
) -> int:
    """Put one tag on many customers at once (import, demo data, bulk actions)."""
    ids = list(customer_ids)
    existing = set(
        CustomerTag.objects.filter(tag=tag, customer_id__in=ids).values_list(
            "customer_id", flat=True
        )
    )
    rows = [
        CustomerTag(customer_id=cid, tag=tag, source=source, source_ref=source_ref, added_by=actor)
        for cid in ids
        if cid not in existing
    ]
    CustomerTag.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def _definition_clean(definition) -> None:
    from tags.dsl import validate_definition

    errors = validate_definition(definition)
    if errors:
        raise ValidationError({"definition": [f"{path}: {msg}" for path, msg in errors.items()]})


@transaction.atomic
def audience_save(
    *,
    name: str,
    definition,
    kind: str = AudienceKind.DYNAMIC,
    description: str = "",
    audience: Audience | None = None,
    actor=None,
) -> Audience:
    """Create or change an audience; the definition is validated and its size measured."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("名称不能为空")})
    if Audience.objects.filter(name=name).exclude(pk=getattr(audience, "pk", None)).exists():
        raise ValidationError({"name": _("已有同名人群包 %(n)s") % {"n": name}})
    if kind not in AudienceKind.values:
        raise ValidationError({"kind": _("未知的类型")})
    _definition_clean(definition)
    audience = audience or Audience(created_by=actor)
    audience.name, audience.definition = name, definition
    audience.kind, audience.description = kind, description
    audience.save()
    audience_refresh(audience=audience)
    return audience


@transaction.atomic
def audience_refresh(*, audience: Audience) -> int:
    """Measure an audience now (size history); a snapshot also re-freezes its members."""
    from django.utils import timezone

    from tags.dsl import audience_count, audience_queryset

    now = timezone.now()
    members = audience_queryset(audience.definition, now=now).order_by()
    audience.members.all().delete()
    if audience.kind == AudienceKind.SNAPSHOT:
        size = _members_freeze(audience, members, now)
    else:
        size = audience_count(audience.definition, now=now)
    audience.size, audience.refreshed_at = size, now
    audience.save(update_fields=["size", "refreshed_at", "updated_at"])
    AudienceSize.objects.create(audience=audience, size=size)
    return size


def _members_freeze(audience: Audience, members, now) -> int:
    """The audience's query feeds its membership rows directly."""
    return customers_insert_select(
        model=AudienceMember,
        customers=members,
        values={"audience_id": audience.pk, "added_at": now},
    )


def customers_insert_select(*, model, customers, values: dict, unless: dict | None = None) -> int:
    """One INSERT … SELECT: a `model` row per customer the queryset selects, with the constant
    `values`; `unless` (column → value) leaves out customers that already have such a row.
    Returns how many rows were written."""
    from datetime import datetime

    sql, params = customers.annotate(member_id=F("pk")).values("member_id").query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)

    def adapt(value):
        if isinstance(value, datetime):
            return connection.ops.adapt_datetimefield_value(value)
        return value

    columns = ", ".join(quote(c) for c in ("customer_id", *values))
    marks = ", ".join(["%s"] * len(values))
    where, where_params = "", []
    if unless:
        where = (
            f" WHERE NOT EXISTS (SELECT 1 FROM {table} existing WHERE "
            f"existing.customer_id = matched.member_id"
            + "".join(f" AND existing.{quote(c)} = %s" for c in unless)
            + ")"
        )
        where_params = [adapt(v) for v in unless.values()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT matched.member_id, {marks} "
            f"FROM ({sql}) matched{where}",
            [*(adapt(v) for v in values.values()), *params, *where_params],
        )
        return cursor.rowcount


def audiences_refresh_snapshots() -> int:
    """Beat: refresh every snapshot audience (and record every audience's size)."""
    count = 0
    for audience in Audience.objects.order_by("pk"):
        audience_refresh(audience=audience)
        count += 1
    return count


def tag_for_platform_tag(*, account, external_id: str, external_name: str = "") -> Tag:
    """Our tag for a platform's tag (a WeCom corp tag id, an OA tag id), for channel syncs.

    A mapped platform tag gives its tag; an unknown one gets a new tag, in a group named after
    the account, and the mapping is recorded so the next sync finds it.
    """
    from tags.models import TagMapping, TagPlatform

    platform = TagPlatform.WECOM_CORP_TAG if account.kind == "wecom" else TagPlatform.OA_TAG
    mapping = (
        TagMapping.objects.select_related("tag")
        .filter(account=account, platform=platform, external_id=external_id)
        .first()
    )
    if mapping:
        return mapping.tag
    name = (external_name or external_id).strip()[:50]
    group = TagGroup.objects.get_or_create(name=f"{account.name}标签"[:50])[0]
    tag = Tag.objects.filter(group=group, name=name).first() or tag_create(name=name, group=group)
    TagMapping.objects.create(
        tag=tag,
        account=account,
        platform=platform,
        external_id=external_id,
        external_name=external_name,
    )
    return tag
