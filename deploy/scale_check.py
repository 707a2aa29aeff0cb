"""The scale-out check (deploy/scale_check.sh runs it; docs/deploying.md, "More than one machine").

Starts on 127.0.0.1: an S3 server (moto) with an empty bucket, the chat tests' OpenAI-compatible server, a fresh
database on DATABASE_URL's PostgreSQL server, two app servers through deploy/start.sh with the same production
settings (each with its own, unused MEDIA_ROOT) and nginx with deploy/nginx.conf's rules in front of both. Then,
through nginx only, as people and API clients would: sign up and log in, upload photos, list them, open each photo
and its heat map through the server that did not store it, read a chat history on the other server, get locked
out by failures spread over both servers, see that a private photo stays private on both, and reach the upload
limit (UPLOADS_PER_HOUR) with uploads spread over both. Then one app server is killed while a client keeps
uploading and reading, and nothing may be lost. Last, a burst of log-ins from one address meets nginx's rate limit.
Prints each check as `ok   ...` and the figures; exits 1 at the first check that fails.

nginx adds the app server's address to every response (X-Upstream, in the check's copy of the config only), so
"answered by the other server" is read, not assumed. The balancer listens on plain HTTP here; the production
cookies' Secure flag, meant for the TLS a real balancer ends, is ignored by this client.
"""

import http.client
import json
import math
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.chat.fake_openai import FakeOpenAI  # noqa: E402  (the chat tests' server, reused)

PHOTOS = sorted((ROOT / "tests" / "fixtures" / "photos").glob("*.jpg"))
BUCKET = "classifier-scale-check"
DATABASE = "classifier_scale_check"  # beside the suite's `classifier` database, never it
PASSWORD = "correct horse battery staple"
LOCKOUT_AFTER = 5  # AXES_FAILURE_LIMIT, set for both servers
FAIL_TIMEOUT = 10  # seconds nginx leaves a failed server alone (its default fail_timeout)
FAILOVER_UPLOADS = 60  # uploads the failover client sends at most, so that alice's count is known in advance
UPLOADS_PER_HOUR = 80  # set for both servers: above alice's uploads (PHOTOS and FAILOVER_UPLOADS), reached by dave
STARTUP_SECONDS = 180


class CheckFailed(Exception):
    pass


def ok(message: str) -> None:
    print(f"ok   {message}", flush=True)


