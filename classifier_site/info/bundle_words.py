"""The words the pages use for what a bundle's metadata records, in the reader's language.

A bundle's metadata keeps names and figures (a network family's name, the names of its "none of the ten" scores,
the kinds of generated image, a split, a data set's size), never sentences to show: mlcore knows no languages.
Each table here maps such a value to its words. A value this site has no words for (a bundle from newer code, or
a free text an older one wrote) is left out or counted; only an unknown score keeps its name, beside its threshold.
"""

from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext_lazy

from classifier import formats
from mlcore.architectures import bundle_architecture, get_architecture

# A network family trained here, by the `architecture_name` of its metadata.
FAMILIES = {
    "efficientnet-lite0": gettext_lazy(
        "EfficientNet-Lite0 (MBConv blocks without squeeze-excite, ReLU6), pretrained on ImageNet and fine-tuned on "
        "CIFAR-10"
    ),
    "airbench": gettext_lazy("airbench94 (whitening conv, three conv groups, max-pool head), trained from scratch"),
}

# The scores of a network's own "none of the ten" test, by the names its thresholds have: (short name, what it is).
SCORES = {
    "energy": (
        pgettext_lazy("score of the none-of-the-ten test", "energy"),
        gettext_lazy("the energy of the calibrated logits (how well the best classes fit)"),
    ),
    "features": (
        pgettext_lazy("score of the none-of-the-ten test", "features"),
        gettext_lazy("how close the pooled features are to the nearest class’s training images (Mahalanobis distance)"),
    ),
}

# The kinds of generated image that show none of the ten classes, as mlcore.calibration.OOD_KINDS names them.
GENERATED_KINDS = {
    "uniform noise": pgettext_lazy("generated image", "uniform noise"),
    "smooth noise": pgettext_lazy("generated image", "smooth noise"),
    "flat colour": pgettext_lazy("generated image", "flat colour"),
    "gradient": pgettext_lazy("generated image", "gradient"),
    "stripes and checks": pgettext_lazy("generated image", "stripes and checks"),
    "text": pgettext_lazy("generated image", "text"),
    "scrambled photo": pgettext_lazy("generated image", "scrambled photo"),
}

# The split a figure was measured on.
SPLITS = {
    "validation": gettext_lazy("the validation split"),
}


def bundle_description(metadata: dict) -> str | None:
    """What a bundle is: its experts' networks and what each was trained on ("EfficientNet-Lite0 (CIFAR-10) +
    EfficientNet-Lite0 (ImageNet)"), or what its one network is."""
    experts = metadata.get("experts")
    if not experts:
        return network_description(metadata)
    return " + ".join(map(_expert_text, experts))


def _expert_text(entry: dict) -> str:
    network, trained_on = entry.get("network") or entry.get("name", ""), entry.get("trained_on")
    return f"{network} ({trained_on})" if trained_on else network


def network_description(metadata: dict) -> str | None:
    """What one network is: its family, for a network trained here; for one taken as it is with another data set's
    classes (an ImageNet network), what it answers with. None for a family this site has no words for."""
    family = bundle_architecture(metadata)
    if metadata.get("class_map") and metadata.get("classes"):
        count = len(metadata["classes"])
        return ngettext(
            "%(network)s with its own classifier, untouched: its %(count)s class, read as the ten through a table",
            "%(network)s with its own classifier, untouched: its %(count)s classes, read as the ten through a table",
            count,
        ) % {"network": family_title(family), "count": formats.whole(count)}
    described = FAMILIES.get(family)
    return None if described is None else str(described)


def family_title(family: str) -> str:
    """A family's name as people write it ("EfficientNet-Lite0"); an unknown one by its own name."""
    try:
        return get_architecture(family).TITLE
    except ValueError:
        return family


def data_set_text(data_set) -> str | None:
    """What a network taken as it is was trained on (metadata "weights_trained_on"): "ImageNet (ILSVRC 2012,
    1,281,167 photos, 1,000 classes)"; None where the bundle records no data set."""
    if not isinstance(data_set, dict) or not data_set.get("dataset"):
        return None
    images, classes = data_set.get("images"), data_set.get("classes")
    details = [
        data_set.get("release"),
        ngettext("%(count)s photo", "%(count)s photos", images) % {"count": formats.whole(images)} if images else None,
        ngettext("%(counter)s class", "%(counter)s classes", classes) % {"counter": formats.whole(classes)}
        if classes
        else None,
    ]
    shown = ", ".join(str(detail) for detail in details if detail)
    return f"{data_set['dataset']} ({shown})" if shown else str(data_set["dataset"])


def score_name(name: str) -> str:
    """A score's short name ("energy"); an unknown score by its own name, as its threshold is keyed."""
    return str(SCORES[name][0]) if name in SCORES else name


def score_descriptions(names) -> list[str]:
    """What each score is, for the scores this site has words for."""
    return [str(SCORES[name][1]) for name in names if name in SCORES]


def generated_kinds_text(kinds: list) -> str | None:
    """The kinds of generated image in words; those this site has no words for are counted."""
    known = [str(GENERATED_KINDS[kind]) for kind in kinds if isinstance(kind, str) and kind in GENERATED_KINDS]
    unknown = len(kinds) - len(known)
    if unknown:
        known.append(
            ngettext("%(count)s other kind", "%(count)s other kinds", unknown) % {"count": formats.whole(unknown)}
        )
    return ", ".join(known) or None


def split_name(split) -> str | None:
    """A split in words ("the validation split"); None for one this site has no words for."""
    return str(SPLITS[split]) if isinstance(split, str) and split in SPLITS else None


def feature_model_text(images) -> str | None:
    """What the "features" score compares an image with, fitted on how many training images."""
    if not images:
        return None
    return ngettext(
        "the class means and covariance of the pooled features of %(count)s training image",
        "the class means and covariance of the pooled features of %(count)s training images",
        images,
    ) % {"count": formats.whole(images)}


def fitted_on_text(split, images) -> str:
    """Where a temperature was fitted: "fitted on 2,000 images (the validation split)"."""
    split_words = split_name(split)
    if split_words is None:
        return gettext("fitted on %(images)s images") % {"images": formats.whole(images)}
    return gettext("fitted on %(images)s images (%(split)s)") % {"images": formats.whole(images), "split": split_words}
