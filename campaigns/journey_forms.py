"""Forms of the journey builder and of real-time triggers. The steps (and a trigger's action)
are edited by static/js/journey-builder.js and posted as JSON; the services check them."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.choices import JourneyKind, JourneyTrigger, ReentryPolicy
from campaigns.models import Campaign, Journey, TriggerRule
from channels.choices import ChannelKind
from channels.models import ChannelAccount, GroupChat, LiveCode
from common.forms import BootstrapMixin
from tags.models import Audience, Tag

# service error key → form field, by trigger kind ("trigger.channel" means different pickers)
TRIGGER_FIELDS = {
    JourneyTrigger.FOLLOWED: {"channel": "trigger_oa"},
    JourneyTrigger.LIVE_CODE: {"live_code": "trigger_live_code"},
    JourneyTrigger.TAG_ADDED: {"tag": "trigger_tag"},
    JourneyTrigger.ENTERED_AUDIENCE: {"audience": "trigger_audience"},
    JourneyTrigger.EVENT: {"event": "trigger_event", "channel": "trigger_event_channel"},
    JourneyTrigger.BIRTHDAY: {"days_before": "trigger_days_before"},
    JourneyTrigger.GROUP_CHAT: {
        "channel": "trigger_wecom",
        "group_chats": "trigger_group_chats",
        "new_groups": "trigger_new_groups",
    },
}


def _json(text: str, label) -> object:
    """Parsed JSON, or a form error naming the field."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise forms.ValidationError(
            _("%(label)s不是合法的 JSON：%(error)s"), params={"label": label, "error": exc}
        ) from exc


class TagChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.group.name} / {obj.name}"


class ChatChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.account.name} · {obj.name or obj.chat_id}"


class JourneyForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("名称"), max_length=100, required=False)
    description = forms.CharField(
        label=_("说明"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    kind = forms.ChoiceField(label=_("类型"), choices=JourneyKind.choices)
    campaign = forms.ModelChoiceField(
        label=_("营销活动"), queryset=Campaign.objects.all(), required=False
    )
    trigger_kind = forms.ChoiceField(label=_("触发方式"), choices=JourneyTrigger.choices)
    trigger_oa = forms.ModelChoiceField(
        label=_("公众号"), required=False, empty_label=_("任一公众号"),
        queryset=ChannelAccount.objects.filter(kind=ChannelKind.WECHAT_OA),
    )  # fmt: skip
    trigger_live_code = forms.ModelChoiceField(
        label=_("活码"), required=False, empty_label=_("任一活码"),
        queryset=LiveCode.objects.all(),
    )  # fmt: skip
    trigger_tag = TagChoiceField(
        label=_("标签"), required=False, queryset=Tag.objects.select_related("group")
    )
    trigger_audience = forms.ModelChoiceField(
        label=_("人群"), required=False, queryset=Audience.objects.all()
    )
    trigger_event = forms.CharField(
        label=_("事件名"), required=False, max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "add_to_cart", "list": "event-names"}),
    )  # fmt: skip
    trigger_event_channel = forms.ModelChoiceField(
        label=_("事件渠道"), required=False, empty_label=_("任一渠道"),
        queryset=ChannelAccount.objects.all(),
    )  # fmt: skip
    trigger_days_before = forms.IntegerField(
        label=_("提前天数"), required=False, min_value=0, max_value=30, initial=3
    )
    trigger_wecom = forms.ModelChoiceField(
        label=_("企业微信"), required=False,
        queryset=ChannelAccount.objects.filter(kind=ChannelKind.WECOM),
    )  # fmt: skip
    trigger_group_chats = ChatChoiceField(
        label=_("客户群"), required=False,
        queryset=GroupChat.objects.select_related("account").order_by("account", "name"),
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("启用时这些群立即进入；按住 Ctrl/⌘ 多选"),
    )  # fmt: skip
    trigger_new_groups = forms.BooleanField(
        label=_("之后新建的群也自动进入"), required=False, initial=True
    )
    entry_filter = forms.CharField(label=_("进入条件（人群 DSL）"), required=False)
    reentry = forms.ChoiceField(label=_("重复进入"), choices=ReentryPolicy.choices)
    cooldown_days = forms.IntegerField(
        label=_("再次进入间隔（天）"), min_value=1, max_value=3650, initial=30, required=False
    )
    goal_event = forms.CharField(
        label=_("目标事件"), max_length=64, required=False,
        help_text=_("发生后立即退出，例如 order_paid；留空则走完全部步骤"),
    )  # fmt: skip
    respect_quiet_hours = forms.BooleanField(
        label=_("发送遵守免打扰时段"), required=False, initial=True
    )
    steps = forms.CharField(label=_("步骤"), required=False, widget=forms.HiddenInput)

    def __init__(self, *args, journey: Journey | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.journey = journey
        if journey is not None:  # the kind is chosen once, at creation
            self.fields["kind"].disabled = True
        self.fields["trigger_new_groups"].widget.attrs["class"] = "form-check-input"
        if not GroupChat.objects.exists():
            self.fields["trigger_group_chats"].help_text = _(
                "还没有客户群：先在渠道页同步企业微信的客户群，或只让之后新建的群进入"
            )

    def clean_entry_filter(self):
        return _json(self.cleaned_data.get("entry_filter"), _("进入条件"))

    def clean_steps(self):
        steps = _json(self.cleaned_data.get("steps"), _("步骤"))
        if steps is None:
            raise forms.ValidationError(_("至少需要一个步骤"))
        return steps

    def trigger_data(self) -> dict:
        """The trigger parameters of the chosen trigger kind, as the service takes them."""
        data = self.cleaned_data
        mapping = TRIGGER_FIELDS.get(data.get("trigger_kind"), {})
        trigger: dict = {}
        for key, field in mapping.items():
            value = data.get(field)
            if key == "group_chats":
                trigger[key] = [c.pk for c in value or []]
            elif key == "new_groups" or key == "days_before":
                trigger[key] = value if value is not None else 0
            elif key == "event":
                trigger[key] = value or ""
            elif value is not None:
                trigger[key] = value.pk
        return trigger

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {
            "name": data["name"],
            "description": data["description"],
            "campaign": data["campaign"],
            "trigger_kind": data["trigger_kind"],
            "trigger": self.trigger_data(),
            "entry_filter": data["entry_filter"],
            "reentry": data["reentry"],
            "cooldown_days": data["cooldown_days"] or 30,
            "goal_event": (data["goal_event"] or "").strip(),
            "respect_quiet_hours": data["respect_quiet_hours"],
        }
        if self.journey is None:
            kwargs["kind"] = data["kind"]
        return kwargs

    def aliases(self) -> dict:
        """Service error keys → form fields."""
        mapping = TRIGGER_FIELDS.get(self.cleaned_data.get("trigger_kind"), {})
        return {f"trigger.{key}": field for key, field in mapping.items()}

    @classmethod
    def initial_for(cls, journey: Journey) -> dict:
        initial = {
            "name": journey.name,
            "description": journey.description,
            "kind": journey.kind,
            "campaign": journey.campaign_id,
            "trigger_kind": journey.trigger_kind,
            "entry_filter": json.dumps(journey.entry_filter, ensure_ascii=False, indent=2)
            if journey.entry_filter
            else "",
            "reentry": journey.reentry,
            "cooldown_days": journey.cooldown_days,
            "goal_event": journey.goal_event,
            "respect_quiet_hours": journey.respect_quiet_hours,
        }
        trigger = journey.trigger or {}
        for key, field in TRIGGER_FIELDS.get(journey.trigger_kind, {}).items():
            if key in trigger:
                initial[field] = trigger[key]
        return initial


class TriggerRuleForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("名称"), max_length=100, required=False)
    event_a = forms.CharField(
        label=_("事件 A"), max_length=64, required=False,
        widget=forms.TextInput(attrs={"placeholder": "add_to_cart", "list": "event-names"}),
    )  # fmt: skip
    event_a_channel = forms.ModelChoiceField(
        label=_("事件 A 的渠道"), required=False, empty_label=_("任一渠道"),
        queryset=ChannelAccount.objects.all(),
    )  # fmt: skip
    event_b = forms.CharField(
        label=_("事件 B（等待期间发生则取消）"), max_length=64, required=False,
        widget=forms.TextInput(attrs={"placeholder": "order_paid", "list": "event-names"}),
    )  # fmt: skip
    within_minutes = forms.IntegerField(label=_("等待（分钟）"), initial=30, required=False)
    condition = forms.CharField(label=_("客户条件（人群 DSL）"), required=False)
    action = forms.CharField(label=_("动作"), required=False, widget=forms.HiddenInput)

    def clean_condition(self):
        return _json(self.cleaned_data.get("condition"), _("客户条件"))

    def clean_action(self):
        return _json(self.cleaned_data.get("action"), _("动作")) or {}

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        if data["within_minutes"] is None:
            data["within_minutes"] = 0
        return data

    @classmethod
    def initial_for(cls, rule: TriggerRule) -> dict:
        return {
            "name": rule.name,
            "event_a": rule.event_a,
            "event_a_channel": rule.event_a_channel_id,
            "event_b": rule.event_b,
            "within_minutes": rule.within_minutes,
            "condition": json.dumps(rule.condition, ensure_ascii=False, indent=2)
            if rule.condition
            else "",
            "action": json.dumps(rule.action, ensure_ascii=False),
        }
