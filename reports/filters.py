"""The filters every report page shares, read from (and written back to) the URL: a date
range, a channel (an account code or a channel kind) and the comparison period."""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels.choices import ChannelKind
from channels.models import ChannelAccount
from reports.metrics import previous_period

DEFAULT_DAYS = 30
MAX_DAYS = 731


@dataclass
class ReportRange:
    """A closed range of days, `start` to `end`, and the channel accounts it covers (an empty
    `accounts` means every channel)."""

    start: date
    end: date
    channel: str = ""
    accounts: list[ChannelAccount] = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "ReportRange":
        """The period of the same length just before this one."""
        start, end = previous_period(self.start, self.end)
        return ReportRange(
            start=start,
            end=end,
            channel=self.channel,
            accounts=self.accounts,
        )

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def account_ids(self) -> list[int]:
        return [a.pk for a in self.accounts]


def default_range() -> tuple[date, date]:
    today = timezone.localdate()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def channel_choices() -> list[tuple[str, str]]:
    """Every channel kind that has an account, then every account, for the channel filter."""
    accounts = list(ChannelAccount.objects.order_by("kind", "code"))
    kinds = dict(ChannelKind.choices)
    seen = []
    for account in accounts:
        if account.kind not in seen:
            seen.append(account.kind)
    return [
        ("", _("全部渠道")),
        *((f"kind:{kind}", _("%(kind)s（全部账号）") % {"kind": kinds[kind]}) for kind in seen),
        *((a.code, a.name) for a in accounts),
    ]


class ReportFilterForm(forms.Form):
    """Date range + channel; pages add their own fields by subclassing."""

    start = forms.DateField(
        label=gettext_lazy("开始日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=gettext_lazy("结束日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    channel = forms.ChoiceField(label=gettext_lazy("渠道"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:  # show the range the page uses
            start, end = default_range()
            self.initial = {"start": start, "end": end, **self.initial}
        self.fields["channel"].choices = channel_choices()
        for name, field_ in self.fields.items():
            css = (
                "form-select form-select-sm"
                if isinstance(field_, forms.ChoiceField)
                else ("form-control form-control-sm")
            )
            field_.widget.attrs.setdefault("class", css)
            field_.widget.attrs.setdefault("data-testid", f"filter-{name}")

    def clean(self):
        data = super().clean()
        default_start, default_end = default_range()
        start = data.get("start") or None
        end = data.get("end") or None
        if start is None and end is None:
            start, end = default_start, default_end
        elif start is None:
            start = end - timedelta(days=DEFAULT_DAYS - 1)
        elif end is None:
            end = max(start, min(default_end, start + timedelta(days=DEFAULT_DAYS - 1)))
        if start and end and start > end:
            self.add_error("end", _("结束日期不能早于开始日期"))
        elif start and end and (end - start).days + 1 > MAX_DAYS:
            self.add_error("end", _("日期范围最长 %(days)s 天") % {"days": MAX_DAYS})
        data["start"], data["end"] = start, end
        return data

    def report_range(self) -> ReportRange:
        """The range the page shows: the form's when valid, else the default (the page shows
        the form's errors beside it)."""
        if self.is_valid():
            data = self.cleaned_data
            channel = data.get("channel") or ""
            return ReportRange(
                start=data["start"],
                end=data["end"],
                channel=channel,
                accounts=accounts_for(channel),
            )
        start, end = default_range()
        return ReportRange(start=start, end=end)


def accounts_for(channel: str) -> list[ChannelAccount]:
    """`kind:wechat_oa` → every OA account; `oa` → that account; "" → [] (all channels)."""
    if not channel:
        return []
    if channel.startswith("kind:"):
        return list(ChannelAccount.objects.filter(kind=channel[5:]).order_by("code"))
    return list(ChannelAccount.objects.filter(code=channel))


def channel_from_param(value: str) -> list[ChannelAccount] | None:
    """The API's `channel=`: an account code or a channel kind; None when it is neither."""
    accounts = list(ChannelAccount.objects.filter(code=value))
    if accounts:
        return accounts
    if value in ChannelKind.values:
        return list(ChannelAccount.objects.filter(kind=value).order_by("code"))
    return None
