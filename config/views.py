"""Console pages that read several apps: home and settings (config is the top layer)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.models import AuditLog
from common.roles import ROLE_LABELS
from customers.forms import ScoringSettingsForm
from customers.models import ScoringSettings
from customers.scoring import scoring_settings_update
from customers.selectors import customer_overview

SETTINGS_TABS = ("audit", "scoring", "roles")
ROLE_SUMMARIES = {
    "admin": gettext_lazy("全部功能，包括用户、角色与系统设置"),
    "operator": gettext_lazy("客户、标签、渠道、营销与报表的日常运营，可查看完整手机号"),
    "analyst": gettext_lazy("只读查看客户与报表，手机号和邮箱脱敏显示"),
    "staff": gettext_lazy("导购/客服：查看客户并为客户打标签"),
}


@login_required
def home(request):
    """KPI cards and the latest merges and imports."""
    recent = AuditLog.objects.filter(
        action__in=[AuditLog.Action.MERGE, AuditLog.Action.IMPORT, AuditLog.Action.EXPORT]
    ).select_related("actor")[:8]
    return render(request, "home.html", {"overview": customer_overview(), "recent": recent})


@login_required
def settings_view(request):
    """Audit log, lifecycle/RFM thresholds and roles, one tab each."""
    default = "audit" if request.user.has_perm("common.view_auditlog") else "scoring"
    tab = request.GET.get("tab", default)
    if tab not in SETTINGS_TABS:
        tab = default
    context = {"tab": tab}
    if tab == "audit":
        context.update(_audit_context(request))
    elif tab == "scoring":
        response = _scoring(request, context)
        if response:
            return response
    else:
        context.update(_roles_context())
    status = 400 if context.get("form") is not None and context["form"].errors else 200
    return render(request, "settings.html", context, status=status)


def _audit_context(request) -> dict:
    if not request.user.has_perm("common.view_auditlog"):
        raise PermissionDenied
    entries = AuditLog.objects.select_related("actor").order_by("-created_at", "-id")
    action = request.GET.get("action", "")
    if action in AuditLog.Action.values:
        entries = entries.filter(action=action)
    search = request.GET.get("q", "").strip()
    if search:
        entries = entries.filter(
            Q(summary__icontains=search) | Q(actor_label__icontains=search) | Q(object_id=search)
        )
    page = Paginator(entries, 30).get_page(request.GET.get("page"))
    return {
        "page_obj": page,
        "entries": page.object_list,
        "actions": AuditLog.Action.choices,
        "action": action,
        "q": search,
    }


# Special permissions worth a row of their own in the roles matrix.
SPECIAL_PERMISSIONS = (
    ("customers.view_pii", gettext_lazy("查看完整手机号与邮箱")),
    ("customers.change_scoringsettings", gettext_lazy("调整生命周期与 RFM 规则")),
    ("common.view_auditlog", gettext_lazy("查看审计日志")),
)
AREA_LABELS = {
    "customers": gettext_lazy("客户"),
    "tags": gettext_lazy("标签与人群"),
    "channels": gettext_lazy("渠道"),
    "campaigns": gettext_lazy("营销活动"),
    "reports": gettext_lazy("报表"),
}


def _roles_context() -> dict:
    """Each role with its members, and a matrix of what it may do per area."""
    groups = {
        group.name: group
        for group in Group.objects.filter(name__in=ROLE_LABELS).prefetch_related(
            "user_set", "permissions__content_type"
        )
    }
    ordered = [groups[name] for name in ROLE_LABELS if name in groups]
    perms = {
        group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        for group in ordered
    }
    areas = Permission.objects.filter(content_type__app_label__in=AREA_LABELS)
    present = set(areas.values_list("content_type__app_label", flat=True))
    matrix = [
        (label, [_area_access(perms[group.name], app) for group in ordered])
        for app, label in AREA_LABELS.items()
        if app in present
    ]
    matrix += [
        (label, ["yes" if codename in perms[group.name] else "" for group in ordered])
        for codename, label in SPECIAL_PERMISSIONS
    ]
    return {
        "roles": [
            (group, ROLE_LABELS[group.name], ROLE_SUMMARIES.get(group.name, ""))
            for group in ordered
        ],
        "matrix": matrix,
    }


def _area_access(perms: set[str], app: str) -> str:
    """ "edit" if the role may change anything in the app, "view" if it may only read."""
    codenames = [p.split(".", 1)[1] for p in perms if p.startswith(f"{app}.")]
    if any(not c.startswith("view_") for c in codenames):
        return "edit"
    return "view" if codenames else ""


def _scoring(request, context: dict):
    can_change = request.user.has_perm("customers.change_scoringsettings")
    settings = ScoringSettings.load()
    if request.method == "POST" and "clusters" in request.POST:
        if not can_change:
            raise PermissionDenied
        from customers.tasks import value_clusters_task

        value_clusters_task.delay()
        messages.success(request, _("已开始重新计算价值分群，完成后刷新本页查看"))
        return redirect(f"{request.path}?tab=scoring")
    if request.method == "POST":
        if not can_change:
            raise PermissionDenied
        form = ScoringSettingsForm.for_settings(settings, data=request.POST)
        if form.is_valid():
            scoring_settings_update(values=form.cleaned_data, actor=request.user)
            messages.success(request, _("已保存，正在后台重新计算客户的生命周期与 RFM"))
            return redirect(f"{request.path}?tab=scoring")
    else:
        form = ScoringSettingsForm.for_settings(settings)
    from customers.models import ValueCluster

    context.update(
        form=form,
        can_change=can_change,
        settings_obj=settings,
        clusters=ValueCluster.objects.order_by("number"),
    )
    return None
