"""Labels for customer data in templates."""

from django import template

from customers.choices import EVENT_LABELS

register = template.Library()


@register.filter
def event_label(name: str) -> str:
    """The catalogue's label for a standard event name, or the name itself."""
    return EVENT_LABELS.get(name, name)
