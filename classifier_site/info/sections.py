"""The model data page: a bundle's JSON files turned into what the template shows, and two bundles compared.

A bundle is one network, or a bundle of experts: its own metadata (the experts, the rule that combines them with
the figures that chose it), its own evaluation and real-photo scores (the combined answers), and a folder of
one network for each expert, read the same way. Every figure is read from the bundle; nothing is typed by hand.
Bundles written before a field existed simply lack it, and the page says that part is not available for that model.
"""

import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.http import Http404
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from django.utils.translation import gettext, ngettext, pgettext

from classifier import formats
from classifier.class_names import class_name
from classifier.models import ModelVersion
from classifier.serving import active_bundle_path
from classifier_site.info import charts
from classifier_site.info.bundle_files import BundleFiles, read_bundle
from classifier_site.info.experts import case_for, case_label, class_maps, expert_weights, experts_view, rule_view
from mlcore import bundle
from mlcore.evaluate import CONFIDENT
from mlcore.preprocessing import CIFAR_SIZE

ACTIVE = "active"  # stands for the served bundle in example image addresses
SHADES = 10  # confusion-matrix cells are graded shade-0 .. shade-9 (CSS classes: no inline styles under the CSP)
TOP_CONFUSED_PAIRS = 6
PLAIN_PNG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.png")
# The shorter side of a photo from a phone, for the FLOPs a photo costs in a comparison (any side above the
# thumbnails' would do: the experts see their own squares, whatever the photo's size).
PHOTO_SIDE = 1080


@dataclass(frozen=True)
class BundleChoice:
    path: Path
    name: str | None  # the ModelVersion's name; None for the served bundle when no version is registered
    is_active: bool

    @property
    def address_name(self) -> str:
        return self.name or ACTIVE


# --- choosing a bundle ---------------------------------------------------------------------------------------


def active_bundle() -> BundleChoice:
    version = ModelVersion.objects.filter(is_active=True).first()
    return BundleChoice(active_bundle_path(), version.name if version else None, is_active=True)


def chosen_bundle(name: str | None) -> BundleChoice:
    """The bundle of the version called `name` ("active" or nothing: the served one); 404 for an unknown name."""
    if not name or name == ACTIVE:
        return active_bundle()
    version = ModelVersion.objects.filter(name=name).first()
    if version is None:
        raise Http404(gettext("There is no model version of that name."))
    return BundleChoice(Path(version.path), version.name, version.is_active)


def example_image_path(*, version: str, file_name: str) -> Path:
    """A PNG in the `examples/` folder of a version's bundle; 404 for anything but a plain file name there."""
    folder = chosen_bundle(version).path / bundle.EXAMPLES_FOLDER
    if not PLAIN_PNG_NAME.fullmatch(file_name) or ".." in file_name:
        raise Http404(gettext("No such example image."))
    path = folder / file_name
    if not path.is_file() or path.resolve().parent != folder.resolve():
        raise Http404(gettext("No such example image."))
    return path


# --- the page ------------------------------------------------------------------------------------------------


def model_page(*, version: str | None = None, compare: str | None = None) -> dict:
    """The template's context: the version list, the chosen bundle's sections and, on request, a comparison."""
    shown = chosen_bundle(version)
    return {
        "versions": list(ModelVersion.objects.order_by("-registered_at", "-id")),
        # the served bundle is MODEL_DIR until staff activate a registered version: then it is in the list
        "serves_registered": ModelVersion.objects.filter(is_active=True).exists(),
        "selected": shown.name,
        "compared": compare or "",
        "model": model_view(shown),
        "comparison": compare_models(shown, chosen_bundle(compare)) if compare else None,
    }


