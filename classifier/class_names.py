"""The ten classes as a reader sees them on the pages, in the active language.

The database, the API and CSV exports keep the English names of `mlcore.labels.CLASSES`; only what a person
reads goes through `class_name`.
"""

from django.utils.translation import pgettext_lazy

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
