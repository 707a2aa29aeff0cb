"""The upload service: what is stored, what is stripped, and that a record never exists without its file."""

import hashlib
import io
import threading

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import ExifTags, Image

from classifier import services
from classifier.images import ImageRejected
from classifier.models import Prediction
from classifier.selectors import prediction_seen_square, prediction_squares
from classifier.services import prediction_create, prediction_create_many
from mlcore.preprocessing import resize_pixels
from tests.conftest import FIXTURES, image_bytes

pytestmark = pytest.mark.django_db


def jpeg_with_gps():
    image = Image.new("RGB", (120, 80), (30, 90, 160))
    exif = image.getexif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Orientation] = 1
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=90)
    return buffer.getvalue()


def test_a_stored_prediction_has_every_field_the_page_and_api_show(user, media_root):
    data = image_bytes("PNG", size=(50, 40))
    prediction = prediction_create(owner=user, upload=SimpleUploadedFile("a.png", data, "text/plain"))
    prediction.refresh_from_db()
    assert prediction.owner == user
    assert prediction.content_type == "image/png"  # from the content, not the client's claim
    assert prediction.size_bytes == len(data)
    assert prediction.sha256 == hashlib.sha256(data).hexdigest()
    assert (prediction.width, prediction.height) == (50, 40)
    assert set(prediction.probabilities) == {item["label"] for item in prediction.top_k}
    assert prediction.label == prediction.top_k[0]["label"]
    assert prediction.confidence == pytest.approx(prediction.top_k[0]["probability"])
    # a 40-pixel image is a thumbnail: the two CIFAR networks answer, each from its own square
    assert prediction.rule_case == "thumbnail"
    assert [(expert["name"], expert["square"]) for expert in prediction.experts] == [
        ("cifar10-efficientnet-lite0", 128),
        ("cifar10-airbench", 32),
    ]
    # each keeps the photo's centre square at 32x32, the detail CIFAR images have; one enlarges it to 128x128
    assert Image.open(io.BytesIO(bytes(prediction.model_input))).size == (32 + 32, 32)
    squares = prediction_squares(prediction=prediction)
    assert np.array_equal(squares["cifar10-airbench"], squares["cifar10-efficientnet-lite0"])
    seen = prediction_seen_square(prediction=prediction, expert="cifar10-efficientnet-lite0")
    assert np.array_equal(seen, resize_pixels(squares["cifar10-airbench"][None], 128)[0])
    assert prediction.model_version and prediction.inference_ms > 0
    assert (media_root / prediction.image.name).read_bytes() == data  # no location data: stored unchanged
    assert prediction.image.name.endswith(".png")


def test_gps_location_is_removed_from_stored_photos_and_the_rest_kept(user, media_root):
    data = jpeg_with_gps()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    prediction = prediction_create(owner=user, upload=SimpleUploadedFile("holiday.jpg", data))
    stored = Image.open(media_root / prediction.image.name)
    assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert stored.getexif()[ExifTags.Base.Make] == "PhoneMaker"
    assert stored.size == (120, 80)
    assert prediction.sha256 == hashlib.sha256(data).hexdigest()  # of what the user sent


def test_a_photo_whose_exif_cannot_be_written_back_is_stored_without_location_and_still_upright(user, media_root):
    """Found by fuzzing (fuzz/image_intake.py): Pillow reads this EXIF but cannot write it, GPS removed or not."""
    data = (FIXTURES / "fuzz" / "jpeg-gps-exif-pillow-cannot-rewrite.jpg").read_bytes()
    original = Image.open(io.BytesIO(data)).getexif()
    assert original.get_ifd(ExifTags.IFD.GPSInfo)
    prediction = prediction_create(owner=user, upload=SimpleUploadedFile("odd.jpg", data))
    stored = Image.open(media_root / prediction.image.name)
    assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert stored.getexif()[ExifTags.Base.Orientation] == original[ExifTags.Base.Orientation]


