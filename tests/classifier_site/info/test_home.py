import json

import pytest

pytestmark = pytest.mark.django_db  # the served model is the active version in the database


@pytest.fixture
def shipped_metadata(settings):
    return json.loads((settings.SHIPPED_MODEL_DIR / "metadata.json").read_text())


def test_home_page_shows_the_classes_and_the_models_own_figures(client, shipped_metadata):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("airplane", "automobile", "truck"):
        assert name in page
    assert shipped_metadata["name"] in page
    assert f"{100 * shipped_metadata['test']['accuracy']:.2f}%" in page
    assert "10,000 held-out test images" in page  # grouped as the language writes numbers
    # With several networks, the training row names the one it tells of.
    assert "Training of the first" not in page
    assert "Training of EfficientNet-Lite0 (CIFAR-10)" in page


def test_home_page_says_the_classifier_is_unavailable_when_the_bundle_is_missing(client, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "missing"
    response = client.get("/")
    assert response.status_code == 200
    assert "classifier is unavailable" in response.content.decode()
