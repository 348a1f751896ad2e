"""Console: campaigns (goals, spend, results), the content library and forbidden words; the
public tracking (`/t/<code>`) and opt-out (`/u/<token>`) pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, DecimalField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.content import (
    SMS_MAX_SEGMENTS,
    SMS_SEGMENT,
    content_check,
    content_render,
    content_save,
)
from campaigns.forms import (
    VARIANT_FORMS,
    CampaignForm,
    ContentForm,
    ForbiddenWordForm,
    GoalForm,
    SpendForm,
    SpendImportForm,
)
from campaigns.models import (
    Campaign,
    CampaignGoal,
    ContentItem,
    ForbiddenWord,
    MessagingSettings,
    SpendEntry,
    TrackingLink,
)
from campaigns.results import (
    ATTRIBUTION_WINDOW,
    SpendImportError,
    campaign_results,
    spend_by_channel,
    spend_import,
)
from campaigns.tracking import link_click_record, unsubscribe_apply, unsubscribe_read
from channels.choices import ChannelKind
from common.charts import figure
from common.permissions import require_perms
from customers.choices import ConsentChannel
from customers.models import Customer
from customers.placeholders import PLACEHOLDERS, placeholders_for

PAGE_SIZE = 50


def _edit_perm(request, model_name: str, obj) -> str:
    """Viewing an edit page needs view permission; saving it, add or change."""
    action = "view" if request.method != "POST" else ("change" if obj else "add")
    return f"campaigns.{action}_{model_name}"


# --- campaigns -----------------------------------------------------------------------------


@login_required
@permission_required("campaigns.view_campaign", raise_exception=True)
def campaign_index(request):
    """Every campaign with its dates, budget, spend so far and number of pushes."""
    spend = (
        SpendEntry.objects.filter(campaign=OuterRef("pk"))
        .values("campaign")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    campaigns = Campaign.objects.order_by("-created_at", "-pk").annotate(
        spent=Coalesce(Subquery(spend, output_field=money), 0, output_field=money),
        push_count=Count("pushes", distinct=True),
    )
    status = request.GET.get("status", "")
    if status:
        campaigns = campaigns.filter(status=status)
    context = {
        "page": Paginator(campaigns, PAGE_SIZE).get_page(request.GET.get("page")),
        "status": status,
        "statuses": Campaign._meta.get_field("status").choices,
    }
    return render(request, "campaigns/campaign_list.html", context)


@login_required
def campaign_edit(request, pk: int | None = None):
    """Create or edit a campaign's objective, status, dates, budget and UTM code."""
    campaign = get_object_or_404(Campaign, pk=pk) if pk else None
    require_perms(request, _edit_perm(request, "campaign", campaign))
    initial = {} if campaign else {"owner": request.user.pk}
    form = CampaignForm(request.POST or None, instance=campaign, initial=initial)
    if request.method == "POST" and form.is_valid():
        campaign = form.save()
        messages.success(request, _("已保存营销活动「%(name)s」") % {"name": campaign.name})
        return redirect("campaigns:detail", pk=campaign.pk)
    context = {"form": form, "campaign": campaign}
    status = 400 if form.errors else 200
    return render(request, "campaigns/campaign_form.html", context, status=status)


@login_required
@permission_required("campaigns.view_campaign", raise_exception=True)
def campaign_detail(request, pk: int, **forms):
    """Goals vs actuals, spend vs budget and by channel, the campaign's pushes."""
    campaign = get_object_or_404(Campaign, pk=pk)
    channels = spend_by_channel(campaign=campaign)
    context = {
        "campaign": campaign,
        "results": campaign_results(campaign=campaign),
        "window_days": ATTRIBUTION_WINDOW.days,
        "spend_chart": _spend_chart(channels),
        "spend_entries": campaign.spend.select_related("channel_account")[:100],
        "pushes": campaign.pushes.all()[:50],
        "goal_form": forms.get("goal_form") or GoalForm(prefix="goal"),
        "spend_form": forms.get("spend_form") or SpendForm(prefix="spend"),
        "import_form": forms.get("import_form") or SpendImportForm(prefix="import"),
        "import_errors": forms.get("import_errors", []),
    }
    status = 400 if any(f.errors for f in forms.values() if hasattr(f, "errors")) else 200
    if forms.get("import_errors"):
        status = 400
    return render(request, "campaigns/campaign_detail.html", context, status=status)


