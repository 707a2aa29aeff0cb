"""Scoring a bundle the way the site answers: a CIFAR-10 split (`evaluate_bundle`) or a folder of real photos
(`evaluate_photo_folder`), through the bundle's serving models and rule, with each expert's own figures beside the
combined ones.
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image

from mlcore.bundle import EXAMPLES_FOLDER, utc_now
from mlcore.data import IMAGE_SUFFIXES, DataError
from mlcore.inference import Classifier
from mlcore.labels import CLASSES, NUM_CLASSES
from mlcore.preprocessing import ImageError
from mlcore.scores import classification_report, reliability

PHOTOS_FILE = "photos.json"  # a bundle's scores on a folder of real photos (`manage.py evaluate --data FOLDER`)
NONE_FOLDER = "none"  # photos of things that are none of the ten classes
CONFIDENT = 0.99  # an answer this sure of one class should rarely be called "none of the ten" at once


def evaluate_bundle(bundle_dir, split, tta: str | None = None, examples: int = 0) -> dict:
    """Score a split through the bundle's serving models and rule, with each expert's own test-time augmentation
    unless `tta`.

    Besides the classification report: reliability (calibration) of the served probabilities, the share of
    images the bundle would call "none of the ten classes", each expert's own accuracy, and, with `examples`, the
    most confused pairs with up to that many example images each, written as PNG files into the bundle's examples/
    folder.
    """
    classifier = Classifier(bundle_dir, num_threads=os.cpu_count() or 1, tta=tta)
    case = classifier.rule.case_for(split.images.shape[1])
    probabilities, unfit, answers = classifier.answer_pixels(split.images)
    report = classification_report(split.labels, probabilities)
    report["tta"] = ", ".join(sorted(_augmentations(classifier, case)))
    report["case"] = case.name
    temperature = case.temperature if len(case.experts) > 1 else classifier.first.temperature
    report["calibration"] = reliability(probabilities, split.labels) | {"temperature": temperature}
    if case.none_if and len(split.labels):
        report["none_of_the_classes_rate"] = float(unfit.mean())
        report["confident_and_none"] = int((unfit & (probabilities.max(axis=1) >= CONFIDENT)).sum())
    if len(case.experts) > 1:
        right = {name: answers[name].ten().argmax(axis=1) == split.labels for name in case.experts}
        report["experts"] = [
            {"name": name, "weight": weight, "accuracy": float(right[name].mean())}
            for name, weight in case.weights.items()
        ]
    if examples:
        report["confused_pairs"] = confused_pairs(bundle_dir, split, probabilities, examples)
    report["evaluated_at"] = utc_now()
    return report


def headline(report: dict | None) -> dict | None:
    """The few figures of a report that a bundle's metadata repeats."""
    if report is None:
        return None
    return {key: report[key] for key in ("images", "accuracy", "log_loss")} | {"tta": report.get("tta")}


def confused_pairs(bundle_dir, split, probabilities, examples: int, pairs: int = 6) -> list:
    """The (true, predicted) pairs mistaken most often, each with up to `examples` of its images saved."""
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(confusion, (split.labels, predicted), 1)
    np.fill_diagonal(confusion, 0)
    folder = Path(bundle_dir) / EXAMPLES_FOLDER
    folder.mkdir(exist_ok=True)
    result = []
    for flat in np.argsort(confusion, axis=None)[::-1][:pairs]:
        true, guess = divmod(int(flat), NUM_CLASSES)
        if confusion[true, guess] == 0:
            break
        chosen = np.flatnonzero((split.labels == true) & (predicted == guess))[:examples]
        names = []
        for rank, index in enumerate(chosen):
            name = f"{CLASSES[true]}-as-{CLASSES[guess]}-{rank}.png"
            Image.fromarray(split.images[index]).save(folder / name)
            names.append(f"{EXAMPLES_FOLDER}/{name}")
        result.append(
            {
                "true": CLASSES[true],
                "predicted": CLASSES[guess],
                "count": int(confusion[true, guess]),
                "examples": names,
            }
        )
    return result


