"""Scoring: test-time augmentation views, softmax and the metrics that go in a bundle.

`predict_probabilities` is shared by training (Keras), `manage.py evaluate` and serving (LiteRT), so every
figure a bundle reports was computed the way the site computes its answers.
"""

import os

import numpy as np

from mlcore.labels import CLASSES, NUM_CLASSES

TTA_LEVELS = ("none", "flip", "flip_translate")


def tta_views(images: np.ndarray, tta: str):
    """The augmented copies of a uint8 NHWC batch and the weight of each copy's logits.

    flip: the image and its mirror, half each. flip_translate: that, averaged half-and-half with the same pair
    shifted one pixel up-left and one pixel down-right (reflect padding), as airbench evaluates.
    """
    if tta not in TTA_LEVELS:
        raise ValueError(f"unknown test-time augmentation {tta!r}: choose one of {', '.join(TTA_LEVELS)}")
    if tta == "none":
        return [images], [1.0]
    mirrored = images[:, :, ::-1, :]
    if tta == "flip":
        return [images, mirrored], [0.5, 0.5]
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    height, width = images.shape[1:3]
    up_left = padded[:, :height, :width, :]
    down_right = padded[:, 2 : 2 + height, 2 : 2 + width, :]
    views = [images, mirrored, up_left, up_left[:, :, ::-1, :], down_right, down_right[:, :, ::-1, :]]
    return views, [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]


def predict_logits(logits_fn, images: np.ndarray, tta: str = "none", batch_size: int = 1000) -> np.ndarray:
    """Weighted logits over the TTA views; `logits_fn` maps a uint8 NHWC batch to (N, 10) logits."""
    outputs = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        views, weights = tta_views(chunk, tta)
        stacked = logits_fn(np.ascontiguousarray(np.concatenate(views)))
        per_view = np.split(np.asarray(stacked, dtype=np.float64), len(views))
        outputs.append(sum(weight * logits for weight, logits in zip(weights, per_view, strict=True)))
    return np.concatenate(outputs) if outputs else np.zeros((0, NUM_CLASSES))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def classification_report(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, per-class precision/recall/F1, the confusion matrix (rows: true class) and the log loss."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = []
    for index, name in enumerate(CLASSES):
        true_positive = confusion[index, index]
        predicted_count = confusion[:, index].sum()
        actual_count = confusion[index, :].sum()
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / actual_count if actual_count else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(
            {
                "class": name,
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "support": int(actual_count),
            }
        )
    picked = probabilities[np.arange(len(labels)), labels]
    return {
        "images": int(len(labels)),
        "accuracy": float((predicted == labels).mean()) if len(labels) else 0.0,
        "log_loss": float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()) if len(labels) else 0.0,
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "classes": list(CLASSES),
    }


def evaluate_bundle(bundle_dir, split, tta: str | None = None, examples: int = 0) -> dict:
    """Score a split through the bundle's serving model, with its own test-time augmentation unless `tta`.

    Besides the classification report: reliability (calibration) of the served probabilities, the share of
    images the bundle would call "none of the ten classes", and, with `examples`, the most confused pairs with
    up to that many example images each, written as PNG files into the bundle's examples/ folder.
    """
    from mlcore.bundle import utc_now
    from mlcore.calibration import reliability
    from mlcore.inference import Classifier

    classifier = Classifier(bundle_dir, num_threads=os.cpu_count() or 1, tta=tta)
    if classifier.has_features:
        logits, pooled = classifier.scores(split.images)
    else:
        logits, pooled = classifier.logits(split.images), None
    probabilities = softmax(logits, classifier.temperature)
    report = classification_report(split.labels, probabilities)
    report["tta"] = classifier.tta
    report["calibration"] = reliability(probabilities, split.labels) | {"temperature": classifier.temperature}
    if classifier.thresholds and len(split.labels):
        report["none_of_the_classes_rate"] = float(classifier.none_of_the_classes(logits, pooled).mean())
    if examples:
        report["confused_pairs"] = confused_pairs(bundle_dir, split, probabilities, examples)
    report["evaluated_at"] = utc_now()
    return report


def confused_pairs(bundle_dir, split, probabilities, examples: int, pairs: int = 6) -> list:
    """The (true, predicted) pairs mistaken most often, each with up to `examples` of its images saved."""
    from pathlib import Path

    from PIL import Image

    from mlcore.bundle import EXAMPLES_FOLDER

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


PHOTOS_FILE = "photos.json"  # a bundle's scores on a folder of real photos (`manage.py evaluate --data FOLDER`)
NONE_FOLDER = "none"  # photos of things that are none of the ten classes


def photo_folder_images(folder) -> dict:
    """{label: [image paths]} for a folder of `<class>/` subfolders and an optional `none/` one."""
    from pathlib import Path

    from mlcore.data import IMAGE_SUFFIXES, DataError

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
    from pathlib import Path

    path = Path(path)
    return (
        path.is_dir()
        and any((path / name).is_dir() for name in (*CLASSES, NONE_FOLDER))
        and not any((path / split).is_dir() for split in ("train", "test"))
    )


def evaluate_photo_folder(bundle_dir, folder, tta: str | None = None) -> dict:
    """Score real photos through the serving path the site uses (every photo decoded and preprocessed as an
    upload is, by the bundle's own preprocessing): accuracy per class, and how often "none of the ten classes" is
    said for photos of the ten classes (wrongly) and for photos of other things (rightly). Undecodable files are
    listed, not scored.
    """
    from mlcore.bundle import utc_now
    from mlcore.inference import Classifier
    from mlcore.preprocessing import ImageError

    classifier = Classifier(bundle_dir, num_threads=os.cpu_count() or 1, tta=tta)
    rows, unreadable = [], []
    for label, paths in photo_folder_images(folder).items():
        for path in paths:
            try:
                prediction = classifier.classify([path])[0]
            except ImageError:
                unreadable.append(f"{label}/{path.name}")
                continue
            rows.append((label, prediction))
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
        {"class": label, "predicted": p.label, "confidence": round(p.confidence, 4)}
        for label, p in in_class
        if p.label != label
    ]
    return {
        "folder": str(folder),
        "tta": classifier.tta,
        "in_class_photos": len(in_class),
        "accuracy": correct / len(in_class) if in_class else 0.0,
        "per_class": per_class,
        "mistakes": mistakes,
        "in_class_flagged_none_rate": (
            sum(p.none_of_the_classes for _, p in in_class) / len(in_class) if in_class else 0.0
        ),
        "other_photos": len(others),
        "other_flagged_none_rate": sum(p.none_of_the_classes for p in others) / len(others) if others else None,
        "unreadable": unreadable,
        "evaluated_at": utc_now(),
    }
