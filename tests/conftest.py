import io
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from mlcore.data import Dataset, Split
from mlcore.labels import CLASSES
from tests.api_schema.run import start_beside_the_suite
from tests.chat.fake_openai import FakeOpenAI
from tests.ports import free_port

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what they deselect
def pytest_collection_modifyitems(config, items):
    """The API's schema run takes minutes on one core: it starts now and goes on beside the other tests."""
    config.schema_run = None if config.option.collectonly else start_beside_the_suite(items)


def pytest_unconfigure(config):
    run = getattr(config, "schema_run", None)
    if run is not None:
        run.stop()


def synthetic_split(per_class: int, seed: int) -> Split:
    """Images a tiny network can tell apart: each class has its own colour, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    palette = rng.integers(0, 256, size=(len(CLASSES), 3))
    images = palette[labels][:, None, None, :] + rng.normal(0, 20, size=(len(labels), 32, 32, 3))
    return Split(np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64))


@pytest.fixture(scope="session")
def synthetic_dataset() -> Dataset:
    return Dataset(
        train=synthetic_split(10, seed=1),
        test=synthetic_split(3, seed=2),
        source="synthetic",
        fingerprint="sha256:synthetic",
    )


def write_image_archive(path, split_counts: dict, image_format: str = "PNG", prefix: str = "cifar10-jpeg/"):
    """A tar.gz laid out like cifar10-jpeg.tar.gz, with `split_counts[split]` images per class."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as archive:
        for split, count in split_counts.items():
            for label, name in enumerate(CLASSES):
                for index in range(count):
                    pixels = np.full((32, 32, 3), 20 * label, dtype=np.uint8) + rng.integers(
                        0, 10, (32, 32, 3), np.uint8
                    )
                    buffer = io.BytesIO()
                    Image.fromarray(pixels).save(buffer, image_format)
                    info = tarfile.TarInfo(f"{prefix}{split}/{name}/{index:04d}.{image_format.lower()}")
                    info.size = len(buffer.getvalue())
                    archive.addfile(info, io.BytesIO(buffer.getvalue()))
    return path


# --- the site ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads go to a temporary folder, never to the real media folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def make_user(db, django_user_model):
    def make(username="alice", password="correct horse battery", **fields):
        return django_user_model.objects.create_user(username=username, password=password, **fields)

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def other_user(make_user):
    return make_user("bob")


@pytest.fixture
def staff_user(make_user):
    return make_user("stella", is_staff=True, is_superuser=True)


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(staff_user):
    """A staff member's own browser session, beside the owner's (`client`) in the same test."""
    client = Client()
    client.force_login(staff_user)
    return client


def image_bytes(image_format="JPEG", size=(64, 48), mode="RGB", colour=(200, 40, 40), **save_options) -> bytes:
    """An encoded image of one colour with a darker square, in any Pillow format and mode."""
    image = Image.new(mode, size, colour if mode in ("RGB", "RGBA", "CMYK") else 128)
    buffer = io.BytesIO()
    image.save(buffer, image_format, **save_options)
    return buffer.getvalue()


def cifar_test_images(count_per_class=1) -> dict:
    """Real CIFAR-10 test images from the committed fixture: {file name: JPEG bytes}."""
    images = {}
    with tarfile.open(FIXTURES / "cifar10-test-sample.tar.gz") as archive:
        for label in CLASSES:
            members = sorted(m.name for m in archive.getmembers() if m.name.startswith(f"test/{label}/"))
            for name in members[:count_per_class]:
                images[f"{label}-{name.rsplit('/', 1)[-1]}"] = archive.extractfile(name).read()
    return images


@pytest.fixture
def fake_openai(settings):
    """The chat talks to a real OpenAI-compatible server on 127.0.0.1, through the real openai client."""
    server = FakeOpenAI().start()
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_MODEL = "test-model"
    settings.OPENAI_TIMEOUT = 2.0
    settings.OPENAI_MAX_RETRIES = 0
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's) on 127.0.0.1, in a thread; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Bucket:
    client: object
    name: str

    def keys(self) -> set:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}


@pytest.fixture
def object_storage(settings, s3_server) -> Bucket:
    """Uploads go to an empty bucket of their own, as with AWS_STORAGE_BUCKET_NAME set; the bucket, to look into."""
    import boto3

    from classifier_site.settings.base import s3_storage

    credentials = {"access_key": "test-key", "secret_key": "test-secret"}
    name = f"test-{uuid.uuid4().hex}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id=credentials["access_key"],
        aws_secret_access_key=credentials["secret_key"],
    )
    client.create_bucket(Bucket=name)
    settings.STORAGES = settings.STORAGES | {"default": s3_storage(name, s3_server, "us-east-1", **credentials)}
    return Bucket(client, name)


@pytest.fixture
def storage_outage(settings, object_storage):
    """Call it to take the object storage down: the bucket's endpoint becomes a port nobody listens on, tried once,
    as when the storage service cannot be reached."""
    from botocore.config import Config

    def take_down():
        port = free_port()
        bucket = settings.STORAGES["default"]
        options = bucket["OPTIONS"] | {
            "endpoint_url": f"http://127.0.0.1:{port}",
            "client_config": Config(retries={"total_max_attempts": 1}, connect_timeout=2),
        }
        settings.STORAGES = settings.STORAGES | {"default": bucket | {"OPTIONS": options}}

    return take_down


@pytest.fixture
def fresh_active_version():
    """The served version is looked up again at most every few seconds; tests that switch it see it at once."""
    from classifier.serving import forget_active_model

    forget_active_model()
    yield
    forget_active_model()
