import hashlib
import uuid
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from classifier import verdicts
from classifier.class_names import CLASS_NAMES, NONE_OF_THE_TEN, class_name, shown_name
from mlcore.labels import CLASSES

LABEL_CHOICES = [(name, CLASS_NAMES[name]) for name in CLASSES]


def prediction_image_path(instance, filename: str) -> str:
    """A generated name: the client's file name never becomes a path (only the detected format's suffix)."""
    suffix = PurePosixPath(filename).suffix.lower()
    return f"predictions/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{suffix}"


class PredictionQuerySet(models.QuerySet):
    def owned_by(self, user):
        return self.filter(owner=user)

    def pending_review(self):
        return self.filter(review_status=Prediction.ReviewStatus.PENDING)

    def disputed(self):
        """The owner said the answer is wrong."""
        return self.exclude(feedback_label="")

    def reviewed_for_training(self):
        """Uploads whose class staff confirmed or corrected to one of the ten: not those settled as none of them."""
        confirmed_class = models.Q(review_status=Prediction.ReviewStatus.CONFIRMED, none_of_the_classes=False)
        corrected_to_class = models.Q(review_status=Prediction.ReviewStatus.CORRECTED) & ~models.Q(
            reviewed_label=NONE_OF_THE_TEN
        )
        return self.filter(confirmed_class | corrected_to_class)


class Prediction(models.Model):
    class ReviewStatus(models.TextChoices):
        PENDING = "pending", _("Not reviewed")
        CONFIRMED = "confirmed", _("Confirmed")
        CORRECTED = "corrected", _("Corrected")

    # The JPEGs made from the photo: derived, so a missing one is made again when it is first shown, and backups
    # leave them out.
    COPIES = ("thumbnail", "display_copy")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="predictions", verbose_name=_("owner")
    )
    image = models.FileField(_("image"), upload_to=prediction_image_path, max_length=200)
    # A small JPEG made when the photo is stored (or the first time one from before is asked for), so that lists
    # never decode the full photo: a 7000x7000 PNG takes 150 MB to decode.
    thumbnail = models.FileField(_("thumbnail"), max_length=200, blank=True, editable=False)
    # The JPEG the photo's page shows when the photo is larger than services.DISPLAY_SIZE (a phone's 4000-pixel,
    # 4 MB original would be downloaded to be shown a few hundred pixels wide); made and kept like the thumbnail.
    display_copy = models.FileField(_("display copy"), max_length=200, blank=True, editable=False)
    original_name = models.CharField(
        _("original name"), max_length=255, help_text=_("The file name the client sent; never used as a path.")
    )
    content_type = models.CharField(
        _("content type"), max_length=50, help_text=_("Decided from the file's content, not its name.")
    )
    size_bytes = models.PositiveBigIntegerField(_("size in bytes"))
    sha256 = models.CharField("SHA-256", max_length=64, db_index=True, help_text=_("Of the bytes as uploaded."))
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    label = models.CharField(_("class"), max_length=20, choices=LABEL_CHOICES, db_index=True)
    confidence = models.FloatField(_("confidence"))
    probabilities = models.JSONField(_("probabilities"), help_text=_("Class name to probability, for all ten classes."))
    model_input = models.BinaryField(
        _("model input"),
        help_text=_("The squares the networks kept of the photo, side by side in one lossless image."),
    )
    model_version = models.CharField(_("model version"), max_length=100, db_index=True)
    inference_ms = models.FloatField(
        _("time taken (ms)"), help_text=_("Decoding, preprocessing and the network, in milliseconds.")
    )
    none_of_the_classes = models.BooleanField(
        _("none of the ten classes"),
        default=False,
        db_index=True,
        help_text=_("The model's rule found the photo fits none of the ten classes."),
    )
    experts = models.JSONField(
        _("experts"),
        default=list,
        blank=True,
        help_text=_("Each network's answer, its weight, and where its square is in the model input."),
    )
    rule_case = models.CharField(
        _("rule case"), max_length=30, blank=True, help_text=_("Which experts answered, chosen by the photo's size.")
    )
    # The heat map's cells for `label`, kept from the first time someone asks (40-110 ms of occlusion each time
    # otherwise: an API page of 100 with ?explain=1 took seconds); derived data, so not shown or edited anywhere.
    heat_map = models.JSONField(null=True, editable=False)
    none_because = models.JSONField(
        _("why none of the ten"),
        default=list,
        blank=True,
        help_text=_("The conditions of the model's rule that made it “none of the ten classes”."),
    )
    feedback_label = models.CharField(
        _("feedback label"),
        max_length=20,
        choices=[*LABEL_CHOICES, (NONE_OF_THE_TEN, _("none of these"))],
        blank=True,
        help_text=_("What the owner says the photo really shows, when they disagree."),
    )
    feedback_at = models.DateTimeField(_("feedback given at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    review_status = models.CharField(
        _("review status"), max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING, db_index=True
    )
    reviewed_label = models.CharField(
        _("reviewed class"),
        max_length=20,
        choices=[*LABEL_CHOICES, (NONE_OF_THE_TEN, _("none of the ten classes"))],
        blank=True,
        help_text=_("The class staff corrected it to; empty when they confirmed what the site showed."),
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)

    objects = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="prediction_owner_newest")]
        verbose_name = _("prediction")
        verbose_name_plural = _("predictions")

    def __str__(self):
        if self.none_of_the_classes:  # the closest class would read as the answer (the admin page's heading)
            return f"{self.original_name}: {shown_name(NONE_OF_THE_TEN)}"
        return f"{self.original_name}: {self.label} ({self.confidence:.0%})"

    def get_absolute_url(self):
        return reverse("prediction_detail", args=[self.pk])

    @property
    def top_k(self) -> list[dict]:
        """All classes with their probabilities, highest first."""
        ranked = sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)
        return [{"label": label, "probability": probability} for label, probability in ranked]

    @property
    def confidence_percent(self) -> float:
        return 100 * self.confidence

    @property
    def shown_label(self) -> str:
        """The class the site showed, or NONE_OF_THE_TEN when it showed "none of the ten classes"."""
        return NONE_OF_THE_TEN if self.none_of_the_classes else self.label

    @property
    def settled_label(self) -> str | None:
        """What staff settled on when they reviewed it: what the site showed, confirmed, or their correction (a
        class or NONE_OF_THE_TEN); None while it waits for review."""
        if self.review_status == self.ReviewStatus.CORRECTED:
            return self.reviewed_label
        return self.shown_label if self.review_status == self.ReviewStatus.CONFIRMED else None

    @property
    def verdict(self) -> str:
        """What the page says: the class, or that the photo fits none of them (in the active language; the API
        answers in English). Never a class beside "none of the ten": the reasons say why instead."""
        if self.none_of_the_classes:
            return gettext("Not one of the ten classes")
        return class_name(self.label)

    @property
    def none_reasons(self) -> list[str]:
        """Why the model said "none of the ten", one sentence per condition of its rule that held."""
        return verdicts.none_reasons(self.experts, self.none_because) if self.none_of_the_classes else []

    @property
    def expert_rows(self) -> list[dict]:
        """What each network said, as the page lists it (none for a prediction from before experts)."""
        return verdicts.expert_rows(self.experts)

    @property
    def model_input_side(self) -> int | None:
        """The side in pixels of the square the network saw (read from the stored PNG's header), for a prediction
        from before experts, whose model input is one square."""
        data = bytes(self.model_input or b"")
        return int.from_bytes(data[16:20], "big") if data.startswith(b"\x89PNG") and len(data) >= 24 else None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once, when made."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(
        _("prefix"), max_length=12, help_text=_("The token's first characters, to tell tokens apart.")
    )
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ModelVersionQuerySet(models.QuerySet):
    def with_serving(self):
        """Each version with `is_shipped` (its bundle is the shipped default) and `is_served` (the site serves it
        now: the active version, else the shipped default)."""
        shipped = _shipped_default()
        nothing_active = ~models.Exists(ModelVersion.objects.filter(is_active=True))
        return self.annotate(
            is_shipped=models.ExpressionWrapper(shipped, output_field=models.BooleanField()),
            is_served=models.ExpressionWrapper(
                models.Q(is_active=True) | (shipped & nothing_active), output_field=models.BooleanField()
            ),
        )

    def undeletable(self):
        """The active version and the shipped default: one of them is what the site serves."""
        return self.filter(models.Q(is_active=True) | _shipped_default())


