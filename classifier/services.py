"""Everything that changes predictions, API tokens and model versions, entity by entity. The page, the API, the
admin and the commands call these; reads are in selectors."""

import contextlib
import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from classifier import selectors
from classifier.class_names import NONE_OF_THE_TEN, SHOWN_LABELS, class_name
from classifier.images import (
    ImageRejected,
    inspect_image,
    jpeg_copies,
    squares_image,
    without_location,
)
from classifier.limits import RateLimited, rate_limit_take
from classifier.models import ApiToken, ModelVersion, Prediction, prediction_image_path
from classifier.serving import (
    ClassifierUnavailable,
    classifier_for_version,
    default_bundle_path,
    forget_active_model,
    get_classifier,
    load_bundle,
)
from classifier.storage import STORAGE_ERRORS, StorageUnavailable
from mlcore.bundle import BundleError, read_metadata
from mlcore.preprocessing import ImageError

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "clf_"
THUMBNAIL_SIZE = 256  # pixels on the longer side
# The photo's page shows it in half of a 60rem column (about 450 CSS pixels), or a phone's width: 1280 pixels stay
# sharp on a phone's 3x screen and in a 1280-pixel window at 200% zoom (one column, about 610 CSS pixels).
DISPLAY_SIZE = 1280  # pixels on the longer side
UPLOADS_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Rejection:
    file_name: str
    reason: str
    status: int  # 400; 413 for a file over the size limit or the quota; 429 over the rate; 507 when not stored
    retry_after: int | None = None  # seconds, with 429

    @property
    def message(self) -> str:
        return f"{self.file_name}: {self.reason}."


@dataclass
class UploadResult:
    predictions: list = field(default_factory=list)
    rejections: list = field(default_factory=list)

    @property
    def status(self) -> int:
        """201 when anything was stored; otherwise 507 when storage failed, 429 when the rate limit refused a file,
        413 when every file was too big or over the quota, else 400."""
        if self.predictions:
            return 201
        statuses = {rejection.status for rejection in self.rejections}
        if 507 in statuses:
            return 507
        if 429 in statuses:
            return 429
        return 413 if statuses == {413} else 400

    @property
    def retry_after(self) -> int | None:
        """Seconds until the rate limit lets another image through, when it refused one."""
        waits = [rejection.retry_after for rejection in self.rejections if rejection.retry_after is not None]
        return min(waits) if waits else None


def prediction_create_many(*, owner, files, oversize_names=()) -> UploadResult:
    """Classify and store each uploaded file; a bad file is reported and never stops the good ones."""
    result = UploadResult()
    for name in oversize_names:
        result.rejections.append(Rejection(name, _too_large(), 413))
    for upload in files:
        name = upload.name or gettext("(unnamed file)")
        try:
            result.predictions.append(prediction_create(owner=owner, upload=upload))
        except ImageRejected as error:
            result.rejections.append(Rejection(name, str(error), error.status, error.retry_after))
    return result


def prediction_create(*, owner, upload) -> Prediction:
    """Classify one uploaded file and store the record and its image together, or neither.

    Every file sent counts towards the owner's UPLOADS_PER_HOUR, stored or not: the work is done either way.
    Raises ImageRejected for anything that is not an accepted, decodable image within the limits (the owner's
    rate and quota included), and ClassifierUnavailable when the model cannot be loaded.
    """
    if upload.size is not None and upload.size > settings.MAX_UPLOAD_BYTES:
        raise ImageRejected(_too_large(), 413)
    _check_quota(owner, upload.size or 0)
    try:
        rate_limit_take(scope="uploads", key=f"user:{owner.pk}", limit=settings.UPLOADS_PER_HOUR, window=UPLOADS_WINDOW)
    except RateLimited as refusal:
        raise ImageRejected(_over_the_upload_rate(), 429, retry_after=refusal.retry_after) from None
    classifier = get_classifier()
    # The whole upload, storing included, in one of the process's few slots: uploads beyond those wait rather than
    # compete for the core (bench/RESULTS.md, "Uploads under load").
    with classifier.slot():
        return _classify_and_store(owner, upload, classifier)


