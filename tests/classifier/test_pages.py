"""Every page as an anonymous visitor, the owner and another user; CSRF on every form."""

import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from classifier.models import Prediction
from classifier.services import prediction_confirm, prediction_correct, prediction_feedback
from tests.classifier.factories import make_prediction
from tests.conftest import cifar_test_images, image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def prediction(user):
    return make_prediction(user, "my-cat.jpg")


def owner_pages(prediction):
    return [
        f"/predictions/{prediction.pk}/",
        f"/predictions/{prediction.pk}/delete/",
        f"/predictions/{prediction.pk}/image",
        f"/predictions/{prediction.pk}/image?size=thumbnail",
        f"/predictions/{prediction.pk}/image?size=display",
        f"/predictions/{prediction.pk}/model-input.png",
    ]


@pytest.mark.parametrize("path", ["/", "/model/", "/accounts/login/", "/accounts/signup/", "/api/v1/openapi.json"])
def test_public_pages_open_to_anonymous_visitors(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/predict/", "/predictions/", "/accounts/tokens/", "/accounts/password_change/"])
def test_private_pages_send_anonymous_visitors_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_anonymous_visitors_cannot_see_a_prediction_or_its_image(client, prediction):
    for path in owner_pages(prediction):
        assert client.get(path).status_code in (302, 403), path


def test_the_owner_sees_their_prediction_and_its_files(owner_client, prediction):
    for path in owner_pages(prediction):
        assert owner_client.get(path).status_code == 200, path


def test_another_user_gets_404_for_the_prediction_its_image_and_its_deletion(client, other_user, prediction):
    client.force_login(other_user)
    for path in owner_pages(prediction):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/predictions/{prediction.pk}/delete/").status_code == 404
    assert Prediction.objects.filter(pk=prediction.pk).exists()


def test_staff_may_see_any_uploaded_image_but_not_use_other_peoples_pages(client, staff_user, prediction):
    client.force_login(staff_user)
    assert client.get(f"/predictions/{prediction.pk}/image").status_code == 200
    assert client.get(f"/predictions/{prediction.pk}/").status_code == 404


def image_paths(prediction):
    return [
        f"/predictions/{prediction.pk}/image",
        f"/predictions/{prediction.pk}/image?size=thumbnail",
        f"/predictions/{prediction.pk}/image?size=display",
        f"/predictions/{prediction.pk}/model-input.png",
        f"/predictions/{prediction.pk}/heat-map.png",
    ]


def test_staff_without_the_view_permission_get_404_for_another_users_images(client, make_user, prediction):
    client.force_login(make_user("stan", is_staff=True))
    for path in image_paths(prediction):
        assert client.get(path).status_code == 404, path


def test_staff_with_only_the_view_permission_see_another_users_images(client, make_user, prediction):
    viewer = make_user("vera", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_prediction"))
    client.force_login(viewer)
    for path in image_paths(prediction):
        assert client.get(path).status_code == 200, path
    assert client.get(f"/predictions/{prediction.pk}/").status_code == 404


def test_the_owner_sees_their_images_without_any_permission(owner_client, prediction):
    for path in image_paths(prediction):
        assert owner_client.get(path).status_code == 200, path


def test_uploaded_images_are_served_with_the_servers_content_type_and_nosniff(owner_client, user):
    prediction = make_prediction(user, "looks-like.png", image_bytes("JPEG"))
    response = owner_client.get(f"/predictions/{prediction.pk}/image")
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "private" in response["Cache-Control"]
    assert b"".join(response) == (prediction.image.storage.open(prediction.image.name).read())


def test_media_files_have_no_public_url(client, prediction):
    assert client.get(f"/media/{prediction.image.name}").status_code == 404


def test_the_predict_page_has_an_images_input_and_a_predict_button(owner_client):
    page = owner_client.get("/predict/").content.decode()
    assert '<label for="id_images">Images</label>' in page
    assert 'name="images"' in page and "multiple" in page
    assert '<button type="submit">Predict</button>' in page


def test_one_upload_opens_its_result_page_with_bars_the_seen_image_version_and_time(owner_client, user):
    photo = cifar_test_images()["cat-0000.jpg"]
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile("cat.jpg", photo)}, follow=True)
    prediction = Prediction.objects.get(owner=user)
    page = response.content.decode()
    assert response.redirect_chain == [(prediction.get_absolute_url(), 302)]
    assert prediction.label in page
    assert page.count("<meter") == 10
    assert f"/predictions/{prediction.pk}/model-input.png" in page
    assert prediction.model_version in page
    assert " ms" in page


