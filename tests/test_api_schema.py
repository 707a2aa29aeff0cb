"""The API against its own OpenAPI description: Schemathesis generates requests from /api/v1/openapi.json for
every operation (examples, coverage, fuzzing and stateful phases, every check) and sends them, with a real API
token, to a real gunicorn server on 127.0.0.1. Any 5xx, any answer the description does not list (status,
content type, body schema), any valid request refused or invalid one accepted fails the test.

About 1,000 cases per operation take a minute or two. SCHEMA_RUN_SEED=N repeats a run (the default is fixed, so
CI runs the same cases every time); a failure prints Schemathesis's report, with a `curl` line per finding.
"""

import collections
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = {
    ("POST", "/predictions"),
    ("GET", "/predictions"),
    ("GET", "/predictions/{id}"),
    ("DELETE", "/predictions/{id}"),
}
CASES_PER_OPERATION = 1000
SEED = int(os.environ.get("SCHEMA_RUN_SEED", "20261204"))

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server_database(tmp_path):
    """A database of the server's own, on the engine the suite runs on: a file for SQLite, a fresh database on
    the same PostgreSQL server otherwise (the suite's test database is inside a transaction the server can't see)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / 'schema-run.sqlite3'}"
        return
    import psycopg

    name = f"classifier_schema_run_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def api_server(tmp_path, server_database):
    """gunicorn serving the site on a free port, with a user and their API token: (base URL, token)."""
    port = free_port()
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "classifier_site.settings.test",
        "DATABASE_URL": server_database,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
    }

    def manage(*arguments) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *arguments], cwd=ROOT, env=environment, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput", "-v", "0")
    manage("shell", "-v", "0", "-c", "from django.contrib.auth.models import User; User.objects.create_user('fuzz')")
    token = manage("api_token", "fuzz").strip()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "classifier_site.wsgi"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server)
        yield base, token
        assert server.poll() is None, "the server died during the run"
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def wait_until_healthy(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited while starting"
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    pytest.fail("the server did not answer /healthz within 120 s")


def cases_per_operation(report: Path) -> collections.Counter:
    """How many cases Schemathesis generated for each documented operation, over all phases (its NDJSON report)."""
    counts = collections.Counter()
    for line in report.read_text().splitlines():
        event = json.loads(line).get("ScenarioFinished")
        if event is None:
            continue
        for case in event.get("recorder", {}).get("cases", {}).values():  # a skipped scenario records none
            case = case.get("value", case)
            counts[(case["method"], case["path"])] += 1
    return counts


def run_schemathesis(base: str, token: str, folder: Path, phases: str, workers: int) -> str:
    """One `st run` over every operation with every check; its output, after asserting it found nothing."""
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(ROOT / "tests" / "api_schema.toml"),
        "run",
        f"{base}/api/v1/openapi.json",
        "--checks",
        "all",
        "--phases",
        phases,
        "--workers",
        str(workers),
        "--seed",
        str(SEED),
        "--header",
        f"Authorization: Bearer {token}",
        "--report",
        "ndjson",
        "--report-dir",
        str(folder / "reports"),
        "--no-color",
    ]
    environment = os.environ | {"SCHEMATHESIS_HOOKS": "tests.api_schema_hooks", "PYTHONPATH": str(ROOT)}
    # Run from the temporary folder: Schemathesis keeps a cache of findings in .schemathesis where it runs.
    done = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{phases}, seed {SEED}:\n{output[-12000:]}"
    print(f"{phases}: " + next(line for line in output.splitlines() if "generated" in line).strip())
    return output


def test_every_api_operation_keeps_to_its_description(api_server, tmp_path):
    base, token = api_server
    # One worker: on two, Schemathesis 4.32 now and then ended an operation's fuzzing after a dozen cases.
    run_schemathesis(base, token, tmp_path, "examples,coverage,fuzzing,stateful", workers=1)
    counts = cases_per_operation(next((tmp_path / "reports").glob("*.ndjson")))
    print(
        f"schema run, seed {SEED}: "
        + ", ".join(f"{method} {path}: {counts[method, path]}" for method, path in OPERATIONS)
    )
    assert all(counts[operation] >= CASES_PER_OPERATION for operation in OPERATIONS), counts
