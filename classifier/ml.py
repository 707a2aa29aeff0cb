"""The site's one door to the model: the bundle named by settings.MODEL_DIR, loaded once per process."""

import logging

from django.conf import settings

from mlcore.bundle import BundleError
from mlcore.inference import Classifier, load_classifier

logger = logging.getLogger(__name__)


def get_classifier() -> Classifier:
    return load_classifier(settings.MODEL_DIR)


def model_summary() -> dict | None:
    """Headline figures of the served model for pages, or None when it cannot be loaded."""
    try:
        metadata = get_classifier().metadata
    except (BundleError, OSError, ValueError) as error:
        logger.error("The model bundle at %s cannot be loaded: %s", settings.MODEL_DIR, error)
        return None
    test = metadata.get("test") or {}
    training = metadata.get("training") or {}
    return {
        "name": metadata.get("name"),
        "test_accuracy_percent": 100 * test["accuracy"] if "accuracy" in test else None,
        "test_images": test.get("images"),
        "tta": metadata.get("tta"),
        "parameters": metadata.get("parameters"),
        "train_minutes": (metadata.get("wall_seconds") or 0) / 60,
        "epochs": training.get("epochs_completed"),
        "hardware": (metadata.get("hardware") or {}).get("cpu"),
    }
