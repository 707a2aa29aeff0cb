"""The one preprocessing function: any photo in, the 32x32 RGB pixels the network was trained on out.

Training, evaluation and serving all call `to_model_input`, so a photo is seen by the network exactly as
the training images were. The network itself normalises the pixel values.
"""

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mlcore.config import IMAGE_SIZE

BACKGROUND = (128, 128, 128)  # neutral grey behind transparent pixels
PREPROCESSING = {
    "steps": [
        "first frame of animated images",
        "EXIF orientation applied",
        "transparency flattened onto grey (128, 128, 128)",
        "converted to 8-bit RGB",
        "centre square crop",
        f"Lanczos resize to {IMAGE_SIZE}x{IMAGE_SIZE}",
    ],
    "input": f"uint8 RGB, {IMAGE_SIZE}x{IMAGE_SIZE}, values 0-255 (the network normalises them)",
    "image_size": IMAGE_SIZE,
    "crop": "centre_square",
    "resample": "lanczos",
    "background": list(BACKGROUND),
}
# JPEG decoding may shrink by 2, 4 or 8 in the DCT while keeping at least this many pixels on each side, so a
# 50-megapixel photo is never decoded in full. Lanczos then does the last, clean step.
DRAFT_MIN_SIDE = 4 * IMAGE_SIZE


class ImageError(ValueError):
    """The input is not an image that can be decoded."""


def open_image(source) -> Image.Image:
    """Open bytes, a path, a file object, a PIL image or a uint8 pixel array; pixels decode in `to_model_input`."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return Image.fromarray(np.asarray(source, dtype=np.uint8))
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        source = Path(source)
    try:
        return Image.open(source)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ImageError(f"not a readable image: {error}") from error


def to_model_input(source) -> np.ndarray:
    """Return the (32, 32, 3) uint8 array the network takes for this image."""
    image = upright_rgb(source, DRAFT_MIN_SIDE)
    try:
        return _resize(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"the image could not be decoded: {error}") from error


def upright_rgb(source, min_side: int) -> Image.Image:
    """The image's first frame, upright, as 8-bit RGB on grey; JPEGs decoded at the smallest DCT scale that
    keeps at least `min_side` pixels on the shorter side."""
    image = open_image(source)
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)
        if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK", "YCbCr"):
            image.draft("RGB", _draft_request(image.size, min_side))
        return _to_rgb(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"the image could not be decoded: {error}") from error


def _resize(image: Image.Image) -> np.ndarray:
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize(
            (IMAGE_SIZE, IMAGE_SIZE),
            Image.Resampling.LANCZOS,
            box=_centre_square(image.size),
            reducing_gap=3.0,
        )
    return np.asarray(image, dtype=np.uint8)


def _draft_request(size, min_side):
    """Ask for a reduction that keeps the shorter side at `min_side` pixels or more."""
    width, height = size
    scale = min(width, height) / min_side
    if scale <= 1:
        return size
    return (max(1, int(width / scale)), max(1, int(height / scale)))


def _centre_square(size):
    width, height = size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = _high_bit_depth_to_grey(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA", "RGBa") or (image.mode in ("L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, BACKGROUND)
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _high_bit_depth_to_grey(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    top = 65535.0 if pixels.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
    if image.mode == "F" and pixels.max(initial=0) <= 1.0:
        top = 1.0
    return Image.fromarray(np.clip(pixels * (255.0 / top), 0, 255).round().astype(np.uint8), mode="L")