def _shipped_default() -> models.Q:
    """The version registered from MODEL_DIR, which classifier.serving serves while none is active (registered
    paths are resolved)."""
    return models.Q(path=str(Path(settings.MODEL_DIR).resolve()))


class ModelVersion(models.Model):
    """A model bundle the site can serve: the active one, else the shipped default (settings.MODEL_DIR), which is
    listed too. At most one is active; switching takes effect without a restart."""

    name = models.CharField(
        _("name"), max_length=100, unique=True, help_text=_("The bundle's own name (its metadata).")
    )
    path = models.CharField(_("path"), max_length=500, help_text=_("The bundle folder on the server."))
    metadata = models.JSONField(_("metadata"), help_text=_("The bundle's metadata.json when it was registered."))
    is_active = models.BooleanField(_("active"), default=False)
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model")
        ]
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")

    def __str__(self):
        return self.name  # as the bundle names itself; lists mark the served one (with_serving)

    @property
    def test_accuracy(self):
        return (self.metadata.get("test") or {}).get("accuracy")


class RateLimit(models.Model):
    """The recent uses of one limited action (uploads, chat messages, sign-ups) by one user or client address.

    Kept in the database, so a limit holds however many app servers share it; its row is locked while a use is
    counted, so requests in parallel cannot all pass the same last free place."""

    scope = models.CharField(_("limit"), max_length=30)
    key = models.CharField(_("user or address"), max_length=100)
    uses = models.JSONField(
        _("uses"), default=list, help_text=_("When each use within the window happened (Unix time).")
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="one_rate_limit_per_key")]
        verbose_name = _("rate limit")
        verbose_name_plural = _("rate limits")

    def __str__(self):
        return f"{self.scope} {self.key}"