def _spend_chart(channels: list[dict]) -> dict | None:
    if not channels:
        return None
    bar = {
        "type": "bar",
        "x": [row["channel"] or _("未指定渠道") for row in channels],
        "y": [float(row["total"]) for row in channels],
        "marker": {"color": "#0d6efd"},
    }
    return figure([bar], yaxis_title=_("花费（元）"), xaxis_type="category", showlegend=False)


@login_required
@require_POST
def goal_add(request, pk: int):
    require_perms(request, "campaigns.add_campaigngoal")
    campaign = get_object_or_404(Campaign, pk=pk)
    form = GoalForm(request.POST, prefix="goal")
    if not form.is_valid():
        return campaign_detail(request, pk, goal_form=form)
    goal = form.save(commit=False)
    goal.campaign = campaign
    goal.save()
    messages.success(request, _("已添加目标：%(goal)s") % {"goal": goal})
    return redirect("campaigns:detail", pk=pk)


@login_required
@require_POST
def goal_delete(request, pk: int, goal_pk: int):
    require_perms(request, "campaigns.delete_campaigngoal")
    get_object_or_404(CampaignGoal, pk=goal_pk, campaign_id=pk).delete()
    messages.success(request, _("已删除目标"))
    return redirect("campaigns:detail", pk=pk)


@login_required
@require_POST
def spend_add(request, pk: int):
    require_perms(request, "campaigns.add_spendentry")
    campaign = get_object_or_404(Campaign, pk=pk)
    form = SpendForm(request.POST, prefix="spend")
    if not form.is_valid():
        return campaign_detail(request, pk, spend_form=form)
    entry = form.save(commit=False)
    entry.campaign = campaign
    entry.save()
    messages.success(request, _("已记录花费 ¥%(amount)s") % {"amount": entry.amount})
    return redirect("campaigns:detail", pk=pk)


@login_required
@require_POST
def spend_upload(request, pk: int):
    """Import spend from a CSV: every row valid, or nothing written and the rows' errors."""
    require_perms(request, "campaigns.add_spendentry")
    campaign = get_object_or_404(Campaign, pk=pk)
    form = SpendImportForm(request.POST, request.FILES, prefix="import")
    if not form.is_valid():
        return campaign_detail(request, pk, import_form=form)
    try:
        created = spend_import(campaign=campaign, text=form.cleaned_data["file"])
    except SpendImportError as exc:
        return campaign_detail(request, pk, import_errors=exc.rows)
    messages.success(request, _("已导入 %(n)s 条花费记录") % {"n": created})
    return redirect("campaigns:detail", pk=pk)


# --- content library -----------------------------------------------------------------------


@login_required
@permission_required("campaigns.view_contentitem", raise_exception=True)
def content_list(request):
    """The content library, searchable by name and text."""
    query = request.GET.get("q", "").strip()
    items = ContentItem.objects.prefetch_related("variants")
    if query:
        items = items.filter(Q(name__icontains=query) | Q(core_text__icontains=query))
    context = {
        "page": Paginator(items, PAGE_SIZE).get_page(request.GET.get("page")),
        "q": query,
    }
    return render(request, "campaigns/content_list.html", context)


def _variant_forms(data=None, content: ContentItem | None = None) -> list:
    saved = {v.channel_kind: v.fields for v in content.variants.all()} if content else {}
    return [form_class(data, initial=saved.get(form_class.kind)) for form_class in VARIANT_FORMS]


def _place_errors(exc: ValidationError, form, variant_forms) -> None:
    by_kind = {f.kind: f for f in variant_forms}
    for key, errors in exc.message_dict.items():
        kind, _dot, name = key.partition(".")
        if name and kind in by_kind and name in by_kind[kind].fields:
            by_kind[kind].add_error(name, errors)
        else:
            form.add_error(key if key in form.fields else None, errors)


@login_required
def content_edit(request, pk: int | None = None):
    """Compose a content item: the core message and a tab per channel kind's variant."""
    content = get_object_or_404(ContentItem, pk=pk) if pk else None
    require_perms(request, _edit_perm(request, "contentitem", content))
    data = request.POST if request.method == "POST" else None
    form = ContentForm(data, instance=content)
    variant_forms = _variant_forms(data, content)
    if data is not None and form.is_valid() and all(f.is_valid() for f in variant_forms):
        variants = {f.kind: f.variant_fields() for f in variant_forms}
        try:
            content = content_save(content=form.save(commit=False), variants=variants,
                                   user=request.user)  # fmt: skip
        except ValidationError as exc:
            _place_errors(exc, form, variant_forms)
        else:
            messages.success(request, _("已保存内容「%(name)s」") % {"name": content.name})
            return redirect("campaigns:content_edit", pk=content.pk)
    invalid = form.errors or any(f.errors for f in variant_forms)
    context = {
        "form": form,
        "content": content,
        "variant_forms": variant_forms,
        "signature": MessagingSettings.load().sms_signature,
        "sms_segment": SMS_SEGMENT,
        "sms_max_segments": SMS_MAX_SEGMENTS,
        "placeholders": PLACEHOLDERS,
        "first_invalid": next((f.kind for f in variant_forms if f.errors), ""),
    }
    return render(request, "campaigns/content_form.html", context, status=400 if invalid else 200)


