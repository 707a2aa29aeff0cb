"""What an uploaded file is, decided from its bytes, and the copy of it that gets stored (without location data)."""

import io
import struct
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext
from PIL import ExifTags, Image

from mlcore.preprocessing import DECODING_ERRORS, exif_orientation, upright_rgb

try:  # HEIC/HEIF photos from phones, where the optional decoder installs
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_FORMATS = {"HEIF": ("image/heic", ".heic")}
except ImportError:  # pragma: no cover - pillow-heif ships wheels for the platforms we run on
    HEIF_FORMATS = {}

# Pillow format name -> (content type, file suffix). MPO is the multi-picture JPEG some cameras write.
ACCEPTED_FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "MPO": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
    "GIF": ("image/gif", ".gif"),
    "BMP": ("image/bmp", ".bmp"),
    **HEIF_FORMATS,
}
Image.init()  # registers every plugin, so that `Image.open(formats=...)` can find each one
OPENERS = [name for name in ACCEPTED_FORMATS if name in Image.OPEN]  # MPO files open through the JPEG opener
# Pillow decodes run-length-encoded BMPs in Python, about 9 megapixels a second here: fuzzing found a 95-byte BMP
# of 25 megapixels that took 3 s to decode. Nobody's photo is one, so these get a smaller limit.
SLOW_DECODERS = {"bmp_rle"}
SLOW_DECODERS_MAX_PIXELS = 2_000_000
ROTATED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class ImageRejected(ValueError):
    """An upload that cannot be classified; the message is for the person who sent it."""

    def __init__(self, message: str, status: int = 400, *, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, when a rate limit refused it (429)


@dataclass(frozen=True)
class InspectedImage:
    image: Image.Image  # opened, not yet decoded
    format: str
    content_type: str
    suffix: str
    width: int  # as displayed, after EXIF rotation
    height: int


def inspect_image(data: bytes, *, max_pixels: int) -> InspectedImage:
    """Open `data` as one of the accepted formats and check its size, without decoding the pixels."""
    if not data:
        raise ImageRejected(gettext("the file is empty"))
    try:
        image = Image.open(io.BytesIO(data), formats=OPENERS)
    except DECODING_ERRORS:  # UnidentifiedImageError is an OSError
        raise ImageRejected(_not_an_accepted_image()) from None
    width, height = image.size
    if any(tile.codec_name in SLOW_DECODERS for tile in image.tile):
        max_pixels = min(max_pixels, SLOW_DECODERS_MAX_PIXELS)
    if width * height > max_pixels:
        raise ImageRejected(
            gettext("it has %(width)dx%(height)d pixels (%(megapixels)s megapixels); the limit is %(limit)s megapixels")
            % {
                "width": width,
                "height": height,
                "megapixels": f"{width * height / 1e6:.0f}",
                "limit": f"{max_pixels / 1e6:.0f}",
            }
        )
    content_type, suffix = ACCEPTED_FORMATS[image.format]
    try:
        orientation = exif_orientation(image)  # a PNG's EXIF can follow its pixels, so reading it may decode them
    except DECODING_ERRORS:
        raise ImageRejected(_damaged()) from None
    if orientation in ROTATED_ORIENTATIONS:
        width, height = height, width
    return InspectedImage(image, image.format, content_type, suffix, width, height)


def _damaged() -> str:
    return gettext("the image is damaged or truncated and cannot be decoded")


def _not_an_accepted_image() -> str:
    if HEIF_FORMATS:
        return gettext("it is not a JPEG, PNG, WebP, GIF, BMP or HEIC image")
    return gettext("it is not a JPEG, PNG, WebP, GIF or BMP image")


def without_location(data: bytes, image_format: str) -> bytes:
    """The bytes to store: the upload itself, or, when it carries GPS data, a copy re-saved without it.

    Raises ImageRejected when the metadata cannot be read (a PNG's can follow damaged chunks): then whether it
    holds a location cannot be known, and the photo is not stored."""
    try:
        return _without_location(data, image_format)
    except DECODING_ERRORS:
        raise ImageRejected(_damaged()) from None


def _without_location(data: bytes, image_format: str) -> bytes:
    image = Image.open(io.BytesIO(data), formats=OPENERS)
    if not _has_location(image):
        return data
    exif = image.getexif()
    exif.pop(ExifTags.IFD.GPSInfo, None)
    try:
        exif_bytes = exif.tobytes()
    except (TypeError, ValueError, struct.error):  # damaged entries Pillow reads but cannot write (found by fuzzing)
        exif_bytes = _orientation_only(image)
    out = io.BytesIO()
    options = {"exif": exif_bytes}
    if image.info.get("icc_profile"):
        options["icc_profile"] = image.info["icc_profile"]
    if image_format in ("JPEG", "MPO"):
        # The original quantisation tables and subsampling: no visible generation loss.
        image.save(out, "JPEG", quality="keep", subsampling="keep", **options)
    elif image_format == "WEBP":
        image.save(out, "WEBP", quality=95, **options)
    elif image_format == "HEIF":
        image.save(out, "HEIF", quality=95, **options)
    else:
        image.save(out, image_format, **options)
    return out.getvalue()


def _orientation_only(image: Image.Image) -> bytes:
    """EXIF that keeps just the image's orientation, so that the stored copy still displays upright."""
    exif = Image.Exif()
    if (orientation := exif_orientation(image)) != 1:
        exif[ExifTags.Base.Orientation] = orientation
    return exif.tobytes()


def _has_location(image: Image.Image) -> bool:
    xmp = image.info.get("xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode()
    return bool(image.getexif().get_ifd(ExifTags.IFD.GPSInfo)) or b"GPSLatitude" in xmp or b"GPSLongitude" in xmp


def squares_image(squares) -> tuple[bytes, list[list[int]]]:
    """The squares the networks kept of a photo, side by side and top-aligned in one lossless WebP image, and where
    each one is ([left, top, side]). Written for every upload, so made fast: for a 224x224 square, 2.5 ms and 64 KB
    (at WebP's default effort 3.9 ms; PNG: 5 ms and 86 KB at its fastest compression, 21 ms at its default)."""
    boxes, left = [], 0
    for pixels in squares:
        boxes.append([left, 0, int(pixels.shape[0])])
        left += pixels.shape[1]
    sheet = Image.new("RGB", (left, max(box[2] for box in boxes)), (255, 255, 255))
    for pixels, (x, y, _) in zip(squares, boxes, strict=True):
        sheet.paste(Image.fromarray(pixels), (x, y))
    out = io.BytesIO()
    sheet.save(out, "WEBP", lossless=True, method=0, quality=0)  # lossless whatever the effort: the least effort
    return out.getvalue(), boxes


def square_from_image(data: bytes, box=None) -> np.ndarray:
    """One square of `squares_image`'s image (the whole image without a box: a prediction from before experts)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if box is not None:
        left, top, side = box
        image = image.crop((left, top, left + side, top + side))
    return np.asarray(image)


def png_bytes(image) -> bytes:
    """A PNG of a Pillow image or of an array of pixels."""
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def jpeg_copies(data: bytes, *sizes: int) -> tuple[bytes, ...]:
    """Upright JPEGs of a stored image, one for each of `sizes` (pixels on the longer side; never enlarged), for
    lists and the admin (the thumbnail) and the photo's page (the display copy). The image is decoded once for all
    of them: a 7000x7000 PNG takes about 2 s to decode."""
    image = upright_rgb(data, max(sizes))
    made = {}
    for size in sorted(set(sizes), reverse=True):  # each from the one before it: fewer pixels to resample
        image.thumbnail((size, size))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        made[size] = out.getvalue()
    return tuple(made[size] for size in sizes)