def model_view(choice: BundleChoice) -> dict:
    files = read_bundle(choice.path)
    if files is None:
        return {"available": False, "version": choice.name}
    metadata, evaluation = files.metadata, files.evaluation
    if files.experts:
        networks = [network_view(expert.files, expert.entry) for expert in files.experts if expert.files]
    else:
        networks = [network_view(files)]
    return {
        "available": True,
        "version": choice.name,
        "is_active": choice.is_active,
        "headline": headline(files),
        "experts": experts_view(files),
        "expert_weights": expert_weights(files),
        "rule": rule_view(files),
        "class_maps": class_maps(files),
        "networks": networks,
        "charts_available": any(network["charts"] for network in networks),
        "assembly": training_run(metadata) | {"time": formats.duration(metadata.get("assemble_seconds"))}
        if files.experts
        else None,
        "per_class": per_class(evaluation),
        "confusion": confusion_matrix(evaluation),
        "confused_pairs": confused_pairs(evaluation, choice),
        "calibration": calibration(files),
        "none_rule": none_of_the_ten_by_rule(files),
        "ood_tests": [ood for ood in (network["ood"] for network in networks) if ood],
        "real_photos": real_photos(files.photos),
    }


def headline(files: BundleFiles) -> dict:
    metadata, evaluation = files.metadata, files.evaluation
    test = metadata.get("test") or {}
    validation = metadata.get("validation") or {}
    parameters = total_parameters(files)
    return {
        "name": metadata.get("name", ""),
        "created_at": _datetime(metadata.get("created_at")),
        "description": metadata.get("architecture", ""),
        "test_accuracy": formats.percent(accuracy_on_test(files), 2),
        "test_images": formats.whole(evaluation.get("images", test.get("images"))),
        "test_log_loss": formats.decimal(evaluation.get("log_loss", test.get("log_loss")), 4),
        "validation_accuracy": formats.percent(validation.get("accuracy"), 2),
        "validation_images": formats.whole(validation.get("images")),
        "tta": formats.test_time_augmentation(metadata.get("tta") or evaluation.get("tta") or test.get("tta")),
        "evaluated_at": evaluation.get("evaluated_at", ""),
        "parameters": parameters,
        "parameters_text": formats.whole(parameters),
        "networks": len(files.experts) or 1,
        "experts_test": [
            {"name": row.get("name", ""), "accuracy": formats.percent(row.get("accuracy"), 2)}
            for row in evaluation.get("experts") or []
        ],
    }


def network_view(files: BundleFiles, entry: dict | None = None) -> dict:
    """What the page shows of one network: the whole of a bundle of one network, or one expert of a bundle of
    experts (`entry`: what that bundle says of it)."""
    metadata = files.metadata
    name = (entry or {}).get("name")
    suffix = f"-{slugify(name)}" if name else ""
    return {
        "name": name,
        "anchor": f"network{suffix}",
        "network": (entry or {}).get("network"),
        "description": metadata.get("architecture", ""),
        "architecture": architecture(metadata),
        "trained": "training" in metadata or entry is None,
        "training": training_run(metadata),
        "weights_from": metadata.get("weights"),
        "trained_on": metadata.get("trained_on"),
        "charts": training_charts(files.history, suffix),
        "ood": out_of_distribution(metadata, files.evaluation) | {"expert": name} if metadata.get("ood") else None,
    }


def architecture(metadata: dict) -> dict:
    flops = metadata.get("flops_per_image")
    layers = [
        {
            "name": layer.get("name", ""),
            "kind": layer.get("kind", ""),
            "output_shape": " × ".join(str(size) for size in layer.get("output_shape") or []),
            "parameters": layer.get("parameters") or 0,
        }
        for layer in metadata.get("layers") or []
    ]
    return {
        "blocks": layer_blocks(layers),
        "layer_count": len(layers),
        "parameters": metadata.get("parameters"),
        "parameters_text": formats.whole(metadata.get("parameters")),
        "flops": flops,
        "flops_text": formats.millions(flops),
        "multiply_adds_text": formats.millions(flops / 2) if flops is not None else None,
    }


def layer_blocks(layers: list[dict]) -> list[dict]:
    """The layer table by block: consecutive layers whose names share the part before the first "_" (stem_*,
    block0_*, group1_*, head_*); consecutive layers that are a block of one (pixels, scale; pool, dropout,
    classifier) go together, named by their names."""
    runs = []
    for layer in layers:
        prefix = layer["name"].split("_", 1)[0]
        if runs and runs[-1][0] == prefix:
            runs[-1][1].append(layer)
        else:
            runs.append((prefix, [layer]))
    groups = []
    for prefix, members in runs:
        if len(members) == 1 and groups and groups[-1]["prefix"] is None:
            groups[-1]["layers"] += members
        else:
            groups.append({"prefix": prefix if len(members) > 1 else None, "layers": members})
    blocks = []
    for group in groups:
        members, parameters = group["layers"], sum(layer["parameters"] for layer in group["layers"])
        blocks.append(
            {
                "name": group["prefix"] or ", ".join(layer["name"] for layer in members),
                "layers": [layer | {"parameters": formats.whole(layer["parameters"])} for layer in members],
                "layers_text": ngettext("%(count)s layer", "%(count)s layers", len(members))
                % {"count": formats.whole(len(members))},
                "parameters_text": ngettext("%(count)s parameter", "%(count)s parameters", parameters)
                % {"count": formats.whole(parameters)},
            }
        )
    return blocks


