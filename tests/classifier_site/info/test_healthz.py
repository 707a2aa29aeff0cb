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


def test_healthz_answers_503_without_a_model_and_logs_where_it_looked(client, settings, tmp_path, caplog):
    settings.MODEL_DIR = tmp_path / "missing"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "problems": ["model"]}
    assert str(tmp_path) not in response.content.decode() and "missing" not in response.content.decode()
    logged = [record.getMessage() for record in caplog.records if record.name == "classifier_site.info.views"]
    assert len(logged) == 1 and str(tmp_path / "missing") in logged[0]


def refuse_connections(monkeypatch):
    from django.db.utils import OperationalError

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)


def test_healthz_answers_503_when_the_database_does_not_and_logs_its_error(client, monkeypatch, caplog):
    refuse_connections(monkeypatch)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "problems": ["database"]}
    assert "database: connection refused" in caplog.text


def test_healthz_names_both_when_both_are_down(client, settings, tmp_path, monkeypatch):
    settings.MODEL_DIR = tmp_path / "missing"
    refuse_connections(monkeypatch)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "problems": ["model", "database"]}


def test_healthz_answers_probes_that_use_the_servers_address_as_host(client, settings):
    settings.ALLOWED_HOSTS = ["classifier.example.org"]
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/", HTTP_HOST="10.1.2.3:8000").status_code == 400