def _classify_and_store(owner, upload, classifier) -> Prediction:
    data = upload.read()
    inspected = inspect_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
    try:
        result = classifier.classify([inspected.image])[0]
        if needs_display_copy(inspected.width, inspected.height, inspected.content_type):
            display_copy, thumbnail = jpeg_copies(data, DISPLAY_SIZE, THUMBNAIL_SIZE)
        else:
            display_copy, thumbnail = None, jpeg_copies(data, THUMBNAIL_SIZE)[0]
    except ImageError:
        raise ImageRejected(gettext("the image is damaged or truncated and cannot be decoded")) from None
    stored = without_location(data, inspected.format)
    model_input, boxes = squares_image([answer.kept for answer in result.experts])
    prediction = Prediction(
        owner=owner,
        original_name=(upload.name or "")[:255],
        content_type=inspected.content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=inspected.width,
        height=inspected.height,
        label=result.label,
        confidence=result.confidence,
        probabilities=result.probabilities,
        model_input=model_input,
        model_version=classifier.version,
        inference_ms=round(1000 * result.seconds, 3),
        none_of_the_classes=result.none_of_the_classes,
        experts=[answer.as_dict() | {"box": box} for answer, box in zip(result.experts, boxes, strict=True)],
        rule_case=result.case,
        none_because=list(result.none_because),
    )
    prediction.image.name = _store_file(prediction, stored, inspected.suffix)
    try:
        prediction.thumbnail.name = _store_file(prediction, thumbnail, ".jpg")
        if display_copy is not None:
            prediction.display_copy.name = _store_file(prediction, display_copy, ".jpg")
        with transaction.atomic():
            _check_quota(owner, len(data), lock=True)  # again, in the transaction that saves: parallel uploads
            prediction.save()
    except BaseException:
        with contextlib.suppress(*STORAGE_ERRORS):  # the sweep removes them later if storage fails too
            for stored in _stored_files(prediction):  # no file without its record
                stored.delete(save=False)
        raise
    return prediction


def _check_quota(owner, size: int, *, lock: bool = False) -> None:
    """ImageRejected (413) when keeping `size` more bytes would take `owner` over UPLOAD_QUOTA_MB. With `lock`, the
    owner's row stays locked until the transaction ends, so that two uploads cannot both take the last room."""
    quota = settings.UPLOAD_QUOTA_BYTES
    if quota <= 0:
        return
    if lock:
        get_user_model().objects.select_for_update().get(pk=owner.pk)
    used = selectors.user_storage_used(user=owner)
    if used + size > quota:
        raise ImageRejected(
            gettext("your photos take %(used)s MB of your %(quota)s MB; delete some of them (History) to upload more")
            % {"used": f"{used / 2**20:.1f}", "quota": f"{quota / 2**20:g}"},
            413,
        )


def _over_the_upload_rate() -> str:
    return ngettext(
        "you can upload %(limit)d image an hour; wait a little and send it again",
        "you can upload %(limit)d images an hour; wait a little and send it again",
        settings.UPLOADS_PER_HOUR,
    ) % {"limit": settings.UPLOADS_PER_HOUR}


def _too_large() -> str:
    return gettext("the file is larger than %(megabytes)d MB") % {
        "megabytes": settings.MAX_UPLOAD_BYTES // (1024 * 1024)
    }


def _store_file(prediction: Prediction, data: bytes, suffix: str) -> str:
    """Save the image under a generated name; on a full or failing disk remove any part written and say so."""
    storage = prediction.image.storage
    name = prediction_image_path(prediction, f"upload{suffix}")
    try:
        return storage.save(name, ContentFile(data))
    except STORAGE_ERRORS as error:
        logger.error("Could not store an upload as %s: %s", name, error)
        with contextlib.suppress(*STORAGE_ERRORS):
            storage.delete(name)
        message = gettext("the server has no room to store it right now; nothing was saved, try again later")
        raise ImageRejected(message, 507) from error


# Browsers other than Safari cannot show HEIC: such a photo is always shown through a JPEG copy, whatever its size.
SHOWN_BY_BROWSERS = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp"}


def needs_display_copy(width: int, height: int, content_type: str) -> bool:
    """Whether a photo of this size (upright) and type is shown through a copy. One that fits, in a format every
    browser shows, is shown as it was stored: a copy would be no smaller in pixels, only recompressed, and a second
    file to keep."""
    return max(width, height) > DISPLAY_SIZE or content_type not in SHOWN_BY_BROWSERS


def prediction_thumbnail_bytes(*, prediction: Prediction) -> bytes | None:
    """The small JPEG of the photo, for lists and the admin (see _kept_copy)."""
    return _kept_copy(prediction, "thumbnail", THUMBNAIL_SIZE)