def training_run(metadata: dict) -> dict:
    training = metadata.get("training") or {}
    data = metadata.get("data") or {}
    config = training.get("config") or {}
    hardware = metadata.get("hardware") or {}
    return {
        "source": data.get("source"),
        "fingerprint": data.get("fingerprint"),
        "dataset_train_images": formats.whole(data.get("train_images")),
        "dataset_test_images": formats.whole(data.get("test_images")),
        "train_images": formats.whole(training.get("train_images")),
        "validation_images": formats.whole(training.get("validation_images")),
        "reviewed_uploads": formats.whole(training.get("reviewed_uploads")),
        "epochs": training.get("epochs_completed"),
        "planned_epochs": formats.decimal_or_whole(config["epochs"]) if config.get("epochs") is not None else None,
        "best_epoch": training.get("best_epoch"),
        "interrupted": training.get("interrupted", False),
        "train_time": formats.duration(training.get("train_seconds")),
        "wall_time": formats.duration(metadata.get("wall_seconds")),
        "hardware": ", ".join(
            str(part)
            for part in (
                hardware.get("cpu"),
                ngettext("%(count)d core", "%(count)d cores", hardware["cpu_count"]) % {"count": hardware["cpu_count"]}
                if hardware.get("cpu_count")
                else None,
                hardware.get("machine"),
                hardware.get("system"),
            )
            if part
        ),
        "command": training.get("command"),
        "git_commit": metadata.get("git_commit"),
        "libraries": sorted((metadata.get("libraries") or {}).items()),
        "config": [(key, _config_value(value)) for key, value in config.items()],
    }


def training_charts(history: list, suffix: str = "") -> dict | None:
    """Two SVG charts, loss and accuracy, each with a training and a validation line; one point per epoch.
    `suffix` keeps the charts' ids apart when several networks have them on one page."""
    if not history:
        return None
    epochs = [record["epoch"] for record in history]

    def series(key, label, colour, dashed=False):
        return charts.Series(label, [record.get(key) for record in history], colour, dashed)

    training, validation = pgettext("chart line", "training"), pgettext("chart line", "validation")
    return {
        "loss": charts.line_chart(
            chart_id=f"loss-chart{suffix}",
            title=gettext("Loss per epoch"),
            x_label=gettext("Epoch"),
            y_label=gettext("Loss"),
            x_values=epochs,
            series=[
                series("train_loss", training, charts.TRAIN_COLOUR),
                series("val_loss", validation, charts.VALIDATION_COLOUR, dashed=True),
            ],
            y_format=lambda value: formats.decimal(value, 2),
        ),
        "accuracy": charts.line_chart(
            chart_id=f"accuracy-chart{suffix}",
            title=gettext("Accuracy per epoch"),
            x_label=gettext("Epoch"),
            y_label=gettext("Accuracy"),
            x_values=epochs,
            series=[
                series("train_accuracy", training, charts.TRAIN_COLOUR),
                series("val_accuracy", validation, charts.VALIDATION_COLOUR, dashed=True),
            ],
            y_format=lambda value: formats.percent(value, 1),
            y_tick_format=charts.whole_percent,
        ),
    }


def per_class(evaluation: dict) -> list[dict]:
    return [
        {
            "class": row.get("class", ""),
            "precision": formats.percent(row.get("precision")),
            "recall": formats.percent(row.get("recall")),
            "f1": formats.percent(row.get("f1")),
            "support": formats.whole(row.get("support")),
        }
        for row in evaluation.get("per_class") or []
    ]


