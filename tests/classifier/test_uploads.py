"""Awkward but valid photos are classified and stored; hostile files are refused with a 4xx and leave nothing."""

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from classifier.models import Prediction
from tests.conftest import FIXTURES, image_bytes

pytestmark = pytest.mark.django_db
FUZZ_FINDINGS = FIXTURES / "fuzz"  # inputs the fuzz targets (fuzz/) found that once made a 500


def exif_rotated_jpeg():
    image = Image.new("RGB", (80, 40), (10, 120, 200))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def palette_png_with_transparency():
    image = Image.new("P", (20, 20), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def animated_gif():
    frames = [Image.new("RGB", (30, 30), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def sixteen_bit_png():
    buffer = io.BytesIO()
    Image.new("I;16", (40, 30), 40000).save(buffer, "PNG")
    return buffer.getvalue()


def png_claiming_pixels(width, height):
    """A PNG header for an enormous image, with one tiny compressed row: a decompression bomb's first bytes."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")
    )


def truncated_jpeg():
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def zip_file():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hello")
    return buffer.getvalue()


AWKWARD = {
    "exif-rotated.jpg": (exif_rotated_jpeg, "image/jpeg", (40, 80)),
    "cmyk.jpg": (lambda: image_bytes("JPEG", mode="CMYK", colour=(0, 200, 200, 0)), "image/jpeg", (64, 48)),
    "sixteen-bit.png": (sixteen_bit_png, "image/png", (40, 30)),
    "palette-transparent.png": (palette_png_with_transparency, "image/png", (20, 20)),
    "animated.gif": (animated_gif, "image/gif", (30, 30)),
    "photo.webp": (lambda: image_bytes("WEBP"), "image/webp", (64, 48)),
    "bitmap.bmp": (lambda: image_bytes("BMP"), "image/bmp", (64, 48)),
    "one-pixel.png": (lambda: image_bytes("PNG", size=(1, 1)), "image/png", (1, 1)),
    "named-png-but-jpeg.png": (lambda: image_bytes("JPEG"), "image/jpeg", (64, 48)),
    "chat-😺-ünïcödé.jpg": (lambda: image_bytes("JPEG"), "image/jpeg", (64, 48)),
    "../../etc/passwd.jpg": (lambda: image_bytes("JPEG"), "image/jpeg", (64, 48)),
    "x" * 296 + ".jpg": (lambda: image_bytes("JPEG"), "image/jpeg", (64, 48)),
    # EXIF that Pillow reads but cannot write back, which ImageOps.exif_transpose does
    "exif-pillow-cannot-rewrite.jpg": (
        lambda: (FUZZ_FINDINGS / "jpeg-exif-pillow-cannot-rewrite.jpg").read_bytes(),
        "image/jpeg",
        (12, 16),
    ),
}


@pytest.mark.parametrize("name", list(AWKWARD))
def test_awkward_but_valid_uploads_are_classified_and_stored(owner_client, user, media_root, name):
    make, content_type, (width, height) = AWKWARD[name]
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile(name, make(), "image/jpeg")})
    prediction = Prediction.objects.get(owner=user)
    assert response.status_code == 302
    assert response["Location"] == prediction.get_absolute_url()
    assert prediction.content_type == content_type
    assert (prediction.width, prediction.height) == (width, height)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    stored = media_root / prediction.image.name
    assert stored.is_file()
    assert stored.resolve().is_relative_to(media_root.resolve() / "predictions")
    assert ".." not in prediction.image.name and "passwd" not in prediction.image.name
    assert prediction.original_name.endswith(name.rsplit("/", 1)[-1][-20:])
    assert len(prediction.original_name) <= 255


def test_heic_photos_are_accepted_when_the_decoder_is_installed(owner_client, user):
    pillow_heif = pytest.importorskip("pillow_heif")
    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (64, 64), (0, 150, 0))).save(buffer, quality=90)
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile("IMG_0001.HEIC", buffer.getvalue())})
    assert response.status_code == 302
    prediction = Prediction.objects.get(owner=user)
    assert prediction.content_type == "image/heic"
    # Most browsers cannot show HEIC: the page shows a JPEG copy of it, small as it is.
    shown = owner_client.get(f"/predictions/{prediction.pk}/image?size=display")
    assert shown["Content-Type"] == "image/jpeg"
    body = b"".join(shown.streaming_content) if shown.streaming else shown.content
    assert Image.open(io.BytesIO(body)).size == (64, 64)


HOSTILE = {
    "empty.jpg": (b"", "empty"),
    "truncated.jpg": (truncated_jpeg(), "damaged or truncated"),
    "drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>', "not a JPEG"),
    "page.html": (b"<!doctype html><html><body><script>alert(1)</script></body></html>", "not a JPEG"),
    "bomb.png": (png_claiming_pixels(40_000, 40_000), "megapixels"),
    "archive.jpg": (zip_file(), "not a JPEG"),
    "notes.txt": (b"just some text", "not a JPEG"),
    # a PNG whose EXIF is looked for after its damaged pixel data
    "broken-stream.png": ((FUZZ_FINDINGS / "png-broken-stream-before-exif.png").read_bytes(), "damaged or truncated"),
    # pillow-heif raises EOFError, not OSError, for a truncated HEIC
    "truncated.heic": ((FUZZ_FINDINGS / "heic-truncated.heic").read_bytes(), "damaged or truncated"),
    # 25 megapixels in 95 bytes, in a format Pillow decodes in Python: 3 s of decoding
    "slow-rle.bmp": ((FUZZ_FINDINGS / "bmp-rle-slow-decode.bmp").read_bytes(), "the limit is 2 megapixels"),
    # decodes, but its EXIF (which may hold a location) cannot be read: a truncated APNG frame control after the pixels
    "truncated-frame-control.png": (
        (FUZZ_FINDINGS / "apng-truncated-frame-control.png").read_bytes(),
        "damaged or truncated",
    ),
    # declares 16x12 pixels, decodes to more than libheif allows (a RuntimeError)
    "larger-than-declared.heic": (
        (FUZZ_FINDINGS / "heic-decodes-larger-than-declared.heic").read_bytes(),
        "damaged or truncated",
    ),
    # Pillow counts a GIF's frames by reading past the end: an IndexError
    "truncated-frame.gif": ((FUZZ_FINDINGS / "gif-truncated-frame.gif").read_bytes(), "damaged or truncated"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_uploads_are_refused_with_the_reason_and_nothing_is_stored(owner_client, media_root, name):
    data, reason = HOSTILE[name]
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile(name, data)})
    assert response.status_code == 400
    page = response.content.decode()
    assert name in page and reason in page
    assert Prediction.objects.count() == 0
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_a_file_over_the_size_limit_is_refused_with_413_while_it_streams_in(owner_client, settings, media_root):
    settings.MAX_UPLOAD_BYTES = 200_000
    big = image_bytes("PNG", size=(600, 600), mode="RGB", compress_level=0)
    assert len(big) > settings.MAX_UPLOAD_BYTES
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile("huge.png", big)})
    assert response.status_code == 413
    assert "huge.png" in response.content.decode() and "larger than" in response.content.decode()
    assert Prediction.objects.count() == 0
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_a_request_body_over_the_limit_is_refused_before_it_is_read(owner_client, settings):
    settings.MAX_REQUEST_BYTES = 1000
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile("a.jpg", image_bytes("PNG", (300, 300)))})
    assert response.status_code == 413
    assert "too large" in response.content.decode()
    assert Prediction.objects.count() == 0


def test_a_batch_stores_the_good_files_and_reports_the_bad_ones(owner_client, user):
    files = [
        SimpleUploadedFile("good-1.jpg", image_bytes("JPEG")),
        SimpleUploadedFile("broken.jpg", b"not an image at all"),
        SimpleUploadedFile("good-2.png", image_bytes("PNG")),
    ]
    response = owner_client.post("/predict/", {"images": files}, follow=True)
    assert response.status_code == 200 and response.redirect_chain[0][0].startswith("/predict/results/?ids=")
    page = response.content.decode()
    assert "2 images classified" in page
    assert "broken.jpg: it is not a JPEG" in page
    again = owner_client.get(response.redirect_chain[0][0]).content.decode()  # a reload: the results, not the refusal
    assert "2 images classified" in again and "broken.jpg" not in again
    assert sorted(Prediction.objects.filter(owner=user).values_list("original_name", flat=True)) == [
        "good-1.jpg",
        "good-2.png",
    ]


def test_a_50_megapixel_phone_photo_is_classified(owner_client, user):
    size = (8160, 6120)  # 49.9 megapixels
    photo = Image.merge("RGB", [Image.linear_gradient("L").resize(size)] * 3)
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=80)
    assert len(buffer.getvalue()) < 10 * 1024 * 1024
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile("IMG_0001.JPG", buffer.getvalue())})
    assert response.status_code == 302
    assert (Prediction.objects.get(owner=user).width, Prediction.objects.get(owner=user).height) == size
