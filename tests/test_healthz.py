import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_healthz_answers_200_with_the_model_version(client, settings):
    import json

    version = json.loads((settings.MODEL_DIR / "metadata.json").read_text())["name"]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model_version": version}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_503_without_a_model(client, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "missing"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "missing" in response.json()["problems"]["model"]


def test_healthz_answers_503_when_the_database_does_not(client, monkeypatch):
    from django.db.utils import OperationalError

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"]["database"] == "connection refused"


def test_healthz_answers_probes_that_use_the_servers_address_as_host(client, settings):
    settings.ALLOWED_HOSTS = ["classifier.example.org"]
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/", HTTP_HOST="10.1.2.3:8000").status_code == 400