def test_the_shipped_model_gets_real_photos_right(owner_client, user):
    photos = cifar_test_images(count_per_class=1)
    files = [SimpleUploadedFile(name, data) for name, data in photos.items()]
    owner_client.post("/predict/", {"images": files})
    stored = Prediction.objects.filter(owner=user)
    assert stored.count() == 10
    correct = sum(prediction.original_name.startswith(prediction.label) for prediction in stored)
    assert correct >= 8  # the model scores about 90% on these images


def test_posting_no_file_asks_for_one(owner_client):
    response = owner_client.post("/predict/", {})
    assert response.status_code == 400
    assert "Choose one or more images" in response.content.decode()


def test_history_lists_only_the_users_own_predictions_newest_first(owner_client, user, other_user):
    first = make_prediction(user, "first.jpg")
    second = make_prediction(user, "second.jpg")
    make_prediction(other_user, "someone-elses.jpg")
    page = owner_client.get("/predictions/").content.decode()
    assert page.index("second.jpg") < page.index("first.jpg")
    assert "someone-elses.jpg" not in page
    assert f"/predictions/{first.pk}/" in page and f"/predictions/{second.pk}/" in page


def test_history_is_paginated_and_filterable_by_label(owner_client, user):
    predictions = [make_prediction(user, f"photo-{index}.jpg") for index in range(22)]
    first_page = owner_client.get("/predictions/").content.decode()
    assert "Page 1 of 2 (22 predictions)" in first_page
    assert "photo-21.jpg" in first_page and "photo-0.jpg" not in first_page
    assert "photo-0.jpg" in owner_client.get("/predictions/?page=2").content.decode()
    label = predictions[0].label
    other = next(name for name in ("cat", "dog") if name != label)
    Prediction.objects.filter(pk=predictions[1].pk).update(label=other, none_of_the_classes=False)  # shown as `other`
    filtered = owner_client.get(f"/predictions/?label={other}").content.decode()
    assert "photo-1.jpg" in filtered and "photo-2.jpg" not in filtered


def test_history_finds_the_photos_shown_as_none_of_the_ten_and_not_under_their_closest_class(owner_client, user):
    shown_as_class = make_prediction(user, "a-class.jpg")
    not_one = make_prediction(user, "not-one-of-them.jpg")
    Prediction.objects.filter(pk=shown_as_class.pk).update(none_of_the_classes=False)
    Prediction.objects.filter(pk=not_one.pk).update(label=shown_as_class.label, none_of_the_classes=True)
    under_class = owner_client.get(f"/predictions/?label={shown_as_class.label}").content.decode()
    assert "a-class.jpg" in under_class and "not-one-of-them.jpg" not in under_class
    none = owner_client.get("/predictions/?label=none").content.decode()
    assert "not-one-of-them.jpg" in none and "a-class.jpg" not in none
    assert '<option value="none" selected>none of the ten classes</option>' in none
    Prediction.objects.filter(pk=not_one.pk).delete()
    assert (
        "No predictions shown as none of the ten classes yet."
        in owner_client.get("/predictions/?label=none").content.decode()
    )


def test_history_shows_what_staff_decided(owner_client, user, staff_user):
    corrected, confirmed = make_prediction(user, "corrected.jpg"), make_prediction(user, "confirmed.jpg")
    other = next(name for name in ("cat", "dog") if name != corrected.label)
    prediction_correct(prediction=corrected, reviewer=staff_user, label=other)
    prediction_confirm(prediction=confirmed, reviewer=staff_user)
    page = " ".join(owner_client.get("/predictions/").content.decode().split())
    assert f'<span class="review">Corrected: {other}</span>' in page
    assert '<span class="review">Confirmed</span>' in page


