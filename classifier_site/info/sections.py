"""The Model data page's sections on how the model (or the combined answers of a bundle of experts) does: per class
on the test images, the confusion matrix and its most confused pairs, calibration, "none of the ten" and real photos.
"""

import math

from django.utils.translation import gettext

from classifier import formats
from classifier.class_names import class_name
from classifier_site.info import charts
from classifier_site.info.bundle_files import (
    BundleFiles,
    bundle_time,
)
from classifier_site.info.bundle_words import fitted_on_text
from classifier_site.info.rule import case_label
from classifier_site.info.versions import BundleChoice, example_url
from mlcore.evaluate import CONFIDENT

SHADES = 10  # confusion-matrix cells are graded shade-0 .. shade-9 (CSS classes: no inline styles under the CSP)


TOP_CONFUSED_PAIRS = 6


def per_class(evaluation: dict) -> list[dict]:
    """Each class's row of the test table: its name and its figures in the columns' order."""
    return [
        {
            "class": row.get("class", ""),
            "figures": [
                formats.percent(row.get("precision")),
                formats.percent(row.get("recall")),
                formats.percent(row.get("f1")),
                formats.whole(row.get("support")),
            ],
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
                "examples": [url for url in map(example_url(choice), pair.get("examples") or []) if url],
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
    # a network's fitted temperature to three decimals; a pool's as the rule has it (see the rule)
    shown = formats.decimal_or_whole(temperature) if case and temperature else formats.decimal(temperature, 3)
    return {
        "temperature": temperature_text(shown, fitted, case) if shown else None,
        "ece": formats.percent((measured or {}).get("ece"), 2),
        "diagram": charts.reliability_diagram(
            chart_id="reliability-diagram", title=gettext("Reliability on the test images"), bins=bins
        )
        if bins
        else None,
    }


def temperature_text(shown: str, fitted: dict, case: str | None) -> str:
    """ "1.162, fitted on 5,000 images (the validation split): log loss 0.2841 before, 0.2478 after"; for a pool,
    the case it answers."""
    text = shown
    if fitted.get("images"):
        text += ", " + fitted_on_text(fitted.get("fitted_on"), fitted["images"])
    before = formats.decimal(fitted.get("log_loss_before"), 4)
    if before:
        text += ": " + gettext("log loss %(before)s before, %(after)s after") % {
            "before": before,
            "after": formats.decimal(fitted.get("log_loss_after"), 4),
        }
    if case:
        text += " " + gettext("(the pool’s temperature for %(case_name)s, chosen with its weights: see the rule)") % {
            "case_name": case_label(case)
        }
    return text


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
        "evaluated_at": bundle_time(scores.get("evaluated_at")),
    }
