"""The KPIs, defined once over the daily rollups (never raw events): the home page, each
channel kind's dashboard, alerts, the API and the quarterly review read the same numbers.
Definitions in words: docs/metrics.md.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from channels.choices import ChannelKind
from reports.models import ChannelDay

SUM_FIELDS = (
    "events", "active_users", "new_users", "returning_users", "active_groups", "orders",
    "buyers", "returning_buyers", "gmv", "refunds", "refund_amount", "sent", "failed",
    "clicks", "spend",
)  # fmt: skip


@dataclass
class Totals:
    """Sums of the channel rollups over a set of days (and accounts)."""

    days: int
    values: dict = field(default_factory=dict)
    event_counts: dict = field(default_factory=dict)
    event_users: dict = field(default_factory=dict)

    def __getitem__(self, name: str):
        return self.values.get(name) or 0

    def event(self, *names: str) -> int:
        return sum(self.event_counts.get(n, 0) for n in names)

    def users(self, *names: str) -> int:
        return sum(self.event_users.get(n, 0) for n in names)

    def add(self, row: ChannelDay) -> None:
        for name in SUM_FIELDS:
            self.values[name] = self.values.get(name, 0) + getattr(row, name)
        for name, n in row.event_counts.items():
            self.event_counts[name] = self.event_counts.get(name, 0) + n
        for name, n in row.event_users.items():
            self.event_users[name] = self.event_users.get(name, 0) + n


def _ratio(num, den) -> float | None:
    return float(num) / float(den) if den else None


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: str  # count | money | percent | ratio
    compute: Callable[[Totals], float | int | Decimal | None]
    help: str = ""
    higher_is_better: bool = True


KPIS = {
    k.key: k
    for k in [
        Kpi("gmv", _("成交额"), "money", lambda t: t["gmv"], _("已支付订单金额（不含退款订单）")),
        Kpi("orders", _("订单数"), "count", lambda t: t["orders"]),
        Kpi("aov", _("客单价"), "money", lambda t: _ratio(t["gmv"], t["orders"]),
            _("成交额 ÷ 订单数")),
        Kpi("buyers", _("购买人数"), "count", lambda t: t["buyers"], _("每天购买人数之和")),
        Kpi("conversion", _("转化率"), "percent",
            lambda t: _ratio(t["buyers"], t["active_users"]), _("购买人数 ÷ 活跃用户（按天累计）")),
        Kpi("repeat_rate", _("复购率"), "percent",
            lambda t: _ratio(t["returning_buyers"], t["buyers"]),
            _("购买人中此前已买过的比例")),
        Kpi("refund_amount", _("退款金额"), "money", lambda t: t["refund_amount"],
            higher_is_better=False),
        Kpi("active_users", _("日均活跃用户"), "count",
            lambda t: _ratio(t["active_users"], t.days), _("每天有行为的客户数的日均值")),
        Kpi("new_users", _("新用户"), "count", lambda t: t["new_users"],
            _("第一次在该渠道出现的客户")),
        Kpi("retention_rate", _("回访率"), "percent",
            lambda t: _ratio(t["returning_users"], t["active_users"]),
            _("活跃用户中此前来过的比例")),
        Kpi("follows", _("新增关注"), "count", lambda t: t.event("subscribe")),
        Kpi("unfollows", _("取消关注"), "count", lambda t: t.event("unsubscribe"),
            higher_is_better=False),
        Kpi("net_follows", _("净增关注"), "count",
            lambda t: t.event("subscribe") - t.event("unsubscribe")),
        Kpi("reads", _("阅读数"), "count", lambda t: t.event("page_view"), _("图文与页面浏览次数")),
        Kpi("shares", _("分享数"), "count", lambda t: t.event("share")),
        Kpi("new_contacts", _("新增好友"), "count", lambda t: t.event("add_external_contact")),
        Kpi("lost_contacts", _("流失好友"), "count",
            lambda t: t.event("del_external_contact", "lost_contact"), higher_is_better=False),
        Kpi("net_contacts", _("净增好友"), "count",
            lambda t: t.event("add_external_contact")
            - t.event("del_external_contact", "lost_contact")),
        Kpi("active_groups", _("日均活跃群"), "count",
            lambda t: _ratio(t["active_groups"], t.days), _("有入群、退群或发言的群")),
        Kpi("replies", _("客户回复"), "count", lambda t: t.event("message_in")),
        Kpi("reply_rate", _("回复率"), "percent",
            lambda t: _ratio(t.users("message_in"), t["sent"]), _("发来消息的人次 ÷ 发送消息数")),
        Kpi("visits", _("访问次数"), "count", lambda t: t.event("page_view")),
        Kpi("plays", _("播放量"), "count", lambda t: t.event("video_play", "live_watch")),
        Kpi("interactions", _("互动量"), "count", lambda t: t.event("like", "comment", "share"),
            _("点赞 + 评论 + 分享")),
        Kpi("fan_growth", _("粉丝增长"), "count", lambda t: t["new_users"],
            _("第一次在抖音号出现的用户")),
        Kpi("sent", _("发送消息"), "count", lambda t: t["sent"]),
        Kpi("failed", _("发送失败"), "count", lambda t: t["failed"], higher_is_better=False),
        Kpi("clicks", _("链接点击"), "count", lambda t: t["clicks"]),
        Kpi("click_rate", _("点击率"), "percent", lambda t: _ratio(t["clicks"], t["sent"])),
        Kpi("spend", _("花费"), "money", lambda t: t["spend"], higher_is_better=False),
    ]
}  # fmt: skip

STORE_KPIS = ("gmv", "orders", "aov", "buyers", "repeat_rate", "conversion", "refund_amount")
MESSAGE_KPIS = ("sent", "failed", "clicks", "click_rate", "spend")
KIND_KPIS = {
    ChannelKind.WECHAT_OA: ("follows", "unfollows", "net_follows", "reads", "shares",
                            "active_users", "sent", "click_rate"),
    ChannelKind.WECOM: ("new_contacts", "lost_contacts", "net_contacts", "active_groups", "sent",
                        "replies", "reply_rate"),
    ChannelKind.WECHAT_MINI: ("visits", "active_users", "new_users", "retention_rate", "gmv",
                              "orders", "conversion"),
    ChannelKind.DOUYIN: ("plays", "interactions", "fan_growth", "shares", "active_users"),
    ChannelKind.APP: ("active_users", "new_users", "retention_rate", "conversion", "gmv",
                      "orders"),
    ChannelKind.SMS: MESSAGE_KPIS,
    ChannelKind.EMAIL: MESSAGE_KPIS,
    ChannelKind.TMALL: STORE_KPIS,
    ChannelKind.JD: STORE_KPIS,
    ChannelKind.YOUZAN: STORE_KPIS,
    ChannelKind.OFFLINE_STORE: STORE_KPIS,
    ChannelKind.WEB: ("visits", "active_users", "new_users", "conversion", "gmv"),
}  # fmt: skip
HOME_KPIS = ("gmv", "orders", "aov", "conversion", "active_users", "new_users", "sent",
             "click_rate")  # fmt: skip


def _rows(start: date, end: date, account_ids: list[int] | None):
    rows = ChannelDay.objects.filter(day__gte=start, day__lte=end)
    if account_ids:
        rows = rows.filter(channel_account__in=account_ids)
    return rows


def channel_totals(*, start: date, end: date, account_ids: list[int] | None = None) -> Totals:
    """The rollups summed over the days (and the accounts; None: every account)."""
    totals = Totals(days=(end - start).days + 1)
    rows = _rows(start, end, account_ids)
    totals.values = {
        k: v or 0 for k, v in rows.aggregate(**{f: Sum(f) for f in SUM_FIELDS}).items()
    }
    for counts, users in rows.values_list("event_counts", "event_users"):
        for name, n in counts.items():
            totals.event_counts[name] = totals.event_counts.get(name, 0) + n
        for name, n in users.items():
            totals.event_users[name] = totals.event_users.get(name, 0) + n
    return totals


def channel_daily(
    *, start: date, end: date, account_ids: list[int] | None = None, by_account: bool = False
) -> dict:
    """day → Totals (or (day, account id) → Totals with `by_account`), one day each."""
    result: dict = defaultdict(lambda: Totals(days=1))
    for row in _rows(start, end, account_ids):
        result[(row.day, row.channel_account_id) if by_account else row.day].add(row)
    return dict(result)


def totals_by_account(*, start: date, end: date, account_ids: list[int]) -> dict[int, Totals]:
    """account id → its Totals over the days, from one query (every listed account present)."""
    days = (end - start).days + 1
    result = {pk: Totals(days=days) for pk in account_ids}
    for row in _rows(start, end, account_ids):
        result[row.channel_account_id].add(row)
    return result


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length just before `start`..`end`."""
    before_end = start - timedelta(days=1)
    return before_end - (end - start), before_end


def kpi_value(key: str, totals: Totals):
    return KPIS[key].compute(totals)


def kpi_cards(
    keys,
    *,
    start: date,
    end: date,
    account_ids: list[int] | None = None,
    compare_to: tuple[date, date] | None = None,
) -> list[dict]:
    """Each KPI's value over the range and over the comparison period (by default the period
    of the same length just before it), with the relative change (None when the previous
    value is zero or missing) and whether that change is good for the business."""
    current = channel_totals(start=start, end=end, account_ids=account_ids)
    before_start, before_end = compare_to or previous_period(start, end)
    previous = channel_totals(start=before_start, end=before_end, account_ids=account_ids)
    cards = []
    for key in keys:
        kpi = KPIS[key]
        value, prior = kpi.compute(current), kpi.compute(previous)
        change = None
        if value is not None and prior:
            change = (float(value) - float(prior)) / abs(float(prior))
        good = None if change is None or change == 0 else (change > 0) == kpi.higher_is_better
        cards.append({
            "key": key, "label": kpi.label, "unit": kpi.unit, "help": kpi.help,
            "value": value, "previous": prior, "change": change, "good": good,
            "higher_is_better": kpi.higher_is_better,
        })  # fmt: skip
    return cards
