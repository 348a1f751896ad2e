"""Console forms for alert rules; reports.alerts.alert_rule_save validates and saves."""

from django import forms
from django.forms.models import model_to_dict
from django.utils.translation import gettext_lazy as _

from channels.choices import ChannelKind
from channels.models import ChannelAccount
from common.forms import BootstrapMixin
from reports.alerts import RULE_FIELDS
from reports.choices import AlertComparison, AlertScope, AlertStatus
from reports.metrics import KPIS
from reports.models import AlertRule


def _label(name: str):
    return AlertRule._meta.get_field(name).verbose_name


class AlertRuleForm(BootstrapMixin, forms.Form):
    """What the rule watches, how it compares, what it does when it fires."""

    name = forms.CharField(label=_label("name"), max_length=100)
    metric = forms.ChoiceField(label=_label("metric"))
    channel_kind = forms.ChoiceField(
        label=_label("channel_kind"),
        choices=[("", _("所有类型"))] + list(ChannelKind.choices),
        required=False,
    )
    scope = forms.ChoiceField(label=_label("scope"), choices=AlertScope.choices)
    comparison = forms.ChoiceField(label=_label("comparison"), choices=AlertComparison.choices)
    threshold = forms.DecimalField(
        label=_label("threshold"),
        max_digits=14,
        decimal_places=4,
        help_text=_(
            "低于/高于阈值：指标值（百分比指标按百分数填，如 3.5 表示 3.5%）；"
            "其余：变化的百分比，如 5 表示 5%"
        ),
    )
    window_days = forms.IntegerField(label=_label("window_days"), min_value=1)
    baseline_days = forms.IntegerField(
        label=_label("baseline_days"), min_value=1, help_text=_("只用于“高于/低于均值”")
    )
    pause_pushes = forms.BooleanField(label=_label("pause_pushes"), required=False)
    notify_console = forms.BooleanField(label=_label("notify_console"), required=False)
    notify_email = forms.BooleanField(label=_label("notify_email"), required=False)
    email_to = forms.CharField(
        label=_label("email_to"), max_length=500, required=False, help_text=_("多个地址用逗号分隔")
    )
    notify_wecom = forms.BooleanField(label=_label("notify_wecom"), required=False)
    wecom_account = forms.ModelChoiceField(
        label=_label("wecom_account"),
        queryset=ChannelAccount.objects.filter(kind=ChannelKind.WECOM).order_by("code"),
        required=False,
    )
    wecom_userids = forms.CharField(
        label=_label("wecom_userids"),
        max_length=500,
        required=False,
        help_text=_("多个成员用 | 或逗号分隔；@all 表示应用可见范围内的全部成员"),
    )
    enabled = forms.BooleanField(label=_label("enabled"), required=False)

    def __init__(self, *args, rule: AlertRule | None = None, **kwargs):
        if rule is not None and rule.pk and "initial" not in kwargs:
            kwargs["initial"] = model_to_dict(rule, fields=RULE_FIELDS)
        elif "initial" not in kwargs:
            kwargs["initial"] = {
                "scope": AlertScope.EACH_ACCOUNT, "comparison": AlertComparison.BELOW_MEAN,
                "window_days": 7, "baseline_days": 28, "notify_console": True, "enabled": True,
            }  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = [
            (key, f"{kpi.label}（{key}）") for key, kpi in KPIS.items()
        ]


class AlertFilterForm(BootstrapMixin, forms.Form):
    """The history's filters: status and rule (bad values are ignored, not an error page)."""

    status = forms.ChoiceField(
        label=_("状态"), choices=[("", _("全部"))] + list(AlertStatus.choices), required=False
    )
    rule = forms.ModelChoiceField(
        label=_("规则"), queryset=AlertRule.objects.order_by("name"), required=False,
        empty_label=_("全部规则"),
    )  # fmt: skip
