"""The owner says "wrong, it is a …"; staff find the disputed uploads; reviewed uploads become training images."""

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client

from classifier.models import Prediction
from classifier.selectors import prediction_squares, reviewed_uploads_as_training_data
from classifier.services import prediction_confirm, prediction_correct
from mlcore.labels import CLASSES
from mlcore.preprocessing import resize_pixels
from tests.classifier.factories import make_prediction
from tests.conftest import cifar_test_images, write_image_archive

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/classifier/prediction/"


@pytest.fixture
def prediction(user):
    made = make_prediction(user, "my-cat.jpg")
    Prediction.objects.filter(pk=made.pk).update(label="cat")  # so "dog" is always a valid "wrong, it is a …"
    made.refresh_from_db()
    return made


def feedback_url(prediction):
    return f"/predictions/{prediction.pk}/feedback/"


def test_the_page_offers_every_other_class_and_none_of_these(owner_client, prediction):
    page = owner_client.get(prediction.get_absolute_url()).content.decode()
    assert "Is this wrong?" in page and f'action="{feedback_url(prediction)}"' in page
    offered = [name for name in CLASSES if f'name="label" value="{name}"' in page]
    assert offered == [name for name in CLASSES if name != "cat"]
    assert 'name="label" value="none"' in page and "none of these" in page
    assert "You said" not in page and "Withdraw" not in page


def test_the_owners_wrong_it_is_a_dog_is_stored_and_shown(owner_client, prediction):
    response = owner_client.post(feedback_url(prediction), {"label": "dog"})
    # Back at the answer the person gave, not at the top of the page, with a word of thanks.
    assert response.status_code == 302 and response["Location"] == f"{prediction.get_absolute_url()}#feedback-title"
    prediction.refresh_from_db()
    assert prediction.feedback_label == "dog" and prediction.feedback_at is not None
    page = owner_client.get(prediction.get_absolute_url()).content.decode()
    assert "You said: it is a dog." in page and "Thank you: your answer is saved, and staff will see it." in page
    assert 'id="feedback-title"' in page
    assert 'value="dog" class="current"' in page and "Change your answer" in page


def test_the_owner_can_say_none_of_the_ten_classes_and_change_their_answer(owner_client, prediction):
    owner_client.post(feedback_url(prediction), {"label": "none"})
    assert "You said: none of the ten classes." in owner_client.get(prediction.get_absolute_url()).content.decode()
    owner_client.post(feedback_url(prediction), {"label": "airplane"})
    prediction.refresh_from_db()
    assert prediction.feedback_label == "airplane"
    assert "You said: it is an airplane." in owner_client.get(prediction.get_absolute_url()).content.decode()


def test_withdrawing_clears_the_label_and_the_time(owner_client, prediction):
    owner_client.post(feedback_url(prediction), {"label": "dog"})
    response = owner_client.post(feedback_url(prediction), {"label": ""}, follow=True)
    assert "Your answer is withdrawn." in response.content.decode()
    prediction.refresh_from_db()
    assert prediction.feedback_label == "" and prediction.feedback_at is None
    assert "You said" not in owner_client.get(prediction.get_absolute_url()).content.decode()


@pytest.mark.parametrize("label", ["unicorn", "Dog", "cat"])
def test_a_label_that_is_not_another_class_or_none_is_a_400_and_nothing_is_stored(owner_client, prediction, label):
    response = owner_client.post(feedback_url(prediction), {"label": label})
    assert response.status_code == 400
    assert 'class="errors"' in response.content.decode()
    prediction.refresh_from_db()
    assert prediction.feedback_label == "" and prediction.feedback_at is None


def test_another_users_prediction_is_a_404_and_unchanged(client, other_user, prediction):
    client.force_login(other_user)
    assert client.post(feedback_url(prediction), {"label": "dog"}).status_code == 404
    prediction.refresh_from_db()
    assert prediction.feedback_label == ""


