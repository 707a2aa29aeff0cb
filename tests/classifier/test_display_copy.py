"""A photo's page shows a copy at most DISPLAY_SIZE pixels on the longer side, made once and kept like the
thumbnail, and links the original: a phone's 4000-pixel photo is not downloaded just to be looked at."""

import io
import json
import tarfile

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import ExifTags, Image

from classifier.models import Prediction
from classifier.services import DISPLAY_SIZE
from tests.classifier.factories import make_prediction
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


def phone_photo(size=(4000, 3000), orientation=1) -> bytes:
    """A JPEG of a phone photo's size, with enough detail to weigh what one does (about 3 MB)."""
    detail = np.random.default_rng(0).integers(0, 256, (size[1] // 10, size[0] // 10, 3), dtype=np.uint8)
    image = Image.fromarray(detail).resize(size, Image.Resampling.BICUBIC)
    exif = image.getexif()
    if orientation != 1:
        exif[ExifTags.Base.Orientation] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def stored_files(media_root) -> set:
    return {path for path in media_root.rglob("*") if path.is_file()}


@pytest.fixture
def large(user):
    data = phone_photo()
    return make_prediction(user, "IMG_0001.jpg", data), data


def test_the_page_of_a_large_photo_shows_a_small_jpeg_and_links_the_original(owner_client, large):
    prediction, original = large
    page = owner_client.get(f"/predictions/{prediction.pk}/").content.decode()
    assert f'<img src="/predictions/{prediction.pk}/image?size=display" alt="IMG_0001.jpg">' in page
    assert f'<a href="/predictions/{prediction.pk}/image">Original photo (4000×3000 pixels, ' in page

    shown = owner_client.get(f"/predictions/{prediction.pk}/image?size=display")
    assert shown.status_code == 200 and shown["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(shown.content)).size == (DISPLAY_SIZE, 960)
    assert len(shown.content) < len(original) / 4

    linked = owner_client.get(f"/predictions/{prediction.pk}/image")
    assert linked["Content-Type"] == "image/jpeg" and linked.content == original


def test_the_display_copy_is_made_at_upload_and_never_made_again(owner_client, large, media_root):
    prediction, _ = large
    assert prediction.display_copy
    copy = media_root / prediction.display_copy.name
    written = copy.stat().st_mtime_ns
    files = stored_files(media_root)
    assert len(files) == 3  # the photo, its thumbnail and its display copy
    default_storage.delete(prediction.image.name)  # the copy needs nothing from the photo any more

    for _ in range(2):
        response = owner_client.get(f"/predictions/{prediction.pk}/image?size=display")
        assert response.status_code == 200 and response.content == copy.read_bytes()
    assert copy.stat().st_mtime_ns == written
    assert stored_files(media_root) == files - {media_root / prediction.image.name}


def test_a_large_photo_stored_before_display_copies_gets_one_made_once_and_kept(owner_client, large, media_root):
    prediction, _ = large
    default_storage.delete(prediction.display_copy.name)
    Prediction.objects.filter(pk=prediction.pk).update(display_copy="")

    first = owner_client.get(f"/predictions/{prediction.pk}/image?size=display")
    assert Image.open(io.BytesIO(first.content)).size == (DISPLAY_SIZE, 960)
    kept = Prediction.objects.get(pk=prediction.pk).display_copy
    assert kept and (media_root / kept.name).read_bytes() == first.content
    files = stored_files(media_root)
    default_storage.delete(prediction.image.name)
    assert owner_client.get(f"/predictions/{prediction.pk}/image?size=display").content == first.content
    assert Prediction.objects.get(pk=prediction.pk).display_copy.name == kept.name
    assert stored_files(media_root) == files - {media_root / prediction.image.name}


def test_a_photo_that_fits_is_shown_as_it_is_and_gets_no_copy(owner_client, user, media_root):
    original = image_bytes("PNG", size=(DISPLAY_SIZE, 700))
    prediction = make_prediction(user, "fits.png", original)
    assert not prediction.display_copy
    shown = owner_client.get(f"/predictions/{prediction.pk}/image?size=display")
    assert shown["Content-Type"] == "image/png" and shown.content == original
    assert not Prediction.objects.get(pk=prediction.pk).display_copy
    assert len(stored_files(media_root)) == 2  # the photo and its thumbnail


def test_a_photo_held_sideways_is_shown_upright(owner_client, user):
    prediction = make_prediction(user, "sideways.jpg", phone_photo((4000, 3000), orientation=6))
    shown = owner_client.get(f"/predictions/{prediction.pk}/image?size=display")
    copy = Image.open(io.BytesIO(shown.content))
    assert copy.size == (960, DISPLAY_SIZE) and copy.getexif().get(ExifTags.Base.Orientation, 1) == 1


@pytest.mark.parametrize(
    ("image_format", "mode"), [("PNG", "I;16"), ("PNG", "LA"), ("JPEG", "CMYK"), ("GIF", "P"), ("WEBP", "RGBA")]
)
def test_display_copies_of_every_kind_of_upload_are_rgb_jpegs(owner_client, user, image_format, mode):
    prediction = make_prediction(user, "x", image_bytes(image_format, size=(2600, 1300), mode=mode))
    shown = owner_client.get(f"/predictions/{prediction.pk}/image?size=display")
    assert shown["Content-Type"] == "image/jpeg"
    copy = Image.open(io.BytesIO(shown.content))
    assert copy.size == (DISPLAY_SIZE, 640) and copy.mode == "RGB"


def test_deleting_a_prediction_removes_its_display_copy_too(
    owner_client, large, media_root, django_capture_on_commit_callbacks
):
    prediction, _ = large
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/predictions/{prediction.pk}/delete/")
    assert not default_storage.exists(prediction.display_copy.name)
    assert stored_files(media_root) == set()


def test_the_sweep_keeps_display_copies(large, media_root):
    prediction, _ = large
    orphan = media_root / "predictions" / "2026" / "01" / "left-by-a-killed-worker.jpg"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"partial")
    kept = stored_files(media_root) - {orphan}

    call_command("sweep_uploads", "--older-than", "0", stdout=io.StringIO())

    assert stored_files(media_root) == kept
    assert media_root / prediction.display_copy.name in kept


def test_a_backup_leaves_the_display_copy_out_and_a_restore_makes_it_again(owner_client, large, tmp_path):
    prediction, original = large
    archive_path = tmp_path / "backup.tar.gz"
    call_command("export_backup", str(archive_path), stdout=io.StringIO())
    with tarfile.open(archive_path) as archive:
        assert [name for name in archive.getnames() if name.startswith("files/")] == [f"files/{prediction.image.name}"]
        row = json.loads(archive.extractfile("predictions.jsonl").readline())
    assert "display_copy" not in row and "thumbnail" not in row
    for stored in (prediction.image, prediction.thumbnail, prediction.display_copy):
        stored.delete(save=False)
    Prediction.objects.all().delete()

    call_command("import_backup", str(archive_path), stdout=io.StringIO())

    restored = Prediction.objects.get()
    assert not restored.display_copy
    shown = owner_client.get(f"/predictions/{restored.pk}/image?size=display")
    assert Image.open(io.BytesIO(shown.content)).size == (DISPLAY_SIZE, 960)
    assert Prediction.objects.get().display_copy
    assert owner_client.get(f"/predictions/{restored.pk}/image").content == original
