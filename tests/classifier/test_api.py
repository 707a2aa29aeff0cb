"""The JSON API with good, revoked and bad tokens; every error is JSON with the right status."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from classifier.class_names import SHOWN_LABELS
from classifier.models import ApiToken, Prediction
from classifier.selectors import api_token_authenticate
from classifier.services import api_token_create, api_token_revoke, prediction_confirm, prediction_correct
from mlcore.labels import CLASSES
from tests.classifier.factories import make_prediction
from tests.conftest import cifar_test_images, image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(user):
    return api_token_create(user=user, name="tests")[1]


@pytest.fixture
def api(client, token):
    """A client that sends the token with every request."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def test_upload_answers_201_with_the_documented_fields(api, user):
    photo = cifar_test_images()["ship-0000.jpg"]
    response = api.post("/api/v1/predictions", {"image": SimpleUploadedFile("ship.jpg", photo)})
    assert response.status_code == 201
    [item] = response.json()["predictions"]
    prediction = Prediction.objects.get(owner=user)
    assert item["id"] == prediction.pk
    assert item["label"] == prediction.label == "ship"
    assert item["confidence"] == pytest.approx(max(p["probability"] for p in item["top_k"]))
    assert [entry["label"] for entry in item["top_k"]][0] == item["label"]
    assert sorted(entry["label"] for entry in item["top_k"]) == sorted(CLASSES)
    probabilities = [entry["probability"] for entry in item["top_k"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert item["model_version"] == prediction.model_version
    assert item["image_url"] == f"http://testserver/predictions/{prediction.pk}/image"
    assert item["created_at"].startswith(prediction.created_at.isoformat()[:19])


def test_several_images_in_one_request_and_bad_ones_reported(api, user):
    files = [SimpleUploadedFile("a.jpg", image_bytes()), SimpleUploadedFile("b.svg", b"<svg/>")]
    response = api.post("/api/v1/predictions", {"image": files})
    assert response.status_code == 201
    body = response.json()
    assert [item["id"] for item in body["predictions"]] == [Prediction.objects.get(owner=user).pk]
    assert body["errors"] == [{"file": "b.svg", "error": "it is not a JPEG, PNG, WebP, GIF, BMP or HEIC image"}]


def test_only_bad_files_answer_400_and_store_nothing(api):
    response = api.post("/api/v1/predictions", {"image": SimpleUploadedFile("x.jpg", b"")})
    assert response.status_code == 400
    assert "x.jpg: the file is empty" in response.json()["error"]
    assert Prediction.objects.count() == 0


def test_an_oversize_file_answers_413(api, settings):
    settings.MAX_UPLOAD_BYTES = 100_000
    big = image_bytes("PNG", size=(500, 500), compress_level=0)
    response = api.post("/api/v1/predictions", {"image": SimpleUploadedFile("big.png", big)})
    assert response.status_code == 413
    assert "big.png: the file is larger than" in response.json()["error"]


def test_a_request_without_images_answers_400(api):
    response = api.post("/api/v1/predictions", {"file": SimpleUploadedFile("a.jpg", image_bytes())})
    assert response.status_code == 400
    assert "named 'image'" in response.json()["error"]


def test_an_image_part_without_a_filename_is_told_to_send_one(api):
    """Multipart parsing reads a part without a filename as text: the client hears what to change."""
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"\r\nContent-Type: image/png\r\n\r\n'.encode()
        + image_bytes("PNG")
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = api.post("/api/v1/predictions", body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400
    assert "needs a filename" in response.json()["error"]


def test_the_owner_reads_what_staff_decided(api, user, staff_user):
    corrected, confirmed, waiting, confirmed_none, corrected_none = (
        make_prediction(user, f"{name}.jpg") for name in ("a", "b", "c", "d", "e")
    )
    Prediction.objects.exclude(pk=confirmed_none.pk).update(none_of_the_classes=False)
    Prediction.objects.filter(pk=confirmed_none.pk).update(none_of_the_classes=True)  # the site showed none of them
    corrected, confirmed, confirmed_none, corrected_none = Prediction.objects.filter(
        pk__in=[corrected.pk, confirmed.pk, confirmed_none.pk, corrected_none.pk]
    ).order_by("original_name")
    other = next(name for name in CLASSES if name != corrected.label)
    prediction_correct(prediction=corrected, reviewer=staff_user, label=other)
    prediction_confirm(prediction=confirmed, reviewer=staff_user)
    prediction_confirm(prediction=confirmed_none, reviewer=staff_user)
    prediction_correct(prediction=corrected_none, reviewer=staff_user, label="none")
    answers = {item["id"]: item for item in api.get("/api/v1/predictions").json()["predictions"]}
    decided = {pk: (answer["review_status"], answer["reviewed_label"]) for pk, answer in answers.items()}
    assert decided == {
        corrected.pk: ("corrected", other),
        confirmed.pk: ("confirmed", confirmed.label),
        waiting.pk: ("pending", None),
        confirmed_none.pk: ("confirmed", "none"),
        corrected_none.pk: ("corrected", "none"),
    }


def test_the_list_filters_by_what_the_site_showed_none_of_the_ten_included(api, user):
    shown_as_class = make_prediction(user, "a-class.jpg")
    not_one = make_prediction(user, "not-one-of-them.jpg")
    Prediction.objects.filter(pk=shown_as_class.pk).update(none_of_the_classes=False)
    Prediction.objects.filter(pk=not_one.pk).update(label=shown_as_class.label, none_of_the_classes=True)
    by_class = api.get(f"/api/v1/predictions?label={shown_as_class.label}").json()["predictions"]
    assert [item["id"] for item in by_class] == [shown_as_class.pk]
    none = api.get("/api/v1/predictions?label=none").json()["predictions"]
    assert [item["id"] for item in none] == [not_one.pk] and none[0]["none_of_the_classes"] is True
    described = api.get("/api/v1/openapi.json").json()["paths"]["/predictions"]["get"]["parameters"]
    assert "none" in next(parameter for parameter in described if parameter["name"] == "label")["schema"]["enum"]


def test_list_shows_only_the_callers_predictions_newest_first_paginated(api, user, other_user):
    mine = [make_prediction(user, f"{index}.jpg") for index in range(3)]
    make_prediction(other_user, "not-mine.jpg")
    body = api.get("/api/v1/predictions?page_size=2").json()
    assert body["count"] == 3 and body["pages"] == 2
    assert [item["id"] for item in body["predictions"]] == [mine[2].pk, mine[1].pk]
    assert body["next"] == "http://testserver/api/v1/predictions?page_size=2&page=2"
    second = api.get(body["next"]).json()
    assert [item["id"] for item in second["predictions"]] == [mine[0].pk]
    assert api.get("/api/v1/predictions?page=9").status_code == 404
    assert api.get("/api/v1/predictions?page=x").status_code == 400


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page_size=101", "page_size must be a whole number from 1 to 100."),
        ("page_size=0", "page_size must be a whole number from 1 to 100."),
        ("page=0", "page must be a whole number from 1 up."),
        ("page=-1", "page must be a whole number from 1 up."),
        (
            "label=cow",
            "label must be one of: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck, none.",
        ),
        ("explain=2", "explain must be 0 or 1."),
    ],
)
def test_query_parameters_outside_the_description_answer_400_saying_which(api, query, message):
    """What the OpenAPI description says is out of range is refused, not quietly clamped or ignored."""
    response = api.get(f"/api/v1/predictions?{query}")
    assert response.status_code == 400 and response.json() == {"error": message}
    parameters = {item["name"]: item["schema"] for item in _described("/predictions", "get")["parameters"]}
    assert parameters["page_size"]["maximum"] == 100 and parameters["page_size"]["minimum"] == 1


def test_every_answer_the_list_and_upload_give_is_in_the_description(api, settings):
    assert {"200", "400", "401", "404"} <= set(_described("/predictions", "get")["responses"])
    upload = _described("/predictions", "post")
    assert {"201", "400", "401", "413", "503", "507"} <= set(upload["responses"])
    assert upload["requestBody"]["content"]["multipart/form-data"]["schema"]["required"] == ["image"]
    too_many = [SimpleUploadedFile(f"{index}.jpg", b"x") for index in range(settings.MAX_UPLOAD_FILES + 1)]
    response = api.post("/api/v1/predictions", {"image": too_many})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json() == {"error": f"Too many files in one request: at most {settings.MAX_UPLOAD_FILES}."}


def _described(path: str, method: str) -> dict:
    from classifier.openapi import openapi_description

    return openapi_description("http://testserver/api/v1")["paths"][path][method]


def test_get_and_delete_one_prediction(api, user, media_root, django_capture_on_commit_callbacks):
    prediction = make_prediction(user)
    assert api.get(f"/api/v1/predictions/{prediction.pk}").json()["id"] == prediction.pk
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/predictions/{prediction.pk}").status_code == 204
    assert api.get(f"/api/v1/predictions/{prediction.pk}").status_code == 404
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_another_users_prediction_is_404_on_the_api_and_its_image(api, other_user):
    theirs = make_prediction(other_user)
    for response in (
        api.get(f"/api/v1/predictions/{theirs.pk}"),
        api.delete(f"/api/v1/predictions/{theirs.pk}"),
        api.get(f"/predictions/{theirs.pk}/image"),
    ):
        assert response.status_code == 404
    assert Prediction.objects.filter(pk=theirs.pk).exists()


def test_the_image_url_works_with_the_same_token(api, user):
    prediction = make_prediction(user)
    response = api.get(f"/predictions/{prediction.pk}/image")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Token abc"])
def test_missing_or_bad_tokens_answer_401_json(client, header, user):
    if header:
        client.defaults["HTTP_AUTHORIZATION"] = header
    response = client.get("/api/v1/predictions")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "API token" in response.json()["error"]


def test_a_revoked_token_stops_working(api, user):
    api_token_revoke(token=ApiToken.objects.get(user=user))
    assert api.get("/api/v1/predictions").status_code == 401


def test_a_session_cookie_alone_does_not_authenticate_the_api(owner_client):
    assert owner_client.get("/api/v1/predictions").status_code == 401


def test_tokens_of_inactive_users_are_refused(api, user):
    user.is_active = False
    user.save()
    assert api.get("/api/v1/predictions").status_code == 401


def test_wrong_methods_and_unknown_paths_answer_json(api, user):
    response = api.put("/api/v1/predictions")
    assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert "error" in response.json()
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and "openapi.json" in missing.json()["error"]


@pytest.mark.parametrize("path", ["/api/v1/predictions/%0A", "/api/v1/predictions/1%0A", "/api/v1/%08%0A%F1x"])
def test_paths_with_control_characters_answer_json_too(api, user, path):
    """Found by the schema run: a newline in the path fell past the API's catch-all to the HTML 404 page."""
    response = api.delete(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_a_query_parameter_given_twice_is_refused_naming_it(api, user):
    """Found by the schema run: `?page=1&page=2` answered the last page asked for, as if the first were not there."""
    response = api.get("/api/v1/predictions?page=1&page=2")
    assert response.status_code == 400 and response.json()["error"] == "page is given 2 times; give it once."
    assert api.get("/api/v1/predictions?page=1&page_size=5").status_code == 200


def test_the_openapi_description_lists_the_endpoints(client):
    body = client.get("/api/v1/openapi.json").json()
    assert body["openapi"].startswith("3.")
    assert set(body["paths"]) == {"/predictions", "/predictions/{id}", "/predictions/{id}/feedback"}
    assert set(body["paths"]["/predictions/{id}"]) >= {"get", "delete"}
    assert body["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_the_description_gives_the_sites_own_upload_limit(client, settings):
    """Found by the schema run: 21 images were a 400 the description did not foretell (it set no maxItems)."""
    settings.MAX_UPLOAD_FILES = 3
    settings.MAX_UPLOAD_BYTES = 4 * 2**20
    settings.MAX_REQUEST_BYTES = 13 * 2**20
    upload = client.get("/api/v1/openapi.json").json()["paths"]["/predictions"]["post"]
    image = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["image"]
    assert image["maxItems"] == 3 and "4 MB each" in image["description"]
    assert {"413", "414"} <= set(upload["responses"])
    assert "over 4 MB, or the whole request over 13 MB" in upload["responses"]["413"]["description"]


def test_the_api_token_command_prints_a_working_token(client, user, capsys):
    call_command("api_token", "alice")
    key = capsys.readouterr().out.strip()
    response = client.get("/api/v1/predictions", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert ApiToken.objects.get(user=user).key_hash != key  # only the hash is stored


def test_the_api_token_command_names_an_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("api_token", "nobody")


def test_users_create_and_revoke_tokens_on_their_account_page(owner_client, user):
    page = owner_client.post("/accounts/tokens/", {"name": "my script"}).content.decode()
    token = ApiToken.objects.get(user=user)
    assert "copy it now" in page and token.prefix in page
    assert owner_client.get("/api/v1/predictions", HTTP_AUTHORIZATION="Bearer x").status_code == 401
    owner_client.post(f"/accounts/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "revoked" in owner_client.get("/accounts/tokens/").content.decode()


def test_users_cannot_revoke_someone_elses_token(client, other_user, user):
    token, _ = api_token_create(user=user)
    client.force_login(other_user)
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_tokens_last_use_is_kept_to_the_minute_without_a_write_per_request(user, django_assert_num_queries):
    token, key = api_token_create(user=user)
    assert api_token_authenticate(key=key) == user
    first_use = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first_use is not None
    with django_assert_num_queries(1):  # the lookup, no write
        assert api_token_authenticate(key=key) == user
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(minutes=2))
    api_token_authenticate(key=key)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first_use - timedelta(minutes=1)


# --- "it is a …": the owner's feedback, as the prediction's page takes it ---------------------------------------


def feedback(api, prediction_id, body, **options):
    return api.post(f"/api/v1/predictions/{prediction_id}/feedback", body, content_type="application/json", **options)


def another_class(prediction) -> str:
    return next(name for name in ("dog", "cat") if name != prediction.label)


def test_the_owner_says_it_is_another_class_and_sees_it_on_the_page_and_staff_in_the_disputed(api, user, staff_user):
    prediction, quiet = make_prediction(user, "mine.jpg"), make_prediction(user, "quiet.jpg")
    said = another_class(prediction)
    response = feedback(api, prediction.pk, {"label": said})
    assert response.status_code == 200
    assert response.json()["id"] == prediction.pk and response.json()["feedback_label"] == said
    assert api.get(f"/api/v1/predictions/{prediction.pk}").json()["feedback_label"] == said
    assert api.get(f"/api/v1/predictions/{quiet.pk}").json()["feedback_label"] is None
    page = Client()
    page.force_login(user)
    assert f"You said: it is a {said}." in page.get(prediction.get_absolute_url()).content.decode()
    staff = Client()
    staff.force_login(staff_user)
    disputed = staff.get("/admin/classifier/prediction/?feedback=disputed").context["cl"].result_list
    assert [item.pk for item in disputed] == [prediction.pk]


def test_the_owner_says_none_of_the_ten_then_withdraws_it(api, user):
    prediction = make_prediction(user)
    assert feedback(api, prediction.pk, {"label": "none"}).json()["feedback_label"] == "none"
    prediction.refresh_from_db()
    assert prediction.feedback_label == "none" and prediction.feedback_at is not None
    withdrawn = api.delete(f"/api/v1/predictions/{prediction.pk}/feedback")
    assert withdrawn.status_code == 200 and withdrawn.json()["feedback_label"] is None
    prediction.refresh_from_db()
    assert prediction.feedback_label == "" and prediction.feedback_at is None
    assert api.delete(f"/api/v1/predictions/{prediction.pk}/feedback").status_code == 200  # nothing left: still 200


LABELS = ", ".join(SHOWN_LABELS)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"label": "unicorn"}, f"label must be one of: {LABELS}."),
        ({"label": "Dog"}, f"label must be one of: {LABELS}."),
        ({"label": ""}, f"label must be one of: {LABELS}."),
        ({"label": ["dog"]}, f"label must be one of: {LABELS}."),
        ({}, 'The body must be a JSON object with one field, label: {"label": "cat"}.'),
        ({"label": "dog", "also": 1}, 'The body must be a JSON object with one field, label: {"label": "cat"}.'),
        (["dog"], 'The body must be a JSON object with one field, label: {"label": "cat"}.'),
        ("{label: dog", 'The body is not JSON: send {"label": "cat"}.'),
        ("[" * 100_000, 'The body is not JSON: send {"label": "cat"}.'),
        (b"\xff\xfe\xfa", 'The body is not JSON: send {"label": "cat"}.'),
    ],
)
def test_a_body_that_is_not_one_known_label_answers_400_saying_what_to_send(api, user, body, message):
    prediction = make_prediction(user)
    response = feedback(api, prediction.pk, body)
    assert response.status_code == 400 and response.json() == {"error": message}
    prediction.refresh_from_db()
    assert prediction.feedback_label == ""


