"""Console forms of the channels area: accounts, live codes, QR codes, auto replies."""

from django import forms
from django.utils.translation import gettext_lazy as _

from channels.choices import ChannelKind, LiveCodeKind, StaffStrategy
from channels.fields import masked
from channels.models import AutoReply, ChannelAccount, GroupChat, Staff
from common.forms import BootstrapMixin
from tags.models import Tag

MAX_EXPIRE_DAYS = 30  # WeChat's limit for a temporary QR code
MAX_EXPIRE_SECONDS = MAX_EXPIRE_DAYS * 86400

WEEKDAYS = [(1, _("周一")), (2, _("周二")), (3, _("周三")), (4, _("周四")), (5, _("周五")),
            (6, _("周六")), (7, _("周日"))]  # fmt: skip
SECRET_HELP = {
    "secret": _("公众号 / 小程序的 AppSecret，企业微信应用的 Secret"),
    "token": _("平台“服务器配置”里填写的 Token"),
    "aes_key": _("平台“服务器配置”里的 EncodingAESKey（43 位）"),
}


class TagsField(forms.ModelMultipleChoiceField):
    """Tags to put on whoever comes in through a code or a reply, shown as “group / tag”."""

    def __init__(self, **kwargs):
        queryset = Tag.objects.select_related("group").order_by("group__name", "name")
        kwargs.setdefault("label", _("自动打标签"))
        super().__init__(queryset, required=False, **kwargs)
        self.widget.attrs["size"] = 6

    def label_from_instance(self, tag) -> str:
        return f"{tag.group.name} / {tag.name}"


def _accounts(kind: str):
    return ChannelAccount.objects.filter(kind=kind).order_by("name")


