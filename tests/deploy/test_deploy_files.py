"""The deployment files agree with the repository: what the Dockerfile copies and runs exists, the image is built
in a cache-friendly order as a non-root user, compose.yaml and nginx.conf fit the site's settings, and the systemd
unit and nginx site of docs/deploying.md start and reach the site as the container does."""

import importlib.util
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, with comments dropped and continued lines joined."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def instruction_words(arguments: str) -> list[str]:
    """The words of a shell-form or exec-form (JSON array) instruction."""
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


def copy_sources(arguments: str) -> list[str]:
    words = [word for word in instruction_words(arguments) if not word.startswith("--")]
    return words[:-1]


def repository_paths(arguments: str) -> list[str]:
    """Relative paths named in a command, e.g. deploy/start.sh; absolute paths are the image's own."""
    words = re.split(r"[\s\"',\[\]&;|]+", arguments)
    return [word.removeprefix("./") for word in words if "/" in word and not word.startswith(("/", "$", "-"))]


def index_of(instructions, keyword: str, mentioning: str) -> int:
    return next(i for i, (name, arguments) in enumerate(instructions) if name == keyword and mentioning in arguments)


def test_dockerfile_builds_on_python_311_slim():
    instructions = dockerfile_instructions()
    assert [arguments for name, arguments in instructions if name == "FROM"] == ["python:3.11-slim"]


def test_everything_the_dockerfile_copies_exists():
    for name, arguments in dockerfile_instructions():
        if name in {"COPY", "ADD"}:
            for source in copy_sources(arguments):
                assert (ROOT / source).exists(), f"{name} {arguments}: {source} is not in the repository"


@pytest.mark.parametrize("keyword", ["RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK"])
def test_every_repository_script_the_dockerfile_runs_exists(keyword):
    for name, arguments in dockerfile_instructions():
        if name == keyword:
            for path in repository_paths(arguments):
                assert (ROOT / path).is_file(), f"{name} {arguments}: {path} is not in the repository"
                if path.endswith(".sh"):
                    assert os.access(ROOT / path, os.X_OK), f"{path} is not executable"


@pytest.mark.parametrize("script", ["install.sh", "build.sh", "start.sh", "smoke.sh", "scale_check.sh"])
def test_deploy_scripts_are_executable_strict_bash(script):
    path = DEPLOY / script
    assert os.access(path, os.X_OK), f"chmod +x deploy/{script}"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert 'cd "$(dirname "${BASH_SOURCE[0]}")/.."' in text, "scripts must work from any directory"


def test_dependencies_are_installed_before_the_code_is_copied():
    instructions = dockerfile_instructions()
    install = index_of(instructions, "RUN", "deploy/install.sh")
    copied_before_install = [
        source for name, arguments in instructions[:install] if name == "COPY" for source in copy_sources(arguments)
    ]
    assert "requirements.txt" in copied_before_install
    assert "deploy/install.sh" in copied_before_install
    assert "." not in copied_before_install, "copying the whole tree first rebuilds the dependencies on any change"
    copies = [
        i for i, (name, arguments) in enumerate(instructions) if name == "COPY" and copy_sources(arguments) == ["."]
    ]
    assert copies, "the code is copied with COPY . ."
    assert copies[0] > install


