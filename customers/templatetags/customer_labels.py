"""Labels for customer data in templates."""

from decimal import Decimal, InvalidOperation

from django import template

from customers.choices import EVENT_LABELS

register = template.Library()


@register.filter
def event_label(name: str) -> str:
    """The catalogue's label for a standard event name, or the name itself."""
    return EVENT_LABELS.get(name, name)


@register.filter
def points(value) -> str:
    """Points and amounts the same way everywhere: thousands grouped, no trailing zeros
    (1,234.5 · 41,500), whatever the language's own grouping rules."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{number:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
