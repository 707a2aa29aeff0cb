from django import template

from classifier import class_names, formats, presenters

register = template.Library()


@register.filter
def percent(value, digits=1):
    """0.8316 -> "83.2%" (in the active language: "83,2 %" in Ukrainian)."""
    try:
        return formats.percent(float(value), int(digits))
    except (TypeError, ValueError):
        return ""


@register.filter
def class_name(label):
    """A class as the reader calls it: "cat" -> "кіт" on a Ukrainian page."""
    return class_names.class_name(label)


@register.filter
def shown_name(label):
    """A class, or "none" as "none of the ten classes": what a review settled on."""
    return class_names.shown_name(label)


@register.filter
def review_note(prediction):
    """A History card's word on the review: {"text", "awaiting"}, or None."""
    return presenters.review_note(prediction)