class ChannelAccountForm(BootstrapMixin, forms.ModelForm):
    """An account's settings; the secrets are write-only (empty keeps the stored value)."""

    secret = forms.CharField(label=_("AppSecret"), required=False, widget=forms.PasswordInput)
    token = forms.CharField(label=_("回调 Token"), required=False, widget=forms.PasswordInput)
    aes_key = forms.CharField(
        label=_("回调 EncodingAESKey"), required=False, widget=forms.PasswordInput
    )
    api_base_url = forms.URLField(
        label=_("接口地址"), required=False, assume_scheme="https",
        help_text=_("留空：平台官方地址（沙箱模式下为沙箱平台）"),
    )  # fmt: skip

    class Meta:
        model = ChannelAccount
        fields = ["kind", "code", "name", "app_id", "api_base_url", "sandbox", "status",
                  "rate_limit", "sync_interval_minutes", "options"]  # fmt: skip
        widgets = {"options": forms.Textarea(attrs={"rows": 3, "class": "font-monospace"})}

    field_order = ["kind", "code", "name", "app_id", "secret", "token", "aes_key"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        editing = self.instance.pk is not None
        if editing:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = _("代码是客户身份和行为数据引用的名字，创建后不能修改")
        for name, help_text in SECRET_HELP.items():
            field = self.fields[name]
            field.widget.attrs["autocomplete"] = "new-password"
            stored = getattr(self.instance, name) if editing else ""
            if stored:
                field.help_text = _("已设置（%(hint)s），留空保持不变") % {"hint": masked(stored)}
                field.widget.attrs["placeholder"] = masked(stored)
            else:
                field.help_text = help_text

    def clean_options(self):
        options = self.cleaned_data.get("options")
        if options in (None, ""):
            return {}
        if not isinstance(options, dict):
            raise forms.ValidationError(_('应为 JSON 对象，例如 {"agent_id": 1000002}'))
        return options


class LiveCodeForm(BootstrapMixin, forms.Form):
    """A live code: WeCom account, the staff it hands scanners to (each with a daily cap, some
    as backups) or the groups it fills, when it serves, tags and welcome text."""

    account = forms.ModelChoiceField(label=_("企业微信"), queryset=_accounts(ChannelKind.WECOM))
    kind = forms.ChoiceField(label=_("类型"), choices=LiveCodeKind.choices)
    name = forms.CharField(label=_("名称"), max_length=100)
    strategy = forms.ChoiceField(label=_("分配方式"), choices=StaffStrategy.choices)
    staff = forms.ModelMultipleChoiceField(
        label=_("接待员工"), required=False,
        queryset=Staff.objects.filter(active=True, account__kind=ChannelKind.WECOM),
    )  # fmt: skip
    groups = forms.ModelMultipleChoiceField(
        label=_("客户群"), required=False,
        queryset=GroupChat.objects.filter(account__kind=ChannelKind.WECOM),
    )  # fmt: skip
    days = forms.TypedMultipleChoiceField(
        label=_("接待日"), choices=WEEKDAYS, coerce=int, required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    start = forms.TimeField(
        label=_("开始时间"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    end = forms.TimeField(
        label=_("结束时间"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    tags = TagsField()
    welcome_text = forms.CharField(
        label=_("欢迎语"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("可用 {{ name }} 代表客户昵称，例如：{{ name }} 你好，我是你的专属顾问"),
    )  # fmt: skip
    skip_verify = forms.BooleanField(label=_("免验证添加"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].widget.attrs["class"] = "form-check-input"
        accounts = self.fields["account"].queryset
        if len(accounts) == 1:
            self.fields["account"].initial = accounts[0].pk

    def staff_rows(self) -> list[dict]:
        """Every staff member the form offers, with what was entered for them."""
        chosen = {str(pk) for pk in self.data.getlist("staff")} if self.is_bound else set()
        return [
            {
                "staff": staff,
                "checked": str(staff.pk) in chosen,
                "cap": self.data.get(f"cap-{staff.pk}", "") if self.is_bound else "",
                "backup": bool(self.data.get(f"backup-{staff.pk}")) if self.is_bound else False,
            }
            for staff in self.fields["staff"].queryset.order_by("name", "userid")
        ]

    def clean(self):
        """Seats and schedule in the shapes `live_code_create` takes; it checks the rules."""
        cleaned = super().clean()
        if cleaned.get("kind") == LiveCodeKind.GROUP:
            cleaned["seats"] = []
        else:
            cleaned["seats"], cleaned["groups"] = self._seats(cleaned.get("staff") or []), []
        days, start, end = cleaned.get("days"), cleaned.get("start"), cleaned.get("end")
        cleaned["schedule"] = {
            **({"days": sorted(days)} if days and len(days) < len(WEEKDAYS) else {}),
            **({"start": f"{start:%H:%M}"} if start else {}),
            **({"end": f"{end:%H:%M}"} if end else {}),
        }
        return cleaned

    def _seats(self, staff) -> list[tuple]:
        seats = []
        for member in staff:
            text = self.data.get(f"cap-{member.pk}", "").strip()
            if text and not text.isdigit():
                self.add_error("staff", _("%(name)s 的每日上限应为正整数") % {"name": member})
                continue
            backup = bool(self.data.get(f"backup-{member.pk}"))
            seats.append((member, int(text) if text else None, backup))
        return seats


class QrCodeForm(BootstrapMixin, forms.Form):
    """An OA parametric QR code: permanent, or temporary for up to 30 days."""

    account = forms.ModelChoiceField(label=_("公众号"), queryset=_accounts(ChannelKind.WECHAT_OA))
    name = forms.CharField(label=_("名称"), max_length=100)
    scene = forms.CharField(
        label=_("场景值"), max_length=64,
        help_text=_("扫码事件带回的参数，例如 store-shanghai-01；同一公众号内唯一"),
    )  # fmt: skip
    permanent = forms.BooleanField(label=_("永久二维码"), required=False, initial=True)
    expire_days = forms.IntegerField(
        label=_("有效天数（临时二维码）"), min_value=1, max_value=MAX_EXPIRE_DAYS,
        initial=MAX_EXPIRE_DAYS, required=False,
    )  # fmt: skip
    tags = TagsField()
    reply_text = forms.CharField(
        label=_("扫码回复"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("用户扫码（含扫码关注）后公众号自动回复的文字"),
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        accounts = self.fields["account"].queryset
        if len(accounts) == 1:
            self.fields["account"].initial = accounts[0].pk

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("permanent"):
            cleaned["expire_seconds"] = MAX_EXPIRE_SECONDS
        elif cleaned.get("expire_days"):
            cleaned["expire_seconds"] = cleaned["expire_days"] * 86400
        else:
            self.add_error("expire_days", _("临时二维码需要填写有效天数"))
        return cleaned


class AutoReplyForm(BootstrapMixin, forms.ModelForm):
    tags = TagsField(label=_("同时打标签"))

    class Meta:
        model = AutoReply
        fields = ["account", "kind", "keyword", "match", "reply_text", "tags", "priority",
                  "enabled"]  # fmt: skip
        widgets = {"reply_text": forms.Textarea(attrs={"rows": 4})}
        help_texts = {"keyword": _("仅关键词回复需要"), "priority": _("数字越小越先匹配")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        accounts = _accounts(ChannelKind.WECHAT_OA)
        self.fields["account"].queryset = accounts
        if len(accounts) == 1 and not self.instance.pk:
            self.fields["account"].initial = accounts[0].pk
