"""Scores from a network's outputs, shared by training, calibration, evaluation and serving: test-time
augmentation views, softmax, the metrics a bundle reports, and the two "none of the ten classes" scores (the energy
of the logits, and how close the pooled features are to a class's training images).

Plain numpy; it imports nothing else from mlcore but the labels, so every other module can use it.
"""

import numpy as np

from mlcore.labels import CLASSES, NUM_CLASSES

TTA_LEVELS = ("none", "flip", "flip_translate")
RELIABILITY_BINS = 15


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
        outputs.append(weighted_views(logits_fn(np.ascontiguousarray(np.concatenate(views))), weights))
    return np.concatenate(outputs) if outputs else np.zeros((0, NUM_CLASSES))


def weighted_views(values, weights) -> np.ndarray:
    """Rows computed for the TTA views stacked one after another (as `tta_views` lists them), averaged with the
    views' weights: one row per image."""
    per_view = np.split(np.asarray(values, dtype=np.float64), len(weights))
    return sum(weight * value for weight, value in zip(weights, per_view, strict=True))


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


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T that minimises the log loss of softmax(logits / T): a coarse grid, then a finer one."""
    labels = np.asarray(labels, dtype=np.int64)

    def loss(temperature):
        return log_loss(softmax(logits, temperature), labels)

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = min(grid, key=loss)
    fine = np.exp(np.linspace(np.log(best) - 0.06, np.log(best) + 0.06, 61))
    return float(min(fine, key=loss))


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    """Confidence against accuracy in equal-width confidence bins, and the expected calibration error."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows, error = [], 0.0
    for index, (lower, upper) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        inside = (confidence > lower) & (confidence <= upper) if index else (confidence <= upper)
        count = int(inside.sum())
        mean_confidence = float(confidence[inside].mean()) if count else None
        accuracy = float(correct[inside].mean()) if count else None
        if count:
            error += count / len(labels) * abs(mean_confidence - accuracy)
        rows.append(
            {
                "lower": float(lower),
                "upper": float(upper),
                "count": count,
                "confidence": mean_confidence,
                "accuracy": accuracy,
            }
        )
    return {"bins": rows, "ece": float(error)}


def energy(logits: np.ndarray, temperature: float) -> np.ndarray:
    """T * logsumexp(logits / T): high when some class fits well, low for images that fit none."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    top = scaled.max(axis=1, keepdims=True)
    return temperature * (top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1)))


def prepare_feature_model(feature_model: dict) -> dict:
    """The parts of the distance that do not depend on the image, computed once per loaded bundle."""
    precision = np.asarray(feature_model["precision"], dtype=np.float64)
    means = np.asarray(feature_model["means"], dtype=np.float64)
    means_precision = means @ precision
    return {"precision": precision, "means_precision": means_precision, "means_term": (means_precision * means).sum(1)}


def feature_closeness(pooled: np.ndarray, feature_model: dict) -> np.ndarray:
    """Minus the squared Mahalanobis distance to the nearest class mean: low for images unlike any class.

    Expanded as x'Px - 2 m'Px + m'Pm, so an image costs one matrix-vector product, not one per class.
    """
    prepared = feature_model if "means_term" in feature_model else prepare_feature_model(feature_model)
    pooled = np.asarray(pooled, dtype=np.float64)
    distances = (
        ((pooled @ prepared["precision"]) * pooled).sum(axis=1)[:, None]
        - 2 * pooled @ prepared["means_precision"].T
        + prepared["means_term"][None, :]
    )
    return -distances.min(axis=1)
