"""The filter bars of the analysis pages: the shared date range and channel plus each
page's own fields, all read from the URL. A blank field takes its default; a bad one is a form
error shown on the page (which then falls back to the defaults)."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reports.analysis import valid_prop
from reports.filters import ReportFilterForm, default_range
from tags.catalogue import catalogue_events

EVENT_NAME = re.compile(r"^[\w.:\-]{1,64}$")
DEFAULT_STEPS = ["view_product", "add_to_cart", "checkout", "order_paid"]
MIN_STEPS, MAX_STEPS = 2, 6


def event_choices() -> list[tuple[str, str]]:
    """The catalogue's events (known ones and those seen lately) as select options."""
    return [(e["name"], f"{e['label']}（{e['name']}）" if e["label"] != e["name"] else e["name"])
            for e in catalogue_events()]  # fmt: skip


class AnalysisForm(ReportFilterForm):
    """A report filter whose own fields have defaults: `params()` gives them, cleaned when the
    form is valid, else the defaults."""

    defaults: dict = {}

    def __init__(self, data=None, *args, **kwargs):
        # the bar shows the values in use: a field missing from the URL shows its default
        if data is not None:
            data = data.copy()
            if not data.get("start") and not data.get("end"):
                data["start"], data["end"] = (d.isoformat() for d in default_range())
            for name, value in self.defaults.items():
                if not data.get(name):
                    data[name] = _as_text(value)
        super().__init__(data, *args, **kwargs)

    def _default(self, name: str):
        value = self.cleaned_data.get(name)
        return self.defaults[name] if value in (None, "") else value

    def params(self) -> dict:
        if self.is_valid():
            return {name: self.cleaned_data[name] for name in self.defaults}
        return dict(self.defaults)


def _as_text(value) -> str:
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _prop_field(label) -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=64)


def _clean_prop(value: str) -> str:
    if value and not valid_prop(value):
        raise ValidationError(_("属性名只能包含字母、数字、下划线和连字符"))
    return value


class FunnelForm(AnalysisForm):
    steps = forms.CharField(
        label=gettext_lazy("漏斗步骤（逗号分隔）"), required=False, max_length=500,
        widget=forms.TextInput(attrs={"list": "event-names", "size": 40}),
    )  # fmt: skip
    window_hours = forms.IntegerField(
        label=gettext_lazy("转化窗口（小时）"), required=False, min_value=1, max_value=24 * 90
    )
    breakdown = forms.ChoiceField(
        label=gettext_lazy("拆分"), required=False,
        choices=[("", gettext_lazy("不拆分")), ("channel", gettext_lazy("按渠道"))],
    )  # fmt: skip
    defaults = {"steps": DEFAULT_STEPS, "window_hours": 72, "breakdown": ""}

    def clean_steps(self) -> list[str]:
        text = self.cleaned_data.get("steps") or ""
        steps = [s.strip() for s in re.split(r"[,，>→\s]+", text) if s.strip()]
        if not steps:
            return DEFAULT_STEPS
        if not MIN_STEPS <= len(steps) <= MAX_STEPS:
            raise ValidationError(
                _("漏斗需要 %(min)s 到 %(max)s 个步骤") % {"min": MIN_STEPS, "max": MAX_STEPS}
            )
        bad = [s for s in steps if not EVENT_NAME.match(s)]
        if bad:
            raise ValidationError(_("无效的事件名：%(names)s") % {"names": ", ".join(bad)})
        return steps

    def clean_window_hours(self) -> int:
        return self._default("window_hours")


class RetentionForm(AnalysisForm):
    period = forms.ChoiceField(
        label=gettext_lazy("周期"), required=False,
        choices=[("week", gettext_lazy("按周")), ("month", gettext_lazy("按月"))],
    )  # fmt: skip
    first_event = forms.ChoiceField(label=gettext_lazy("起始行为"), required=False)
    return_event = forms.ChoiceField(label=gettext_lazy("回访行为"), required=False)
    defaults = {"period": "week", "first_event": "", "return_event": ""}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        events = event_choices()  # one catalogue read for both selects
        self.fields["first_event"].choices = [("", _("首次出现（新客户）")), *events]
        self.fields["return_event"].choices = [("", _("任意行为")), *events]

    def clean_period(self) -> str:
        return self._default("period")


