"""The Model data page's part for a bundle of experts: each expert, its weight in each case of the rule, and how
another data set's classes are read as the ten. Everything is read from the bundle's files (`bundle_files.read_bundle`).
"""

from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext, ngettext

from classifier import formats
from classifier_site.info.bundle_files import BundleFiles, case_for
from classifier_site.info.bundle_words import data_set_text
from classifier_site.info.rule import alone_shares, case_label, weight_text
from mlcore import imagenet
from mlcore.preprocessing import CIFAR_SIZE

LONG_LIST = 12  # lists of another data set's classes longer than this open on demand


def experts_view(files: BundleFiles) -> list[dict] | None:
    """Each expert: its network, what it was trained on and sees, its size, how it does alone (on the validation
    split, the test split and the real photos, where the bundle measured it) and its weight in each case."""
    if not files.experts:
        return None
    thumbnails = case_for(files.rule, CIFAR_SIZE)
    validation = alone_shares(thumbnails.figures) if thumbnails else {}
    tested = {row.get("name"): row for row in files.evaluation.get("experts") or []}
    photographed = {row.get("name"): row for row in (files.photos or {}).get("experts") or []}
    experts = []
    for expert in files.experts:
        entry, metadata = expert.entry, expert.metadata
        training = metadata.get("training") or {}
        on_photos = photographed.get(expert.name)
        experts.append(
            {
                "name": expert.name,
                "anchor": f"network-{slugify(expert.name)}",
                "network": entry.get("network") or metadata.get("architecture_name") or expert.name,
                # trained here: on what and how many images; taken as it is: what its weights were trained on
                "trained_on": (None if training else data_set_text(metadata.get("weights_trained_on")))
                or entry.get("trained_on"),
                "train_images": formats.whole(training.get("train_images")),
                "square": square_text(entry.get("square"), entry.get("through")),
                "tta": formats.test_time_augmentation(entry.get("tta")),
                "parameters": formats.whole(metadata.get("parameters", entry.get("parameters"))),
                "flops": formats.millions(metadata.get("flops_per_image", entry.get("flops_per_image"))),
                "validation": formats.percent(validation.get(expert.name), 2),
                "test": formats.percent((tested.get(expert.name) or {}).get("accuracy"), 2),
                "photos": formats.share_of(on_photos.get("correct"), on_photos.get("photos")) if on_photos else None,
            }
        )
    return experts


def expert_weights(files: BundleFiles) -> list[dict]:
    """Per case of the rule, each expert's weight in it (None where it takes no part), in the experts' order."""
    rule = files.rule
    return [
        {
            "case": case_label(case.name),
            "weights": [weight_text(case.weights.get(expert.name)) for expert in files.experts],
        }
        for case in (rule.cases if rule else ())
    ]


def square_text(size, through) -> str | None:
    """The square an expert sees: "128×128 pixels, through 32×32"."""
    if not size:
        return None
    if through:
        return gettext("%(size)s×%(size)s pixels, through %(through)s×%(through)s") % {"size": size, "through": through}
    return gettext("%(size)s×%(size)s pixels") % {"size": size}


def class_maps(files: BundleFiles) -> list[dict]:
    """For each expert with classes other than ours (metadata "class_map": our class -> its output indices,
    "classes": its class names), which of its classes count for each of ours; the rest are "other"."""
    maps = []
    for expert in files.experts:
        mapping, names = expert.metadata.get("class_map"), expert.metadata.get("classes")
        if not mapping or not names:
            continue
        rows = []
        for ours in files.metadata.get("classes") or list(mapping):
            theirs = [names[index].replace("_", " ") for index in mapping.get(ours) or [] if 0 <= index < len(names)]
            rows.append({"class": ours, "count": len(theirs), "names": _names_cell(theirs)})
        mapped = sum(row["count"] for row in rows)
        maps.append(
            {
                "expert": expert.name,
                "anchor": f"classes-{slugify(expert.name)}",
                "trained_on": expert.entry.get("trained_on") or expert.name,
                "rows": rows,
                "classes": formats.whole(len(names)),
                "other": formats.whole(len(names) - mapped),
                "is_imagenet": expert.name == imagenet.NAME,
            }
        )
    return maps


def _names_cell(names: list[str]):
    """Another data set's classes counted as one of ours; a long list opens on demand."""
    if len(names) <= LONG_LIST:
        return ", ".join(names) or "—"
    summary = ngettext("%(counter)s class", "%(counter)s classes", len(names)) % {"counter": len(names)}
    return format_html("<details><summary>{}</summary>{}</details>", summary, ", ".join(names))
