"""Figures as the Model data page writes them: in the active language's number format, and None for what a bundle
does not record (the page then says so)."""

from django.utils.translation import gettext

from classifier import formats


def percent(value, digits: int = 1) -> str | None:
    return None if value is None else formats.percent(value, digits)


def count(value) -> str | None:
    return None if value is None else formats.whole(value)


def number(value, digits: int) -> str | None:
    return None if value is None else formats.decimal(value, digits)


def millions(value) -> str | None:
    return None if value is None else gettext("%(number)s million") % {"number": formats.decimal(value / 1e6, 1)}


def duration(seconds) -> str | None:
    if seconds is None:
        return None
    if seconds < 60:
        return gettext("%(seconds)s s") % {"seconds": formats.decimal(seconds, 1)}
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return gettext("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    return gettext("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": rest}


def part_of(part, whole) -> str | None:
    """How many of how many: "0 of 115"."""
    if part is None or whole is None:
        return None
    return gettext("%(part)s of %(whole)s") % {"part": count(part), "whole": count(whole)}


def share_of(part, whole, share=None) -> str | None:
    """A share and how many of how many: "96.52% (111 of 115)"; `share` where the bundle records it."""
    if part is None or not whole:
        return None
    return gettext("%(share)s (%(part)s of %(whole)s)") % {
        "share": percent(part / whole if share is None else share, 2),
        "part": count(part),
        "whole": count(whole),
    }
