from django import template

from classifier import class_names, formats

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
def whole(value):
    """A count with the language's thousands separator: 10000 -> "10,000" ("10 000" in Ukrainian)."""
    try:
        return formats.whole(int(value))
    except (TypeError, ValueError):
        return value


@register.filter
def tta(name):
    """A test-time augmentation setting ("flip") in words."""
    return formats.test_time_augmentation(name)