def test_anonymous_visitors_are_sent_to_log_in(client, prediction):
    response = client.post(feedback_url(prediction), {"label": "dog"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


def test_feedback_only_accepts_post(owner_client, prediction):
    assert owner_client.get(feedback_url(prediction)).status_code == 405


def test_feedback_needs_the_csrf_token(user, prediction):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(feedback_url(prediction), {"label": "dog"}).status_code == 403
    prediction.refresh_from_db()
    assert prediction.feedback_label == ""


def test_the_admin_filters_disputed_predictions_and_shows_the_feedback(staff_client, user, other_user, prediction):
    disputed_by_other = make_prediction(other_user, "bob.jpg")
    quiet = make_prediction(user, "quiet.jpg")
    Prediction.objects.filter(pk=prediction.pk).update(feedback_label="dog")
    Prediction.objects.filter(pk=disputed_by_other.pk).update(feedback_label="none")

    disputed = staff_client.get(f"{CHANGELIST}?feedback=disputed").context["cl"].result_list
    assert {p.pk for p in disputed} == {prediction.pk, disputed_by_other.pk}
    without = staff_client.get(f"{CHANGELIST}?feedback=none").context["cl"].result_list
    assert [p.pk for p in without] == [quiet.pk]

    page = staff_client.get(CHANGELIST).content.decode()
    assert "disputed (owner says wrong)" in page and "none of these" in page
    detail = staff_client.get(f"{CHANGELIST}{prediction.pk}/change/").content.decode()
    assert "Feedback label" in detail and "dog" in detail
    assert 'name="feedback_label"' not in detail  # read-only


# --- reviewed uploads as training images ----------------------------------------------------------------------


@pytest.fixture
def reviewed(user, other_user, staff_user):
    """Four uploads of real CIFAR photos: one confirmed, one corrected, one unreviewed, one disputed only."""
    photos = list(cifar_test_images().items())
    confirmed, corrected, unreviewed, disputed = (
        make_prediction(user if index % 2 == 0 else other_user, name, data)
        for index, (name, data) in enumerate(photos[:4])
    )
    prediction_confirm(prediction=confirmed, reviewer=staff_user)
    corrected_to = "frog" if corrected.label != "frog" else "ship"
    prediction_correct(prediction=corrected, reviewer=staff_user, label=corrected_to)
    Prediction.objects.filter(pk=disputed.pk).update(feedback_label="none")
    return {"confirmed": confirmed, "corrected": corrected, "corrected_to": corrected_to}


def _model_input(prediction) -> np.ndarray:
    """The square the main CIFAR network saw."""
    return prediction_squares(prediction=prediction)["cifar10-efficientnet-lite0"]


def test_reviewed_uploads_become_training_images_with_their_reviewed_labels(reviewed):
    data = reviewed_uploads_as_training_data()
    confirmed, corrected = reviewed["confirmed"], reviewed["corrected"]
    assert len(data) == 2
    assert data.images.shape == (2, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64
    assert [CLASSES[index] for index in data.labels] == [confirmed.label, reviewed["corrected_to"]]
    # the 32x32 images that, enlarged as training enlarges them, are the very pixels the network saw
    size = _model_input(confirmed).shape[0]
    assert np.array_equal(resize_pixels(data.images[:1], size)[0], _model_input(confirmed))
    assert np.array_equal(resize_pixels(data.images[1:], size)[0], _model_input(corrected))


def test_uploads_settled_as_none_of_the_ten_are_not_training_images(reviewed, user, staff_user):
    """Neither a "none of the ten" answer staff confirmed (its closest class is not what it shows) nor one they
    corrected to none of the ten has one of the ten classes to learn."""
    photos = list(cifar_test_images().items())[4:6]  # not those of `reviewed`
    confirmed_none, corrected_to_none = (make_prediction(user, name, data) for name, data in photos)
    Prediction.objects.filter(pk=confirmed_none.pk).update(none_of_the_classes=True)
    confirmed_none.refresh_from_db()
    prediction_confirm(prediction=confirmed_none, reviewer=staff_user)
    prediction_correct(prediction=corrected_to_none, reviewer=staff_user, label="none")
    data = reviewed_uploads_as_training_data()
    assert [CLASSES[index] for index in data.labels] == [reviewed["confirmed"].label, reviewed["corrected_to"]]


def test_no_reviewed_uploads_is_none(user):
    make_prediction(user)
    assert reviewed_uploads_as_training_data() is None


def test_an_unreadable_stored_image_is_skipped_with_a_warning(reviewed):
    confirmed = reviewed["confirmed"]
    confirmed.image.storage.delete(confirmed.image.name)
    warnings = []
    data = reviewed_uploads_as_training_data(warn=warnings.append)
    assert [CLASSES[index] for index in data.labels] == [reviewed["corrected_to"]]
    assert len(warnings) == 1 and f"prediction {confirmed.pk}" in warnings[0]


def test_reviewed_uploads_in_storage_that_does_not_answer_are_skipped_with_a_warning_each(
    object_storage, storage_outage, reviewed
):
    storage_outage()
    warnings = []
    assert reviewed_uploads_as_training_data(warn=warnings.append) is None
    assert len(warnings) == 2 and all("cannot be read" in warning for warning in warnings)


@pytest.mark.slow
def test_train_include_reviewed_adds_the_reviewed_uploads_to_the_training_images(reviewed, tmp_path):
    archive = write_image_archive(tmp_path / "tiny.tar.gz", {"train": 6, "test": 2})
    out = tmp_path / "model"
    output = io.StringIO()
    call_command(
        "train", "--data", str(archive), "--out", str(out), "--epochs", "1", "--batch-size", "20",
        "--val-fraction", "0.2", "--cache-dir", str(tmp_path / "cache"), "--include-reviewed",
        "--arch", "airbench", "--widths", "8,16,16",  # the smallest network: the reviewed uploads are under test
        stdout=output,
    )  # fmt: skip
    assert "Adding 2 reviewed uploads to the training images." in output.getvalue()
    training = json.loads((out / "metadata.json").read_text())["training"]
    assert training["reviewed_uploads"] == 2
    assert training["validation_images"] == 10  # reviewed uploads never go to validation
    assert training["command"].endswith("--include-reviewed")
