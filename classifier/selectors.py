"""Reads: which predictions and tokens a user may see, what is stored with a prediction, which version is served."""

import logging
from collections.abc import Callable
from datetime import timedelta

import numpy as np
from django.db.models import QuerySet, Sum
from django.utils import timezone

from classifier.class_names import NONE_OF_THE_TEN
from classifier.images import square_from_image
from classifier.models import ApiToken, ModelVersion, Prediction
from classifier.storage import STORAGE_ERRORS, StorageUnavailable
from mlcore.data import Split
from mlcore.labels import CLASSES
from mlcore.preprocessing import ImageError, resize_pixels, to_model_input

logger = logging.getLogger(__name__)


# How exactly a token's last use is kept: writing it on every request cost an upload 2 ms of a database write.
TOKEN_USE_PRECISION = timedelta(minutes=1)


def prediction_list_for_user(*, user, label: str | None = None) -> QuerySet:
    """The user's own predictions, newest first, optionally those shown as one class, or (NONE_OF_THE_TEN) those
    shown as none of the ten; a prediction shown as none of the ten is not listed under its closest class."""
    predictions = Prediction.objects.owned_by(user).defer("model_input")
    if label == NONE_OF_THE_TEN:
        predictions = predictions.filter(none_of_the_classes=True)
    elif label in CLASSES:
        predictions = predictions.filter(label=label, none_of_the_classes=False)
    return predictions


def predictions_by_ids_for_user(*, user, ids: str, most: int = 100) -> list:
    """The user's own predictions among `ids` ("12,13,15"), in that order; ids that are not numbers, or not the
    user's, are passed over."""
    wanted = [int(part) for part in ids.split(",")[:most] if part.strip().isdigit()]
    found = Prediction.objects.owned_by(user).defer("model_input").in_bulk(wanted)
    return [found[pk] for pk in dict.fromkeys(wanted) if pk in found]


def prediction_get_for_owner(*, user, pk) -> Prediction | None:
    return Prediction.objects.owned_by(user).filter(pk=pk).first()


def prediction_get_viewable(*, user, pk) -> Prediction | None:
    """A prediction whose image `user` may see: their own, or any with the permission to view predictions (the
    admin's thumbnails need it; being staff alone is not enough)."""
    may_view_all = user.has_perm("classifier.view_prediction")
    predictions = Prediction.objects.all() if may_view_all else Prediction.objects.owned_by(user)
    return predictions.filter(pk=pk).first()


def prediction_image_bytes(*, prediction: Prediction) -> bytes | None:
    """The stored upload; None when its file is gone from storage (removed by hand, a restore without files);
    StorageUnavailable when storage does not answer."""
    try:
        with prediction.image.open("rb") as stored:
            return stored.read()
    except FileNotFoundError:
        logger.error("The image of prediction %s is missing from storage: %s", prediction.pk, prediction.image.name)
        return None
    except STORAGE_ERRORS as error:
        logger.error("Could not read %s: %s", prediction.image.name, error)
        raise StorageUnavailable(prediction.image.name) from error


def prediction_squares(*, prediction: Prediction, classifier=None) -> dict:
    """Expert name -> the square it kept of the photo, from the stored model input (a prediction from before
    experts: its one square, for the first expert of `classifier`)."""
    data = bytes(prediction.model_input)
    if not prediction.experts:
        return {classifier.first.name if classifier else "": square_from_image(data)}
    return {expert["name"]: square_from_image(data, expert["box"]) for expert in prediction.experts}


def prediction_seen_square(*, prediction: Prediction, expert: str) -> np.ndarray | None:
    """The square an expert saw, at its input size (its kept square enlarged as it enlarged it); None if the
    prediction has no expert of that name."""
    entry = next((entry for entry in prediction.experts if entry.get("name") == expert), None)
    if entry is None:
        return None
    return resize_pixels(square_from_image(bytes(prediction.model_input), entry["box"])[None], entry["square"])[0]


def user_storage_used(*, user) -> int:
    """The bytes of the photos `user` keeps, as uploaded: what UPLOAD_QUOTA_MB limits. The copies the site makes
    of them (Prediction.COPIES) are not counted: the quota and its message speak of what a person sent, and a copy
    is small beside its photo (a display copy a few hundred KB) and goes with it."""
    return Prediction.objects.owned_by(user).aggregate(total=Sum("size_bytes"))["total"] or 0


def reviewed_uploads_as_training_data(*, warn: Callable[[str], None] = logger.warning) -> Split | None:
    """The uploads staff confirmed or corrected, as 32x32 images like the CIFAR ones training starts from, with
    their reviewed classes; None when there are none. A stored file that cannot be read is skipped and reported to
    `warn`."""
    images, labels = [], []
    reviewed = Prediction.objects.reviewed_for_training().only(
        "image", "label", "none_of_the_classes", "review_status", "reviewed_label"
    )
    for prediction in reviewed.order_by("pk"):
        try:
            with prediction.image.open("rb") as stored:
                images.append(to_model_input(stored.read()))
        except (*STORAGE_ERRORS, ImageError) as error:
            warn(f"Skipped prediction {prediction.pk}: its image {prediction.image.name} cannot be read ({error})")
            continue
        labels.append(CLASSES.index(prediction.settled_label))
    if not images:
        return None
    return Split(images=np.stack(images), labels=np.array(labels, dtype=np.int64))


def api_token_list_for_user(*, user) -> QuerySet:
    return ApiToken.objects.filter(user=user)


def api_token_authenticate(*, key: str):
    """The active user a bearer token belongs to, or None."""
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(key_hash=ApiToken.hash_key(key), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def model_version_served() -> ModelVersion | None:
    """The version the site serves: the active one, else the shipped default's (None until it is registered)."""
    return ModelVersion.objects.with_serving().filter(is_served=True).first()