def test_container_runs_as_a_user_other_than_root():
    users = [arguments for name, arguments in dockerfile_instructions() if name == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_container_starts_with_production_settings_through_the_start_script():
    instructions = dockerfile_instructions()
    environment = " ".join(arguments for name, arguments in instructions if name == "ENV")
    assert "DJANGO_SETTINGS_MODULE=classifier_site.settings.production" in environment
    assert [instruction_words(arguments) for name, arguments in instructions if name == "CMD"] == [["deploy/start.sh"]]
    assert ("EXPOSE", "8000") in instructions


def test_health_check_requests_healthz():
    checks = [arguments for name, arguments in dockerfile_instructions() if name == "HEALTHCHECK"]
    assert len(checks) == 1
    scripts = [ROOT / path for path in repository_paths(checks[0])]
    assert any("/healthz" in text for text in [checks[0], *(path.read_text() for path in scripts)])


@pytest.mark.parametrize(
    ("allowed_hosts", "host"),
    [
        ("classifier.example.org,127.0.0.1", "classifier.example.org"),
        (" .example.org ", "example.org"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_health_check_names_a_host_django_allows(allowed_hosts, host):
    spec = importlib.util.spec_from_file_location("healthcheck", DEPLOY / "healthcheck.py")
    healthcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(healthcheck)
    assert healthcheck.allowed_host(allowed_hosts) == host


def test_dockerignore_keeps_local_state_out_but_the_model_in():
    patterns = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "var", ".git"} <= patterns
    for needed in ["models", "models/cifar10", "deploy", "requirements.txt", "manage.py", "static"]:
        assert needed not in patterns


def test_compose_names_only_files_in_the_repository():
    # PyYAML is not among the project's dependencies, so the file is read as text.
    text = (ROOT / "compose.yaml").read_text()
    contexts = re.findall(r"(?m)^\s+(?:build|context):\s*(\S+)\s*$", text)
    assert contexts, "the web service builds the image from this repository"
    for context in contexts:
        assert (ROOT / context / "Dockerfile").is_file()
    for path in re.findall(r"(?<![\w$/.])\./([\w./-]+)", text):
        assert (ROOT / path).exists(), f"compose.yaml mounts ./{path}, which is not in the repository"
    for path in re.findall(r"\bdeploy/[\w.-]+", text):
        assert (ROOT / path).is_file(), f"compose.yaml runs {path}, which is not in the repository"
    assert "./deploy/nginx.conf:" in text


def test_compose_runs_the_site_on_postgres_once_the_database_is_ready():
    text = (ROOT / "compose.yaml").read_text()
    for service in ["web", "db"]:
        assert re.search(rf"(?m)^  {service}:$", text), f"no {service} service"
    assert "image: postgres:16" in text
    assert "pg_isready" in text
    assert "condition: service_healthy" in text
    assert "DATABASE_URL: postgres://" in text
    assert "${DJANGO_SECRET_KEY:?" in text, "a missing secret key must stop `docker compose up`"
    assert "${EMAIL_BACKEND:?" in text, "password-reset links must not go to the log unless someone chose so"


def test_nginx_accepts_the_largest_request_the_site_accepts():
    sizes = re.findall(r"client_max_body_size\s+(\d+)([kKmMgG]?)\s*;", (DEPLOY / "nginx.conf").read_text())
    assert sizes
    for number, unit in sizes:
        assert int(number) * NGINX_SIZE_UNITS[unit.lower()] >= settings.MAX_REQUEST_BYTES


def test_nginx_streams_chat_answers_unbuffered_for_longer_than_the_worker_timeout():
    text = (DEPLOY / "nginx.conf").read_text()
    chat = re.search(r"location /chat/ \{(.*?)\}", text, re.DOTALL)
    assert chat, "no location /chat/"
    assert "proxy_buffering off;" in chat.group(1)
    assert "proxy_cache off;" in chat.group(1)
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", chat.group(1))
    assert read_timeout
    assert int(read_timeout.group(1)) > runpy.run_path(str(ROOT / "gunicorn.conf.py"))["timeout"]


def test_nginx_forwards_the_host_address_and_scheme():
    text = (DEPLOY / "nginx.conf").read_text()
    for header in ["Host", "X-Forwarded-For", "X-Forwarded-Proto"]:
        assert re.search(rf"proxy_set_header {header} \$", text), f"nginx does not forward {header}"


def test_nginx_drops_idle_connections_to_gunicorn_before_gunicorn_does():
    """Else a request can go down a connection gunicorn is closing, and an upload, which nginx never retries,
    fails with 502 (noticed by the scale-out check's author; it never happened in a run)."""
    upstream = re.search(r"upstream \w+ \{(.*?)\}", (DEPLOY / "nginx.conf").read_text(), re.S)[1]
    nginx_idle = int(re.search(r"keepalive_timeout\s+(\d+)s\s*;", upstream)[1])
    gunicorn_idle = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["keepalive"]
    assert nginx_idle < gunicorn_idle


def nginx_location(path: str) -> str:
    block = re.search(rf"location {re.escape(path)} \{{(.*?)\}}", (DEPLOY / "nginx.conf").read_text(), re.S)
    assert block, f"no location {path}"
    return block[1]


@pytest.mark.parametrize(
    ("path", "zone"),
    [
        ("/accounts/login/", "login"),
        ("/accounts/signup/", "signup"),
        ("/accounts/password_reset/", "password_reset"),
        ("/api/", "api"),
    ],
)
def test_nginx_limits_requests_per_address_and_still_proxies_them(path, zone):
    text = (DEPLOY / "nginx.conf").read_text()
    key = re.search(rf"limit_req_zone (\$\w+) zone={zone}:\d+m rate=\d+r/[sm];", text)
    assert key, f"no limit_req_zone named {zone}"
    if path.startswith("/accounts/"):
        # Only a sent form counts: another method maps to an empty key, which nginx does not count.
        mapping = re.search(rf"map \$request_method {re.escape(key[1])} \{{(.*?)\}}", text, re.S)
        assert mapping, f"{zone} is keyed on {key[1]}, not on a map of the request method"
        assert re.search(r"POST \$binary_remote_addr;", mapping[1])
        assert re.search(r'default "";', mapping[1])
    else:
        assert key[1] == "$binary_remote_addr"
    location = nginx_location(path)
    assert re.search(rf"limit_req zone={zone} burst=\d+ nodelay;", location)
    assert "proxy_pass http://classifier_site;" in location
    assert "proxy_set_header" not in location, "a proxy_set_header here would drop the server's forwarded headers"


def test_nginx_answers_its_own_429_with_retry_after_as_a_page_or_as_json_for_the_api():
    text = (DEPLOY / "nginx.conf").read_text()
    assert "limit_req_status 429;" in text
    assert re.search(r"(?m)^    error_page 429 @too_many_requests;", text), "no server-wide page for 429"
    assert "error_page 429 @api_too_many_requests;" in nginx_location("/api/")
    bodies = {}
    for name, content_type in [("@too_many_requests", "text/html"), ("@api_too_many_requests", "application/json")]:
        named = re.search(rf"location {name} \{{(.*?)return 429 '(.*?)';", text, re.S)
        assert named, f"no location {name} that returns 429 with a body"
        assert f"default_type {content_type};" in named[1]
        assert re.search(r"add_header Retry-After \d+ always;", named[1]), "without `always` 429 gets no header"
        bodies[name] = named[2]
    assert "<title>Too many requests</title>" in bodies["@too_many_requests"]
    assert set(json.loads(bodies["@api_too_many_requests"].replace("\\n", ""))) == {"error"}


def test_nginx_hides_its_version():
    assert re.search(r"(?m)^\s*server_tokens off;", (DEPLOY / "nginx.conf").read_text())


UNIT = DEPLOY / "systemd" / "classifier-site.service"


def systemd_unit() -> dict[str, list[str]]:
    """Each setting of the systemd unit with its values, in order (a setting may be given more than once)."""
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line.strip() and not line.startswith(("#", "[")):
            name, _, value = line.partition("=")
            values.setdefault(name.strip(), []).append(value.strip())
    return values


def systemd_environment(unit: dict[str, list[str]]) -> dict[str, str]:
    return dict(word.split("=", 1) for line in unit.get("Environment", []) for word in shlex.split(line))


def test_the_systemd_unit_starts_the_site_as_the_container_does():
    """Without Docker the same start script runs: migrations when asked, then gunicorn with gunicorn.conf.py."""
    unit = systemd_unit()
    checkout = Path(unit["WorkingDirectory"][0])
    [container_start] = [instruction_words(arguments) for name, arguments in dockerfile_instructions() if name == "CMD"]
    assert unit["ExecStart"] == [" ".join(str(checkout / word) for word in container_start)]
    environment = systemd_environment(unit)
    assert environment["PYTHON"] == str(checkout / ".venv" / "bin" / "python")
    assert environment["HOST"] == "127.0.0.1", "only nginx on the machine may reach gunicorn"
    assert unit["User"][0] not in {"root", "0"}
    graceful_timeout = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["graceful_timeout"]
    assert int(unit["TimeoutStopSec"][0]) > graceful_timeout, "systemd would kill workers still finishing requests"


def test_every_variable_the_systemd_unit_sets_is_read_by_the_start_script_or_a_setting():
    from tests.test_docs import configuration_table

    start_script = (DEPLOY / "start.sh").read_text()
    table_rows = configuration_table()
    for name in systemd_environment(systemd_unit()):
        read = "${" + name + ":-" in start_script or f"`{name}`" in table_rows
        assert read, f"the unit sets {name}, which nothing reads"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_accepts_every_line_of_the_unit(tmp_path):
    unit = systemd_unit()
    checkout = unit["WorkingDirectory"][0]
    copy = tmp_path / UNIT.name  # pointed at this checkout, so that the paths it names exist
    copy.write_text(UNIT.read_text().replace(checkout, str(ROOT)))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_every_variable_compose_passes_is_in_the_readme_table():
    from tests.test_docs import configuration_table

    named = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "compose.yaml").read_text()))
    assert {"DJANGO_SECRET_KEY", "EMAIL_USE_SSL", "DJANGO_HSTS_PRELOAD", "POSTGRES_PASSWORD"} <= named, named
    table_rows = configuration_table()
    assert not sorted(name for name in named if f"`{name}`" not in table_rows)


