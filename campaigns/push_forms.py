"""The push form: audience, channels in fallback order, content with an optional B variant,
schedule, and the sending rules to respect."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.choices import AbMetric, ScheduleKind
from campaigns.delivery import SENDABLE_KINDS
from campaigns.models import Campaign, ContentItem, Push
from campaigns.pushes import MAX_DECIDE_HOURS
from channels.models import ChannelAccount
from common.forms import BootstrapMixin
from tags.models import Audience


class PushForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("名称"), max_length=100)
    campaign = forms.ModelChoiceField(
        label=_("营销活动"), queryset=Campaign.objects.all(), required=False
    )
    audience = forms.ModelChoiceField(label=_("人群包"), queryset=Audience.objects.all())
    channels = forms.ModelMultipleChoiceField(
        label=_("渠道（按优先顺序）"),
        queryset=ChannelAccount.objects.filter(kind__in=SENDABLE_KINDS),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("勾选要使用的渠道，用上下箭头调整顺序：客户收到第一个能触达的渠道"),
    )
    content = forms.ModelChoiceField(label=_("内容"), queryset=ContentItem.objects.all())
    variant_b = forms.ModelChoiceField(
        label=_("B 版本内容（可选）"), queryset=ContentItem.objects.all(), required=False,
        help_text=_("选择后进行 A/B 测试：A 为上面的内容"),
    )  # fmt: skip
    variant_b_share = forms.IntegerField(
        label=_("B 版本比例（%）"), min_value=1, max_value=99, initial=50, required=False
    )
    ab_test_percent = forms.IntegerField(
        label=_("A/B 测试比例（%）"), min_value=1, max_value=100, initial=100,
        help_text=_("100：全部人群参与测试；例如 20：先测 20%，胜者发给其余"),
    )  # fmt: skip
    ab_auto_winner = forms.BooleanField(label=_("自动把胜出版本发给其余人"), required=False)
    ab_metric = forms.ChoiceField(
        label=_("A/B 胜出指标"), choices=AbMetric.choices, initial=AbMetric.CLICK_RATE,
        required=False,        help_text=_("转化率：发送后 7 天内下单支付的客户 / 已发送"),
    )  # fmt: skip
    ab_decide_after_hours = forms.IntegerField(
        label=_("测试时长（小时）"), min_value=1, max_value=MAX_DECIDE_HOURS, required=False,
        help_text=_("测试发送完成这么多小时后自动选出胜出版本；留空则手动选择"),
    )  # fmt: skip
    schedule_kind = forms.ChoiceField(
        label=_("发送时间"), choices=ScheduleKind.choices, widget=forms.RadioSelect,
        initial=ScheduleKind.NOW,
    )  # fmt: skip
    send_at = forms.DateTimeField(
        label=_("定时"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )  # fmt: skip
    cron = forms.CharField(
        label=_("周期（crontab）"), required=False, max_length=100,
        help_text=_("例如 0 10 * * 1：每周一 10 点"),
    )  # fmt: skip
    respect_quiet_hours = forms.BooleanField(
        label=_("遵守免打扰时段"), required=False, initial=True
    )
    apply_frequency_cap = forms.BooleanField(label=_("遵守频次上限"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["schedule_kind"].widget.attrs["class"] = "form-check-input"
        self.fields["campaign"].empty_label = _("不关联营销活动")
        self.fields["audience"].empty_label = _("请选择人群包")
        self.fields["content"].empty_label = _("请选择内容")
        self.fields["variant_b"].empty_label = _("不做 A/B 测试")
        self.fields["channels"].widget.attrs["class"] = "form-check-input"

    def clean_channels(self):
        """The accounts in the order they were submitted (the order of the list on screen)."""
        chosen = {a.pk: a for a in self.cleaned_data["channels"]}
        order = [int(v) for v in self.data.getlist(self.add_prefix("channels")) if v.isdigit()]
        return [chosen[pk] for pk in dict.fromkeys(order) if pk in chosen]

    def clean_send_at(self):
        value = self.cleaned_data.get("send_at")
        if value is not None and timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value

    def service_kwargs(self) -> dict:
        """What `push_save` takes, from the cleaned data."""
        data = dict(self.cleaned_data)
        variant_b, share = data.pop("variant_b"), data.pop("variant_b_share") or 50
        data["variants"] = []
        if variant_b is not None:
            data["variants"] = [
                {"label": "A", "content": data["content"], "share": 100 - share},
                {"label": "B", "content": variant_b, "share": share},
            ]
        return data

    @classmethod
    def initial_for(cls, push: Push) -> dict:
        variant_b = push.variants.filter(label="B").first()
        return {
            "name": push.name,
            "campaign": push.campaign_id,
            "audience": push.audience_id,
            "channels": [c.channel_account_id for c in push.channels.order_by("position")],
            "content": push.content_id,
            "variant_b": variant_b.content_id if variant_b else None,
            "variant_b_share": variant_b.share if variant_b else 50,
            "ab_test_percent": push.ab_test_percent,
            "ab_auto_winner": push.ab_auto_winner,
            "ab_metric": push.ab_metric or AbMetric.CLICK_RATE,
            "ab_decide_after_hours": push.ab_decide_after_hours,
            "schedule_kind": push.schedule_kind,
            "send_at": timezone.localtime(push.send_at) if push.send_at else None,
            "cron": push.cron,
            "respect_quiet_hours": push.respect_quiet_hours,
            "apply_frequency_cap": push.apply_frequency_cap,
        }
