"""Numbers as the active language writes them: "3,007,544" and "91.27%" in English, "3 007 544" and "91,27 %"
in Ukrainian. Each takes None for a figure that is not recorded, and gives None back (the page then says so)."""

from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext, pgettext, pgettext_lazy


def decimal(value: float | None, digits: int) -> str | None:
    """Rounded as Python rounds (Django's number_format alone would cut the digits off)."""
    if value is None:
        return None
    return number_format(Decimal(f"{value:.{digits}f}"), decimal_pos=digits, use_l10n=True)


def whole(value: int | None) -> str | None:
    """A count with the language's thousands separator."""
    if value is None:
        return None
    return number_format(value, use_l10n=True, force_grouping=True)


def percent(share: float | None, digits: int = 1) -> str | None:
    """0.8316 -> "83.2%"."""
    if share is None:
        return None
    return pgettext("a percentage", "%(number)s%%") % {"number": decimal(100 * share, digits)}


def millions(value: float | None) -> str | None:
    """3007544 -> "3.0 million"."""
    if value is None:
        return None
    return gettext("%(number)s million") % {"number": decimal(value / 1e6, 1)}


def duration(seconds: float | None) -> str | None:
    """ "42.5 s", "3 min 05 s", "1 h 02 min"."""
    if seconds is None:
        return None
    if seconds < 60:
        return gettext("%(seconds)s s") % {"seconds": decimal(seconds, 1)}
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return gettext("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    return gettext("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": rest}


def part_of(part: int | None, whole_: int | None) -> str | None:
    """How many of how many: "0 of 115"."""
    if part is None or whole_ is None:
        return None
    return gettext("%(part)s of %(whole)s") % {"part": whole(part), "whole": whole(whole_)}


def share_of(part: int | None, whole_: int | None, share: float | None = None) -> str | None:
    """A share and how many of how many: "96.52% (111 of 115)"; `share` where the bundle records it."""
    if part is None or not whole_:
        return None
    return gettext("%(share)s (%(part)s of %(whole)s)") % {
        "share": percent(part / whole_ if share is None else share, 2),
        "part": whole(part),
        "whole": whole(whole_),
    }


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