def test_the_class_the_model_gave_is_a_409_as_the_page_refuses_it(api, user):
    prediction = make_prediction(user)
    response = feedback(api, prediction.pk, {"label": prediction.label})
    assert response.status_code == 409
    assert response.json()["error"].endswith("is what the model said; choose the class the photo really shows.")


def test_feedback_on_someone_elses_or_a_missing_prediction_is_404_and_changes_nothing(api, other_user):
    theirs = make_prediction(other_user)
    for response in (
        feedback(api, theirs.pk, {"label": another_class(theirs)}),
        api.delete(f"/api/v1/predictions/{theirs.pk}/feedback"),
        feedback(api, theirs.pk + 1, {"label": "none"}),
    ):
        assert response.status_code == 404 and response.json() == {"error": "No such prediction."}
    theirs.refresh_from_db()
    assert theirs.feedback_label == ""


def test_feedback_needs_a_token_json_and_post_or_delete(client, api, user, settings):
    prediction = make_prediction(user)
    url = f"/api/v1/predictions/{prediction.pk}/feedback"
    assert Client().post(url, {"label": "none"}, content_type="application/json").status_code == 401
    form = api.post(url, {"label": "none"})
    assert form.status_code == 415 and "Content-Type: application/json" in form.json()["error"]
    wrong = api.get(url)
    assert wrong.status_code == 405 and wrong["Allow"] == "POST, DELETE"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    large = feedback(api, prediction.pk, {"label": "none", "padding": "x" * 200})
    assert large.status_code == 413 and "too large" in large.json()["error"]
    prediction.refresh_from_db()
    assert prediction.feedback_label == ""


def test_the_description_gives_the_feedback_labels_and_answers(client):
    path = client.get("/api/v1/openapi.json").json()["paths"]["/predictions/{id}/feedback"]
    body = path["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["label"]["enum"] == list(SHOWN_LABELS) and body["required"] == ["label"]
    assert {"200", "400", "401", "404", "409", "413", "415"} <= set(path["post"]["responses"])
    assert {"200", "401", "404"} <= set(path["delete"]["responses"])