@pytest.mark.parametrize("image_format", ["PNG", "WEBP"])
def test_gps_location_is_removed_from_png_and_webp_too(user, media_root, image_format):
    image = Image.new("RGB", (30, 30), (0, 0, 0))
    exif = image.getexif()
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (48.0, 51.0, 29.0)})
    buffer = io.BytesIO()
    image.save(buffer, image_format, exif=exif)
    prediction = prediction_create(owner=user, upload=SimpleUploadedFile("x", buffer.getvalue()))
    assert not Image.open(media_root / prediction.image.name).getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_no_file_is_left_when_the_record_cannot_be_saved(user, media_root, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Prediction, "save", fail)
    with pytest.raises(RuntimeError):
        prediction_create(owner=user, upload=SimpleUploadedFile("a.jpg", image_bytes()))
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_rejections_carry_the_reason_and_the_status(user):
    result = prediction_create_many(
        owner=user, files=[SimpleUploadedFile("a.txt", b"hello")], oversize_names=["big.jpg"]
    )
    assert result.predictions == []
    assert [(r.file_name, r.status) for r in result.rejections] == [("big.jpg", 413), ("a.txt", 400)]
    assert result.status == 400
    only_big = prediction_create_many(owner=user, files=[], oversize_names=["big.jpg"])
    assert only_big.status == 413


def test_the_service_refuses_files_over_the_limit_itself(user, settings):
    settings.MAX_UPLOAD_BYTES = 10
    with pytest.raises(ImageRejected) as caught:
        prediction_create(owner=user, upload=SimpleUploadedFile("a.jpg", image_bytes()))
    assert caught.value.status == 413


def test_correcting_to_what_the_site_showed_counts_as_confirming(user, staff_user):
    prediction = prediction_create(owner=user, upload=SimpleUploadedFile("a.jpg", image_bytes()))
    services.prediction_correct(prediction=prediction, reviewer=staff_user, label=prediction.shown_label)
    assert prediction.review_status == "confirmed"
    with pytest.raises(ValueError, match="not one of the classes"):
        services.prediction_correct(prediction=prediction, reviewer=staff_user, label="unicorn")


@pytest.mark.django_db(transaction=True)
def test_parallel_uploads_never_see_database_is_locked(user):
    errors = []

    def upload(index):
        try:
            for step in range(5):
                prediction_create(owner=user, upload=SimpleUploadedFile(f"{index}-{step}.jpg", image_bytes()))
        except Exception as error:  # noqa: BLE001 - any failure is the finding
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Prediction.objects.count() == 40


def test_sqlite_runs_with_wal_immediate_transactions_and_a_busy_timeout(settings):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 20_000
    assert connection.transaction_mode == "IMMEDIATE"


@pytest.fixture
def tiny_disk(tmp_path, settings):
    """MEDIA_ROOT on a real 64 KB file system (needs root to mount; CI runs as root)."""
    import subprocess

    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)]).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    settings.MEDIA_ROOT = mount_point
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_refuses_the_upload_clearly_and_leaves_nothing_half_written(owner_client, user, tiny_disk):
    big = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, "PNG")
    assert len(buffer.getvalue()) > 64 * 1024
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile("big.png", buffer.getvalue())})
    assert response.status_code == 507
    assert "no room to store it" in response.content.decode()
    assert Prediction.objects.count() == 0
    assert not any(path.is_file() for path in tiny_disk.rglob("*"))


def test_a_bucket_that_refuses_the_upload_is_a_507_and_leaves_no_record(owner_client, object_storage):
    object_storage.client.delete_bucket(Bucket=object_storage.name)
    response = owner_client.post("/predict/", {"images": SimpleUploadedFile("a.png", image_bytes("PNG"))})
    assert response.status_code == 507
    assert Prediction.objects.count() == 0


def test_an_unreachable_database_is_a_503_page_never_a_stack_trace(client, user, monkeypatch):
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.utils import OperationalError

    def refuse(self, *args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    client.force_login(user)
    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refuse)
    client.raise_request_exception = False
    page = client.get("/predictions/")
    api = client.get("/api/v1/predictions", HTTP_AUTHORIZATION="Bearer x")
    assert page.status_code == 503 and "cannot reach its database" in page.content.decode()
    assert "Connection refused" not in page.content.decode()
    assert api.status_code == 503 and "database" in api.json()["error"]
    assert page["Retry-After"] == "5"


