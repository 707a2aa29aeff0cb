import json

import pytest

from classifier.serving import ClassifierUnavailable, get_classifier
from mlcore.labels import CLASSES

pytestmark = pytest.mark.django_db  # the served model is the active version in the database


def test_the_site_serves_the_shipped_model_by_default(settings):
    assert settings.MODEL_DIR == settings.SHIPPED_MODEL_DIR
    classifier = get_classifier()
    shipped = json.loads((settings.SHIPPED_MODEL_DIR / "metadata.json").read_text())
    assert classifier.version == shipped["name"]
    assert classifier.classes == CLASSES


def test_model_dir_setting_chooses_another_bundle(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "elsewhere"
    with pytest.raises(ClassifierUnavailable, match="elsewhere"):
        get_classifier()
