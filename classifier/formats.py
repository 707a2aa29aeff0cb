"""Numbers as the active language writes them: "3,007,544" and "91.27%" in English, "3 007 544" and "91,27 %"
in Ukrainian."""

from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import pgettext, pgettext_lazy


def decimal(value: float, digits: int) -> str:
    """Rounded as Python rounds (Django's number_format alone would cut the digits off)."""
    return number_format(Decimal(f"{value:.{digits}f}"), decimal_pos=digits, use_l10n=True)


def whole(value: int) -> str:
    """A count with the language's thousands separator."""
    return number_format(value, use_l10n=True, force_grouping=True)


def percent(share: float, digits: int = 1) -> str:
    """0.8316 -> "83.2%"."""
    return pgettext("a percentage", "%(number)s%%") % {"number": decimal(100 * share, digits)}


TEST_TIME_AUGMENTATIONS = {
    "none": pgettext_lazy("test-time augmentation", "none"),
    "flip": pgettext_lazy("test-time augmentation", "mirror image"),
    "flip_translate": pgettext_lazy("test-time augmentation", "mirror image and shifts"),
}


def test_time_augmentation(name: str | None) -> str:
    """A bundle's TTA setting ("flip") as words for the page."""
    return str(TEST_TIME_AUGMENTATIONS.get(name or "none", name))


def decimal_or_whole(value: float) -> str:
    """As many decimals as the value has: 14 -> "14", 0.5 -> "0.5" ("0,5" in Ukrainian)."""
    return number_format(Decimal(f"{value:g}"), use_l10n=True)