class EventForm(AnalysisForm):
    event = forms.ChoiceField(label=gettext_lazy("事件"), required=False)
    measure = forms.ChoiceField(
        label=gettext_lazy("指标"), required=False,
        choices=[("count", gettext_lazy("次数")), ("customers", gettext_lazy("人数")),
                 ("sum", gettext_lazy("属性求和"))],
    )  # fmt: skip
    prop = _prop_field(gettext_lazy("求和属性"))
    breakdown = forms.ChoiceField(
        label=gettext_lazy("拆分"), required=False,
        choices=[("", gettext_lazy("不拆分")), ("channel", gettext_lazy("按渠道")),
                 ("prop", gettext_lazy("按属性值"))],
    )  # fmt: skip
    breakdown_prop = _prop_field(gettext_lazy("拆分属性"))
    where = forms.CharField(
        label=gettext_lazy("属性筛选（key=value，逗号分隔）"), required=False, max_length=500
    )
    defaults = {"event": "view_product", "measure": "count", "prop": "", "breakdown": "",
                "breakdown_prop": "", "where": {}}  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event"].choices = event_choices()

    def clean_event(self) -> str:
        return self._default("event")

    def clean_measure(self) -> str:
        return self._default("measure")

    def clean_prop(self) -> str:
        return _clean_prop(self.cleaned_data.get("prop") or "")

    def clean_breakdown_prop(self) -> str:
        return _clean_prop(self.cleaned_data.get("breakdown_prop") or "")

    def clean_where(self) -> dict[str, str]:
        where = {}
        for part in re.split(r"[,，]", self.cleaned_data.get("where") or ""):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep or not valid_prop(key.strip()):
                raise ValidationError(_("请按 key=value 填写属性筛选，多个用逗号分隔"))
            where[key.strip()] = value.strip()
        return where

    def clean(self):
        data = super().clean()
        if data.get("measure") == "sum" and not data.get("prop") and "prop" not in self.errors:
            self.add_error("prop", _("按属性求和时请填写属性名，例如 amount"))
        if data.get("breakdown") == "prop" and not data.get("breakdown_prop"):
            if "breakdown_prop" not in self.errors:
                self.add_error("breakdown_prop", _("按属性值拆分时请填写属性名"))
        return data

    def series_breakdown(self, params: dict) -> str:
        """The selector's `breakdown`: "", "channel" or "prop:<name>"."""
        if params["breakdown"] == "prop":
            return f"prop:{params['breakdown_prop']}"
        return params["breakdown"]


class DistributionForm(AnalysisForm):
    event = forms.ChoiceField(label=gettext_lazy("事件"), required=False)
    by = forms.ChoiceField(
        label=gettext_lazy("分布维度"), required=False,
        choices=[("times", gettext_lazy("每人次数")), ("prop", gettext_lazy("数值属性"))],
    )  # fmt: skip
    prop = _prop_field(gettext_lazy("数值属性"))
    defaults = {"event": "order_paid", "by": "times", "prop": "amount"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event"].choices = event_choices()

    def clean_event(self) -> str:
        return self._default("event")

    def clean_by(self) -> str:
        return self._default("by")

    def clean_prop(self) -> str:
        return _clean_prop(self.cleaned_data.get("prop") or "") or self.defaults["prop"]


class PathForm(AnalysisForm):
    start_event = forms.ChoiceField(label=gettext_lazy("起始事件"), required=False)
    depth = forms.IntegerField(label=gettext_lazy("步数"), required=False, min_value=1,
                               max_value=6)  # fmt: skip
    defaults = {"start_event": "view_product", "depth": 4}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["start_event"].choices = event_choices()

    def clean_start_event(self) -> str:
        return self._default("start_event")

    def clean_depth(self) -> int:
        return self._default("depth")