def confusion_matrix(evaluation: dict) -> dict | None:
    """Rows: the true class; columns: the predicted one. A cell's shade grows with the square root of its share
    of the row, so that a confusion of a few percent still shows beside a diagonal of ninety."""
    classes, matrix = evaluation.get("classes"), evaluation.get("confusion_matrix")
    if not classes or not matrix:
        return None
    rows = []
    for true_index, (true_class, counts) in enumerate(zip(classes, matrix, strict=True)):
        total = sum(counts)
        cells = []
        for predicted_index, (predicted_class, cell) in enumerate(zip(classes, counts, strict=True)):
            share = cell / total if total else 0.0
            cells.append(
                {
                    "count": cell,
                    "shade": math.ceil(math.sqrt(share) * (SHADES - 1)),
                    "correct": true_index == predicted_index,
                    "title": gettext("%(true)s predicted as %(predicted)s: %(count)s of %(total)s (%(share)s)")
                    % {
                        "true": class_name(true_class),
                        "predicted": class_name(predicted_class),
                        "count": formats.whole(cell),
                        "total": formats.whole(total),
                        "share": formats.percent(share),
                    },
                }
            )
        rows.append({"class": true_class, "cells": cells, "total": formats.whole(total)})
    key = [{"shade": step, "up_to": formats.percent((step / (SHADES - 1)) ** 2, 0)} for step in range(SHADES)]
    return {"classes": classes, "rows": rows, "key": key}


def confused_pairs(evaluation: dict, choice: BundleChoice) -> dict | None:
    """The most frequent mistakes. A bundle that stores them brings example test images; an older one gets the
    pairs from its confusion matrix, without images."""
    stored = evaluation.get("confused_pairs")
    if stored is not None:
        pairs = [
            {
                "true": pair.get("true", ""),
                "predicted": pair.get("predicted", ""),
                "count": pair.get("count"),
                "examples": [url for url in map(_example_url(choice), pair.get("examples") or []) if url],
            }
            for pair in stored
        ]
        return {"pairs": pairs, "with_examples": True}
    classes, matrix = evaluation.get("classes"), evaluation.get("confusion_matrix")
    if not classes or not matrix:
        return None
    mistakes = [
        (cell, classes[true_index], classes[predicted_index])
        for true_index, counts in enumerate(matrix)
        for predicted_index, cell in enumerate(counts)
        if true_index != predicted_index and cell
    ]
    mistakes.sort(key=lambda mistake: mistake[0], reverse=True)
    pairs = [
        {"true": true, "predicted": predicted, "count": cell, "examples": []}
        for cell, true, predicted in mistakes[:TOP_CONFUSED_PAIRS]
    ]
    return {"pairs": pairs, "with_examples": False}


def _example_url(choice: BundleChoice):
    def url(relative_path: str) -> str | None:
        path = PurePosixPath(relative_path)
        if path.parent != PurePosixPath(bundle.EXAMPLES_FOLDER) or not PLAIN_PNG_NAME.fullmatch(path.name):
            return None
        return reverse("model_example", args=[choice.address_name, path.name])

    return url


def calibration(files: BundleFiles) -> dict | None:
    """A network's temperature with the figures of its fitting; for a bundle of experts, the pool's temperature of
    the case that answered the test images (chosen with its weights, see the rule)."""
    fitted = files.metadata.get("calibration") or {}
    measured = files.evaluation.get("calibration")
    if not measured and not fitted:
        return None
    bins = (measured or {}).get("bins") or []
    case = files.evaluation.get("case") if files.experts else None
    temperature = fitted.get("temperature", (measured or {}).get("temperature"))
    return {
        # a network's fitted temperature to three decimals; a pool's as the rule has it (see the rule)
        "temperature": formats.decimal_or_whole(temperature)
        if case and temperature
        else formats.decimal(temperature, 3),
        "fitted_on": fitted.get("fitted_on"),
        "fitted_images": formats.whole(fitted.get("images")),
        "log_loss_before": formats.decimal(fitted.get("log_loss_before"), 4),
        "log_loss_after": formats.decimal(fitted.get("log_loss_after"), 4),
        "case": case_label(case) if case else None,
        "ece": formats.percent((measured or {}).get("ece"), 2),
        "diagram": charts.reliability_diagram(
            chart_id="reliability-diagram", title=gettext("Reliability on the test images"), bins=bins
        )
        if bins
        else None,
    }


