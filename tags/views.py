"""Console: the tag library, platform mappings, audiences with the visual builder, auto-tag
rules, and bulk tagging from the customer list."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, ProtectedError, Subquery
from django.db.models.functions import Coalesce
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from common.forms import errors_to_form
from common.permissions import require_perms
from tags.catalogue import catalogue_build
from tags.forms import (
    AudienceForm,
    BulkTagForm,
    TagForm,
    TagGroupForm,
    TagMappingForm,
    TagRuleForm,
)
from tags.models import (
    Audience,
    CustomerTag,
    Tag,
    TagBulkJob,
    TagGroup,
    TagMapping,
    TagRule,
    TagRuleRun,
    TagSource,
)
from tags.selectors import audience_members
from tags.services import audience_save, customer_tags_change

PREVIEW_SAMPLE = 5


# --- tag library ---------------------------------------------------------------------------


@login_required
@permission_required("tags.view_tag", raise_exception=True)
def tag_index(request):
    """Tag groups with their tags, how many customers carry each, and who created them."""
    search = request.GET.get("q", "").strip()
    assigned = (
        CustomerTag.objects.filter(tag=OuterRef("pk"))
        .order_by()
        .values("tag")
        .annotate(n=Count("*"))
        .values("n")
    )
    tags = Tag.objects.annotate(
        customer_count=Coalesce(Subquery(assigned), 0),
        mapped=Exists(TagMapping.objects.filter(tag=OuterRef("pk"))),
    ).select_related("created_by")
    if search:
        tags = tags.filter(name__icontains=search)
    groups = TagGroup.objects.prefetch_related(
        Prefetch("tags", queryset=tags.order_by("name"))
    ).order_by("name")
    if search:
        groups = groups.filter(tags__name__icontains=search).distinct()
    return render(request, "tags/index.html", {"groups": groups, "search": search})


@login_required
def tag_group_edit(request, pk: int | None = None):
    """Create or rename a tag group; an empty group can be deleted."""
    group = get_object_or_404(TagGroup, pk=pk) if pk else None
    require_perms(request, "tags.change_taggroup" if group else "tags.add_taggroup")
    form = TagGroupForm(request.POST or None, instance=group)
    if request.method == "POST":
        if "delete" in request.POST and group:
            require_perms(request, "tags.delete_taggroup")
            try:
                group.delete()
            except ProtectedError:
                messages.error(request, _("标签组 %(g)s 里还有标签，不能删除") % {"g": group.name})
                return redirect("tags:group_edit", pk=group.pk)
            messages.success(request, _("已删除标签组 %(g)s") % {"g": group.name})
            return redirect("tags:index")
        if form.is_valid():
            group = form.save()
            messages.success(request, _("已保存标签组 %(g)s") % {"g": group.name})
            return redirect("tags:index")
    status = 400 if form.errors else 200
    return render(request, "tags/group_form.html", {"form": form, "group": group}, status=status)


@login_required
def tag_new(request):
    require_perms(request, "tags.add_tag")
    initial = {"group": request.GET.get("group")} if request.GET.get("group") else None
    form = TagForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        tag = form.save(commit=False)
        tag.created_by = request.user
        tag.save()
        messages.success(request, _("已创建标签 %(n)s") % {"n": tag.name})
        return redirect("tags:tag", pk=tag.pk)
    status = 400 if form.errors else 200
    return render(request, "tags/tag_form.html", {"form": form}, status=status)


@login_required
@permission_required("tags.view_tag", raise_exception=True)
def tag_detail(request, pk: int):
    """One tag: edit it, map it to platform tags, see who carries it and from where."""
    tag = get_object_or_404(Tag.objects.select_related("group", "created_by"), pk=pk)
    form = TagForm(instance=tag)
    mapping_form = TagMappingForm(tag=tag)
    status = 200
    if request.method == "POST":
        if "delete" in request.POST:
            require_perms(request, "tags.delete_tag")
            count = tag.customer_tags.count()
            tag.delete()
            messages.success(
                request, _("已删除标签 %(n)s（%(c)s 位客户）") % {"n": tag.name, "c": count}
            )
            return redirect("tags:index")
        if "mapping" in request.POST:
            require_perms(request, "tags.add_tagmapping")
            mapping_form = TagMappingForm(request.POST, tag=tag)
            if mapping_form.is_valid():
                mapping_form.save()
                messages.success(request, _("已添加平台标签映射"))
                return redirect("tags:tag", pk=tag.pk)
        else:
            require_perms(request, "tags.change_tag")
            form = TagForm(request.POST, instance=tag)
            if form.is_valid():
                form.save()
                messages.success(request, _("已保存标签 %(n)s") % {"n": tag.name})
                return redirect("tags:tag", pk=tag.pk)
        status = 400
    assignments = tag.customer_tags.select_related("customer", "added_by").order_by("-created_at")
    context = {
        "tag": tag,
        "form": form,
        "mapping_form": mapping_form,
        "mappings": tag.mappings.select_related("account"),
        "assignments": assignments[:20],
        "assigned": assignments.count(),
        "by_source": [
            (dict(TagSource.choices).get(row["source"], row["source"]), row["n"])
            for row in assignments.order_by().values("source").annotate(n=Count("id"))
        ],
        "rules": tag.rules.all(),
        "jobs": tag.bulk_jobs.select_related("actor")[:10],
    }
    return render(request, "tags/tag_detail.html", context, status=status)


@login_required
@require_POST
def tag_mapping_delete(request, pk: int):
    require_perms(request, "tags.delete_tagmapping")
    mapping = get_object_or_404(TagMapping, pk=pk)
    mapping.delete()
    messages.success(request, _("已删除平台标签映射"))
    return redirect("tags:tag", pk=mapping.tag_id)


# --- the builder's catalogue and live preview ----------------------------------------------


@login_required
@permission_required("tags.view_audience", raise_exception=True)
def catalogue(request):
    """What the builder's pickers offer: fields, tags, events and their properties, …"""
    return JsonResponse(catalogue_build())


