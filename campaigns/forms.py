"""Console forms for content, campaigns, goals and spend (push forms: campaigns/push_forms.py)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.choices import GoalMetric
from campaigns.models import Campaign, CampaignGoal, ContentItem, ForbiddenWord, SpendEntry
from channels.choices import ChannelKind
from common.forms import BootstrapMixin

# --- content -------------------------------------------------------------------------------


class ContentForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = ContentItem
        fields = ["name", "core_text"]
        widgets = {"core_text": forms.Textarea(attrs={"rows": 4})}


class VariantForm(BootstrapMixin, forms.Form):
    """One channel kind's fields of a content item (the form's prefix is the kind); a variant
    with every field empty is no variant: the kind sends the core text."""

    kind = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", self.kind)
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False

    @property
    def label(self) -> str:
        return ChannelKind(self.kind).label

    def variant_fields(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if value}


def _text(label, rows: int = 4, **attrs):
    return forms.CharField(label=label, widget=forms.Textarea(attrs={"rows": rows, **attrs}))


class OaVariantForm(VariantForm):
    kind = ChannelKind.WECHAT_OA
    text = _text(_("公众号消息文本"))


class WecomVariantForm(VariantForm):
    kind = ChannelKind.WECOM
    text = _text(_("企业微信消息文本"))
    link = forms.URLField(label=_("链接"), max_length=1000, assume_scheme="https")


class MiniVariantForm(VariantForm):
    kind = ChannelKind.WECHAT_MINI
    template_id = forms.CharField(label=_("订阅消息模板 ID"), max_length=100)
    data = forms.JSONField(
        label=_("模板数据（JSON）"),
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}),
        help_text=_('例如 {"thing1": {"value": "{{ name }}"}}'),
    )
    page = forms.CharField(label=_("跳转页面"), max_length=200)

    def clean_data(self):
        data = self.cleaned_data["data"]
        if data and not isinstance(data, dict):
            raise forms.ValidationError(_("模板数据必须是 JSON 对象"))
        return data


class SmsVariantForm(VariantForm):
    kind = ChannelKind.SMS
    text = _text(_("短信文本"), **{"data-sms-counter": "1"})


class EmailVariantForm(VariantForm):
    kind = ChannelKind.EMAIL
    subject = forms.CharField(label=_("邮件主题"), max_length=200)
    html = _text(_("邮件正文（HTML）"), rows=8, **{"class": "font-monospace"})


class AppVariantForm(VariantForm):
    kind = ChannelKind.APP
    title = forms.CharField(label=_("推送标题"), max_length=50)
    text = _text(_("推送内容"), rows=3)


VARIANT_FORMS = (
    OaVariantForm,
    WecomVariantForm,
    MiniVariantForm,
    SmsVariantForm,
    EmailVariantForm,
    AppVariantForm,
)


class ForbiddenWordForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = ForbiddenWord
        fields = ["word", "note"]


# --- campaigns -----------------------------------------------------------------------------


class CampaignForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "objective", "status", "starts_on", "ends_on", "budget", "utm_code",
                  "owner"]  # fmt: skip
        widgets = {
            "objective": forms.Textarea(attrs={"rows": 3}),
            "starts_on": forms.DateInput(attrs={"type": "date"}),
            "ends_on": forms.DateInput(attrs={"type": "date"}),
        }

    def clean(self):
        data = super().clean()
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", _("结束日期不能早于开始日期"))
        if data.get("budget") is not None and data["budget"] < 0:
            self.add_error("budget", _("预算不能为负数"))
        return data


class GoalForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = CampaignGoal
        fields = ["metric", "target", "deadline"]
        widgets = {
            "target": forms.NumberInput(attrs={"placeholder": _("目标值")}),
            "deadline": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = GoalMetric.choices

    def clean_target(self):
        target = self.cleaned_data["target"]
        if target <= 0:
            raise forms.ValidationError(_("目标值必须大于 0"))
        return target


class SpendForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = SpendEntry
        fields = ["spent_on", "channel_account", "amount", "note"]
        widgets = {"spent_on": forms.DateInput(attrs={"type": "date"})}

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError(_("金额必须大于 0"))
        return amount


class SpendImportForm(BootstrapMixin, forms.Form):
    file = forms.FileField(
        label=_("CSV 文件"), help_text=_("UTF-8 编码，每行：日期,渠道代码,金额,备注")
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("文件不是 UTF-8 编码"))
