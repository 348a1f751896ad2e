"""How report numbers read: money, counts, percentages and ratios, and period changes."""

from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


def _grouped(number: float, places: int) -> str:
    text = f"{number:,.{places}f}"
    if places:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@register.filter
def metric(value, unit: str = "count") -> str:
    """A KPI value in its unit: ¥12,345.6 · 12.3% · 3.21 · 1,234 (— when undefined)."""
    if value is None or value == "":
        return "—"
    number = float(value) if isinstance(value, Decimal | int | float) else float(str(value))
    if unit == "percent":
        return f"{number * 100:.1f}%"
    if unit == "money":
        return "¥" + _grouped(number, 2)
    if unit == "ratio":
        return f"{number:.2f}"
    return _grouped(number, 1 if abs(number) < 100 and number != int(number) else 0)


@register.filter
def change_badge(card: dict) -> str:
    """▲ 12.0% in green when the change is good for the business, red when bad."""
    change = card.get("change")
    if change is None:
        return mark_safe('<span class="text-muted small">—</span>')
    arrow = "▲" if change > 0 else ("▼" if change < 0 else "")
    css = "text-muted" if card.get("good") is None else (
        "text-success" if card["good"] else "text-danger"
    )  # fmt: skip
    return format_html(
        '<span class="small {}" data-testid="kpi-change">{} {}%</span>',
        css,
        arrow,
        f"{abs(change) * 100:.1f}",
    )
