"""The model data page: a bundle's JSON files turned into what the template shows, and two bundles compared.

Every figure is read from the bundle; nothing is typed by hand. Bundles written before a field existed simply
lack it, and the page says that part is not available for that model.
"""

import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.http import Http404
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext, pgettext

from classifier import formats
from classifier.class_names import class_name
from classifier.ml import active_bundle_path
from classifier.models import ModelVersion
from classifier_site import charts
from mlcore import bundle
from mlcore.evaluate import PHOTOS_FILE

ACTIVE = "active"  # stands for the served bundle in example image addresses
SHADES = 10  # confusion-matrix cells are graded shade-0 .. shade-9 (CSS classes: no inline styles under the CSP)
TOP_CONFUSED_PAIRS = 6
PLAIN_PNG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.png")


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
        "selected": shown.name,
        "compared": compare or "",
        "model": model_view(shown),
        "comparison": compare_models(shown, chosen_bundle(compare)) if compare else None,
    }


def read_bundle(path: Path) -> tuple[dict | None, list, dict | None]:
    """(metadata, history, evaluation); whatever is missing or unreadable comes back empty. The scores on real
    photos (`manage.py evaluate --data FOLDER --save`), when the bundle has them, come in the metadata as
    "real_photos"."""

    def read(name):
        try:
            return bundle.read_json(path, name)
        except bundle.BundleError:
            return None

    metadata = read(bundle.METADATA_FILE)
    if metadata is not None:
        metadata["real_photos"] = read(PHOTOS_FILE)
    return metadata, read(bundle.HISTORY_FILE) or [], read(bundle.EVALUATION_FILE)


def model_view(choice: BundleChoice) -> dict:
    metadata, history, evaluation = read_bundle(choice.path)
    if metadata is None:
        return {"available": False, "version": choice.name}
    evaluation = evaluation or {}
    return {
        "available": True,
        "version": choice.name,
        "is_active": choice.is_active,
        "headline": headline(metadata, evaluation),
        "architecture": architecture(metadata),
        "training": training_run(metadata),
        "charts": training_charts(history),
        "per_class": per_class(evaluation),
        "confusion": confusion_matrix(evaluation),
        "confused_pairs": confused_pairs(evaluation, choice),
        "calibration": calibration(metadata, evaluation),
        "ood": out_of_distribution(metadata, evaluation),
        "real_photos": real_photos(metadata.get("real_photos")),
    }


def headline(metadata: dict, evaluation: dict) -> dict:
    test = metadata.get("test") or {}
    validation = metadata.get("validation") or {}
    return {
        "name": metadata.get("name", ""),
        "created_at": _datetime(metadata.get("created_at")),
        "description": metadata.get("architecture", ""),
        "test_accuracy": percent(accuracy_on_test(metadata, evaluation), 2),
        "test_images": count(evaluation.get("images", test.get("images"))),
        "test_log_loss": number(evaluation.get("log_loss", test.get("log_loss")), 4),
        "validation_accuracy": percent(validation.get("accuracy"), 2),
        "validation_images": count(validation.get("images")),
        "tta": formats.test_time_augmentation(metadata.get("tta")),
        "evaluated_at": evaluation.get("evaluated_at", ""),
    }


def architecture(metadata: dict) -> dict:
    flops = metadata.get("flops_per_image")
    return {
        "layers": [
            {
                "name": layer.get("name", ""),
                "kind": layer.get("kind", ""),
                "output_shape": " × ".join(str(size) for size in layer.get("output_shape") or []),
                "parameters": count(layer.get("parameters")),
            }
            for layer in metadata.get("layers") or []
        ],
        "parameters": metadata.get("parameters"),
        "parameters_text": count(metadata.get("parameters")),
        "flops": flops,
        "flops_text": millions(flops),
        "multiply_adds_text": millions(flops / 2) if flops is not None else None,
    }


