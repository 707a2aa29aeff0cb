"""Upload-to-answer time through the JSON API against the old app's way of serving, measured in one run.

    python bench/bench_api.py [--requests 200] [--photo PATH]

Starts two servers on 127.0.0.1, each with gunicorn, one worker and one thread:
- the site (`classifier_site.wsgi`) on a fresh SQLite database and media folder: each request is
  authenticated by token, the photo checked, classified by the bundle's LiteRT models and rule, and the record and
  file stored;
- the baseline (`bench/old_app.py`): Keras `model.predict` per request behind a bare WSGI handler, nothing stored.
Then sends the same 1200x729 JPEG photo to each, one request at a time, and prints the median and 95th
percentile of the time from sending the upload to having the whole answer, and the ratio of the medians. The site
answers it with every expert of its photo case (the CIFAR and the ImageNet network); the old app with the main
CIFAR network's Keras model alone.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_model import cpu_name, photo_jpeg  # noqa: E402

PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart(field: str, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def post(port: int, path: str, body: bytes, content_type: str, headers: dict) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", path, body, {"Content-Type": content_type, **headers})
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    return response.status, answer


def wait_until_up(port: int, path: str, process, seconds: float = 180) -> None:
    """Wait for any HTTP answer (the baseline has no health page: a GET it cannot parse still proves it is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server on port {port} exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path)
            connection.getresponse()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server on port {port} did not answer {path} within {seconds} s")


def gunicorn(app: str, port: int, env: dict, cwd: Path):
    command = [
        GUNICORN,
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "sync",
        "--workers",
        "1",
        "--timeout",
        "120",
    ]
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(port, path, field, photo, headers, requests, expect):
    body, content_type = multipart(field, "photo.jpg", photo)
    times = []
    for index in range(requests + 5):
        started = time.perf_counter()
        status, answer = post(port, path, body, content_type, headers)
        elapsed = time.perf_counter() - started
        if status != expect:
            raise SystemExit(f"{path} answered {status}: {answer[:300]!r}")
        if index >= 5:  # the first requests warm caches up
            times.append(1000 * elapsed)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main_network(model_dir: Path) -> Path:
    """The folder of the bundle's main CIFAR network (the bundle itself for a bundle of one network): the old app
    serves its Keras model."""
    experts = json.loads((model_dir / "metadata.json").read_text()).get("experts")
    return model_dir / experts[0]["folder"] if experts else model_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--model", default=str(ROOT / "models" / "cifar10"))
    parser.add_argument("--photo", help="a JPEG to upload (default: a generated 1200x729 photo)")
    args = parser.parse_args()
    photo = Path(args.photo).read_bytes() if args.photo else photo_jpeg(729, 1200)
    model_dir = Path(args.model).resolve()
    keras_model = main_network(model_dir) / "model.keras"
    classes = json.loads((model_dir / "metadata.json").read_text())["classes"]

    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "classifier_site.settings.base",
            "DATABASE_URL": f"sqlite:///{scratch}/db.sqlite3",
            "MEDIA_ROOT": f"{scratch}/media",
            "MODEL_DIR": str(model_dir),
            "DJANGO_SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
            "OLD_APP_MODEL": str(keras_model),
            "OLD_APP_CLASSES": json.dumps(classes),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            # One user uploads thousands of photos here: the per-user limits would measure their refusals instead.
            "UPLOADS_PER_HOUR": "0",
            "UPLOAD_QUOTA_MB": "0",
        }
        manage = [PYTHON, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
        create_user = "from django.contrib.auth.models import User; User.objects.create_user('bench', password=None)"
        subprocess.run([*manage, "shell", "--no-imports", "-c", create_user], env=env, check=True)
        token = subprocess.run(
            [*manage, "api_token", "bench"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

        site_port, old_port = free_port(), free_port()
        site = gunicorn("classifier_site.wsgi", site_port, env, ROOT)
        old = gunicorn("old_app:application", old_port, env, ROOT / "bench")
        try:
            wait_until_up(site_port, "/healthz", site)
            wait_until_up(old_port, "/", old)
            auth = {"Authorization": f"Bearer {token}"}
            site_median, site_p95 = measure(site_port, "/api/v1/predictions", "image", photo, auth, args.requests, 201)
            old_median, old_p95 = measure(old_port, "/", "image", photo, {}, args.requests, 200)
            stored = len(list(Path(scratch, "media").rglob("*.jpg")))
        finally:
            for process in (site, old):
                process.terminate()
                process.wait(timeout=30)

    print(
        f"CPU: {cpu_name()}, {os.cpu_count()} cores; {args.requests} sequential uploads of one "
        f"{len(photo) // 1024} KB JPEG"
    )
    print(
        f"site API (LiteRT, record and file stored): median {site_median:.1f} ms, p95 {site_p95:.1f} ms; "
        f"{stored} files stored"
    )
    print(f"old app (Keras model.predict, bare WSGI):   median {old_median:.1f} ms, p95 {old_p95:.1f} ms")
    print(f"median speed-up: {old_median / site_median:.1f}x")


if __name__ == "__main__":
    main()
