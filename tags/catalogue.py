"""What the audience builder offers in its pickers: the DSL's fields with their types and
choices, custom attribute keys, tags, events with the properties seen on them, identity kinds,
consent channels, channel accounts and value clusters.

Event names and property keys are read from the newest events (a bounded sample), so the
catalogue stays cheap on a table of millions of rows; any other name can still be typed.
"""

from django.apps import apps
from django.utils.translation import gettext as _

from customers.choices import (
    EVENT_LABELS,
    ConsentChannel,
    ConsentStatus,
    Gender,
    IdentityKind,
    Lifecycle,
    RfmSegment,
)
from customers.models import Customer, Event, MemberTier, ValueCluster
from tags.dsl import DATE_FIELDS, DATETIME_FIELDS, FIELD_ALIASES, NUMBER_FIELDS, TEXT_FIELDS

EVENT_SAMPLE = 5_000
ATTRIBUTE_SAMPLE = 2_000
CHOICES = {
    "gender": Gender.choices,
    "lifecycle": Lifecycle.choices,
    "rfm_segment": RfmSegment.choices,
}


def _type(field: str) -> str:
    if field in NUMBER_FIELDS:
        return "number"
    if field in DATE_FIELDS:
        return "date"
    if field in DATETIME_FIELDS:
        return "datetime"
    return "text"


def _fields() -> list[dict]:
    aliases = {target: alias for alias, target in FIELD_ALIASES.items()}
    fields = []
    for name in sorted(TEXT_FIELDS | NUMBER_FIELDS | DATE_FIELDS | DATETIME_FIELDS):
        label = str(Customer._meta.get_field(name).verbose_name)
        entry = {"name": aliases.get(name, name), "label": label, "type": _type(name)}
        if name in CHOICES:
            entry["choices"] = [[value, str(text)] for value, text in CHOICES[name]]
        elif name == "value_cluster":
            entry["choices"] = [[c.name, c.name] for c in ValueCluster.objects.all()]
        elif name == "tier":
            entry["choices"] = [[t.code, t.name] for t in MemberTier.objects.all()]
        fields.append(entry)
    return sorted(fields, key=lambda f: f["label"])


def _custom_attributes() -> list[str]:
    keys = set()
    for attributes in Customer.objects.exclude(attributes={}).values_list("attributes", flat=True)[
        :ATTRIBUTE_SAMPLE
    ]:
        if isinstance(attributes, dict):
            keys.update(attributes)
    return sorted(keys)


def catalogue_events() -> list[dict]:
    """Event names (known ones and those of a sample of recent events) with their property
    keys."""
    seen: dict[str, set] = {}
    recent = Event.objects.order_by("-id").values_list("name", "properties")[:EVENT_SAMPLE]
    for name, properties in recent:
        keys = seen.setdefault(name, set())
        if isinstance(properties, dict):
            keys.update(properties)
    for name in EVENT_LABELS:
        seen.setdefault(name, set())
    return [
        {"name": name, "label": str(EVENT_LABELS.get(name, name)), "props": sorted(props)}
        for name, props in sorted(seen.items())
    ]


def catalogue_build() -> dict:
    Tag = apps.get_model("tags", "Tag")
    ChannelAccount = apps.get_model("channels", "ChannelAccount")
    return {
        "fields": _fields(),
        "attributes": _custom_attributes(),
        "tags": [
            {"id": t.pk, "name": t.name, "group": t.group.name, "color": t.color}
            for t in Tag.objects.select_related("group").order_by("group__name", "name")
        ],
        "events": catalogue_events(),
        "identities": [[value, str(label)] for value, label in IdentityKind.choices],
        "consents": [[value, str(label)] for value, label in ConsentChannel.choices],
        "consent_statuses": [[value, str(label)] for value, label in ConsentStatus.choices],
        "accounts": [
            [a.code, a.name]
            for a in ChannelAccount.objects.order_by("kind", "code").only("code", "name")
        ],
        "labels": _labels(),
    }


def _labels() -> dict:
    """The builder's own words, in the user's language."""
    return {
        "all": _("满足全部"),
        "any": _("满足任一"),
        "not": _("排除"),
        "add_condition": _("添加条件"),
        "add_group": _("添加条件组"),
        "remove": _("删除"),
        "attr": _("属性"),
        "tag": _("标签"),
        "event": _("行为事件"),
        "identity": _("身份"),
        "consent": _("授权"),
        "custom_attr": _("自定义属性…"),
        "attr_key": _("属性名"),
        "value": _("值"),
        "values_hint": _("多个值用逗号分隔"),
        "has_tag": _("有标签"),
        "any_of": _("有任一标签"),
        "all_of": _("有全部标签"),
        "none_of": _("没有这些标签"),
        "any_time": _("任何时间"),
        "within": _("最近"),
        "between": _("时间段"),
        "minutes": _("分钟"),
        "hours": _("小时"),
        "days": _("天"),
        "any_channel": _("任意渠道"),
        "where": _("属性条件"),
        "add_where": _("添加属性条件"),
        "happened": _("发生过"),
        "count": _("次数"),
        "sum": _("求和"),
        "avg": _("平均"),
        "first": _("首次发生"),
        "last": _("最近发生"),
        "prop": _("属性"),
        "any_scope": _("任意账号"),
        "empty_group": _("这个组还没有条件"),
        "raw": _("此条件只能在 JSON 中编辑"),
        "builder": _("可视化"),
        "json": _("JSON"),
        "json_invalid": _("JSON 无法解析："),
        "yes": _("是"),
        "no": _("否"),
        "ops": {
            "eq": _("等于"),
            "ne": _("不等于"),
            "in": _("属于"),
            "nin": _("不属于"),
            "gt": _("大于"),
            "gte": _("大于等于"),
            "lt": _("小于"),
            "lte": _("小于等于"),
            "between": _("介于"),
            "contains": _("包含"),
            "startswith": _("开头是"),
            "is_null": _("为空"),
        },
    }
