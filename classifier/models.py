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
