"""The site's one door to the model: the bundle named by settings.MODEL_DIR, loaded once per process."""

from django.conf import settings

from mlcore.inference import Classifier, load_classifier


def get_classifier() -> Classifier:
    return load_classifier(settings.MODEL_DIR)
