"""Two versions side by side: their headline figures and per-class F1 in one table, with second minus first."""

from django.utils.translation import gettext

from classifier import formats
from classifier.class_names import class_name
from classifier_site.info.bundle_files import BundleFiles, accuracy_on_test, case_for, read_bundle, total_parameters
from classifier_site.info.versions import BundleChoice
from mlcore.preprocessing import CIFAR_SIZE

# The shorter side of a photo from a phone, for the FLOPs a photo costs in a comparison (any side above the
# thumbnails' would do: the experts see their own squares, whatever the photo's size).
PHOTO_SIDE = 1080


# How each kind of figure is shown, and the difference of two of them: (value -> text, difference -> text).
FIGURE_KINDS = {
    "accuracy": (lambda value: formats.percent(value, 2), lambda difference: points(difference, 2)),
    "rate": (formats.percent, lambda difference: points(difference, 1)),
    "count": (formats.whole, lambda difference: signed(difference, formats.whole)),
    "millions": (formats.millions, lambda difference: signed(difference, formats.millions)),
    "duration": (formats.duration, lambda difference: signed(difference, formats.duration)),
    "number": (
        lambda value: formats.decimal(value, 3),
        lambda difference: signed(difference, lambda value: formats.decimal(value, 3)),
    ),
}


def signed(difference, show) -> str:
    """A difference with its sign, e.g. "+1,024" or "-3 min 05 s"."""
    return ("+" if difference >= 0 else "-") + show(abs(difference))


def points(difference: float, digits: int) -> str:
    """A difference of two shares in percentage points: "+0.35 points"."""
    return gettext("%(number)s points") % {
        "number": signed(difference, lambda value: formats.decimal(100 * value, digits))
    }


def compare_models(first: BundleChoice, second: BundleChoice) -> dict:
    """Headline figures and per-class F1 of two versions in one table: both values and second minus first. Either
    may be a bundle of experts: its figures are those of the combined answers, its size that of all its experts."""
    bundles = [read_bundle(choice.path) for choice in (first, second)]
    if None in bundles:
        return {"available": False}
    classes = []
    for files in bundles:
        classes += [
            row.get("class") for row in files.evaluation.get("per_class") or [] if row.get("class") not in classes
        ]
    rows = []
    for label, read, kind in comparison_figures(classes, experts_too=any(files.experts for files in bundles)):
        values = [read(files) for files in bundles]
        show, change = FIGURE_KINDS[kind]
        rows.append(
            {
                "label": label,
                "first": gettext("not available") if values[0] is None else show(values[0]),
                "second": gettext("not available") if values[1] is None else show(values[1]),
                "difference": "" if None in values else change(values[1] - values[0]),
            }
        )
    return {"available": True, "names": [files.metadata.get("name", "") for files in bundles], "rows": rows}


def comparison_figures(classes: list[str], experts_too: bool = False) -> list[tuple]:
    """(label, BundleFiles -> value or None, kind) for each row of the comparison; with a bundle of experts among
    the two, also how many networks each has and what a photo costs."""

    def metadata_at(*keys):
        def read(files):
            value = files.metadata
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            return value

        return read

    def photos_at(key):
        return lambda files: (files.photos or {}).get(key)

    def f1_of(name):
        def read(files):
            return next(
                (row.get("f1") for row in files.evaluation.get("per_class") or [] if row.get("class") == name), None
            )

        return read

    def flops(side):
        return lambda files: flops_per_image(files, side)

    return [
        (gettext("Test accuracy"), accuracy_on_test, "accuracy"),
        (gettext("Real photos: accuracy"), photos_at("accuracy"), "accuracy"),
        (gettext("Real photos of other things called “none of the ten”"), photos_at("other_flagged_none_rate"), "rate"),
        (gettext("Real photos of the ten called “none of the ten”"), photos_at("in_class_flagged_none_rate"), "rate"),
        (
            gettext("Test images called “none of the ten”"),
            lambda files: files.evaluation.get("none_of_the_classes_rate"),
            "rate",
        ),
        *([(gettext("Networks"), lambda files: len(files.experts) or 1, "count")] if experts_too else []),
        (gettext("Parameters"), total_parameters, "count"),
        (gettext("FLOPs per thumbnail") if experts_too else gettext("FLOPs per image"), flops(CIFAR_SIZE), "millions"),
        *([(gettext("FLOPs per photo"), flops(PHOTO_SIDE), "millions")] if experts_too else []),
        (gettext("Epochs"), metadata_at("training", "epochs_completed"), "count"),
        (gettext("Wall time"), metadata_at("wall_seconds"), "duration"),
        (gettext("Calibration temperature"), calibration_temperature, "number"),
        (gettext("“None of the ten”: energy threshold"), metadata_at("ood", "thresholds", "energy"), "number"),
        (gettext("“None of the ten”: real images kept"), lambda files: thumbnail_none_rates(files)[0], "rate"),
        (gettext("“None of the ten”: other images passed"), lambda files: thumbnail_none_rates(files)[1], "rate"),
    ] + [(gettext("F1: %(class)s") % {"class": class_name(name)}, f1_of(name), "rate") for name in classes]


def flops_per_image(files: BundleFiles, side: int) -> int | None:
    """What an image whose shorter side is `side` costs: the network's FLOPs, or those of every expert of the case
    of the rule that answers it."""
    if not files.experts:
        return files.metadata.get("flops_per_image")
    case = case_for(files.rule, side)
    if case is None:
        return None
    experts = {expert.name: expert for expert in files.experts}
    each = [
        experts[name].metadata.get("flops_per_image", experts[name].entry.get("flops_per_image"))
        if name in experts
        else None
        for name in case.experts
    ]
    return None if None in each else sum(each)


def calibration_temperature(files: BundleFiles) -> float | None:
    fitted = (files.metadata.get("calibration") or {}).get("temperature")
    return fitted if fitted is not None else (files.evaluation.get("calibration") or {}).get("temperature")


def thumbnail_none_rates(files: BundleFiles) -> tuple:
    """(real images kept, generated images passed) by the "none of the ten" test that answers thumbnails, as
    measured on the validation split and generated images: a network's own test, or the option the rule of a
    bundle of experts chose (or, where the rule took one expert's test without choosing, that expert's)."""
    if not files.experts:
        ood = files.metadata.get("ood") or {}
        return ood.get("true_positive_rate"), ood.get("false_positive_rate")
    case = case_for(files.rule, CIFAR_SIZE)
    if case is None:
        return None, None
    measured = case.figures.get("none_of_the_classes") or {}
    options, chosen = measured.get("options") or [], measured.get("chosen")
    if isinstance(chosen, int) and 0 <= chosen < len(options):
        option = options[chosen]
        flagged, caught = option.get("real_flagged"), option.get("generated_caught")
        return (None if flagged is None else 1 - flagged), (None if caught is None else 1 - caught)
    if len(case.none_if) == 1 and len(case.none_if[0]) == 1 and case.none_if[0][0].signal == "unlike_training":
        expert = next((e for e in files.experts if e.name == case.none_if[0][0].expert), None)
        ood = expert.metadata.get("ood") or {} if expert else {}
        return ood.get("true_positive_rate"), ood.get("false_positive_rate")
    return None, None
