"""Heat maps, "none of the ten classes" and model versions, through the site and the API with the shipped model."""

import io
import json
import shutil
import tarfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from classifier.models import ModelVersion, Prediction
from classifier.services import api_token_create, model_version_register, prediction_heat_map
from mlcore.inference import Classifier
from tests.classifier.factories import make_prediction
from tests.conftest import FIXTURES, cifar_test_images

pytestmark = pytest.mark.django_db


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def planted_photo(name="cat-0001.jpg", corner=(0, 0)) -> Image.Image:
    """A wide grey photo with a real CIFAR photo in one quarter of the centre square the network sees."""
    photo = Image.new("RGB", (192, 96), (128, 128, 128))
    planted = Image.open(io.BytesIO(cifar_test_images(2)[name])).resize((48, 48))
    photo.paste(planted, (48 + 48 * corner[0], 48 * corner[1]))
    return photo


def test_the_heat_map_peaks_where_the_planted_photo_is():
    from classifier.serving import get_classifier

    classifier = get_classifier()
    hits = 0
    for name in ("cat-0001.jpg", "ship-0000.jpg"):
        for corner in ((0, 0), (1, 0), (0, 1), (1, 1)):
            result = classifier.classify([planted_photo(name, corner)])[0]
            cells = classifier.heat_map(result.squares, result.label, result.case)
            row, col = np.unravel_index(cells.argmax(), cells.shape)
            hits += (col // 2, row // 2) == corner  # 4x4 cells: the quarter the photo was planted in
    assert hits >= 7  # measured: 75 of 80 placements of 20 test photos peak in the right quarter


def test_the_heat_map_overlay_has_the_photos_aspect_and_covers_only_what_the_network_saw(owner_client, user):
    prediction = make_prediction(user, "planted.jpg", jpeg(planted_photo()))
    assert prediction_heat_map(prediction=prediction).shape == (4, 4)
    response = owner_client.get(f"/predictions/{prediction.pk}/heat-map.png")
    assert response["Content-Type"] == "image/png"
    overlay = Image.open(io.BytesIO(response.content))
    assert overlay.size == (256, 128)  # the photo's 2:1 aspect
    alpha = np.asarray(overlay)[..., 3]
    assert alpha[:, :64].max() == 0 and alpha[:, 192:].max() == 0 and alpha.max() > 0


def test_a_heat_map_is_made_once_then_read_from_the_prediction(user, monkeypatch):
    """An API page of 100 with ?explain=1 recomputed every heat map on every request: seconds of CPU each time."""
    prediction = make_prediction(user, "planted.jpg", jpeg(planted_photo()))
    first = prediction_heat_map(prediction=prediction)
    stored = Prediction.objects.get(pk=prediction.pk)
    assert np.allclose(stored.heat_map, first)
    monkeypatch.setattr(Classifier, "heat_map", lambda *args, **kwargs: pytest.fail("the heat map was made again"))
    assert np.allclose(prediction_heat_map(prediction=stored), first)


def test_the_prediction_page_offers_the_heat_map_and_others_cannot_see_it(owner_client, client, user, other_user):
    prediction = make_prediction(user)
    page = owner_client.get(prediction.get_absolute_url()).content.decode()
    assert "Show heat map" in page and f"/predictions/{prediction.pk}/heat-map.png" in page
    client.force_login(other_user)
    assert client.get(f"/predictions/{prediction.pk}/heat-map.png").status_code == 404


def test_the_api_explains_on_request(client, user):
    _, token = api_token_create(user=user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    photo = SimpleUploadedFile("planted.jpg", jpeg(planted_photo()))
    created = client.post("/api/v1/predictions?explain=1", {"image": photo}, **auth).json()["predictions"][0]
    assert np.array(created["heat_map"]["cells"]).shape == (4, 4)
    assert client.get(created["heat_map"]["image_url"], **auth)["Content-Type"] == "image/png"
    plain = client.get(f"/api/v1/predictions/{created['id']}", **auth).json()
    assert "heat_map" not in plain and plain["none_of_the_classes"] is False


def test_noise_is_answered_none_of_the_ten_classes_on_the_page_and_in_the_api(owner_client, client, user):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    response = owner_client.post(
        "/predict/", {"images": SimpleUploadedFile("noise.png", buffer.getvalue())}, follow=True
    )
    prediction = Prediction.objects.get(owner=user)
    assert prediction.none_of_the_classes
    page = response.content.decode()
    heading = page.split("<h1", 1)[1].split("</h1>", 1)[0]
    assert "Not one of the ten classes" in heading and "%" not in heading  # never a sure class beside it
    assert "The CIFAR-10 network (EfficientNet-Lite0) finds it unlike every class of its training images." in page
    _, token = api_token_create(user=user)
    body = client.get(f"/api/v1/predictions/{prediction.pk}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["none_of_the_classes"] is True and body["verdict"] == "Not one of the ten classes"
    assert body["none_because"] == [{"expert": "cifar10-efficientnet-lite0", "signal": "unlike_training"}]


def test_generated_noise_is_flagged_and_real_test_photos_pass_at_the_rate_the_bundle_reports(settings):
    classifier = Classifier(settings.SHIPPED_MODEL_DIR)
    with tarfile.open(FIXTURES / "cifar10-test-sample.tar.gz") as archive:
        names = [m for m in archive.getmembers() if m.isfile()]
        real = np.stack([np.asarray(Image.open(archive.extractfile(m)).convert("RGB")) for m in names])
    noise = np.random.default_rng(1).integers(0, 256, (100, 32, 32, 3), dtype=np.uint8)
    flagged_real = classifier.answer_pixels(real)[1].mean()
    flagged_noise = classifier.answer_pixels(noise)[1].mean()
    measured = classifier.rule.case_for(32).figures["none_of_the_classes"]
    reported = measured["options"][measured["chosen"]]["real_flagged"]  # on the validation split
    assert flagged_noise >= 0.95
    assert abs(flagged_real - reported) < 0.05  # 300 real photos: within about 3.5 standard errors


@pytest.fixture
def second_bundle(tmp_path, settings):
    """The shipped bundle under another name, as a second model version."""
    copy = tmp_path / "second"
    shutil.copytree(settings.SHIPPED_MODEL_DIR, copy)
    metadata = json.loads((copy / "metadata.json").read_text())
    metadata["name"] = "second-version"
    (copy / "metadata.json").write_text(json.dumps(metadata))
    return copy


def test_activating_a_version_in_the_admin_switches_what_new_predictions_use(
    client, staff_user, user, settings, second_bundle
):
    first = model_version_register(path=settings.SHIPPED_MODEL_DIR, activate=True)
    second = model_version_register(path=second_bundle)
    before = make_prediction(user)
    client.force_login(staff_user)
    response = client.post(
        "/admin/classifier/modelversion/", {"action": "activate_version", "_selected_action": [second.pk]}, follow=True
    )
    # The name as it is written (the admin capitalises a message's first letter: the name does not come first).
    assert "Model version second-version is active" in response.content.decode()
    after = make_prediction(user)
    assert before.model_version == first.name and after.model_version == "second-version"
    assert list(ModelVersion.objects.filter(is_active=True)) == [second]
    before.refresh_from_db()
    assert before.model_version == first.name  # every prediction keeps the version that made it


def test_a_broken_bundle_cannot_be_activated(client, staff_user, settings, tmp_path):
    model_version_register(path=settings.SHIPPED_MODEL_DIR, activate=True)
    broken_folder = tmp_path / "broken"
    shutil.copytree(settings.SHIPPED_MODEL_DIR, broken_folder)
    metadata = json.loads((broken_folder / "metadata.json").read_text())
    (broken_folder / "metadata.json").write_text(json.dumps(metadata | {"name": "broken-version"}))
    broken = model_version_register(path=broken_folder)
    (broken_folder / "experts" / "cifar10-efficientnet-lite0" / "model.tflite").write_bytes(b"not a model")
    client.force_login(staff_user)
    response = client.post(
        "/admin/classifier/modelversion/", {"action": "activate_version", "_selected_action": [broken.pk]}, follow=True
    )
    assert "cannot be served" in response.content.decode()
    assert ModelVersion.objects.get(is_active=True).path == str(settings.SHIPPED_MODEL_DIR.resolve())


def test_register_model_command(settings, capsys):
    from django.core.management import call_command

    call_command("register_model", str(settings.SHIPPED_MODEL_DIR), "--activate")
    assert "and activated it" in capsys.readouterr().out
    assert ModelVersion.objects.get().is_active


def test_a_second_folder_cannot_take_over_a_registered_versions_name(settings, tmp_path):
    from mlcore.bundle import BundleError

    model_version_register(path=settings.SHIPPED_MODEL_DIR, activate=True)
    copy = tmp_path / "copy"
    shutil.copytree(settings.SHIPPED_MODEL_DIR, copy)
    with pytest.raises(BundleError, match="registered from"):
        model_version_register(path=copy)
    assert ModelVersion.objects.get().path == str(settings.SHIPPED_MODEL_DIR.resolve())
