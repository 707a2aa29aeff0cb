"""The ten classes, and "none of the ten", as a reader sees them on the pages, in the active language.

The database, the API and CSV exports keep the English names of `mlcore.labels.CLASSES` (and NONE_OF_THE_TEN);
only what a person reads goes through `class_name` or `shown_name`.
"""

from django.utils.translation import gettext, pgettext_lazy

from mlcore.labels import CLASSES

# What the database, History's filter, the API and a review call the answer "none of the ten classes".
NONE_OF_THE_TEN = "none"
SHOWN_LABELS = (*CLASSES, NONE_OF_THE_TEN)

CLASS_NAMES = {
    "airplane": pgettext_lazy("CIFAR-10 class", "airplane"),
    "automobile": pgettext_lazy("CIFAR-10 class", "automobile"),
    "bird": pgettext_lazy("CIFAR-10 class", "bird"),
    "cat": pgettext_lazy("CIFAR-10 class", "cat"),
    "deer": pgettext_lazy("CIFAR-10 class", "deer"),
    "dog": pgettext_lazy("CIFAR-10 class", "dog"),
    "frog": pgettext_lazy("CIFAR-10 class", "frog"),
    "horse": pgettext_lazy("CIFAR-10 class", "horse"),
    "ship": pgettext_lazy("CIFAR-10 class", "ship"),
    "truck": pgettext_lazy("CIFAR-10 class", "truck"),
}


def class_name(label: str) -> str:
    """The class in the active language; anything unknown (an old label, "none") unchanged."""
    return str(CLASS_NAMES.get(label, label))


def shown_name(label: str) -> str:
    """A class as `class_name` gives it, or "none of the ten classes" for NONE_OF_THE_TEN: what the site showed or
    what a review settled on."""
    return gettext("none of the ten classes") if label == NONE_OF_THE_TEN else class_name(label)
