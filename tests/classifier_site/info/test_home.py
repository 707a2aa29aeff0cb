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


def test_home_page_says_what_the_served_bundle_does(client, settings):
    page = client.get("/").content.decode()  # the shipped bundle: three experts, ImageNet's among them
    assert "ImageNet's photos looks at it sharp" in " ".join(page.split())
    assert "answered so, not forced into the closest class" in page
    assert "small convolutional network" not in page

    # A bundle of one CIFAR network: no ImageNet network to claim.
    settings.MODEL_DIR = settings.SHIPPED_MODEL_DIR / "experts" / "cifar10-airbench"
    page = client.get("/").content.decode()
    intro = " ".join(page.split('<section class="intro">')[1].split("</section>")[0].split())
    assert "A convolutional network tells which of ten" in intro and "ImageNet" not in intro


def test_home_page_mentions_the_chat_only_where_there_is_one(client, settings):
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "", ""
    assert "vision model" not in client.get("/").content.decode()
    settings.OPENAI_API_KEY = "a key"
    assert "looks at one itself when its server has a vision model" in client.get("/").content.decode()
