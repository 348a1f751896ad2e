from django import forms
from django.utils.translation import gettext_lazy as _

from customers.choices import ImportKind


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
