from django import template

register = template.Library()


@register.filter
def percent(value, digits=1):
    """0.8316 -> "83.2%"."""
    try:
        return f"{100 * float(value):.{int(digits)}f}%"
    except (TypeError, ValueError):
        return ""
