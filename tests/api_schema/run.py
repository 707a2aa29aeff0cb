"""The API's schema run (tests/api_schema/test_api_schema.py), started in the background when the suite starts.

Schemathesis generates requests from /api/v1/openapi.json for every operation (examples, coverage, fuzzing and
stateful phases, every check) and sends them, with a real API token, to a real gunicorn server on 127.0.0.1 with
a database of its own. The run makes about 6,300 requests, one at a time, and takes three to eight minutes; the rest
of the suite mostly keeps one core busy, so the run goes on beside it (tests/conftest.py starts it once the tests
are collected) and the test waits for it at the end. Nothing is shared with the other tests: its own database,
media folder, server and port.
"""

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PHASES = "examples,coverage,fuzzing,stateful"
SEED = int(os.environ.get("SCHEMA_RUN_SEED", "20261204"))
TIMEOUT_SECONDS = 1800  # a safety net for a hung run, far above a slow machine's 8 minutes
TEST = "tests/api_schema/test_api_schema.py::test_every_api_operation_keeps_to_its_description"


@dataclass
class Outcome:
    returncode: int | None = None
    output: str = ""
    counts: collections.Counter = field(default_factory=collections.Counter)
    server_survived: bool = False
    server_log: str = ""  # its last lines
    error: str = ""  # what stopped the run before Schemathesis could finish, with its traceback
    seconds: float = 0.0


class SchemaRun:
    """One schema run in a thread of its own: `start()`, then `result()` waits for its Outcome."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="schema-run-"))
        self.outcome = Outcome()
        self._processes: list[subprocess.Popen] = []
        self._thread = threading.Thread(target=self._run, name="schema-run", daemon=True)
        self._stopping = False

    def start(self) -> "SchemaRun":
        self._thread.start()
        return self

    def result(self) -> Outcome:
        self._thread.join(TIMEOUT_SECONDS)
        if self._thread.is_alive():
            self.stop()
            self.outcome.error = f"the schema run did not finish within {TIMEOUT_SECONDS} s"
        return self.outcome

    def stop(self) -> None:
        """End whatever still runs (the suite stopped early) and remove the run's folder."""
        self._stopping = True
        for process in self._processes:
            if process.poll() is None:
                process.kill()
        self._thread.join(30)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self) -> None:
        started = time.monotonic()
        try:
            with server_database(self.folder) as database:
                base, token, server = self._serve(database)
                try:
                    self._schemathesis(base, token)
                finally:
                    self.outcome.server_survived = server.poll() is None
                    server.terminate()
                    server.wait(timeout=60)
                    self.outcome.server_log = (self.folder / "server.log").read_text(errors="replace")[-5000:]
        except Exception:  # noqa: BLE001 - reported by the test, which fails with it
            if not self._stopping:
                self.outcome.error = traceback.format_exc()
        self.outcome.seconds = time.monotonic() - started

    def _serve(self, database: str):
        port = free_port()
        environment = os.environ | {
            "DJANGO_SETTINGS_MODULE": "classifier_site.settings.test",
            "DATABASE_URL": database,
            "MEDIA_ROOT": str(self.folder / "media"),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            # The run uploads a few thousand images in minutes as one user: the per-user limits are the subject of
            # their own tests, here they would only turn valid uploads into 429s.
            "UPLOADS_PER_HOUR": "0",
            "UPLOAD_QUOTA_MB": "0",
            # At most 5 images a request instead of 20: the description's maxItems follows the setting, so its edge
            # is still sent (6 images: a 400), and a case classifies (and explains) a third as many images. On a
            # 2-core AVX2 EPYC the run alone took 8 min 18 s with 20.
            "MAX_UPLOAD_FILES": "5",
            # No recycling after GUNICORN_MAX_REQUESTS: the run sends over 5,000 requests to its one worker, and
            # while a recycled worker's successor loads the networks nothing answers (on a busy 2-core machine the
            # request then waiting ran past its timeout). Recycling is not what this run checks.
            "GUNICORN_MAX_REQUESTS": "0",
        }

        def manage(*arguments) -> str:
            done = subprocess.run(
                [sys.executable, "manage.py", *arguments], cwd=ROOT, env=environment, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise RuntimeError(f"manage.py {' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
            return done.stdout

        manage("migrate", "--noinput", "-v", "0")
        user = "from django.contrib.auth.models import User; User.objects.create_user('fuzz')"
        manage("shell", "-v", "0", "-c", user)
        token = manage("api_token", "fuzz").strip()
        with (self.folder / "server.log").open("w") as log:  # the server keeps its own copy of the descriptor
            server = self._popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "classifier_site.wsgi"],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, server)
        return base, token, server

    def _schemathesis(self, base: str, token: str) -> None:
        # One worker: on two, Schemathesis 4.32 now and then ended an operation's fuzzing after a dozen cases.
        command = [
            str(Path(sys.executable).parent / "st"),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{base}/api/v1/openapi.json",
            "--checks",
            "all",
            "--phases",
            PHASES,
            "--workers",
            "1",
            "--seed",
            str(SEED),
            # gunicorn's own timeout: how long a request takes says nothing about the description, and the suite
            # runs beside this run on two cores (Schemathesis' default of 10 s failed a DELETE on a busy machine).
            "--request-timeout",
            "60",
            "--header",
            f"Authorization: Bearer {token}",
            "--report",
            "ndjson",
            "--report-dir",
            str(self.folder / "reports"),
            "--no-color",
        ]
        environment = os.environ | {"SCHEMATHESIS_HOOKS": "tests.api_schema.hooks", "PYTHONPATH": str(ROOT)}
        # Run from the run's folder: Schemathesis keeps a cache of findings in .schemathesis where it runs.
        run = self._popen(
            command, cwd=self.folder, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.outcome.output = run.communicate()[0]
        self.outcome.returncode = run.returncode
        reports = list((self.folder / "reports").glob("*.ndjson"))
        if reports:
            self.outcome.counts = cases_per_operation(reports[0])

    def _popen(self, command, **options) -> subprocess.Popen:
        if self._stopping:
            raise RuntimeError("the suite is stopping")
        process = subprocess.Popen(command, **options)
        self._processes.append(process)
        return process


class server_database:
    """A database of the server's own, on the engine the suite runs on: a file for SQLite, a fresh database on
    the same PostgreSQL server otherwise (the suite's test database is inside a transaction the server can't see).
    """

    def __init__(self, folder: Path):
        self.url = os.environ.get("DATABASE_URL", "")
        self.folder = folder
        self.name = f"classifier_schema_run_{os.getpid()}"

    def __enter__(self) -> str:
        if not self.url.startswith(("postgres://", "postgresql://")):
            return f"sqlite:///{self.folder / 'schema-run.sqlite3'}"
        self._execute(f'CREATE DATABASE "{self.name}"')
        return urlunsplit(urlsplit(self.url)._replace(path=f"/{self.name}"))

    def __exit__(self, *exception) -> None:
        if self.url.startswith(("postgres://", "postgresql://")):
            self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _execute(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(statement)


def wait_until_healthy(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited while starting")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    raise RuntimeError("the server did not answer /healthz within 120 s")


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


def start_beside_the_suite(items: list) -> "SchemaRun | None":
    """When the schema test is among the tests to run: move it last and start its run now; the run, or None."""
    chosen = [item for item in items if item.nodeid == TEST]
    if not chosen:
        return None
    items.remove(chosen[0])
    items.append(chosen[0])
    return SchemaRun().start()