def training_run(metadata: dict) -> dict:
    training = metadata.get("training") or {}
    data = metadata.get("data") or {}
    config = training.get("config") or {}
    hardware = metadata.get("hardware") or {}
    return {
        "source": data.get("source"),
        "fingerprint": data.get("fingerprint"),
        "dataset_train_images": count(data.get("train_images")),
        "dataset_test_images": count(data.get("test_images")),
        "train_images": count(training.get("train_images")),
        "validation_images": count(training.get("validation_images")),
        "reviewed_uploads": count(training.get("reviewed_uploads")),
        "epochs": training.get("epochs_completed"),
        "planned_epochs": formats.decimal_or_whole(config["epochs"]) if config.get("epochs") is not None else None,
        "best_epoch": training.get("best_epoch"),
        "interrupted": training.get("interrupted", False),
        "train_time": duration(training.get("train_seconds")),
        "wall_time": duration(metadata.get("wall_seconds")),
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


def training_charts(history: list) -> dict | None:
    """Two SVG charts, loss and accuracy, each with a training and a validation line; one point per epoch."""
    if not history:
        return None
    epochs = [record["epoch"] for record in history]

    def series(key, label, colour, dashed=False):
        return charts.Series(label, [record.get(key) for record in history], colour, dashed)

    training, validation = pgettext("chart line", "training"), pgettext("chart line", "validation")
    return {
        "loss": charts.line_chart(
            chart_id="loss-chart",
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
            chart_id="accuracy-chart",
            title=gettext("Accuracy per epoch"),
            x_label=gettext("Epoch"),
            y_label=gettext("Accuracy"),
            x_values=epochs,
            series=[
                series("train_accuracy", training, charts.TRAIN_COLOUR),
                series("val_accuracy", validation, charts.VALIDATION_COLOUR, dashed=True),
            ],
            y_format=lambda value: formats.percent(value, 1),
            y_tick_format=charts.percent,
        ),
    }


def per_class(evaluation: dict) -> list[dict]:
    return [
        {
            "class": row.get("class", ""),
            "precision": percent(row.get("precision")),
            "recall": percent(row.get("recall")),
            "f1": percent(row.get("f1")),
            "support": count(row.get("support")),
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
                        "count": count(cell),
                        "total": count(total),
                        "share": percent(share),
                    },
                }
            )
        rows.append({"class": true_class, "cells": cells, "total": count(total)})
    key = [{"shade": step, "up_to": percent((step / (SHADES - 1)) ** 2, 0)} for step in range(SHADES)]
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


def calibration(metadata: dict, evaluation: dict) -> dict | None:
    fitted = metadata.get("calibration") or {}
    measured = evaluation.get("calibration")
    if not measured and not fitted:
        return None
    bins = (measured or {}).get("bins") or []
    return {
        "temperature": number(fitted.get("temperature", (measured or {}).get("temperature")), 3),
        "fitted_on": fitted.get("fitted_on"),
        "fitted_images": count(fitted.get("images")),
        "log_loss_before": number(fitted.get("log_loss_before"), 4),
        "log_loss_after": number(fitted.get("log_loss_after"), 4),
        "ece": percent((measured or {}).get("ece"), 2),
        "diagram": charts.reliability_diagram(
            chart_id="reliability-diagram", title=gettext("Reliability on the test images"), bins=bins
        )
        if bins
        else None,
    }


def out_of_distribution(metadata: dict, evaluation: dict) -> dict | None:
    ood = metadata.get("ood")
    if not ood:
        return None
    inside = ood.get("in_distribution") or {}
    outside = ood.get("out_of_distribution") or {}
    return {
        "score": ood.get("score"),
        "threshold": _thresholds(ood),
        "true_positive_rate": percent(ood.get("true_positive_rate")),
        "false_positive_rate": percent(ood.get("false_positive_rate")),
        "in_distribution_images": count(inside.get("images")),
        "in_distribution_source": inside.get("source"),
        "out_of_distribution_images": count(outside.get("images")),
        "out_of_distribution_kinds": ", ".join(outside.get("kinds") or []),  # as the bundle names them
        "test_rate": percent(evaluation.get("none_of_the_classes_rate")),
    }


def real_photos(scores: dict | None) -> dict | None:
    """Accuracy per class on a folder of real photos, and how often "none of the ten" was said for them."""
    if not scores:
        return None
    return {
        "accuracy": percent(scores.get("accuracy")),
        "photos": count(scores.get("in_class_photos")),
        "in_class_flagged": percent(scores.get("in_class_flagged_none_rate")),
        "other_photos": count(scores.get("other_photos")),
        "other_flagged": percent(scores.get("other_flagged_none_rate")),
        "per_class": [
            {
                "class": row.get("class"),
                "correct": row.get("correct"),
                "photos": row.get("photos"),
                "accuracy": percent(row.get("accuracy"), 0),
            }
            for row in scores.get("per_class") or []
        ],
        "mistakes": scores.get("mistakes") or [],
        "evaluated_at": _datetime(scores.get("evaluated_at")),
    }


