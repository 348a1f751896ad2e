"""Console: campaigns and journeys (empty states until their issue lands)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _


@login_required
def campaign_index(request):
    return render(
        request,
        "coming_soon.html",
        {
            "title": _("营销活动"),
            "icon": "megaphone",
            "empty_title": _("还没有营销活动"),
            "empty_text": _(
                "营销活动把内容、人群、渠道与预算放在一起：一次编辑，多渠道触达，"
                "按目标追踪效果。这部分即将上线。"
            ),
        },
    )


@login_required
def journey_index(request):
    return render(
        request,
        "coming_soon.html",
        {
            "title": _("旅程"),
            "icon": "signpost-split",
            "empty_title": _("还没有客户旅程"),
            "empty_text": _(
                "SOP 旅程按触发条件自动执行：新关注第 1/3/7 天的培育、加购未支付提醒、"
                "沉睡客户唤醒。这部分即将上线。"
            ),
        },
    )
