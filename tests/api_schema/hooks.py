"""Schemathesis hooks for the API's schema run (SCHEMATHESIS_HOOKS=tests.api_schema.hooks): real images for the
upload's `image` parts.

The description says each part is an image of one of the accepted types, so a schema-valid upload must be a
decodable image: arbitrary bytes are refused with 400, rightly. Positive cases draw images of every accepted
format, of many sizes, modes and EXIF orientations; the negative phase still sends junk in their place.
"""

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.transport.serialization import Binary

from classifier.images import OPENERS

# Modes each format can save (HEIF needs its own encoder options; phones' HEIC files are tested elsewhere).
SAVED_MODES = {
    "JPEG": ["RGB", "L", "CMYK"],
    "PNG": ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"],
    "WEBP": ["RGB", "RGBA"],
    "GIF": ["P", "L"],
    "BMP": ["RGB", "L", "P", "1"],
}


@st.composite
def images(draw, image_format: str) -> bytes:
    # Thumbnails mostly, as CIFAR's are, and photos now and then (the site answers those with other networks):
    # small, because a request may hold 20 of them and each is classified.
    side = st.one_of(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.integers(41, 256))
    width, height = draw(side), draw(side)
    mode = draw(st.sampled_from(SAVED_MODES[image_format]))
    seed = draw(st.binary(min_size=3, max_size=48))
    # A few coloured bands from the drawn bytes: cheap to make, and not one flat colour for every case.
    band = max(1, height // max(1, len(seed) // 3))
    picture = Image.new("RGB", (width, height))
    for index in range(0, len(seed) - 2, 3):
        top = (index // 3) * band
        picture.paste(tuple(seed[index : index + 3]), (0, top, width, min(height, top + band)))
    picture = picture.convert(mode)
    options = {}
    orientation = draw(st.sampled_from([None, 1, 3, 6, 8]))
    if orientation is not None and image_format in ("JPEG", "PNG", "WEBP"):
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    out = io.BytesIO()
    picture.save(out, image_format, **options)
    return out.getvalue()


# Each item of the upload's `image` array (format: binary) is one of these images, in a part with a filename.
schemathesis.openapi.format("binary", st.one_of(*(images(image_format) for image_format in SAVED_MODES)).map(Binary))


@schemathesis.hook
def filter_case(context, case):
    """Drops the "negative" cases that are not: Schemathesis can draw a request the description allows (one real
    image, `explain=1`) as a negative case, then call the 201 it gets a schema-violating request accepted (ST201),
    and stop drawing for that operation. Such a case is not sent; every case that breaks the description
    somewhere, and every positive case, is."""
    return not (_drawn_negative(case) and _allowed_by_the_description(case))


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Two ST201s ("schema-violating request accepted") that are not: the same mislabel in the coverage phase,
    which sends its cases without `filter_case`, and a request refused with 414 by gunicorn itself for a URL
    over its 4,094 bytes (a refusal, which Schemathesis's list of refusing statuses lacks). The run's summary
    counts what this drops; every other failure stands."""
    if failure.code != "ST201":
        return True
    return not (response.status_code == 414 or _allowed_by_the_description(case))


def _drawn_negative(case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_negative


def _allowed_by_the_description(case) -> bool:
    parameters = {parameter.name: parameter.definition["schema"] for parameter in case.operation.query}
    for name, value in (case.query or {}).items():
        if name not in parameters or not isinstance(value, str):
            return False
        if not _allowed_value(parameters[name], value):
            return False
    if case.method.upper() != "POST":
        return True
    if case.media_type == "application/json":  # the feedback's {"label": …}, which its schema describes in full
        declared = case.operation.get_body_for_media_type(case.media_type)
        try:
            return declared is not None and declared.is_valid(case.body)
        except ValueError:  # raw bytes in place of the JSON: no schema can allow them
            return False
    images = case.body.get("image") if isinstance(case.body, dict) else None
    return isinstance(images, list) and bool(images) and all(_decodable(image) for image in images)


def _allowed_value(schema: dict, value: str) -> bool:
    """Whether a query string value is one the parameter's schema allows (the keywords the description uses)."""
    if "enum" in schema:
        return value in schema["enum"]
    if schema.get("type") == "integer":
        if not (value.isascii() and value.isdigit()):
            return False
        return schema.get("minimum", 0) <= int(value) <= schema.get("maximum", int(value))
    return True


def _decodable(image) -> bool:
    data = getattr(image, "data", image)
    try:
        Image.open(io.BytesIO(data), formats=OPENERS).load()
    except Exception:  # noqa: BLE001 - whatever Pillow raises, the bytes are no image the description allows
        return False
    return isinstance(data, bytes)