@login_required
@require_POST
@permission_required("campaigns.view_contentitem", raise_exception=True)
def content_preview(request):
    """The composed (unsaved) content as each channel kind would send it to one customer
    (the id given, else the first customer): an htmx partial."""
    form = ContentForm(request.POST)
    variant_forms = _variant_forms(request.POST)
    form.is_valid()
    content = ContentItem(
        name=form.cleaned_data.get("name", ""), core_text=form.cleaned_data.get("core_text", "")
    )
    variants = {f.kind: f.variant_fields() for f in variant_forms if f.is_valid()}
    customer = _sample_customer(request.POST.get("customer", ""))
    values = placeholders_for([customer.pk]).get(customer.pk, {}) if customer else {}
    signature = MessagingSettings.load().sms_signature
    problems = []
    try:
        content_check(content=content, variants=variants)
    except ValidationError as exc:
        problems = [f"{_field_label(key)}：{m}" for key, ms in exc.message_dict.items() for m in ms]
    previews = []
    for form_class in VARIANT_FORMS:
        message = content_render(content=content, channel_kind=form_class.kind, values=values,
                                 variants=variants, signature=signature)  # fmt: skip
        own = bool(variants.get(form_class.kind))
        previews.append({"kind": form_class.kind, "label": ChannelKind(form_class.kind).label,
                         "message": message, "own": own})  # fmt: skip
    context = {"previews": previews, "customer": customer, "problems": problems}
    return render(request, "campaigns/_content_preview.html", context)


def _field_label(key: str) -> str:
    kind, _dot, name = key.partition(".")
    if name and kind in ChannelKind.values:
        form_class = next(f for f in VARIANT_FORMS if f.kind == kind)
        field = form_class.base_fields.get(name)
        return str(field.label if field else ChannelKind(kind).label)
    field = ContentForm.base_fields.get(key)
    return str(field.label) if field else key


def _sample_customer(text: str) -> Customer | None:
    customers = Customer.objects.order_by("pk")
    if text.strip().isdigit():
        return customers.filter(pk=int(text)).first()
    return customers.first()


@login_required
@permission_required("campaigns.view_forbiddenword", raise_exception=True)
def forbidden_words(request):
    """The words no content may contain: list, add, remove."""
    form = ForbiddenWordForm(request.POST or None)
    if request.method == "POST":
        if "delete" in request.POST:
            require_perms(request, "campaigns.delete_forbiddenword")
            ForbiddenWord.objects.filter(pk=request.POST["delete"]).delete()
            messages.success(request, _("已删除违禁词"))
            return redirect("campaigns:forbidden_words")
        require_perms(request, "campaigns.add_forbiddenword")
        if form.is_valid():
            word = form.save()
            messages.success(request, _("已添加违禁词「%(word)s」") % {"word": word.word})
            return redirect("campaigns:forbidden_words")
    context = {"form": form, "words": ForbiddenWord.objects.all()}
    return render(request, "campaigns/forbidden_words.html", context,
                  status=400 if form.errors else 200)  # fmt: skip


# --- public: tracking links and opt-out ----------------------------------------------------


def track(request, code: str):
    """A click on a tracking link: recorded, then a 302 to the address with UTM parameters."""
    links = TrackingLink.objects.select_related("campaign", "push__campaign")
    link = links.filter(code=code).first()
    if link is None:
        return render(request, "campaigns/public/link_missing.html", status=404)
    _click, url = link_click_record(link=link, token=request.GET.get("d", ""))
    return redirect(url)


def unsubscribe(request, token: str):
    """Opt-out from a message footer: confirm (GET), then revoke consent (POST)."""
    try:
        customer, channel = unsubscribe_read(token)
    except signing.BadSignature:
        return render(request, "campaigns/public/unsubscribe.html", {"invalid": True}, status=400)
    context = {"channel": ConsentChannel(channel).label, "done": False}
    if request.method == "POST":
        unsubscribe_apply(customer=customer, channel=channel)
        context["done"] = True
    return render(request, "campaigns/public/unsubscribe.html", context)