@login_required
@permission_required("tags.view_audience", raise_exception=True)
def audience_preview(request):
    """htmx: the count and a sample for the definition being edited, or what is wrong."""
    from tags.dsl import DslError, audience_count, audience_queryset

    count, sample, errors = None, [], {}
    try:
        definition = json.loads(request.POST.get("definition") or "null")
        count = audience_count(definition)
        sample = list(audience_queryset(definition)[:PREVIEW_SAMPLE])
    except json.JSONDecodeError as exc:
        errors = {"$": _("不是合法的 JSON：%(e)s") % {"e": exc}}
    except DslError as exc:
        errors = exc.errors
    return render(
        request, "tags/_preview.html", {"count": count, "sample": sample, "errors": errors}
    )


# --- audiences -----------------------------------------------------------------------------


@login_required
@permission_required("tags.view_audience", raise_exception=True)
def audience_list(request):
    audiences = Audience.objects.select_related("created_by").order_by("name")
    search = request.GET.get("q", "").strip()
    if search:
        audiences = audiences.filter(name__icontains=search)
    page = Paginator(audiences, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "tags/audiences.html",
        {"audiences": page.object_list, "page_obj": page, "search": search},
    )


@login_required
def audience_edit(request, pk: int | None = None):
    """Create or change an audience in the visual builder (or its JSON tab)."""
    audience = get_object_or_404(Audience, pk=pk) if pk else None
    require_perms(request, "tags.change_audience" if audience else "tags.add_audience")
    initial = None
    if audience:
        initial = {
            "name": audience.name,
            "description": audience.description,
            "kind": audience.kind,
            "definition": audience.definition,
        }
    form = AudienceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            audience = audience_save(**form.cleaned_data, audience=audience, actor=request.user)
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            messages.success(request, _("已保存人群包 %(n)s") % {"n": audience.name})
            return redirect("tags:audience", pk=audience.pk)
    status = 400 if form.errors else 200
    context = {"form": form, "audience": audience}
    return render(request, "tags/audience_form.html", context, status=status)


@login_required
@permission_required("tags.view_audience", raise_exception=True)
def audience_detail(request, pk: int):
    """One audience: its definition, size history and members."""
    audience = get_object_or_404(Audience, pk=pk)
    page = Paginator(audience_members(audience=audience), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "tags/audience_detail.html",
        {
            "audience": audience,
            "page_obj": page,
            "customers": page.object_list,
            "sizes": audience.sizes.order_by("-measured_at")[:30],
            "definition": json.dumps(audience.definition, ensure_ascii=False, indent=2),
        },
    )


# --- auto-tag rules ------------------------------------------------------------------------


@login_required
@permission_required("tags.view_tagrule", raise_exception=True)
def rule_list(request):
    latest = TagRuleRun.objects.filter(rule=OuterRef("pk")).order_by("-started_at", "-id")
    rules = list(
        TagRule.objects.select_related("tag__group", "created_by")
        .annotate(last_run_id=Subquery(latest.values("id")[:1]))
        .order_by("name")
    )
    runs = TagRuleRun.objects.in_bulk([r.last_run_id for r in rules if r.last_run_id])
    for rule in rules:
        rule.last_run = runs.get(rule.last_run_id)
    return render(request, "tags/rules.html", {"rules": rules})