def test_history_marks_what_the_owner_said_is_wrong_until_staff_review_it(owner_client, user, staff_user):
    disputed, none_of_them, quiet = (make_prediction(user, f"{name}.jpg") for name in ("dog", "none", "quiet"))
    said = next(name for name in ("dog", "cat") if name != disputed.label)
    prediction_feedback(prediction=disputed, label=said)
    prediction_feedback(prediction=none_of_them, label="none")
    page = " ".join(owner_client.get("/predictions/").content.decode().split())
    assert f'<span class="review awaiting">You said: {said} — awaiting review</span>' in page
    assert '<span class="review awaiting">You said: none of the ten classes — awaiting review</span>' in page
    assert page.count("awaiting review") == 2  # not on the card nobody disputed
    ukrainian = owner_client.get("/predictions/", HTTP_ACCEPT_LANGUAGE="uk").content.decode()
    assert ukrainian.count('class="review awaiting"') == 2 and "awaiting review" not in ukrainian

    prediction_correct(prediction=disputed, reviewer=staff_user, label=said)
    page = " ".join(owner_client.get("/predictions/").content.decode().split())
    assert f'<span class="review">Corrected: {said}</span>' in page
    assert page.count("awaiting review") == 1


def test_the_owner_deletes_a_prediction_and_its_file(
    owner_client, prediction, media_root, django_capture_on_commit_callbacks
):
    stored = media_root / prediction.image.name
    assert stored.is_file()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/predictions/{prediction.pk}/delete/", follow=True)
    assert "Deleted my-cat.jpg" in response.content.decode()
    assert not Prediction.objects.filter(pk=prediction.pk).exists()
    assert not stored.exists()


def test_the_model_data_page_shows_the_bundles_figures(client, settings):
    import json

    metadata = json.loads((settings.MODEL_DIR / "metadata.json").read_text())
    page = client.get("/model/").content.decode()
    assert metadata["name"] in page
    assert f"{100 * metadata['test']['accuracy']:.2f}%" in page
    assert str(metadata["parameters"]) in page
    main_network = json.loads((settings.MODEL_DIR / metadata["experts"][0]["folder"] / "metadata.json").read_text())
    assert main_network["training"]["command"] in page


def test_pages_say_the_classifier_is_unavailable_without_a_model(owner_client, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "missing"
    assert "classifier is unavailable" in owner_client.get("/predict/").content.decode()
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile("a.jpg", image_bytes())})
    assert response.status_code == 503
    assert "classifier is unavailable" in response.content.decode()
    assert Prediction.objects.count() == 0


@pytest.fixture
def csrf_client(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_every_form_refuses_a_post_without_the_csrf_token(csrf_client, prediction, user):
    token = user.api_tokens.create(prefix="x", key_hash="y" * 64)
    posts = {
        "/predict/": {"images": SimpleUploadedFile("a.jpg", image_bytes())},
        f"/predictions/{prediction.pk}/delete/": {},
        "/accounts/tokens/": {"name": "script"},
        f"/accounts/tokens/{token.pk}/revoke/": {},
        "/accounts/password_change/": {"old_password": "x", "new_password1": "y", "new_password2": "y"},
        "/accounts/logout/": {},
    }
    for path, data in posts.items():
        assert csrf_client.post(path, data).status_code == 403, path
    assert Prediction.objects.count() == 1
    assert user.api_tokens.get().revoked_at is None


def test_forms_work_with_the_csrf_token(csrf_client):
    page = csrf_client.get("/predict/")
    token = page.context["csrf_token"]
    response = csrf_client.post(
        "/predict/", {"images": SimpleUploadedFile("a.jpg", image_bytes()), "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("image_format", "mode"), [("PNG", "I;16"), ("PNG", "LA"), ("JPEG", "CMYK"), ("GIF", "P"), ("WEBP", "RGBA")]
)
def test_thumbnails_of_every_kind_of_upload_are_upright_jpegs(owner_client, user, image_format, mode):
    prediction = make_prediction(user, "x", image_bytes(image_format, size=(600, 300), mode=mode))
    response = owner_client.get(f"/predictions/{prediction.pk}/image?size=thumbnail")
    assert response["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (256, 128)