def photo_folder_images(folder) -> dict:
    """{label: [image paths]} for a folder of `<class>/` subfolders and an optional `none/` one."""
    folder = Path(folder)
    found = {}
    for label in (*CLASSES, NONE_FOLDER):
        sub = folder / label
        if sub.is_dir():
            files = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if files:
                found[label] = files
    if not any(label in found for label in CLASSES):
        raise DataError(
            f"{folder} has no photos in <class>/ subfolders: expected folders named {', '.join(CLASSES)} "
            f"(and optionally {NONE_FOLDER}/) holding image files"
        )
    return found


def is_photo_folder(path) -> bool:
    path = Path(path)
    return (
        path.is_dir()
        and any((path / name).is_dir() for name in (*CLASSES, NONE_FOLDER))
        and not any((path / split).is_dir() for split in ("train", "test"))
    )


def evaluate_photo_folder(bundle_dir, folder, tta: str | None = None) -> dict:
    """Score real photos through the serving path the site uses (every photo decoded and preprocessed as an
    upload is, by the bundle's own preprocessing and rule): accuracy per class, how often "none of the ten
    classes" is said for photos of the ten classes (wrongly) and for photos of other things (rightly), and each
    expert's own accuracy on the photos it answered. Undecodable files are listed, not scored.
    """
    classifier = Classifier(bundle_dir, num_threads=os.cpu_count() or 1, tta=tta)
    rows, unreadable = classify_photo_folder(classifier, folder)
    in_class = [(label, p) for label, p in rows if label != NONE_FOLDER]
    others = [p for label, p in rows if label == NONE_FOLDER]
    per_class = []
    for name in CLASSES:
        members = [p for label, p in in_class if label == name]
        if members:
            right = sum(p.label == name for p in members)
            per_class.append(
                {
                    "class": name,
                    "photos": len(members),
                    "correct": right,
                    "accuracy": right / len(members),
                    "flagged_none": sum(p.none_of_the_classes for p in members),
                }
            )
    correct = sum(p.label == label for label, p in in_class)
    mistakes = [
        {
            "class": label,
            "predicted": p.label,
            "confidence": round(p.confidence, 4),
            "experts": {answer.name: answer.label for answer in p.experts},
        }
        for label, p in in_class
        if p.label != label
    ]
    flagged = [p for _, p in rows if p.none_of_the_classes]
    return {
        "folder": str(folder),
        "tta": ", ".join(sorted(_augmentations(classifier, photo_cases=True))),
        "in_class_photos": len(in_class),
        "accuracy": correct / len(in_class) if in_class else 0.0,
        "per_class": per_class,
        "mistakes": mistakes,
        "in_class_flagged_none_rate": (
            sum(p.none_of_the_classes for _, p in in_class) / len(in_class) if in_class else 0.0
        ),
        "other_photos": len(others),
        "other_flagged_none_rate": sum(p.none_of_the_classes for p in others) / len(others) if others else None,
        "confident_and_none": sum(p.confidence >= CONFIDENT for p in flagged),
        "experts": _expert_photo_accuracy(in_class) if len(classifier.experts) > 1 else [],
        "unreadable": unreadable,
        "evaluated_at": utc_now(),
    }


def _augmentations(classifier: Classifier, case=None, photo_cases: bool = False) -> set:
    """The test-time augmentations the experts answer `case` with (with `photo_cases`: every case but thumbnails)."""
    cases = [case] if case else [c for c in classifier.rule.cases if not photo_cases or c.max_short_side is None]
    return {c.tta.get(name, classifier.experts[name].tta) for c in cases for name in c.experts}


def classify_photo_folder(classifier: Classifier, folder) -> tuple[list, list]:
    """[(label, Answer)] for every readable photo of a photo folder, and the names of the unreadable ones."""
    rows, unreadable = [], []
    for label, paths in photo_folder_images(folder).items():
        for path in paths:
            try:
                rows.append((label, classifier.classify([path])[0]))
            except ImageError:
                unreadable.append(f"{label}/{path.name}")
    return rows, unreadable


def _expert_photo_accuracy(in_class) -> list:
    """Each expert's own answer on the photos of the ten it answered: how many it got right alone."""
    counts = {}
    for label, prediction in in_class:
        for answer in prediction.experts:
            photos, right = counts.get(answer.name, (0, 0))
            counts[answer.name] = (photos + 1, right + (answer.label == label))
    return [
        {"name": name, "photos": photos, "correct": right, "accuracy": right / photos}
        for name, (photos, right) in counts.items()
    ]