@login_required
def rule_edit(request, pk: int | None = None):
    """Create or change a rule: definition (builder) + tag + mode + schedule."""
    from tags.rules import tag_rule_save

    rule = get_object_or_404(TagRule, pk=pk) if pk else None
    require_perms(request, "tags.change_tagrule" if rule else "tags.add_tagrule")
    initial = None
    if rule:
        initial = {
            "name": rule.name,
            "tag": rule.tag_id,
            "mode": rule.mode,
            "schedule": rule.schedule,
            "enabled": rule.enabled,
            "definition": rule.definition,
        }
    form = TagRuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            rule = tag_rule_save(**form.cleaned_data, rule=rule, actor=request.user)
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            messages.success(request, _("已保存规则 %(n)s") % {"n": rule.name})
            return redirect("tags:rule", pk=rule.pk)
    status = 400 if form.errors else 200
    return render(request, "tags/rule_form.html", {"form": form, "rule": rule}, status=status)


@login_required
@permission_required("tags.view_tagrule", raise_exception=True)
def rule_detail(request, pk: int):
    rule = get_object_or_404(TagRule.objects.select_related("tag__group", "created_by"), pk=pk)
    if request.method == "POST":
        require_perms(request, "tags.change_tagrule")
        if "delete" in request.POST:
            rule.delete()
            messages.success(request, _("已删除规则 %(n)s") % {"n": rule.name})
            return redirect("tags:rules")
        from tags.tasks import tag_rule_run_task

        tag_rule_run_task.delay(rule.pk)
        messages.success(request, _("规则已排队执行，稍后刷新查看结果"))
        return redirect("tags:rule", pk=rule.pk)
    context = {
        "rule": rule,
        "runs": rule.runs.all()[:50],
        "definition": json.dumps(rule.definition, ensure_ascii=False, indent=2),
    }
    return render(request, "tags/rule_detail.html", context)


# --- bulk tagging from the customer list ---------------------------------------------------


FILTER_KEYS = ("search", "tag", "channel", "lifecycle", "rfm_segment", "city", "value_cluster",
               "created_after", "created_before")  # fmt: skip


@login_required
@require_POST
def bulk_start(request):
    """From the customer list: tag or untag the selected rows or the whole filter result."""
    from tags.bulk import tag_bulk_start

    data = request.POST.copy()
    data["ids"] = ",".join(request.POST.getlist("id"))
    form = BulkTagForm(data)
    if form.is_valid():
        action = form.cleaned_data["bulk_action"]
        require_perms(
            request, "tags.add_customertag" if action == "add" else "tags.delete_customertag"
        )
        filters = {key: request.POST.get(key, "") for key in FILTER_KEYS}
        try:
            job = tag_bulk_start(
                tag=form.cleaned_data["bulk_tag"],
                action=action,
                ids=form.cleaned_data.get("id_list"),
                filters=filters if form.cleaned_data["scope"] == "filter" else None,
                actor=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            return redirect("tags:bulk_job", pk=job.pk)
    else:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/customers/") else "customers:list")


@login_required
@permission_required("tags.view_tagbulkjob", raise_exception=True)
def bulk_job(request, pk: int):
    """A bulk job's progress; htmx polls the bar until it is done."""
    job = get_object_or_404(TagBulkJob.objects.select_related("tag", "actor"), pk=pk)
    template = "tags/_bulk_progress.html" if request.headers.get("HX-Request") else None
    return render(request, template or "tags/bulk_job.html", {"job": job})


@login_required
@permission_required("tags.view_tagbulkjob", raise_exception=True)
def bulk_jobs(request):
    page = Paginator(TagBulkJob.objects.select_related("tag", "actor"), 30).get_page(
        request.GET.get("page")
    )
    return render(request, "tags/bulk_jobs.html", {"jobs": page.object_list, "page_obj": page})


# --- one customer's tags -------------------------------------------------------------------


@login_required
def customer_tags_edit(request, pk: int):
    """Tag or untag one customer from the profile (manual source, the user as actor)."""
    from customers.models import Customer

    customer = get_object_or_404(Customer, pk=pk)
    if request.method != "POST":
        return redirect("customers:detail", pk=pk)
    add = [v.strip() for v in request.POST.getlist("add") if v.strip()]
    remove = [v for v in request.POST.getlist("remove") if v]
    needed = (["tags.add_customertag"] if add else []) + (
        ["tags.delete_customertag"] if remove else []
    )
    if not request.user.has_perms(needed):
        raise PermissionDenied
    error = ""
    try:
        customer_tags_change(customer=customer, add=add, remove=remove, actor=request.user)
    except ValidationError as exc:
        error = "; ".join(exc.messages)
    if not request.headers.get("HX-Request"):
        if error:
            messages.error(request, error)
        return redirect("customers:detail", pk=pk)
    customer_tags = CustomerTag.objects.filter(customer=customer).select_related(
        "tag__group", "added_by"
    )
    context = {
        "customer": customer,
        "customer_tags": customer_tags.order_by("tag__group__name", "tag__name"),
        "tag_error": error,
    }
    # htmx swaps only 2xx answers; the partial itself shows the error
    return render(request, "customers/_profile_tags.html", context)
