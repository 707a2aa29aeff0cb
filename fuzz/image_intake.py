"""Fuzz target: the image intake, bytes in -> the experts' squares (or a clear rejection) and the copy to store.

It runs what `classifier.services.prediction_create` runs before and after the networks, without them:
`inspect_image` with the site's pixel limit, the bundle's own decoding and squares (`Classifier.prepare`: first
frame, JPEG draft, EXIF orientation, transparency, centre squares), the stored model-input sheet
(`squares_image`) and `without_location`.

The documented rejections are `ImageRejected` (what the page and the API report) and `ImageError` (a file that
opened but does not decode; the service reports it as ImageRejected). A crash is any other exception, a square of
the wrong shape or type, or a stored copy that still carries GPS data or no longer opens as the accepted format.
"""

import harness

harness.start_django(database=False)

from django.conf import settings  # noqa: E402

from classifier.images import ImageRejected, _has_location, inspect_image, squares_image, without_location  # noqa: E402
from classifier.serving import get_classifier  # noqa: E402
from mlcore.preprocessing import ImageError, open_image  # noqa: E402

CLASSIFIER = get_classifier()  # the shipped bundle, for its experts' sizes; its networks are never run here


def test_one_input(data: bytes) -> None:
    try:
        inspected = inspect_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
        _case, kept, squares = CLASSIFIER.prepare(inspected.image)
        stored = without_location(data, inspected.format)  # refuses a photo whose metadata cannot be read
    except (ImageRejected, ImageError):
        return
    for name, pixels in squares.items():
        size = CLASSIFIER.experts[name].image_size
        if pixels.shape != (size, size, 3) or pixels.dtype != "uint8":
            raise AssertionError(f"{name}'s square is {pixels.shape} {pixels.dtype}, not ({size}, {size}, 3) uint8")
    squares_image(list(kept.values()))
    if _has_location(open_image(stored)):
        raise AssertionError("the copy to store still carries GPS data")
    if inspect_image(stored, max_pixels=settings.MAX_IMAGE_PIXELS).content_type != inspected.content_type:
        raise AssertionError("the copy to store is no longer of the uploaded format")


if __name__ == "__main__":
    harness.fuzz(test_one_input)
