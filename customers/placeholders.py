"""Placeholders in message content (`{{ name }}`, `{{ points }}`…), filled per customer.

Values are read set-wise for a batch of recipients; an unknown placeholder is an error when
content is saved, never a blank in a sent message.
"""

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Customer, MemberTier

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")

PLACEHOLDERS = {
    "name": gettext_lazy("姓名（缺省为“您”）"),
    "city": gettext_lazy("城市"),
    "points": gettext_lazy("积分余额"),
    "tier": gettext_lazy("会员等级"),
    "points_expiring": gettext_lazy("即将过期积分"),
    "points_expire_at": gettext_lazy("最近积分过期日期"),
}
FIELDS = ("name", "city", "points_balance", "tier", "points_expiring", "points_expire_at")


def placeholders_check(text: str) -> None:
    """Refuse text naming placeholders we cannot fill."""
    unknown = sorted({n for n in PLACEHOLDER.findall(text) if n not in PLACEHOLDERS})
    if unknown:
        raise ValidationError(
            _("未知的占位符：%(names)s（可用：%(known)s）")
            % {"names": "、".join(unknown), "known": "、".join(PLACEHOLDERS)}
        )


def placeholders_for(customer_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """The values of every placeholder for a batch of customers, in two queries."""
    tiers = dict(MemberTier.objects.values_list("code", "name"))
    values = {}
    for row in Customer.objects.filter(pk__in=list(customer_ids)).values("pk", *FIELDS):
        expire_at = row["points_expire_at"]
        values[row["pk"]] = {
            "name": row["name"] or _("您"),
            "city": row["city"],
            "points": _number(row["points_balance"]),
            "tier": tiers.get(row["tier"], ""),
            "points_expiring": _number(row["points_expiring"]),
            "points_expire_at": formats.date_format(timezone.localtime(expire_at).date())
            if expire_at
            else "",
        }
    return values


def placeholders_render(text: str, values: dict[str, str]) -> str:
    """Fill `text` with one customer's values."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _number(value) -> str:
    return f"{value.normalize():f}" if value is not None else "0"