def out_of_distribution(metadata: dict, evaluation: dict) -> dict | None:
    """A network's own "none of the ten" test: its scores, thresholds and measured rates."""
    ood = metadata.get("ood")
    if not ood:
        return None
    inside = ood.get("in_distribution") or {}
    outside = ood.get("out_of_distribution") or {}
    return {
        "score": ood.get("score"),
        "threshold": _thresholds(ood),
        "true_positive_rate": formats.percent(ood.get("true_positive_rate")),
        "false_positive_rate": formats.percent(ood.get("false_positive_rate")),
        "in_distribution_images": formats.whole(inside.get("images")),
        "in_distribution_source": inside.get("source"),
        "out_of_distribution_images": formats.whole(outside.get("images")),
        "out_of_distribution_kinds": ", ".join(outside.get("kinds") or []),  # as the bundle names them
        "test_rate": formats.percent(evaluation.get("none_of_the_classes_rate")),
    }


def none_of_the_ten_by_rule(files: BundleFiles) -> dict | None:
    """How often the rule of a bundle of experts says "none of the ten": on the test images (and how often although
    the answer was sure of a class) and on the real photos."""
    if not files.experts:
        return None
    evaluation, photos = files.evaluation, files.photos or {}
    return {
        "test_rate": formats.percent(evaluation.get("none_of_the_classes_rate")),
        "test_images": formats.whole(evaluation.get("images")),
        "test_confident": formats.whole(evaluation.get("confident_and_none") or None),
        "confident": formats.percent(CONFIDENT, 0),
        "other_photos": formats.whole(photos.get("other_photos")),
        "other_flagged": formats.percent(photos.get("other_flagged_none_rate")),
        "in_class_photos": formats.whole(photos.get("in_class_photos")),
        "in_class_flagged": formats.percent(photos.get("in_class_flagged_none_rate")),
        "photos_confident": formats.whole(photos.get("confident_and_none") or None),
    }


def real_photos(scores: dict | None) -> dict | None:
    """Accuracy per class on a folder of real photos, and how often "none of the ten" was said for them."""
    if not scores:
        return None
    return {
        "accuracy": formats.percent(scores.get("accuracy")),
        "photos": formats.whole(scores.get("in_class_photos")),
        "in_class_flagged": formats.percent(scores.get("in_class_flagged_none_rate")),
        "other_photos": formats.whole(scores.get("other_photos")),
        "other_flagged": formats.percent(scores.get("other_flagged_none_rate")),
        "per_class": [
            {
                "class": row.get("class"),
                "correct": row.get("correct"),
                "photos": row.get("photos"),
                "accuracy": formats.percent(row.get("accuracy"), 0),
            }
            for row in scores.get("per_class") or []
        ],
        "mistakes": [
            mistake | {"experts": sorted((mistake.get("experts") or {}).items())}
            for mistake in scores.get("mistakes") or []
        ],
        "evaluated_at": _datetime(scores.get("evaluated_at")),
    }


def _thresholds(ood) -> str:
    """One threshold, or one per score ("energy 1.637, features -614.674")."""
    if ood.get("thresholds"):
        return ", ".join(f"{name} {formats.decimal(value, 3)}" for name, value in ood["thresholds"].items())
    return formats.decimal(ood.get("threshold"), 3)


def _datetime(text):
    """The bundle's ISO time as a datetime, for the language's date format; the text itself if it is not one."""
    try:
        return parse_datetime(text or "") or text
    except ValueError:
        return text


def _config_value(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return pgettext("no value", "none") if value is None else str(value)


# --- two versions side by side -------------------------------------------------------------------------------


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


def accuracy_on_test(files: BundleFiles) -> float | None:
    return files.evaluation.get("accuracy", (files.metadata.get("test") or {}).get("accuracy"))


def total_parameters(files: BundleFiles) -> int | None:
    """A network's parameters; a bundle of experts': the sum over its experts (None if one is not recorded)."""
    if not files.experts:
        return files.metadata.get("parameters")
    each = [expert.metadata.get("parameters", expert.entry.get("parameters")) for expert in files.experts]
    return None if None in each else sum(each)


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
