"""The site's one door to the model: the bundle named by settings.MODEL_DIR, loaded once per process."""

import contextlib
import logging

from django.conf import settings

from mlcore.bundle import BundleError
from mlcore.inference import Classifier, load_classifier

logger = logging.getLogger(__name__)


class ClassifierUnavailable(RuntimeError):
    """The model bundle cannot be loaded; pages say so and /healthz answers 503."""


def get_classifier() -> Classifier:
    try:
        return load_classifier(settings.MODEL_DIR)
    except (BundleError, OSError, ValueError) as error:
        logger.error("The model bundle at %s cannot be loaded: %s", settings.MODEL_DIR, error)
        raise ClassifierUnavailable(f"the model bundle at {settings.MODEL_DIR} cannot be loaded: {error}") from error


def warm_up() -> None:
    """Load the model before the first request (called when a worker imports the WSGI application)."""
    with contextlib.suppress(ClassifierUnavailable):  # logged; pages and /healthz report it; requests retry
        get_classifier()


def model_summary() -> dict | None:
    """Headline figures of the served model for pages, or None when it cannot be loaded."""
    try:
        metadata = get_classifier().metadata
    except ClassifierUnavailable:
        return None
    test = metadata.get("test") or {}
    training = metadata.get("training") or {}
    return {
        "name": metadata.get("name"),
        "architecture": metadata.get("architecture"),
        "test_accuracy_percent": 100 * test["accuracy"] if "accuracy" in test else None,
        "test_images": test.get("images"),
        "tta": metadata.get("tta"),
        "parameters": metadata.get("parameters"),
        "flops_per_image": metadata.get("flops_per_image"),
        "train_minutes": (metadata.get("wall_seconds") or 0) / 60,
        "epochs": training.get("epochs_completed"),
        "train_images": training.get("train_images"),
        "validation_images": training.get("validation_images"),
        "command": training.get("command"),
        "hardware": (metadata.get("hardware") or {}).get("cpu"),
        "created_at": metadata.get("created_at"),
    }
