"""The served model: which bundle the site serves, and how a web worker serves uploads, on its server's threads
alone, with the networks built once per slot."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.services import api_token_create
from classifier.serving import ClassifierUnavailable, get_classifier
from mlcore.labels import CLASSES
from tests.conftest import cifar_test_images, image_bytes

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import os
import classifier_site.wsgi
from classifier.serving import get_classifier
from PIL import Image
get_classifier().classify([Image.new("RGB", (320, 240), "white"), Image.new("RGB", (32, 32), "red")])
print(len(os.listdir("/proc/self/task")))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="thread pools start a thread per core: none on one core")
def test_a_web_worker_classifies_on_its_servers_threads_alone(tmp_path):
    """No thread pool beside the server's: numpy's OpenBLAS spun one thread per core as busy as the requests."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("OPENBLAS", "OMP"))}
    environment |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "MEDIA_ROOT": str(tmp_path)}
    environment["DJANGO_SETTINGS_MODULE"] = "classifier_site.settings.base"
    result = subprocess.run(
        [sys.executable, "-c", WORKER], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) == 1, "the worker runs threads of its own beside the server's"


@pytest.mark.django_db
def test_uploads_reuse_the_processs_interpreters(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_token_create(user=user)[1]}"

    def upload(name, data):
        response = client.post("/api/v1/predictions", {"image": SimpleUploadedFile(name, data)})
        assert response.status_code == 201

    photo = image_bytes("PNG", size=(320, 240))  # a photo's case: other experts than a thumbnail's
    thumbnails = list(cifar_test_images().items())
    upload(*thumbnails[0])
    upload("photo.png", photo)
    built = get_classifier().interpreters_built
    assert built == len(get_classifier().experts)  # one slot is enough for one upload at a time
    for name, data in thumbnails[1:]:
        upload(name, data)
    upload("photo.png", photo)
    assert get_classifier().interpreters_built == built


@pytest.mark.django_db  # the served model is the active version in the database
def test_the_site_serves_the_shipped_model_by_default(settings):
    assert settings.MODEL_DIR == settings.SHIPPED_MODEL_DIR
    classifier = get_classifier()
    shipped = json.loads((settings.SHIPPED_MODEL_DIR / "metadata.json").read_text())
    assert classifier.version == shipped["name"]
    assert classifier.classes == CLASSES


@pytest.mark.django_db
def test_model_dir_setting_chooses_another_bundle(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "elsewhere"
    with pytest.raises(ClassifierUnavailable, match="elsewhere"):
        get_classifier()
