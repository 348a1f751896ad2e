"""Console: the tag library (read-only until the tag console issue)."""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tags.models import Audience, AudienceKind, Tag, TagGroup
from tags.selectors import audience_members
from tags.services import audience_save, customer_tags_change


@login_required
@permission_required("tags.view_tag", raise_exception=True)
def tag_index(request):
    """Tag groups with their tags and how many customers carry each."""
    tags = Tag.objects.annotate(customer_count=Count("customer_tags")).order_by("name")
    groups = TagGroup.objects.prefetch_related(Prefetch("tags", queryset=tags)).order_by("name")
    return render(request, "tags/index.html", {"groups": groups})


class AudienceForm(forms.Form):
    """An audience with its definition as JSON (the visual builder comes on top of this)."""

    name = forms.CharField(label=gettext_lazy("名称"), max_length=100)
    description = forms.CharField(label=gettext_lazy("说明"), max_length=300, required=False)
    kind = forms.ChoiceField(label=gettext_lazy("类型"), choices=AudienceKind.choices)
    definition = forms.JSONField(label=gettext_lazy("规则（JSON）"), initial={"all": []})


@login_required
@permission_required("tags.view_audience", raise_exception=True)
def audience_list(request):
    """Saved audiences, and a form to add one with a live count."""
    form = AudienceForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("tags.add_audience"):
            raise PermissionDenied
        if form.is_valid():
            try:
                audience = audience_save(**form.cleaned_data, actor=request.user)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("已保存人群包 %(n)s") % {"n": audience.name})
                return redirect("tags:audience", pk=audience.pk)
    audiences = Audience.objects.select_related("created_by").order_by("name")
    status = 400 if form.errors else 200
    return render(
        request, "tags/audiences.html", {"audiences": audiences, "form": form}, status=status
    )


@login_required
@permission_required("tags.view_audience", raise_exception=True)
def audience_preview(request):
    """htmx: the count for the definition being typed, or what is wrong with it."""
    from tags.dsl import DslError, audience_queryset

    try:
        definition = json.loads(request.POST.get("definition") or "null")
        count, errors = audience_queryset(definition).count(), {}
    except json.JSONDecodeError as exc:
        count, errors = None, {"$": _("不是合法的 JSON：%(e)s") % {"e": exc}}
    except DslError as exc:
        count, errors = None, exc.errors
    return render(request, "tags/_preview.html", {"count": count, "errors": errors})


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
    customer_tags = customer.customer_tags.select_related("tag__group", "added_by").order_by(
        "tag__group__name", "tag__name"
    )
    context = {"customer": customer, "customer_tags": customer_tags, "tag_error": error}
    # htmx swaps only 2xx answers; the partial itself shows the error
    return render(request, "customers/_profile_tags.html", context)
