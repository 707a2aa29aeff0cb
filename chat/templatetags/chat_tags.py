from django import template
from django.utils.safestring import mark_safe

from chat.markdown import render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> str:
    """Safe: the renderer escapes any HTML in the text (see chat.markdown)."""
    return mark_safe(render_markdown(text or ""))  # noqa: S308
