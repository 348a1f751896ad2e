"""Console pages for customers: the filtered list, CSV export, the 360° profile, imports."""

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import ListView

from common.listing import FilteredListView
from customers.choices import ImportKind, ImportStatus, Lifecycle, RfmSegment
from customers.exports import customers_export_csv
from customers.filters import CustomerFilterSet
from customers.forms import ImportForm
from customers.imports import import_errors_csv, import_job_start, import_template_csv
from customers.membership_views import member_card_context
from customers.models import Customer, ImportJob, MergeLog, ValueCluster
from customers.selectors import (
    customer_detail,
    customer_list,
    customer_merged_into,
    customer_timeline,
)


def _channel_accounts() -> dict:
    """Channel accounts by code, for labels and the channel filter."""
    ChannelAccount = apps.get_model("channels", "ChannelAccount")
    return {a.code: a for a in ChannelAccount.objects.order_by("kind", "code")}


def _tag_choices() -> list:
    Tag = apps.get_model("tags", "Tag")
    return list(Tag.objects.select_related("group").order_by("group__name", "name"))


TIMELINE_PAGE = 30


class CustomerListView(FilteredListView):
    """All customers, filtered by the same FilterSet as the API."""

    permission_required = "customers.view_customer"
    filterset_class = CustomerFilterSet
    template_name = "customers/customer_list.html"
    partial_template_name = "customers/_customer_table.html"
    context_object_name = "customers"

    def get_base_queryset(self):
        return Customer.objects.order_by("-id").prefetch_related("customer_tags__tag")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            channel_accounts=_channel_accounts().values(),
            tags=_tag_choices(),
            lifecycles=Lifecycle.choices,
            rfm_segments=RfmSegment.choices,
            value_clusters=ValueCluster.objects.order_by("number"),
        )
        return context


@login_required
@permission_required("customers.view_customer", raise_exception=True)
def customer_export(request):
    """The current filter result as CSV (masked without `view_pii`); the export is audited."""
    filters = {k: v for k, v in request.GET.items() if v and k not in ("page", "page_size")}
    filterset = CustomerFilterSet(filters, queryset=Customer.objects.all())
    if not filterset.is_valid():
        messages.error(request, _("筛选条件有误，无法导出"))
        return redirect("customers:list")
    lines = customers_export_csv(
        queryset=customer_list(filters=filters), user=request.user, filters=filters
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    return response


@login_required
@permission_required("customers.view_customer", raise_exception=True)
def customer_profile(request, pk: int):
    """The 360° view: profile, identities on every channel, tags, consents, orders, timeline."""
    try:
        customer = customer_detail(pk=pk)
    except Customer.DoesNotExist:
        survivor = customer_merged_into(pk=pk)
        if survivor is None:
            raise Http404(_("没有这个客户"))
        messages.info(
            request, _("客户 %(old)s 已合并到客户 %(new)s") % {"old": pk, "new": survivor}
        )
        return redirect("customers:detail", pk=survivor)
    accounts = _channel_accounts()
    channel = request.GET.get("channel", "")
    offset = request.GET.get("offset", "")
    offset = int(offset) if offset.isdigit() else 0
    events = customer_timeline(
        customer=customer, limit=TIMELINE_PAGE + 1, channel=channel or None, offset=offset
    )
    more = len(events) > TIMELINE_PAGE
    events = events[:TIMELINE_PAGE]
    if request.headers.get("HX-Request") and offset:
        return render(
            request,
            "customers/_timeline_items.html",
            {
                "customer": customer,
                "events": events,
                "channel": channel,
                "next_offset": offset + TIMELINE_PAGE if more else None,
            },
        )
    identities = list(customer.identities.all())
    for identity in identities:
        identity.account = accounts.get(identity.scope)
    seen_codes = {i.scope for i in identities if i.scope} | set(
        customer.events.exclude(channel_account=None)
        .values_list("channel_account__code", flat=True)
        .distinct()
    )
    context = {
        "customer": customer,
        "identities": identities,
        "customer_tags": list(customer.customer_tags.all()),
        "orders": list(customer.orders.all()[:20]),
        "consents": list(customer.consents.all()),
        "events": events,
        "next_offset": TIMELINE_PAGE if more else None,
        "channel": channel,
        "channels_seen": [accounts[c] for c in sorted(seen_codes) if c in accounts],
        "merges": MergeLog.objects.filter(survivor=customer).order_by("-created_at")[:20],
        "member_card": member_card_context(customer)
        if request.user.has_perm("customers.view_pointsentry")
        else None,
    }
    template = "customers/_timeline.html" if request.headers.get("HX-Request") else None
    return render(request, template or "customers/customer_detail.html", context)


class ImportListView(LoginRequiredMixin, PermissionRequiredMixin, ListView):
    """Past imports and the upload form."""

    permission_required = "customers.add_customer"
    template_name = "customers/imports.html"
    context_object_name = "jobs"
    paginate_by = 20

    def get_queryset(self):
        return ImportJob.objects.select_related("created_by").order_by("-created_at")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", ImportForm())
        context["kinds"] = ImportKind.choices
        return context

    def post(self, request, *args, **kwargs):
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = import_job_start(
                    kind=form.cleaned_data["kind"],
                    uploaded_file=form.cleaned_data["file"],
                    strict=form.cleaned_data["strict"],
                    user=request.user,
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("file", message)
            else:
                return redirect("customers:import_detail", pk=job.pk)
        self.object_list = self.get_queryset()
        return self.render_to_response(self.get_context_data(form=form), status=400)


@login_required
@permission_required("customers.add_customer", raise_exception=True)
def import_detail(request, pk: int):
    """Progress of one import; htmx polls the progress partial until the job is finished."""
    job = get_object_or_404(ImportJob, pk=pk)
    context = {
        "job": job,
        "running": job.status in (ImportStatus.PENDING, ImportStatus.RUNNING),
        "sample_errors": sorted(job.errors, key=lambda e: e["row"])[:20],
    }
    if request.headers.get("HX-Request"):
        return render(request, "customers/_import_progress.html", context)
    return render(request, "customers/import_detail.html", context)


@login_required
@permission_required("customers.add_customer", raise_exception=True)
def import_errors(request, pk: int):
    """The row-level error report of an import, as CSV."""
    job = get_object_or_404(ImportJob, pk=pk)
    response = HttpResponse("\ufeff" + import_errors_csv(job), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


@login_required
def import_template(request, kind: str):
    if kind not in ImportKind.values:
        raise Http404(_("未知的导入类型"))
    response = HttpResponse("\ufeff" + import_template_csv(kind), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{kind}-template.csv"'
    return response
