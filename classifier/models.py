import hashlib
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from mlcore.labels import CLASSES

LABEL_CHOICES = [(name, name) for name in CLASSES]


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
        """Uploads whose class staff confirmed or corrected to one of the ten."""
        return self.filter(review_status__in=[Prediction.ReviewStatus.CONFIRMED, Prediction.ReviewStatus.CORRECTED])


class Prediction(models.Model):
    class ReviewStatus(models.TextChoices):
        PENDING = "pending", "Not reviewed"
        CONFIRMED = "confirmed", "Confirmed"
        CORRECTED = "corrected", "Corrected"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="predictions")
    image = models.FileField(upload_to=prediction_image_path, max_length=200)
    original_name = models.CharField(max_length=255, help_text="The file name the client sent; never used as a path.")
    content_type = models.CharField(max_length=50, help_text="Decided from the file's content, not its name.")
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField("SHA-256", max_length=64, db_index=True, help_text="Of the bytes as uploaded.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    label = models.CharField(max_length=20, choices=LABEL_CHOICES, db_index=True)
    confidence = models.FloatField()
    probabilities = models.JSONField(help_text="Class name to probability, for all ten classes.")
    model_input = models.BinaryField(help_text="The 32x32 image the network saw, as PNG.")
    model_version = models.CharField(max_length=100, db_index=True)
    inference_ms = models.FloatField(help_text="Decoding, preprocessing and the network, in milliseconds.")
    none_of_the_classes = models.BooleanField(
        default=False, db_index=True, help_text="The out-of-distribution score fell below the model's threshold."
    )
    feedback_label = models.CharField(
        max_length=20,
        choices=[*LABEL_CHOICES, ("none", "none of these")],
        blank=True,
        help_text="What the owner says the photo really shows, when they disagree.",
    )
    feedback_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    review_status = models.CharField(
        max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING, db_index=True
    )
    reviewed_label = models.CharField(max_length=20, choices=LABEL_CHOICES, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    objects = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="prediction_owner_newest")]

    def __str__(self):
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
    def verdict(self) -> str:
        """What the page says: the class, or that the photo fits none of them and which is closest."""
        if self.none_of_the_classes:
            return f"Not one of the ten classes (closest: {self.label}, {self.confidence:.0%})"
        return self.label

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once, when made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ModelVersion(models.Model):
    """A model bundle the site can serve. Exactly one is active; switching takes effect without a restart."""

    name = models.CharField(max_length=100, unique=True, help_text="The bundle's own name (its metadata).")
    path = models.CharField(max_length=500, help_text="The bundle folder on the server.")
    metadata = models.JSONField(help_text="The bundle's metadata.json when it was registered.")
    is_active = models.BooleanField(default=False)
    registered_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model")
        ]

    def __str__(self):
        return self.name + (" (active)" if self.is_active else "")

    @property
    def test_accuracy(self):
        return (self.metadata.get("test") or {}).get("accuracy")