def test_the_sweep_removes_files_without_a_record_and_keeps_the_rest(user, media_root):
    from datetime import timedelta

    from django.core.management import call_command

    from classifier.services import orphan_files_sweep

    kept = prediction_create(owner=user, upload=SimpleUploadedFile("a.jpg", image_bytes()))
    orphan = media_root / "predictions" / "2026" / "01" / "left-by-a-killed-worker.jpg"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"partial")
    assert orphan_files_sweep(older_than=timedelta(hours=1)) == []  # too young: could be in flight
    call_command("sweep_uploads", "--older-than", "0")
    assert not orphan.exists()
    assert (media_root / kept.image.name).is_file()


def test_the_sweep_finds_files_without_a_record_in_object_storage(user, object_storage):
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.management import call_command

    from classifier.services import orphan_files_sweep

    kept = prediction_create(owner=user, upload=SimpleUploadedFile("a.jpg", image_bytes()))
    orphan = default_storage.save("predictions/2026/01/left-by-a-killed-worker.jpg", ContentFile(b"partial"))
    assert object_storage.keys() == {kept.image.name, kept.thumbnail.name, orphan}
    assert orphan_files_sweep(older_than=timedelta(hours=1)) == []  # too young: could be in flight
    call_command("sweep_uploads", "--older-than", "0")
    assert object_storage.keys() == {kept.image.name, kept.thumbnail.name}


def test_an_upload_in_object_storage_is_served_from_the_bucket_and_deleted_with_its_record(
    owner_client, object_storage, media_root, django_capture_on_commit_callbacks
):
    owner_client.post("/predict/", {"images": SimpleUploadedFile("a.png", image_bytes("PNG"))})
    prediction = Prediction.objects.get()
    stored = object_storage.client.get_object(Bucket=object_storage.name, Key=prediction.image.name)["Body"].read()
    assert owner_client.get(f"/predictions/{prediction.pk}/image").content == stored
    assert not media_root.exists() or not any(path.is_file() for path in media_root.rglob("*"))

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/predictions/{prediction.pk}/delete/")

    assert object_storage.keys() == set()


def test_storage_that_does_not_answer_is_a_503_that_passes_and_a_deletion_still_happens(
    owner_client, object_storage, storage_outage, django_capture_on_commit_callbacks
):
    owner_client.post("/predict/", {"images": SimpleUploadedFile("a.png", image_bytes("PNG"))})
    prediction = Prediction.objects.get()
    storage_outage()
    owner_client.raise_request_exception = False

    image = owner_client.get(f"/predictions/{prediction.pk}/image")
    assert image.status_code == 503 and image["Retry-After"] == "5"
    assert "cannot read its stored files right now" in image.content.decode()
    assert owner_client.get(f"/predictions/{prediction.pk}/").status_code == 200  # the page needs no file

    with django_capture_on_commit_callbacks(execute=True):
        deleted = owner_client.post(f"/predictions/{prediction.pk}/delete/")
    assert deleted.status_code == 302 and not Prediction.objects.exists()
    # The files stay in the bucket until sweep_uploads finds them without a record.
    assert object_storage.keys() == {prediction.image.name, prediction.thumbnail.name}


def test_a_photo_whose_file_is_gone_is_a_404_logged_for_the_operator_and_its_page_still_opens(
    owner_client, media_root, caplog
):
    owner_client.post("/predict/", {"images": SimpleUploadedFile("a.png", image_bytes("PNG"))})
    prediction = Prediction.objects.get()
    (media_root / prediction.image.name).unlink()
    assert owner_client.get(f"/predictions/{prediction.pk}/image").status_code == 404
    assert f"prediction {prediction.pk} is missing from storage" in caplog.text
    assert owner_client.get(f"/predictions/{prediction.pk}/").status_code == 200