def documented_nginx_site() -> str:
    """deploy/nginx.conf edited by the sed command of docs/deploying.md, step 2c, each edit made exactly once."""
    from tests.test_docs import code_of

    [command] = [line for line in code_of(ROOT / "docs" / "deploying.md").splitlines() if line.startswith("sed -e")]
    words = shlex.split(command.rstrip("\\"))
    site = (DEPLOY / "nginx.conf").read_text()
    edits = [words[i + 1] for i, word in enumerate(words) if word == "-e"]
    assert len(edits) == 2, command
    for edit in edits:
        _, old, new, _ = edit.split("/")
        assert site.count(old) == 1, f"deploy/nginx.conf has {site.count(old)} of {old!r}: the page's sed is wrong"
        site = site.replace(old, new)
    return site


def test_the_documented_nginx_site_proxies_to_the_site_on_this_machine_under_its_name():
    site = documented_nginx_site()
    assert "server 127.0.0.1:8000;" in site
    assert "server_name classifier.example.org;" in site
    assert systemd_environment(systemd_unit())["HOST"] == "127.0.0.1"  # where the unit's gunicorn listens


@pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="nginx is not installed")
def test_nginx_accepts_the_documented_site(tmp_path):
    (tmp_path / "site.conf").write_text(documented_nginx_site())
    main = tmp_path / "nginx.conf"
    # Like Debian's /etc/nginx/nginx.conf, which includes sites-enabled/ in its http block; every file in tmp_path.
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n    access_log off;\n    client_body_temp_path {tmp_path}/body;\n"
        f"    proxy_temp_path {tmp_path}/proxy;\n    include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        ["/usr/sbin/nginx", "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
