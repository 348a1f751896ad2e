"""Console forms of the tag area: groups, tags, platform mappings, rules, bulk actions."""

from django import forms
from django.apps import apps
from django.utils.translation import gettext_lazy as _

from common.forms import BootstrapMixin
from tags.models import (
    AudienceKind,
    BulkAction,
    RuleMode,
    RuleSchedule,
    Tag,
    TagGroup,
    TagMapping,
    TagPlatform,
)

# which platform tags each kind of channel account has
PLATFORM_OF_KIND = {"wecom": TagPlatform.WECOM_CORP_TAG, "wechat_oa": TagPlatform.OA_TAG}


class TagGroupForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = TagGroup
        fields = ["name", "description"]


class TagForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Tag
        fields = ["group", "name", "color", "description"]
        widgets = {"color": forms.TextInput(attrs={"type": "color"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["color"].widget.attrs["class"] = "form-control form-control-color"


class TagMappingForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = TagMapping
        fields = ["account", "external_id", "external_name"]

    def __init__(self, *args, tag: Tag, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.tag = tag
        ChannelAccount = apps.get_model("channels", "ChannelAccount")
        self.fields["account"].queryset = ChannelAccount.objects.filter(
            kind__in=list(PLATFORM_OF_KIND)
        )
        self.fields["account"].help_text = _("企业微信账号映射企业标签，公众号映射用户标签")

    def clean(self):
        cleaned = super().clean()
        account = cleaned.get("account")
        if account is not None:
            self.instance.platform = PLATFORM_OF_KIND[account.kind]
            clash = TagMapping.objects.filter(
                account=account,
                platform=self.instance.platform,
                external_id=cleaned.get("external_id"),
            ).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("external_id", _("这个平台标签已映射到其他标签"))
        return cleaned


class DefinitionFormMixin(forms.Form):
    """The DSL definition, edited by the visual builder (JSON underneath)."""

    definition = forms.JSONField(label=_("规则"), initial={"all": []})


class AudienceForm(BootstrapMixin, DefinitionFormMixin):
    name = forms.CharField(label=_("名称"), max_length=100)
    description = forms.CharField(label=_("说明"), max_length=300, required=False)
    kind = forms.ChoiceField(label=_("类型"), choices=AudienceKind.choices)
    field_order = ["name", "description", "kind", "definition"]


class TagRuleForm(BootstrapMixin, DefinitionFormMixin):
    name = forms.CharField(label=_("名称"), max_length=100)
    tag = forms.ModelChoiceField(label=_("标签"), queryset=Tag.objects.select_related("group"))
    mode = forms.ChoiceField(label=_("模式"), choices=RuleMode.choices)
    schedule = forms.ChoiceField(label=_("执行"), choices=RuleSchedule.choices)
    enabled = forms.BooleanField(label=_("启用"), required=False, initial=True)
    field_order = ["name", "tag", "mode", "schedule", "enabled", "definition"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].label_from_instance = lambda t: f"{t.group.name} / {t.name}"


class BulkTagForm(forms.Form):
    """From the customer list: a tag, add or remove, and the selected rows or the filter.

    Field names carry a `bulk_` prefix: the list's own filters (`tag`, …) travel alongside.
    """

    bulk_tag = forms.ModelChoiceField(label=_("标签"), queryset=Tag.objects.all())
    bulk_action = forms.ChoiceField(label=_("操作"), choices=BulkAction.choices)
    scope = forms.ChoiceField(
        choices=[("selected", _("选中的客户")), ("filter", _("全部筛选结果"))]
    )
    ids = forms.CharField(required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("scope") == "selected":
            raw = [part for part in (cleaned.get("ids") or "").split(",") if part.strip()]
            if not raw:
                self.add_error("ids", _("请至少选择一位客户"))
            elif not all(part.strip().isdigit() for part in raw):
                self.add_error("ids", _("客户 ID 必须是整数"))
            else:
                cleaned["id_list"] = [int(part) for part in raw]
        return cleaned
