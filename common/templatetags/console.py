"""Template helpers for the console shell: page links, role and object labels."""

import json

from django import template
from django.apps import apps

from common.roles import ROLE_LABELS

register = template.Library()


@register.simple_tag(takes_context=True)
def page_query(context, number) -> str:
    """The current query string with `page` replaced, so filters survive paging."""
    params = context["request"].GET.copy()
    params["page"] = number
    return params.urlencode()


@register.filter
def role_label(group_name: str) -> str:
    return ROLE_LABELS.get(group_name, group_name)


@register.filter
def object_label(object_type: str) -> str:
    """`customers.customer` → the model's verbose name, in the current language."""
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return object_type
    return str(model._meta.verbose_name)


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


@register.simple_tag(takes_context=True)
def export_query(context, chart_id) -> str:
    """The current query string asking for one chart's CSV (reports.charts.export_response)."""
    params = context["request"].GET.copy()
    params["export"] = chart_id
    return params.urlencode()
