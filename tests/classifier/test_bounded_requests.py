"""No request's work grows with what the client asks for: lists give the heat maps already made, thumbnails are
made once and kept, and private photos are revalidated instead of kept in a shared browser."""

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from classifier.models import Prediction
from classifier.services import api_token_create
from mlcore.inference import Classifier
from tests.classifier.factories import make_prediction
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_token_create(user=user)[1]}"
    return client


def test_a_list_with_heat_maps_makes_none_and_says_where_each_one_is(api, user, monkeypatch):
    first, second = make_prediction(user, "a.jpg"), make_prediction(user, "b.jpg")
    made = api.get(second_url := f"/api/v1/predictions/{second.pk}?explain=1").json()["heat_map"]
    assert len(made["cells"]) == 4
    monkeypatch.setattr(Classifier, "heat_map", lambda *args, **kwargs: pytest.fail("a list made a heat map"))

    listed = {item["id"]: item for item in api.get("/api/v1/predictions?explain=1&page_size=100").json()["predictions"]}

    assert listed[first.pk]["heat_map"]["cells"] is None
    assert listed[first.pk]["heat_map_url"] == f"http://testserver/api/v1/predictions/{first.pk}?explain=1"
    assert listed[second.pk]["heat_map"]["cells"] == made["cells"]
    assert listed[second.pk]["heat_map_url"] == f"http://testserver{second_url}"
    assert Prediction.objects.get(pk=first.pk).heat_map is None


def test_a_thumbnail_is_made_at_upload_and_served_without_the_photo(owner_client, user):
    prediction = make_prediction(user, "wide.png", image_bytes("PNG", size=(1200, 600)))
    assert prediction.thumbnail
    default_storage.delete(prediction.image.name)  # the thumbnail needs nothing from the photo any more
    response = owner_client.get(f"/predictions/{prediction.pk}/image?size=thumbnail")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (256, 128)


def test_a_photo_stored_before_thumbnails_gets_one_made_once_and_kept(owner_client, user):
    prediction = make_prediction(user, "old.jpg", image_bytes(size=(640, 480)))
    default_storage.delete(prediction.thumbnail.name)
    Prediction.objects.filter(pk=prediction.pk).update(thumbnail="")

    assert owner_client.get(f"/predictions/{prediction.pk}/image?size=thumbnail").status_code == 200
    kept = Prediction.objects.get(pk=prediction.pk).thumbnail
    assert kept and default_storage.exists(kept.name)
    default_storage.delete(prediction.image.name)
    assert owner_client.get(f"/predictions/{prediction.pk}/image?size=thumbnail").status_code == 200


def test_deleting_a_prediction_removes_its_thumbnail_too(owner_client, user, django_capture_on_commit_callbacks):
    prediction = make_prediction(user)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/predictions/{prediction.pk}/delete/")
    assert not default_storage.exists(prediction.image.name)
    assert not default_storage.exists(prediction.thumbnail.name)


@pytest.mark.parametrize("query", ["", "?size=thumbnail", "?size=display"])
def test_photos_are_revalidated_so_a_logged_out_browser_cannot_show_them_again(owner_client, user, query):
    prediction = make_prediction(user)
    url = f"/predictions/{prediction.pk}/image{query}"
    response = owner_client.get(url)
    assert set(response["Cache-Control"].split(", ")) == {"private", "no-cache"}
    again = owner_client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again.content == b""
    owner_client.logout()
    assert owner_client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 403


def test_the_squares_and_heat_map_images_are_revalidated_too(owner_client, user):
    prediction = make_prediction(user)
    for path in ("model-input.png", "heat-map.png"):
        response = owner_client.get(f"/predictions/{prediction.pk}/{path}")
        assert "no-cache" in response["Cache-Control"] and response["ETag"]
        assert (
            owner_client.get(f"/predictions/{prediction.pk}/{path}", HTTP_IF_NONE_MATCH=response["ETag"]).status_code
            == 304
        )
