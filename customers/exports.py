"""CSV export of a customer list, masked for users without `view_pii`, and audit-logged."""

import csv
from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from common.audit import audit_record
from common.masking import can_view_pii, display_email, display_phone
from common.models import AuditLog

EXPORT_CHUNK = 2000


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _header() -> list[str]:
    return [
        "id",
        _("姓名"),
        _("性别"),
        _("手机号"),
        _("邮箱"),
        _("城市"),
        _("省份"),
        _("生命周期"),
        _("RFM 分群"),
        _("订单数"),
        _("累计消费"),
        _("最近下单"),
        _("最近活跃"),
        _("标签"),
        _("创建时间"),
    ]


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def customers_export_csv(*, queryset: QuerySet, user, filters: dict) -> Iterator[str]:
    """The customers of `queryset` as CSV lines (UTF-8 with BOM so Excel reads it).

    The export is recorded in the audit log, with its filters and size, before any line.
    """
    total = queryset.count()
    audit_record(
        action=AuditLog.Action.EXPORT,
        summary=_("导出客户 %(n)s 人") % {"n": total},
        actor=user,
        details={"filters": filters, "rows": total, "masked": not can_view_pii(user)},
    )
    return _lines(queryset, user)


def _lines(queryset: QuerySet, user) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(_header())
    rows = queryset.prefetch_related("customer_tags__tag").order_by("-id")
    for customer in rows.iterator(chunk_size=EXPORT_CHUNK):
        yield writer.writerow(
            [
                customer.pk,
                customer.name,
                customer.get_gender_display(),
                display_phone(customer.phone, user),
                display_email(customer.email, user),
                customer.city,
                customer.province,
                customer.get_lifecycle_display(),
                customer.get_rfm_segment_display() if customer.rfm_segment else "",
                customer.total_orders,
                customer.total_revenue,
                _when(customer.last_order_at),
                _when(customer.last_seen_at),
                ";".join(ct.tag.name for ct in customer.customer_tags.all()),
                _when(customer.created_at),
            ]
        )
