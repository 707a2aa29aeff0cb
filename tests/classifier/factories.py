"""Predictions made the way users make them: through the upload service, with real images and the real model."""

from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.services import prediction_create
from tests.conftest import image_bytes


def make_prediction(owner, name="photo.jpg", data=None):
    return prediction_create(owner=owner, upload=SimpleUploadedFile(name, data or image_bytes("JPEG")))