def check(condition, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- talking to the balancer -------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes
    upstreams: list  # the app servers nginx tried, in order; the last one answered

    @property
    def server(self) -> str:
        return self.upstreams[-1] if self.upstreams else "nginx"

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class Client:
    """One person's browser (cookies, CSRF tokens) or one API script (a bearer token), one request at a time."""

    port: int
    token: str = ""
    cookies: dict = field(default_factory=dict)

    def request(self, method, path, *, fields=None, files=(), headers=None) -> Response:
        headers = {"Host": f"127.0.0.1:{self.port}", "Accept-Encoding": "identity"} | (headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = None
        if fields is not None or files:
            body, headers["Content-Type"] = multipart(fields or {}, files)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            response = Response(
                answer.status,
                {name.lower(): value for name, value in answer.getheaders()},
                answer.read(),
                [address.strip() for address in (answer.getheader("X-Upstream") or "").split(",") if address.strip()],
            )
        finally:
            connection.close()
        for header in answer.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def csrf_token(self, form_path) -> str:
        """GET a form page, as a browser does before it posts the form; the page's CSRF token."""
        page = self.request("GET", form_path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        check(page.status == 200 and token, f"GET {form_path} answered {page.status} without a CSRF token")
        return token[1]

    def submit(self, form_path, fields, *, files=(), action=None) -> Response:
        """GET a form page, then POST the form with its CSRF token."""
        token = self.csrf_token(form_path)
        return self.request("POST", action or form_path, fields={"csrfmiddlewaretoken": token, **fields}, files=files)

    def on_each_server(self, path, servers) -> dict:
        """GET `path` until every app server has answered it once (nginx takes them in turn): server -> Response."""
        answers = {}
        for _ in range(3 * len(servers)):
            response = self.request("GET", path)
            answers.setdefault(response.server, response)
            if set(answers) >= set(servers):
                return answers
        raise CheckFailed(f"GET {path} was answered only by {sorted(answers)}, not by each of {sorted(servers)}")


def multipart(fields: dict, files) -> tuple[bytes, str]:
    """multipart/form-data: `files` are (field name, file name, bytes)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, file_name, data in files:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{file_name}"\r\n'
        parts.append(head.encode() + b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --- the machines --------------------------------------------------------------------------------------------


class Process:
    """A server started in its own process group, so that stopping it stops every process it started."""

    def __init__(self, name, command, env, log):
        self.name, self.log = name, log
        self.popen = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def send(self, signum) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signum)

    def stop(self, signum=signal.SIGTERM, timeout=30) -> int | None:
        self.send(signum)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL)
            self.popen.wait()
            return None

    def tail(self, lines=30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


def wait_until(ready, what: str, process: Process, seconds=STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check(process.popen.poll() is None, f"{what}: {process.name} exited\n{process.tail()}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise CheckFailed(f"{what}: not ready within {seconds} s\n{process.tail()}")


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def healthz(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    finally:
        connection.close()


def fresh_database(server_url: str) -> str:
    """An empty database beside the one DATABASE_URL names, on the same server; its URL."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{DATABASE}"))


def drop_database(server_url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def balancer_config(work: Path, port: int, app_ports: list) -> Path:
    """deploy/nginx.conf with only its upstream servers and listen address replaced, and X-Upstream added, inside
    a minimal main configuration that keeps every file nginx writes in `work` (its workers run as this user, so
    that they can write there)."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    upstreams = "".join(f"    server 127.0.0.1:{app_port};\n" for app_port in app_ports)
    site, replaced = re.subn(r"(?m)^\s*server web:8000;.*\n", upstreams, site)
    check(replaced == 1, "deploy/nginx.conf has no `server web:8000;` line to point at the app servers")
    site, replaced = re.subn(r"(?m)^(\s*)listen 80;", rf"\1listen 127.0.0.1:{port};", site)
    check(replaced == 1, "deploy/nginx.conf has no `listen 80;` line")
    site = site.replace("server_name _;", "server_name _;\n    add_header X-Upstream $upstream_addr always;", 1)
    (work / "site.conf").write_text(site)
    main = work / "nginx.conf"
    main.write_text(
        f"""daemon off;
user {pwd.getpwuid(os.geteuid()).pw_name};
worker_processes 1;
pid {work}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    access_log {work}/nginx-access.log;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    include {work}/site.conf;
}}
"""
    )
    return main


@dataclass
class Site:
    """Everything the check started, and what it needs to look behind the balancer."""

    work: Path
    env: dict = field(default_factory=dict)
    port: int = 0
    servers: dict = field(default_factory=dict)  # "127.0.0.1:port" -> Process
    media_roots: dict = field(default_factory=dict)  # "127.0.0.1:port" -> Path
    others: list = field(default_factory=list)  # moto, nginx
    s3: object = None
    database_url: str = ""

    def client(self, token="") -> Client:
        return Client(self.port, token)

    def other(self, server: str) -> str:
        return next(name for name in self.servers if name != server)

    def stored_names(self) -> dict:
        """Prediction id -> storage name, from the database."""
        with psycopg.connect(self.database_url) as connection:
            return dict(connection.execute("SELECT id, image FROM classifier_prediction").fetchall())

    def stored_files(self) -> set:
        """Every photo's storage name and those of the copies made of it, from the database."""
        with psycopg.connect(self.database_url) as connection:
            rows = connection.execute("SELECT image, thumbnail, display_copy FROM classifier_prediction").fetchall()
        return {name for row in rows for name in row if name}

    def bucket_keys(self) -> set:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def bucket_bytes(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def manage(self, *arguments) -> str:
        """A one-off management command with the servers' settings, as a release job would run it."""
        result = subprocess.run(
            [sys.executable, "manage.py", *arguments], env=self.env, cwd=ROOT, capture_output=True, text=True
        )
        check(result.returncode == 0, f"manage.py {' '.join(arguments)} failed:\n{result.stderr[-2000:]}")
        return result.stdout.strip()


def start_site(site: Site, chat_url: str) -> None:
    """Start everything into `site` as it goes, so that what did start is stopped even if a later start fails."""
    work = site.work
    server_url = os.environ["DATABASE_URL"]
    s3_port = free_port()
    env = dict(os.environ) | {
        "DJANGO_SETTINGS_MODULE": "classifier_site.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",  # chosen, as production must (E001)
        "DATABASE_URL": fresh_database(server_url),
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "scale-check",
        "AWS_SECRET_ACCESS_KEY": "scale-check-secret",
        "OPENAI_BASE_URL": chat_url,
        "OPENAI_API_KEY": "scale-check",
        "OPENAI_MODEL": "scale-check-model",
        "AXES_FAILURE_LIMIT": str(LOCKOUT_AFTER),
        "UPLOADS_PER_HOUR": str(UPLOADS_PER_HOUR),
        "DJANGO_TRUSTED_PROXIES": "127.0.0.1",  # nginx's address: the client is the one it adds to X-Forwarded-For
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "PYTHON": sys.executable,
    }
    site.env, site.database_url = env, env["DATABASE_URL"]

    moto = Process(
        "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], env, work / "moto.log"
    )
    site.others.append(moto)
    site.s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    wait_until(lambda: listening(s3_port), "the S3 server", moto, seconds=30)
    site.s3.create_bucket(Bucket=BUCKET)
    ok(f"S3 server (moto) on 127.0.0.1:{s3_port}, empty bucket {BUCKET}; PostgreSQL database {DATABASE}")

    for number, migrate in enumerate(["1", "0"], start=1):  # the first migrates, the second starts once it is done
        port = free_port()
        name = f"127.0.0.1:{port}"
        site.media_roots[name] = work / f"media-{number}"
        server_env = env | {"PORT": str(port), "MEDIA_ROOT": str(site.media_roots[name]), "RUN_MIGRATIONS": migrate}
        started = time.monotonic()
        server = Process(
            f"app server {number}", [str(ROOT / "deploy" / "start.sh")], server_env, work / f"app-{number}.log"
        )
        site.servers[name] = server
        wait_until(lambda port=port: healthz(port), f"app server {number}", server)
        ok(f"app server {number} on {name}: /healthz 200 after {time.monotonic() - started:.0f} s")

    site.port = free_port()
    config = balancer_config(work, site.port, [int(name.rsplit(":", 1)[1]) for name in site.servers])
    nginx = "/usr/sbin/nginx"  # Debian's; deploy/scale_check.sh installs it
    test = subprocess.run([nginx, "-t", "-p", str(work), "-c", str(config)], capture_output=True, text=True)
    check(test.returncode == 0, f"nginx -t refused the configuration:\n{test.stderr}")
    balancer = Process("nginx", [nginx, "-p", str(work), "-c", str(config)], env, work / "nginx.log")
    site.others.append(balancer)
    wait_until(lambda: site.client().request("GET", "/healthz").status == 200, "nginx", balancer, seconds=30)
    ok(f"nginx on 127.0.0.1:{site.port} balancing both with deploy/nginx.conf's rules")


def stop_site(site: Site) -> None:
    for process in [*site.servers.values(), *reversed(site.others)]:
        process.stop()
    if site.database_url:
        drop_database(os.environ["DATABASE_URL"])


# --- the steps -----------------------------------------------------------------------------------------------


def sign_up(site: Site, username: str) -> Client:
    """A new person signs up (and is logged in by it); their session works on every server."""
    person = site.client()
    signed_up = person.submit(
        "/accounts/signup/", {"username": username, "email": "", "password1": PASSWORD, "password2": PASSWORD}
    )
    check(signed_up.status == 302, f"sign-up of {username} answered {signed_up.status}")
    for server, page in person.on_each_server("/predictions/", site.servers).items():
        check(page.status == 200, f"{username}'s session: GET /predictions/ on {server} answered {page.status}")
    return person


def log_out_and_in(site: Site, person: Client, username: str) -> None:
    logged_out = person.submit("/predictions/", {}, action="/accounts/logout/")
    check(logged_out.status == 302, f"log-out answered {logged_out.status}")
    for server, page in person.on_each_server("/predictions/", site.servers).items():
        check(page.status == 302, f"after log-out, /predictions/ on {server} answered {page.status}, not 302")
    logged_in = person.submit("/accounts/login/", {"username": username, "password": PASSWORD})
    check(logged_in.status == 302, f"log-in of {username} answered {logged_in.status}")
    for server, page in person.on_each_server("/predictions/", site.servers).items():
        check(page.status == 200, f"after log-in, /predictions/ on {server} answered {page.status}")
    ok(f"sign-up, log-out and log-in of {username} through nginx; the session works on both servers")


def api_token(person: Client) -> str:
    page = person.submit("/accounts/tokens/", {"name": "scale check"})
    key = re.search(r'<code id="new-token">(clf_[^<]+)</code>', page.text)
    check(page.status == 200 and key, f"making an API token answered {page.status}")
    return key[1]


def upload_photos(site: Site, person: Client, api: Client) -> dict:
    """Half the photos through the page in one request, the rest through the API one by one; returns
    prediction id -> the server that stored it."""
    stored_by = {}
    half = len(PHOTOS) // 2
    page = person.submit("/predict/", {}, files=[("images", photo.name, photo.read_bytes()) for photo in PHOTOS[:half]])
    results = page.headers.get("location", "")
    check(page.status == 302 and results.startswith("/predict/results/"), f"the page upload answered {page.status}")
    shown = person.request("GET", results)
    check(f"{half} images classified" in shown.text, f"the results page of {half} photos answered {shown.status}")
    for photo in PHOTOS[half:]:
        created = api.request("POST", "/api/v1/predictions", files=[("image", photo.name, photo.read_bytes())])
        check(created.status == 201, f"API upload of {photo.name} answered {created.status}: {created.text[:300]}")
        for prediction in json.loads(created.body)["predictions"]:
            stored_by[prediction["id"]] = created.server
    listed = api_list(api)
    for prediction in listed.values():
        stored_by.setdefault(prediction["id"], page.server)
    check(len(listed) == len(PHOTOS), f"the API lists {len(listed)} predictions after {len(PHOTOS)} uploads")
    check(set(stored_by.values()) == set(site.servers), f"the uploads were stored by {set(stored_by.values())} only")
    ok(
        f"{len(PHOTOS)} photos uploaded through nginx ({half} in one page request, {len(PHOTOS) - half} through the "
        f"API), stored by both servers"
    )
    return stored_by


def api_list(api: Client) -> dict:
    """Every prediction the API lists for the client: id -> its JSON."""
    listed, path = {}, "/api/v1/predictions?page_size=100"
    while path:
        response = api.request("GET", path)
        check(response.status == 200, f"GET {path} answered {response.status}")
        body = json.loads(response.body)
        listed |= {prediction["id"]: prediction for prediction in body["predictions"]}
        following = urlsplit(body["next"] or "")
        path = f"{following.path}?{following.query}" if body["next"] else None
    return listed


def photos_listed_on_both(site: Site, person: Client, api: Client) -> None:
    names = [photo.name for photo in PHOTOS]
    for server, page in person.on_each_server("/predictions/", site.servers).items():
        missing = [name for name in names if name not in page.text]
        check(page.status == 200 and not missing, f"/predictions/ on {server} lacks {missing}")
    for server, response in api.on_each_server("/api/v1/predictions?page_size=100", site.servers).items():
        count = json.loads(response.body)["count"]
        check(count == len(PHOTOS), f"the API on {server} lists {count} predictions, not {len(PHOTOS)}")
    ok("every photo listed on both servers (History page and API)")


def photos_open_through_the_other_server(site: Site, person: Client, stored_by: dict) -> None:
    names = site.stored_names()
    for pk, server in stored_by.items():
        other = site.other(server)
        page, image, heat_map = (
            person.on_each_server(f"/predictions/{pk}/{path}", site.servers)[other]
            for path in ("", "image", "heat-map.png")
        )
        for response, what in ((page, "page"), (image, "image"), (heat_map, "heat map")):
            check(response.status == 200, f"prediction {pk}'s {what} on {other} answered {response.status}")
        check(image.body == site.bucket_bytes(names[pk]), f"prediction {pk}'s image on {other} is not the bucket's")
        check(heat_map.headers.get("content-type") == "image/png", f"prediction {pk}'s heat map is not a PNG")
    ok(f"each of the {len(stored_by)} photos, its page and its heat map open through the server that did not store it")


def chat_history_on_the_other_server(site: Site, person: Client) -> None:
    question = "Which of my photos is the frog?"
    sent = person.submit("/chat/", {"content": question}, action="/chat/send/")
    check(sent.status == 302, f"sending a chat message answered {sent.status}: {sent.text[:300]}")
    conversation = urlsplit(sent.headers["location"]).path
    page = person.on_each_server(conversation, site.servers)[site.other(sent.server)]
    check(page.status == 200, f"GET {conversation} on the other server answered {page.status}")
    check(question in page.text and "You said:" in page.text, f"{conversation} on the other server lacks the history")
    ok(f"a chat answered by {sent.server} reads back, question and answer, on {site.other(sent.server)}")


def lock_out_across_servers(site: Site) -> None:
    username = "carol"
    sign_up(site, username)
    stranger = site.client()
    token = stranger.csrf_token("/accounts/login/")
    failed_on = []
    for attempt in range(1, LOCKOUT_AFTER + 1):
        fields = {"csrfmiddlewaretoken": token, "username": username, "password": "wrong password"}
        response = stranger.request("POST", "/accounts/login/", fields=fields)
        failed_on.append(response.server)
        expected = 429 if attempt == LOCKOUT_AFTER else 200
        check(response.status == expected, f"wrong password {attempt} answered {response.status}, not {expected}")
    check(set(failed_on) == set(site.servers), f"the wrong passwords all reached {set(failed_on)}")
    locked_on = set()
    for _ in range(4):
        fields = {"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD}
        response = stranger.request("POST", "/accounts/login/", fields=fields)
        check(response.status == 429, f"the right password when locked out answered {response.status}")
        locked_on.add(response.server)
    check(locked_on == set(site.servers), f"the lock-out was tried only on {locked_on}")
    ok(f"{LOCKOUT_AFTER} wrong passwords spread over both servers lock the account out on both (429)")


def private_on_both(site: Site, stored_by: dict) -> None:
    stranger = sign_up(site, "bob")
    stranger_api = site.client(api_token(stranger))
    for pk in stored_by:
        for client, paths in (
            (stranger, [f"/predictions/{pk}/", f"/predictions/{pk}/image", f"/predictions/{pk}/heat-map.png"]),
            (
                stranger_api,
                [f"/api/v1/predictions/{pk}", f"/predictions/{pk}/image", f"/predictions/{pk}/model-input.png"],
            ),
        ):
            for path in paths:
                for server, response in client.on_each_server(path, site.servers).items():
                    check(response.status == 404, f"another user's GET {path} on {server} answered {response.status}")
    check(api_list(stranger_api) == {}, "the API lists another user's predictions")
    ok(f"another user gets 404 for every one of the {len(stored_by)} photos on both servers (session and token)")


def upload_limit_across_servers(site: Site) -> None:
    """A new user uploads exactly UPLOADS_PER_HOUR photos, taken by both servers in turn; the next one is refused
    by whichever server gets it, as the count lives in the database, and nothing of it is stored."""
    username, extra = "dave", "one-too-many.jpg"
    uploader = site.client(api_token(sign_up(site, username)))
    stored_on = []
    for number in range(UPLOADS_PER_HOUR):
        photo = PHOTOS[number % len(PHOTOS)]
        created = uploader.request("POST", "/api/v1/predictions", files=[("image", photo.name, photo.read_bytes())])
        check(
            created.status == 201, f"{username}'s upload {number + 1} answered {created.status}: {created.text[:300]}"
        )
        stored_on.append(created.server)
    check(set(stored_on) == set(site.servers), f"{username}'s uploads were all taken by {set(stored_on)}")
    keys = site.bucket_keys()
    refused_on = {}
    for _ in range(3 * len(site.servers)):
        refused = uploader.request("POST", "/api/v1/predictions", files=[("image", extra, PHOTOS[0].read_bytes())])
        check(
            refused.status == 429 and refused.server in site.servers,
            f"upload {UPLOADS_PER_HOUR + 1} answered {refused.status} by {refused.server}: {refused.text[:300]}",
        )
        check(refused.headers.get("retry-after"), f"the refusal on {refused.server} has no Retry-After")
        check(
            refused.headers.get("content-type") == "application/json" and "error" in json.loads(refused.body),
            f"the refusal on {refused.server} is not a JSON error: {refused.text[:300]}",
        )
        refused_on[refused.server] = refused
        if set(refused_on) == set(site.servers):
            break
    check(set(refused_on) == set(site.servers), f"the upload over the limit reached only {set(refused_on)}")
    listed = api_list(uploader)
    names = [prediction["original_name"] for prediction in listed.values()]
    check(len(listed) == UPLOADS_PER_HOUR and extra not in names, f"{username} has {len(listed)} predictions listed")
    check(site.bucket_keys() == keys, "a refused upload left a file in the bucket")
    taken = ", ".join(f"{stored_on.count(server)} by {server}" for server in site.servers)
    retry_after = {refused.headers["retry-after"] for refused in refused_on.values()}
    ok(
        f"UPLOADS_PER_HOUR={UPLOADS_PER_HOUR} holds across servers: {username}'s uploads taken {taken}; the next one "
        f"refused on both (429, Retry-After {', '.join(sorted(retry_after))}, a JSON error), nothing of it stored"
    )


def bucket_holds_every_photo(site: Site) -> None:
    names = site.stored_files()
    keys = site.bucket_keys()
    check(keys == names, f"bucket and database differ: only in the bucket {keys - names}, only in rows {names - keys}")
    for server, media in site.media_roots.items():
        files = [path for path in media.rglob("*") if path.is_file()] if media.exists() else []
        check(not files, f"{server}'s MEDIA_ROOT holds {files}")
    ok(
        f"the bucket holds all {len(site.stored_names())} stored photos and the copies made of them and nothing else; "
        "neither server's MEDIA_ROOT holds a file"
    )


@dataclass
class Request:
    method: str
    started: float
    finished: float
    status: int
    upstreams: list


def failover(site: Site, api: Client) -> dict:
    """A client keeps uploading and reading through nginx; one app server is killed (SIGKILL to all its processes,
    as when a machine dies: no graceful shutdown, the request in flight is cut off). Returns the figures."""
    victim, survivor = list(site.servers)
    before = set(api_list(api))
    uploaded, log, stop = [], [], threading.Event()

    def keep_working():
        number = sent = 0
        while not stop.is_set():
            started = time.monotonic()
            if sent < FAILOVER_UPLOADS and (number % 2 == 0 or not uploaded):
                sent += 1
                photo = PHOTOS[number % len(PHOTOS)]
                response = api.request("POST", "/api/v1/predictions", files=[("image", photo.name, photo.read_bytes())])
                if response.status == 201:
                    uploaded.extend(prediction["id"] for prediction in json.loads(response.body)["predictions"])
                method = "POST"
            else:
                readable = uploaded or sorted(before)
                response = api.request("GET", f"/predictions/{readable[number % len(readable)]}/image")
                method = "GET"
            log.append(Request(method, started, time.monotonic(), response.status, response.upstreams))
            number += 1

    worker = threading.Thread(target=keep_working)
    worker.start()
    try:
        while len(log) < 20 and worker.is_alive():
            time.sleep(0.05)
        killed_at = time.monotonic()
        site.servers[victim].send(signal.SIGKILL)
        time.sleep(FAIL_TIMEOUT + 5)  # past nginx's fail_timeout, so it tries the dead server again, and again skips it
    finally:
        stop.set()
        worker.join()
    check(site.servers[victim].popen.wait(5) == -signal.SIGKILL, "the killed server did not die")

    limited = [request for request in log if not request.upstreams]
    check(not limited, f"nginx itself answered {len(limited)} of the client's requests: {limited[:3]}")
    failed = [request for request in log if request.status >= 500]
    in_flight = [request for request in log if request.started < killed_at < request.finished]
    after = [request for request in log if request.started > killed_at]
    check(
        len(failed) <= 1 and all(request in in_flight for request in failed), f"5xx beyond the one in flight: {failed}"
    )
    check(
        all(request.status < 500 and request.upstreams[-1] == survivor for request in after),
        f"after the kill, not every request was answered by {survivor}",
    )
    check(
        {request.upstreams[-1] for request in log if request.finished < killed_at} == set(site.servers),
        "before the kill, nginx did not use both servers",
    )
    listed = api_list(api)
    lost = (before | set(uploaded)) - set(listed)
    check(not lost, f"predictions lost after the kill: {sorted(lost)}")
    names = site.stored_names()
    for pk in listed:
        image = api.request("GET", f"/predictions/{pk}/image")
        check(image.status == 200 and image.body == site.bucket_bytes(names[pk]), f"prediction {pk}'s image is lost")
    figures = {
        "requests": len(log),
        "uploads": sum(request.method == "POST" and request.status == 201 for request in log),
        "after_kill": len(after),
        "failed": len(failed),
        "retried": sum(len(request.upstreams) > 1 for request in log),
        "seconds": round(log[-1].finished - log[0].started, 1),
        "api_peak": api_requests_at_most_in_a_second(log),
        "listed": len(listed),
    }
    ok(
        f"SIGKILL of {victim} under load: {figures['requests']} requests in {figures['seconds']} s "
        f"({figures['uploads']} uploads, at most {figures['api_peak']} API requests in a second), "
        f"{figures['after_kill']} after the kill all answered by {survivor}, "
        f"{figures['retried']} passed on by nginx to it; 5xx: {described(failed) or 'none'}"
    )
    ok(f"all {len(listed)} photos uploaded before and during the failover are listed and readable")
    return figures


def api_requests_at_most_in_a_second(log) -> int:
    """The most uploads (the client's API requests) begun within one second: what nginx's API limit has to allow."""
    starts = [request.started for request in log if request.method == "POST"]
    return max((sum(first <= start < first + 1 for start in starts) for first in starts), default=0)


def described(requests) -> str:
    return ", ".join(f"{request.method} answered {request.status} (in flight at the kill)" for request in requests)


def sweep_after_the_kill(site: Site, figures: dict) -> None:
    """An upload cut off by the kill may leave a stored file without its record; sweep_uploads finds it in the
    bucket."""
    output = site.manage("sweep_uploads", "--older-than", "0")
    removed = int(re.search(r"Removed (\d+)", output)[1])
    check(removed <= figures["failed"], f"sweep_uploads removed {removed} files; {figures['failed']} uploads failed")
    check(site.bucket_keys() == site.stored_files(), "after sweep_uploads the bucket and rows differ")
    ok(f"sweep_uploads on the bucket removed {removed} file(s) left by the cut-off upload; bucket matches the rows")


def burst_refused_by_nginx(site: Site) -> None:
    """A quick burst of log-in POSTs from one address: the first reach the app, the rest nginx refuses itself (429,
    no upstream) until its zone refills, while the form still opens. Each try names another username, so the app's
    per-username lock-out never answers. Last of the checks: every client here shares 127.0.0.1 and its allowance."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    rate = int(re.search(r"zone=login:\w+ rate=(\d+)r/m;", conf)[1])
    burst = int(re.search(r"limit_req zone=login burst=(\d+)", conf)[1])
    guesser = site.client()
    token = guesser.csrf_token("/accounts/login/")
    started = time.monotonic()
    answers = [
        guesser.request(
            "POST",
            "/accounts/login/",
            fields={"csrfmiddlewaretoken": token, "username": f"guess-{attempt}", "password": "wrong password"},
        )
        for attempt in range(3 * burst)
    ]
    refilled = math.ceil((time.monotonic() - started) * rate / 60)
    passed = [response for response in answers if response.server != "nginx"]
    refused = [response for response in answers if response.server == "nginx"]
    check(answers[0].server != "nginx", f"the first log-in of the burst was answered {answers[0].status} by nginx")
    check(all(response.status == 200 for response in passed), "a wrong password that reached the app was not 200")
    check(refused, f"nginx let all {len(answers)} log-ins of the burst through")
    check(
        all(
            response.status == 429 and response.headers.get("retry-after") and "Too many requests" in response.text
            for response in refused
        ),
        f"nginx's refusals are not all 429 with Retry-After and its page: {[response.status for response in refused]}",
    )
    check(
        len(passed) <= 1 + burst + refilled,
        f"{len(passed)} log-ins reached the app; nginx allows {1 + burst} at once and {refilled} more since",
    )
    form = guesser.request("GET", "/accounts/login/")
    check(form.status == 200 and form.server != "nginx", f"opening the log-in form was refused too ({form.status})")
    servers = {response.headers.get("server") for response in [*answers, form]}
    check(servers == {"nginx"}, f"the Server header is {servers}, not a bare `nginx` (server_tokens off)")
    ok(
        f"a burst of {len(answers)} log-in POSTs from one address: {len(passed)} reached the app, {len(refused)} "
        f"answered 429 by nginx itself (Retry-After {refused[0].headers['retry-after']} s); the form still opens; "
        f"Server: nginx, no version"
    )


def cpu_model() -> str:
    """What `lscpu | grep 'Model name'` says, for the figures."""
    names = re.findall(r"(?m)^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text())
    return names[0] if names else "an unknown CPU"


def main() -> int:
    if len(PHOTOS) < 4:
        print("FAIL: tests/fixtures/photos holds too few photos", file=sys.stderr)
        return 1
    if len(PHOTOS) + FAILOVER_UPLOADS >= UPLOADS_PER_HOUR:
        print("FAIL: alice's uploads would reach UPLOADS_PER_HOUR; raise it", file=sys.stderr)
        return 1
    begun = time.monotonic()
    chat = FakeOpenAI().start()
    with tempfile.TemporaryDirectory(prefix="scale-check-") as work:
        site = Site(Path(work))
        try:
            start_site(site, chat.base_url)
            alice = sign_up(site, "alice")
            log_out_and_in(site, alice, "alice")
            alice_api = site.client(api_token(alice))
            stored_by = upload_photos(site, alice, alice_api)
            photos_listed_on_both(site, alice, alice_api)
            photos_open_through_the_other_server(site, alice, stored_by)
            chat_history_on_the_other_server(site, alice)
            lock_out_across_servers(site)
            private_on_both(site, stored_by)
            upload_limit_across_servers(site)
            bucket_holds_every_photo(site)
            figures = failover(site, alice_api)
            sweep_after_the_kill(site, figures)
            bucket_holds_every_photo(site)
            burst_refused_by_nginx(site)
        except CheckFailed as failure:
            print(f"FAIL: {failure}", file=sys.stderr)
            for process in [*site.servers.values(), *site.others]:
                print(f"--- last lines of {process.name}'s log ---\n{process.tail()}", file=sys.stderr)
            return 1
        finally:
            stop_site(site)
            chat.stop()
    print(
        f"scale-check: all checks passed in {time.monotonic() - begun:.0f} s on {cpu_model()}, {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
