from django import forms
from django.utils.translation import gettext_lazy as _

from common.forms import BootstrapMixin
from customers.choices import ImportKind
from customers.models import (
    MembershipSettings,
    MemberTier,
    PointsEarnRule,
    PointsEventRule,
    PointsPromotion,
    RewardItem,
)


class ImportForm(forms.Form):
    """Upload a CSV of customers or events; the import itself runs in a worker."""

    kind = forms.ChoiceField(label=_("导入类型"), choices=ImportKind.choices)
    file = forms.FileField(label=_("CSV 文件"), help_text=_("UTF-8 编码，首行为表头；可先下载模板"))
    strict = forms.BooleanField(
        label=_("整批校验"),
        required=False,
        initial=True,
        help_text=_("一批（500 行）中有任何一行出错，整批不写入；不勾选则只跳过出错的行"),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".txt")):
            raise forms.ValidationError(_("请上传 .csv 文件"))
        return upload


def _numbers(text: str, *, descending: bool) -> list:
    parts = [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]
    try:
        values = [float(p) if "." in p else int(p) for p in parts]
    except ValueError:
        raise forms.ValidationError(_("请输入用逗号分隔的数字"))
    if len(values) != 4:
        raise forms.ValidationError(_("需要正好 4 个断点（对应 2–5 分）"))
    if any(v <= 0 for v in values):
        raise forms.ValidationError(_("断点必须是正数"))
    ordered = sorted(values, reverse=descending)
    if values != ordered or len(set(values)) != 4:
        raise forms.ValidationError(_("断点必须严格递减") if descending else _("断点必须严格递增"))
    return values


class ScoringSettingsForm(forms.Form):
    """Lifecycle day thresholds and RFM breakpoints, edited in settings."""

    new_days = forms.IntegerField(label=_("新客：首次出现在 N 天内"), min_value=1, max_value=3650)
    active_days = forms.IntegerField(label=_("活跃：N 天内有行为"), min_value=1, max_value=3650)
    churn_days = forms.IntegerField(label=_("流失：超过 N 天无行为"), min_value=1, max_value=3650)
    recency_days = forms.CharField(
        label=_("R 断点（天）"), help_text=_("4 个严格递减的天数，例如 180, 90, 30, 7：越近分越高")
    )
    frequency_breaks = forms.CharField(
        label=_("F 断点（单数）"), help_text=_("4 个严格递增的订单数，例如 2, 3, 5, 8")
    )
    monetary_breaks = forms.CharField(
        label=_("M 断点（元）"), help_text=_("4 个严格递增的金额，例如 200, 500, 1000, 3000")
    )

    @classmethod
    def for_settings(cls, settings, data=None):
        initial = {
            "new_days": settings.new_days,
            "active_days": settings.active_days,
            "churn_days": settings.churn_days,
            "recency_days": ", ".join(str(v) for v in settings.recency_days),
            "frequency_breaks": ", ".join(str(v) for v in settings.frequency_breaks),
            "monetary_breaks": ", ".join(str(v) for v in settings.monetary_breaks),
        }
        return cls(data=data, initial=initial)

    def clean_recency_days(self):
        return _numbers(self.cleaned_data["recency_days"], descending=True)

    def clean_frequency_breaks(self):
        return _numbers(self.cleaned_data["frequency_breaks"], descending=False)

    def clean_monetary_breaks(self):
        return _numbers(self.cleaned_data["monetary_breaks"], descending=False)

    def clean(self):
        data = super().clean()
        active, churn = data.get("active_days"), data.get("churn_days")
        if active and churn and churn <= active:
            self.add_error("churn_days", _("流失天数必须大于活跃天数"))
        return data


# --- membership ----------------------------------------------------------------------------


class MembershipSettingsForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = MembershipSettings
        fields = ["expiry_policy", "expiry_months", "reminder_days", "tier_basis",
                  "tier_window_months"]  # fmt: skip


class MemberTierForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = MemberTier
        fields = ["code", "name", "threshold", "earn_multiplier", "benefits", "color"]
        widgets = {"benefits": forms.Textarea(attrs={"rows": 4}),
                   "color": forms.TextInput(attrs={"type": "color"})}  # fmt: skip


class PointsEarnRuleForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = PointsEarnRule
        fields = ["name", "channel_account", "points_per_yuan", "rounding", "enabled"]


class PointsEventRuleForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = PointsEventRule
        fields = ["name", "event_name", "channel_account", "points", "daily_cap", "monthly_cap",
                  "enabled"]  # fmt: skip

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points is not None and points <= 0:
            raise forms.ValidationError(_("积分必须大于 0"))
        return points


class PointsPromotionForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = PointsPromotion
        fields = ["name", "multiplier", "channel_account", "starts_at", "ends_at", "enabled"]
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", _("结束时间必须晚于开始时间"))
        return data


class RewardItemForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = RewardItem
        fields = ["name", "kind", "description", "points_price", "stock", "per_customer_limit",
                  "channel_accounts", "enabled"]  # fmt: skip
        widgets = {"channel_accounts": forms.SelectMultiple(attrs={"size": 6})}


class RedeemForm(BootstrapMixin, forms.Form):
    """Redeem a reward item for a member from the member card."""

    item = forms.ModelChoiceField(label=_("兑换商品"), queryset=None)
    channel_account = forms.ModelChoiceField(label=_("兑换渠道"), queryset=None, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item"].queryset = RewardItem.objects.filter(enabled=True)
        self.fields["item"].empty_label = _("选择兑换商品…")
        self.fields["item"].label_from_instance = lambda item: _("%(name)s（%(points)s 积分）") % {
            "name": item.name, "points": f"{item.points_price.normalize():f}"}  # fmt: skip
        self.fields["channel_account"].queryset = _accounts()
        self.fields["channel_account"].label_from_instance = lambda account: account.name
        self.fields["channel_account"].empty_label = _("（不限渠道）")


class PointsAdjustForm(BootstrapMixin, forms.Form):
    """A staff adjustment: signed points and a reason (audit logged)."""

    points = forms.DecimalField(
        label=_("调整积分"), max_digits=9, decimal_places=1,
        help_text=_("正数增加，负数扣减，最多一位小数"),
    )  # fmt: skip
    reason = forms.CharField(label=_("原因"), max_length=200)

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("调整积分不能为 0"))
        return points


class RedemptionCancelForm(BootstrapMixin, forms.Form):
    reason = forms.CharField(label=_("取消原因"), max_length=200)


def _accounts():
    from django.apps import apps

    return apps.get_model("channels", "ChannelAccount").objects.order_by("name")