def prediction_display_image(*, prediction: Prediction) -> tuple[bytes | None, str]:
    """The photo as its page shows it, and its content type: the JPEG at most DISPLAY_SIZE on the longer side (see
    _kept_copy), or the stored photo itself when it fits."""
    if not needs_display_copy(prediction.width, prediction.height, prediction.content_type):
        return selectors.prediction_image_bytes(prediction=prediction), prediction.content_type
    return _kept_copy(prediction, "display_copy", DISPLAY_SIZE), "image/jpeg"


def _kept_copy(prediction: Prediction, field_name: str, size: int) -> bytes | None:
    """One of the prediction's COPIES: the one kept, or, for a photo stored before that copy was made, made once (in
    one of the classifier's slots, so that at most a few photos are decoded at a time) and kept. None and
    StorageUnavailable as for prediction_image_bytes."""
    kept = getattr(prediction, field_name)
    if kept:
        try:
            with kept.open("rb") as stored:
                return stored.read()
        except FileNotFoundError:
            logger.warning("The %s of prediction %s is missing; making it again", field_name, prediction.pk)
        except STORAGE_ERRORS as error:
            logger.error("Could not read %s: %s", kept.name, error)
            raise StorageUnavailable(kept.name) from error
    with _decoding_slot():
        data = selectors.prediction_image_bytes(prediction=prediction)
        if data is None:
            return None
        try:
            copy = jpeg_copies(data, size)[0]
        except ImageError as error:
            logger.error("The image of prediction %s cannot be decoded: %s", prediction.pk, error)
            return None
    try:
        name = _store_file(prediction, copy, ".jpg")
    except ImageRejected:  # no room to keep it: it is shown all the same, and made again next time
        return copy
    Prediction.objects.filter(pk=prediction.pk).update(**{field_name: name})  # this column alone
    kept.name = name
    return copy


@contextlib.contextmanager
def _decoding_slot():
    """One of the served classifier's slots, or none when the model cannot be loaded (a copy needs no model)."""
    try:
        classifier = get_classifier()
    except ClassifierUnavailable:
        yield
        return
    with classifier.slot():
        yield


def prediction_heat_map(*, prediction: Prediction):
    """Which regions of the photo's centre square drove the prediction's label, as rows of 0-1 values, made by
    the model version that made the prediction from the squares its networks saw; None when that version is no
    longer available. Made once, then read from the prediction (its label and squares never change)."""
    if prediction.heat_map is not None:
        return np.asarray(prediction.heat_map)
    classifier = classifier_for_version(prediction.model_version)
    if classifier is None:
        return None
    cells = classifier.heat_map(
        selectors.prediction_squares(prediction=prediction, classifier=classifier),
        prediction.label,
        prediction.rule_case or None,
    )
    prediction.heat_map = cells.tolist()
    Prediction.objects.filter(pk=prediction.pk).update(heat_map=prediction.heat_map)  # this column alone
    return cells


class FeedbackAgreesWithModel(ValueError):
    """The owner's "it is a …" names the class the model gave: nothing to dispute."""


def prediction_feedback(*, prediction: Prediction, label: str) -> Prediction:
    """Record what the owner says the photo really shows (a class other than the predicted one, or "none");
    an empty label withdraws what they said."""
    choices = {value for value, _ in Prediction._meta.get_field("feedback_label").choices}
    if label and label not in choices:
        raise ValueError(gettext("“%(label)s” is not one of the classes or “none”.") % {"label": label})
    if label == prediction.label:
        raise FeedbackAgreesWithModel(
            gettext("“%(label)s” is what the model said; choose the class the photo really shows.")
            % {"label": class_name(label)}
        )
    prediction.feedback_label = label
    prediction.feedback_at = timezone.now() if label else None
    prediction.save(update_fields=["feedback_label", "feedback_at"])
    return prediction


def prediction_confirm(*, prediction: Prediction, reviewer) -> Prediction:
    """Staff say what the site showed (a class, or "none of the ten classes") is right."""
    return _review(prediction, reviewer, Prediction.ReviewStatus.CONFIRMED, "")


def prediction_correct(*, prediction: Prediction, reviewer, label: str) -> Prediction:
    """Staff say the photo shows `label`: a class, or NONE_OF_THE_TEN. What the site showed is confirmed instead."""
    if label not in SHOWN_LABELS:
        raise ValueError(f"{label!r} is not one of the classes or {NONE_OF_THE_TEN!r}")
    if label == prediction.shown_label:
        return prediction_confirm(prediction=prediction, reviewer=reviewer)
    return _review(prediction, reviewer, Prediction.ReviewStatus.CORRECTED, label)