def _thresholds(ood) -> str:
    """One threshold, or one per score ("energy 1.637, features -614.674")."""
    if ood.get("thresholds"):
        return ", ".join(f"{name} {number(value, 3)}" for name, value in ood["thresholds"].items())
    return number(ood.get("threshold"), 3)


# --- formatting ----------------------------------------------------------------------------------------------


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
    "accuracy": (lambda value: percent(value, 2), lambda difference: points(difference, 2)),
    "rate": (percent, lambda difference: points(difference, 1)),
    "count": (count, lambda difference: signed(difference, count)),
    "millions": (millions, lambda difference: signed(difference, millions)),
    "duration": (duration, lambda difference: signed(difference, duration)),
    "number": (lambda value: number(value, 3), lambda difference: signed(difference, lambda value: number(value, 3))),
}


def signed(difference, show) -> str:
    """A difference with its sign, e.g. "+1,024" or "-3 min 05 s"."""
    return ("+" if difference >= 0 else "-") + show(abs(difference))


def points(difference: float, digits: int) -> str:
    """A difference of two shares in percentage points: "+0.35 points"."""
    return gettext("%(number)s points") % {"number": signed(difference, lambda value: number(100 * value, digits))}


def compare_models(first: BundleChoice, second: BundleChoice) -> dict:
    """Headline figures and per-class F1 of two versions in one table: both values and second minus first."""
    bundles = []
    for choice in (first, second):
        metadata, _, evaluation = read_bundle(choice.path)
        if metadata is None:
            return {"available": False}
        bundles.append((metadata, evaluation or {}))
    classes = []
    for _, evaluation in bundles:
        classes += [row.get("class") for row in evaluation.get("per_class") or [] if row.get("class") not in classes]
    rows = []
    for label, read, kind in comparison_figures(classes):
        values = [read(metadata, evaluation) for metadata, evaluation in bundles]
        show, change = FIGURE_KINDS[kind]
        rows.append(
            {
                "label": label,
                "first": gettext("not available") if values[0] is None else show(values[0]),
                "second": gettext("not available") if values[1] is None else show(values[1]),
                "difference": "" if None in values else change(values[1] - values[0]),
            }
        )
    return {"available": True, "names": [metadata.get("name", "") for metadata, _ in bundles], "rows": rows}


def comparison_figures(classes: list[str]) -> list[tuple]:
    """(label, (metadata, evaluation) -> value or None, kind) for each row of the comparison."""

    def metadata_at(*keys):
        def read(metadata, evaluation):
            for key in keys:
                metadata = metadata.get(key) if isinstance(metadata, dict) else None
            return metadata

        return read

    def f1_of(name):
        def read(metadata, evaluation):
            return next((row.get("f1") for row in evaluation.get("per_class") or [] if row.get("class") == name), None)

        return read

    return [
        (gettext("Test accuracy"), accuracy_on_test, "accuracy"),
        (gettext("Parameters"), metadata_at("parameters"), "count"),
        (gettext("FLOPs per image"), metadata_at("flops_per_image"), "millions"),
        (gettext("Epochs"), metadata_at("training", "epochs_completed"), "count"),
        (gettext("Wall time"), metadata_at("wall_seconds"), "duration"),
        (gettext("Calibration temperature"), metadata_at("calibration", "temperature"), "number"),
        (gettext("“None of the ten”: energy threshold"), metadata_at("ood", "thresholds", "energy"), "number"),
        (gettext("“None of the ten”: real images kept"), metadata_at("ood", "true_positive_rate"), "rate"),
        (gettext("“None of the ten”: other images passed"), metadata_at("ood", "false_positive_rate"), "rate"),
        (gettext("Real photos: accuracy"), metadata_at("real_photos", "accuracy"), "accuracy"),
        (gettext("Real photos of other things called “none of the ten”"), other_photos_flagged, "rate"),
    ] + [(gettext("F1: %(class)s") % {"class": class_name(name)}, f1_of(name), "rate") for name in classes]


def other_photos_flagged(metadata: dict, evaluation: dict) -> float | None:
    return (metadata.get("real_photos") or {}).get("other_flagged_none_rate")


def accuracy_on_test(metadata: dict, evaluation: dict) -> float | None:
    return evaluation.get("accuracy", (metadata.get("test") or {}).get("accuracy"))
