"""The site's one door to the model: the active model version's bundle (settings.MODEL_DIR until staff activate
a registered version), loaded once per process and switched without a restart when another is activated."""

import contextlib
import logging
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError

from mlcore.bundle import BundleError
from mlcore.inference import Classifier, load_classifier

logger = logging.getLogger(__name__)


class ClassifierUnavailable(RuntimeError):
    """The model bundle cannot be loaded; pages say so and /healthz answers 503."""


ACTIVE_CHECK_SECONDS = 2.0  # how soon every worker notices that staff activated another version
_active = {"checked_at": -1e9, "model_dir": None, "path": None}
_active_lock = threading.Lock()


def active_bundle_path() -> Path:
    """The folder of the bundle to serve: the active registered version, else settings.MODEL_DIR."""
    with _active_lock:
        stale = time.monotonic() - _active["checked_at"] > ACTIVE_CHECK_SECONDS
        if stale or _active["model_dir"] != settings.MODEL_DIR:
            _active.update(checked_at=time.monotonic(), model_dir=settings.MODEL_DIR, path=_active_version_path())
        return _active["path"]


def forget_active_model() -> None:
    """Look the active version up again on the next request (this process; others within seconds)."""
    with _active_lock:
        _active["checked_at"] = -1e9


def default_bundle_path() -> Path:
    """The shipped default: the bundle settings.MODEL_DIR names (the repository's own unless the environment names
    another), served while no version is active."""
    return Path(settings.MODEL_DIR)


def _active_version_path() -> Path:
    from classifier.models import ModelVersion

    try:
        path = ModelVersion.objects.filter(is_active=True).values_list("path", flat=True).first()
    except DatabaseError:  # no database yet (before migrate): serve the configured bundle
        path = None
    return Path(path) if path else default_bundle_path()


def load_bundle(path) -> Classifier:
    """The process-wide classifier of a bundle folder, with the site's slots (settings.CLASSIFY_AT_ONCE)."""
    return load_classifier(Path(path), slots=settings.CLASSIFY_AT_ONCE)


def get_classifier() -> Classifier:
    path = active_bundle_path()
    try:
        return load_bundle(path)
    except (BundleError, OSError, ValueError) as error:
        logger.error("The model bundle at %s cannot be loaded: %s", path, error)
        raise ClassifierUnavailable(f"the model bundle at {path} cannot be loaded: {error}") from error


def classifier_for_version(name: str) -> Classifier | None:
    """The classifier of a model version by name: the served one, or a registered bundle; None if gone."""
    from classifier.models import ModelVersion

    with contextlib.suppress(ClassifierUnavailable):
        served = get_classifier()
        if served.version == name:
            return served
    path = ModelVersion.objects.filter(name=name).values_list("path", flat=True).first()
    if path is None:
        return None
    try:
        return load_bundle(path)
    except (BundleError, OSError, ValueError):
        return None


def warm_up() -> None:
    """Load the model before the first request (called when a worker imports the WSGI application)."""
    with contextlib.suppress(ClassifierUnavailable):  # logged; pages and /healthz report it; requests retry
        get_classifier()
