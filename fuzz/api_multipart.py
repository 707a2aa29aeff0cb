"""Fuzz target: the API's multipart upload, raw request body in -> a JSON answer that is not a server error.

The bytes are the body of `POST /api/v1/predictions` with a valid bearer token and the header
`Content-Type: multipart/form-data; boundary=fuzzboundary`, sent through Django's test client: every middleware
(the request size limit included), Django's MultiPartParser with the site's upload handlers and limits, the view,
the upload service and the shipped model, which classifies whatever decodes. A crash is an exception escaping the
request, a 5xx answer, an answer that is not JSON, or a change to the prediction saved before the run (its row or
its stored file). What an input stores is deleted again after it, so that the database stays small.
"""

import hashlib

import harness

harness.start_django(database=True)

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.test import Client  # noqa: E402

from classifier.models import Prediction  # noqa: E402
from classifier.services import api_token_create, prediction_create, prediction_delete  # noqa: E402

CONTENT_TYPE = "multipart/form-data; boundary=fuzzboundary"
OWNER = get_user_model().objects.create_user("fuzz")
TOKEN = api_token_create(user=OWNER, name="fuzz")[1]
SAVED = prediction_create(owner=OWNER, upload=SimpleUploadedFile("saved.jpg", harness.seed_image()))
SAVED_FILE = SAVED.image.read()
SAVED_FIELDS = Prediction.objects.filter(pk=SAVED.pk).values().get()
CLIENT = Client(raise_request_exception=True, HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def test_one_input(body: bytes) -> None:
    response = CLIENT.generic("POST", "/api/v1/predictions", body, content_type=CONTENT_TYPE)
    try:
        if response.status_code >= 500:
            raise AssertionError(f"{response.status_code}: {response.content[:300]!r}")
        if response["Content-Type"] != "application/json":
            raise AssertionError(f"a {response['Content-Type']} answer: {response.content[:300]!r}")
        response.json()
        if Prediction.objects.filter(pk=SAVED.pk).values().first() != SAVED_FIELDS:
            raise AssertionError("the prediction saved before the run has changed")
        with SAVED.image.open("rb") as stored:
            if hashlib.sha256(stored.read()).digest() != hashlib.sha256(SAVED_FILE).digest():
                raise AssertionError("the image saved before the run has changed")
    finally:
        for prediction in Prediction.objects.exclude(pk=SAVED.pk):
            prediction_delete(prediction=prediction)


if __name__ == "__main__":
    harness.fuzz(test_one_input)
