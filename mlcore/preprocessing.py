"""The one preprocessing path: any photo in, decoded once (`upright_rgb`), then the square RGB pixels each
network takes (`square`).

Decoding the data set, serving and evaluation all go through it (`to_model_input` is the two steps for one
network), and training resizes the decoded 32x32 CIFAR images to a network's input size with `resize_pixels`, the
same resampling. A network trained that way has only ever seen 32x32 detail spread over its input, so a photo is
reduced to 32x32 first (`through`) and then enlarged to the input size: it reaches the network exactly as a training
image did. Measured on real photos (docs/model.md): straight to 128x128, 93.0% right and a third wrongly called "none of
the ten"; through 32x32, 97.4% and 4.3%. A network trained on sharp photos (the ImageNet expert) takes the sharp
square instead. The networks themselves normalise the pixel values.
"""

import io
import struct
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

CIFAR_SIZE = 32  # pixels, square: the size the data set is decoded and cached at
BACKGROUND = (128, 128, 128)  # neutral grey behind transparent pixels
# JPEG decoding may shrink by 2, 4 or 8 in the DCT while keeping at least this many times the network's size on
# each side, so a 50-megapixel photo is never decoded in full. Lanczos then does the last, clean step.
DRAFT_FACTOR = 4
# What Pillow and its plugins raise for a file that does not decode: the parsing errors Image.open itself turns
# into "cannot identify" (they come later, from lazy loading: a truncated GIF's frame count, an IndexError), and
# pillow-heif's EOFError for a truncated HEIC and RuntimeError for libheif's other refusals (a security limit).
# Each was found by fuzzing (fuzz/image_intake.py).
DECODING_ERRORS = (
    *(OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError),
    *(IndexError, TypeError, struct.error, RuntimeError),
)
# EXIF orientation -> the transposition that shows the image upright (EXIF 2.32, tag 274).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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


def decoded_side(size: int, through: int | None = None) -> int:
    """The shorter side a photo must keep when decoded for a network whose square is `size` (through `through`):
    DRAFT_FACTOR times the detail it keeps, so Lanczos does the last, clean step."""
    through = through if through and through < size else None
    return DRAFT_FACTOR * (through or size)


def preprocessing_description(size: int, through: int | None = None, decode_side: int | None = None) -> dict:
    """What `square(upright_rgb(source, decode_side), size, through)` does, for a bundle's metadata and the Model data
    page."""
    through = through if through and through < size else None
    decode_side = decode_side or decoded_side(size, through)
    resizes = [f"Lanczos resize to {through}x{through}"] if through else []
    return {
        "steps": [
            "first frame of animated images",
            f"JPEG decoded at the smallest DCT scale that keeps {decode_side} pixels on the shorter side",
            "EXIF orientation applied",
            "transparency flattened onto grey (128, 128, 128)",
            "converted to 8-bit RGB",
            "centre square crop",
            *resizes,
            f"Lanczos resize to {size}x{size}",
        ],
        "input": f"uint8 RGB, {size}x{size}, values 0-255 (the network normalises them)",
        "image_size": size,
        "through": through,
        "decode_side": decode_side,
        "crop": "centre_square",
        "resample": "lanczos",
        "background": list(BACKGROUND),
    }


def to_model_input(source, size: int = CIFAR_SIZE, through: int | None = None) -> np.ndarray:
    """Return the (size, size, 3) uint8 array a network of that input size takes for this image; with `through`,
    the image is reduced to through x through first (the detail its training images had), then enlarged."""
    return square(upright_rgb(source, decoded_side(size, through)), size, through)


def square(image: Image.Image, size: int, through: int | None = None) -> np.ndarray:
    """The centre square of a decoded photo as a network of input `size` takes it (see `to_model_input`)."""
    through = through if through and through < size else None
    try:
        if through:
            return resize_pixels(_resize(image, through)[None], size)[0]
        return _resize(image, size)
    except DECODING_ERRORS as error:
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
        declared = image.size
        image.load()
        # A HEIC's declared size, which the site's pixel limit checked, does not bind its decoder.
        if image.width * image.height > declared[0] * declared[1]:
            raise ImageError(f"it decoded to {image.width}x{image.height} pixels, more than the {declared} it declares")
        return _to_rgb(_upright(image))
    except DECODING_ERRORS as error:
        raise ImageError(f"the image could not be decoded: {error}") from error


def resize_pixels(images: np.ndarray, size: int) -> np.ndarray:
    """A uint8 (N, H, W, 3) batch resized to (N, size, size, 3) as `to_model_input` would resize each image."""
    images = np.asarray(images, dtype=np.uint8)
    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for index, pixels in enumerate(images):
        out[index] = _resize(Image.fromarray(pixels), size)
    return out


def _resize(image: Image.Image, size: int) -> np.ndarray:
    if image.size != (size, size):
        image = image.resize(
            (size, size),
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


def exif_orientation(image: Image.Image) -> int:
    """The image's EXIF orientation (1, upright, when it has none or a damaged one)."""
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except (TypeError, ValueError):
        return 1


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says. Not ImageOps.exif_transpose: that also writes the EXIF back
    into the copy, and Pillow cannot write some damaged entries that it reads (a TypeError, found by fuzzing)."""
    orientation = exif_orientation(image)
    return image.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else image


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
