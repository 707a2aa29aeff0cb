"""What a person sees of the experts behind an answer: on the prediction's page (in English and Ukrainian), on the
results of an upload, and in the API, with the shipped bundle and real photos."""

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from classifier.models import Prediction
from classifier.services import api_token_create
from tests.classifier.factories import make_prediction
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db

PHOTOS = Path(__file__).parent.parent / "fixtures" / "photos"
UKRAINIAN = {"HTTP_ACCEPT_LANGUAGE": "uk-UA,uk;q=0.9"}


def upload(user, name: str) -> Prediction:
    return make_prediction(user, name, (PHOTOS / name).read_bytes())


def heading(page: str) -> str:
    return page.split("<h1", 1)[1].split("</h1>", 1)[0]


def test_a_photos_page_shows_what_each_network_said_and_the_square_it_saw(owner_client, user):
    prediction = upload(user, "dog-rottweiler.jpg")
    page = owner_client.get(prediction.get_absolute_url()).content.decode()
    assert "dog" in heading(page).lower()
    assert "What each network said" in page
    assert "The CIFAR-10 network (EfficientNet-Lite0)" in page and "The ImageNet network (EfficientNet-Lite0)" in page
    assert "(weight 0.6)" in page and "(weight 0.4)" in page
    assert "saw 128×128 pixels, through 32×32" in page and "saw 224×224 pixels" in page
    for name, side in (("cifar10-efficientnet-lite0", 128), ("imagenet-efficientnet-lite0", 224)):
        assert f"/predictions/{prediction.pk}/model-input.png?expert={name}" in page
        square = owner_client.get(f"/predictions/{prediction.pk}/model-input.png?expert={name}")
        assert Image.open(io.BytesIO(square.content)).size == (side, side)
    assert owner_client.get(f"/predictions/{prediction.pk}/model-input.png?expert=nobody").status_code == 404


def test_a_photo_of_none_of_the_ten_says_why_and_names_no_class_beside_it(owner_client, user):
    prediction = upload(user, "espresso-coffee.jpg")
    assert prediction.none_of_the_classes
    page = owner_client.get(prediction.get_absolute_url()).content.decode()
    assert "Not one of the ten classes" in heading(page) and "%" not in heading(page)
    other = next(expert["other"] for expert in prediction.experts if expert["trained_on"] == "ImageNet")
    share = f"{100 * other:.0f}%"
    assert (
        f"The ImageNet network (EfficientNet-Lite0) sees something else: it puts {share} of its answer outside the "
        "ten classes." in page
    )
    assert "The closest of the ten, if it were one of them" in page
    assert "pointed to the closest of the ten" in page and "drove its answer" not in page  # the heat map's caption


def test_the_page_speaks_ukrainian_about_the_networks_and_why(client, user):
    client.force_login(user)
    client.defaults.update(UKRAINIAN)
    dog = client.get(upload(user, "dog-rottweiler.jpg").get_absolute_url()).content.decode()
    assert "Що сказала кожна мережа" in dog and "Мережа ImageNet (EfficientNet-Lite0)" in dog and "(вага 0,6)" in dog
    coffee = client.get(upload(user, "espresso-coffee.jpg").get_absolute_url()).content.decode()
    assert "Жоден із десяти класів" in heading(coffee)
    assert "Мережа ImageNet (EfficientNet-Lite0) бачить щось інше" in coffee


def test_several_uploads_show_each_verdict_and_why(owner_client):
    files = [
        SimpleUploadedFile(name, (PHOTOS / name).read_bytes()) for name in ("espresso-coffee.jpg", "dog-rottweiler.jpg")
    ]
    page = owner_client.post("/predict/", {"images": files}, follow=True).content.decode()
    assert page.count("Not one of the ten classes") == 1 and "sees something else" in page
    assert page.count("The closest of the ten, if it were one of them") == 1  # above the coffee's bars alone


def test_the_api_gives_each_experts_answer_and_the_reason(client, user):
    _, token = api_token_create(user=user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    files = [SimpleUploadedFile("coffee.jpg", (PHOTOS / "espresso-coffee.jpg").read_bytes())]
    files.append(SimpleUploadedFile("small.png", image_bytes("PNG", size=(40, 40))))
    coffee, small = client.post("/api/v1/predictions", {"image": files}, **auth).json()["predictions"]
    assert coffee["rule_case"] == "photo" and coffee["verdict"] == "Not one of the ten classes"
    assert [expert["name"] for expert in coffee["experts"]] == [
        "cifar10-efficientnet-lite0",
        "imagenet-efficientnet-lite0",
    ]
    imagenet = coffee["experts"][1]
    assert imagenet["trained_on"] == "ImageNet" and imagenet["other"] > 0.9 and imagenet["square"] == 224
    assert sum(imagenet["probabilities"].values()) == pytest.approx(1 - imagenet["other"], abs=1e-6)
    assert coffee["none_because"][0]["expert"] == "imagenet-efficientnet-lite0"
    # a thumbnail is answered by the two CIFAR networks; the ImageNet one never sees it
    assert small["rule_case"] == "thumbnail"
    assert [expert["name"] for expert in small["experts"]] == ["cifar10-efficientnet-lite0", "cifar10-airbench"]