def _review(prediction, reviewer, status, label):
    prediction.review_status = status
    prediction.reviewed_label = label
    prediction.reviewed_by = reviewer
    prediction.reviewed_at = timezone.now()
    prediction.save(update_fields=["review_status", "reviewed_label", "reviewed_by", "reviewed_at"])
    return prediction


def prediction_delete(*, prediction: Prediction) -> None:
    """Delete the record, then its files once the deletion is committed (no record ever points at nothing)."""
    storage = prediction.image.storage
    names = [stored.name for stored in _stored_files(prediction)]
    with transaction.atomic():
        prediction.delete()
        # robust: storage that fails now leaves a file without a record, which sweep_uploads removes later; the
        # deletion the person asked for has happened and is answered as such.
        for name in names:
            transaction.on_commit(lambda name=name: storage.delete(name), robust=True)


def _stored_files(prediction: Prediction) -> list:
    """The prediction's files in storage: its photo and whichever copies of it have been made."""
    files = [prediction.image, *(getattr(prediction, name) for name in Prediction.COPIES)]
    return [stored for stored in files if stored]


def orphan_files_sweep(*, older_than: timedelta) -> list[str]:
    """Delete stored images that no prediction points at and that are older than `older_than`.

    A file is written before its record is committed, so a worker killed in between leaves a file without a
    record (never the other way round). The age margin keeps files of uploads still in flight.
    """
    storage = Prediction._meta.get_field("image").storage
    known = {name for row in Prediction.objects.values_list("image", *Prediction.COPIES) for name in row if name}
    cutoff = timezone.now() - older_than
    removed = []
    for name in _stored_names(storage, "predictions"):
        if name not in known and storage.get_modified_time(name) <= cutoff:
            storage.delete(name)
            removed.append(name)
    return removed


def _stored_names(storage, folder):
    # No exists() check first: object storage has no folders, so exists("predictions") is False there even when
    # files are under it. A folder that is not there lists nothing in S3 and raises on the file system.
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from _stored_names(storage, f"{folder}/{sub}")


def api_token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`; the plain token is returned once and only its hash is kept."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:100], prefix=key[:12], key_hash=ApiToken.hash_key(key))
    return token, key


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def api_tokens_revoke_all(*, user) -> int:
    """Revoke every active token of `user`, as a new password does: whoever knew the old one may have made some.
    Returns how many were revoked."""
    return ApiToken.objects.active().filter(user=user).update(revoked_at=timezone.now())


def model_version_register(*, path, activate: bool = False) -> ModelVersion:
    """Register the bundle in `path` (or refresh its metadata when registered already), optionally activating it."""
    folder = Path(path).resolve()
    metadata = read_metadata(folder)  # BundleError when it is not a complete bundle
    name = metadata.get("name") or folder.name
    elsewhere = ModelVersion.objects.filter(name=name).exclude(path=str(folder)).first()
    if elsewhere is not None:
        raise BundleError(f"a model version named {name} is registered from {elsewhere.path} already")
    version, _ = ModelVersion.objects.update_or_create(name=name, defaults={"path": str(folder), "metadata": metadata})
    if activate:
        model_version_activate(version=version)
    return version


def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Make `version` the one the site serves; new predictions use it at once in this process, within seconds in
    the others. The bundle is loaded first, so a broken one is refused before anything changes."""
    load_bundle(version.path)
    with transaction.atomic():
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        version.is_active = True
        version.activated_at = timezone.now()
        version.save(update_fields=["is_active", "activated_at"])
    forget_active_model()
    return version


def model_version_deactivate() -> ModelVersion:
    """Serve the shipped default again (no version stays active), switching every process as activation does;
    returns its version. Its bundle is loaded first, so a broken one is refused before anything changes."""
    default = model_version_for_default_bundle()
    load_bundle(default_bundle_path())
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    forget_active_model()
    return default


def model_version_for_default_bundle() -> ModelVersion:
    """The version of the shipped default (settings.MODEL_DIR), registered the first time it is asked for, so that
    the bundle the site serves is always among the versions. Not a data migration, since MODEL_DIR is read at run
    time; two app servers registering it at once end with one row (the name is unique, and update_or_create looks
    again after losing the race)."""
    folder = default_bundle_path().resolve()
    return ModelVersion.objects.filter(path=str(folder)).first() or model_version_register(path=folder)
