"""Load and soak figures for the upload path, with the shipped gunicorn configuration, on this machine.

    python bench/bench_load.py load [--clients 8] [--seconds 60] [--alone-seconds 20] [--chat-seconds 20]
    python bench/bench_load.py soak [--seconds 600] [--rate R]     (R uploads/s; default: half the load maximum)
    python bench/bench_load.py profile [--clients 8] [--seconds 20]

Starts the site with gunicorn.conf.py (one worker per core, gthread) on 127.0.0.1 with a fresh SQLite database,
media folder and upload temp folder, makes a user and an API token, then:
- load: one client uploads real photos (CIFAR-10 test JPEGs and a 640x480 photo) back to back, then N clients
  do; prints throughput, p50/p95/p99 latency, errors and the server's CPU an upload (its processes' CPU time from
  /proc, apart from this load generator's) for each, and their ratio. Then, while N clients upload again, a chat
  answer streamed from a local OpenAI-compatible server (a piece every 50 ms), one after another: how soon its
  first piece arrives;
- profile: N clients upload while py-spy samples one worker; prints where its CPU goes (bench/worker_profile.py);
- soak: uploads at a steady rate; prints errors, the workers' resident memory at the start and the end, whether
  every 201 has its record and its file (and no file lacks a record), and whether the temp folder ended empty.
"""

import argparse
import http.client
import http.cookiejar
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import worker_profile  # noqa: E402
from bench.bench_api import free_port, multipart, wait_until_up  # noqa: E402
from bench.bench_model import cpu_name, photo_jpeg  # noqa: E402
from tests.chat.fake_openai import FakeOpenAI, stream  # noqa: E402

PYTHON = sys.executable
CPU_RATIO_ALLOWED = 1.5  # the server's CPU an upload under load, at most this many times what it costs alone
CHAT_FIRST_PIECE_ALLOWED = 1.0  # seconds from sending a chat message to its answer's first piece, under load
PASSWORD = "load-" + uuid.uuid4().hex
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def sample_photos() -> list[tuple[str, bytes]]:
    from tests.conftest import cifar_test_images

    photos = list(cifar_test_images(count_per_class=2).items())
    photos.append(("photo-640x480.jpg", photo_jpeg(480, 640)))
    return photos


class Site:
    """The site under gunicorn with the repository's gunicorn.conf.py, on throwaway storage."""

    def __init__(self, scratch: Path, chat_server: str = ""):
        self.scratch = scratch
        self.port = free_port()
        self.media = scratch / "media"
        self.uploads_tmp = scratch / "upload-tmp"
        self.uploads_tmp.mkdir()
        self.database = scratch / "db.sqlite3"
        self.env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "classifier_site.settings.base",
            "DATABASE_URL": f"sqlite:///{self.database}",
            "MEDIA_ROOT": str(self.media),
            "FILE_UPLOAD_TEMP_DIR": str(self.uploads_tmp),
            "DJANGO_SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "MAX_UPLOAD_FILES": "20",
            "STATIC_ROOT": str(scratch / "static"),
            "OPENAI_BASE_URL": chat_server,
            "OPENAI_API_KEY": "bench-only",
            "CHAT_MESSAGES_PER_MINUTE": "1000",
            # One user uploads thousands of photos here: the per-user limits would measure their refusals instead.
            "UPLOADS_PER_HOUR": "0",
            "UPLOAD_QUOTA_MB": "0",
        }
        self.process = None

    def prepare(self) -> str:
        manage = [PYTHON, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=self.env, check=True)
        subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], env=self.env, check=True)
        create = f"from django.contrib.auth.models import User; User.objects.create_user('load', password='{PASSWORD}')"
        subprocess.run([*manage, "shell", "--no-imports", "-c", create], env=self.env, check=True)
        command = [*manage, "api_token", "load"]
        return subprocess.run(command, env=self.env, check=True, capture_output=True, text=True).stdout.strip()

    def start(self):
        log = open(self.scratch / "gunicorn.log", "w")  # noqa: SIM115 - open for the server's lifetime
        self.process = subprocess.Popen(
            [GUNICORN, "classifier_site.wsgi"], env=self.env, cwd=ROOT, stdout=log, stderr=log
        )
        wait_until_up(self.port, "/healthz", self.process)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def cpu_seconds(self) -> float:
        """CPU time of the server so far: gunicorn's master, its live workers, and the workers it has reaped."""
        total = _process_cpu_seconds(self.process.pid, reaped_children=True)
        for pid in self.worker_pids():
            total += _process_cpu_seconds(pid)
        return total

    def worker_threads(self) -> list[int]:
        return [len(list(Path(f"/proc/{pid}/task").iterdir())) for pid in self.worker_pids()]

    def worker_rss_mb(self) -> dict:
        sizes = {}
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1]) / 1024
        return sizes


def _process_cpu_seconds(pid: int, reaped_children: bool = False) -> float:
    """User and system time of a process (all its threads) from /proc; with its reaped children's if asked."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a worker that has just been recycled: its master now counts it
        return 0.0
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    ticks = utime + stime + (cutime + cstime if reaped_children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def upload(port, token, name, data):
    body, content_type = multipart("image", name, data)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    try:
        connection.request(
            "POST", "/api/v1/predictions", body, {"Content-Type": content_type, "Authorization": f"Bearer {token}"}
        )
        response = connection.getresponse()
        answer = response.read()
        status = response.status
    except OSError as error:
        answer, status = repr(error).encode(), 0
    finally:
        connection.close()
    return status, time.perf_counter() - started, answer


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.statuses = {}
        self.ids = []
        self.failures = []
        self.server_cpu = 0.0  # seconds of CPU the server used while the clients ran
        self.client_cpu = 0.0  # and the load generator itself (this process)

    @property
    def server_cpu_ms_per_upload(self) -> float:
        return 1000 * self.server_cpu / max(1, len(self.latencies))

    def add(self, status, seconds, answer):
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 201:
                self.ids.extend(item["id"] for item in json.loads(answer)["predictions"])
            elif len(self.failures) < 5:
                self.failures.append(f"{status}: {answer[:200]!r}")

    def percentile(self, share):
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_clients(site, token, photos, clients, seconds, rate=None) -> Recorder:
    """`clients` threads upload photos in turn until the time is up; at `rate` uploads/s in all if given."""
    recorder = Recorder()
    deadline = time.monotonic() + seconds
    interval = clients / rate if rate else 0.0

    def client(index):
        count = index
        next_at = time.monotonic() + (interval * index / clients if interval else 0)
        while time.monotonic() < deadline:
            if interval:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
            name, data = photos[count % len(photos)]
            recorder.add(*upload(site.port, token, name, data))
            count += 1

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    server_before, client_before = site.cpu_seconds(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.server_cpu = site.cpu_seconds() - server_before
    recorder.client_cpu = time.process_time() - client_before
    return recorder


def consistency(site, ids) -> dict:
    """Every 201 has its record and its file; no stored file lacks a record."""
    with sqlite3.connect(site.database) as database:
        rows = dict(database.execute("SELECT id, image FROM classifier_prediction").fetchall())
    files = {str(path.relative_to(site.media)) for path in site.media.rglob("*") if path.is_file()}
    return {
        "answered_201": len(ids),
        "records_missing": sum(1 for pk in ids if pk not in rows),
        "files_missing": sum(1 for name in rows.values() if name not in files),
        "files_without_record": len(files - set(rows.values())),
        "upload_temp_files_left": sum(1 for path in site.uploads_tmp.iterdir()),
    }


def report(kind, recorder, seconds, clients):
    total = len(recorder.latencies)
    errors = total - recorder.statuses.get(201, 0)
    print(f"{kind}: {clients} clients, {seconds:.0f} s, {total} uploads, {total / seconds:.1f} uploads/s")
    print(
        f"  latency p50 {recorder.percentile(0.50):.0f} ms, p95 {recorder.percentile(0.95):.0f} ms, "
        f"p99 {recorder.percentile(0.99):.0f} ms; errors {errors} {recorder.statuses}"
    )
    print(
        f"  server CPU {recorder.server_cpu:.1f} s = {recorder.server_cpu_ms_per_upload:.1f} ms an upload; "
        f"load generator {recorder.client_cpu:.1f} s"
    )
    for failure in recorder.failures:
        print("  e.g.", failure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["load", "soak", "profile"])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--rate", type=float, help="uploads per second in all (soak)")
    parser.add_argument("--alone-seconds", type=float, default=20, help="one client through the server (load)")
    parser.add_argument(
        "--chat-seconds",
        type=float,
        default=20,
        help="uploads with chat answers streaming (load; 0: skip)",
    )
    args = parser.parse_args()
    seconds = args.seconds or {"load": 60, "soak": 600, "profile": 20}[args.mode]
    photos = sample_photos()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; shipped gunicorn.conf.py; SQLite; {len(photos)} photos in turn")
    chat_server = FakeOpenAI().start()
    with tempfile.TemporaryDirectory(prefix=f"bench-{args.mode}-") as scratch:
        site = Site(Path(scratch), chat_server.base_url)
        token = site.prepare()
        site.start()
        try:
            run_clients(site, token, photos, args.clients, 5)  # warm up every worker and thread
            if args.mode == "load":
                recorders = measure_load(site, token, photos, args, seconds)
                if args.chat_seconds > 0:
                    recorders.append(measure_chat_under_load(site, token, photos, args, chat_server))
            elif args.mode == "soak":
                recorders = [measure_soak(site, token, photos, args, seconds)]
            else:
                recorders = [measure_profile(site, token, photos, args, seconds, Path(scratch))]
            print(f"  threads in each worker: {site.worker_threads()} (gunicorn's own: at most 1 + its threads)")
            print(f"  worker RSS MB: {_rss(site.worker_rss_mb())}")
            time.sleep(1)
            print(f"  {consistency(site, [pk for recorder in recorders for pk in recorder.ids])}")
        finally:
            site.stop()
            chat_server.stop()


def measure_load(site, token, photos, args, seconds) -> list:
    own = upload_cpu_alone(site, token, len(photos) * 10)
    print(
        f"alone: {own:.1f} ms of CPU an upload, the same uploads one at a time in one process through Django's "
        "handler (the uploading thread's CPU time: no server, no other thread)"
    )
    one_client = run_clients(site, token, photos, 1, args.alone_seconds)
    report("one client", one_client, args.alone_seconds, 1)
    loaded = run_clients(site, token, photos, args.clients, seconds)
    report("load", loaded, seconds, args.clients)
    ratio = loaded.server_cpu_ms_per_upload / own
    verdict = "met" if ratio <= CPU_RATIO_ALLOWED else "NOT met"
    print(f"  server CPU an upload under load / alone: {ratio:.2f}x (target at most {CPU_RATIO_ALLOWED}x: {verdict})")
    return [one_client, loaded]


UPLOADS_ALONE = """
import sys, time
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from bench.bench_load import sample_photos
token, count = sys.argv[1], int(sys.argv[2])
photos = sample_photos()
client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
def upload(index):
    name, data = photos[index % len(photos)]
    response = client.post("/api/v1/predictions", {"image": SimpleUploadedFile(name, data, "image/jpeg")})
    assert response.status_code == 201, response.content[:300]
for index in range(len(photos)):
    upload(index)
started = time.thread_time()
for index in range(count):
    upload(index)
print(1000 * (time.thread_time() - started) / count)
"""


def upload_cpu_alone(site, token, count: int) -> float:
    """Milliseconds of CPU an upload takes by itself: the bench's photos in turn through the whole upload path
    (Django's middleware, the token check, the API view, the networks, the record and the file, on the site's own
    database and media folder), one at a time on one thread of one process, counted on that thread alone."""
    result = subprocess.run(
        [PYTHON, "-c", UPLOADS_ALONE, token, str(count)],
        env=site.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(result.stdout.split()[-1])


def measure_soak(site, token, photos, args, seconds) -> Recorder:
    rate = args.rate or 0.5 * measure_maximum(site, token, photos, args.clients)
    before = site.worker_rss_mb()
    recorder = run_clients(site, token, photos, args.clients, seconds, rate=rate)
    after = site.worker_rss_mb()
    report(f"soak at {rate:.1f} uploads/s", recorder, seconds, args.clients)
    print(f"  worker RSS MB at start {_rss(before)}, at end {_rss(after)}")
    shared = [pid for pid in before if pid in after]
    growth = [100 * (after[pid] / before[pid] - 1) for pid in shared]
    shown = ", ".join(f"{value:+.1f}%" for value in growth) or "none (all recycled)"
    print(f"  growth of workers alive throughout: {shown}")
    return recorder


def measure_profile(site, token, photos, args, seconds, scratch: Path) -> Recorder:
    """N clients upload while py-spy samples the first worker for most of the time."""
    worker = site.worker_pids()[0]
    result = {}
    clients = threading.Thread(
        target=lambda: result.update(recorder=run_clients(site, token, photos, args.clients, seconds + 4))
    )
    clients.start()
    time.sleep(2)
    raw = worker_profile.record(worker, seconds, scratch / "worker.txt")
    clients.join()
    report("load while profiling", result["recorder"], seconds + 4, args.clients)
    print(f"worker {worker}, {seconds:.0f} s of py-spy samples (native frames) under that load:")
    worker_profile.print_breakdown(worker_profile.breakdown(raw))
    return result["recorder"]


def measure_chat_under_load(site, token, photos, args, chat_server) -> Recorder:
    """Chat answers, one after another, while N clients upload: how soon each one's first piece arrives."""
    browser = ChatBrowser(site.port)
    timings = []
    result = {}
    clients = threading.Thread(
        target=lambda: result.update(recorder=run_clients(site, token, photos, args.clients, args.chat_seconds))
    )
    clients.start()
    time.sleep(1)
    deadline = time.monotonic() + args.chat_seconds - 3
    while time.monotonic() < deadline:
        chat_server.then(stream(*(f"piece {index} " for index in range(40)), delay=0.05))
        timings.append(browser.ask("Which classes does the site know?"))
    clients.join()
    report("load with chat", result["recorder"], args.chat_seconds, args.clients)
    first = sorted(timing["first_piece"] for timing in timings)
    worst = first[-1]
    verdict = "met" if worst <= CHAT_FIRST_PIECE_ALLOWED else "NOT met"
    print(
        f"  chat meanwhile: {len(timings)} answers of {timings[0]['pieces']} pieces; first piece after "
        f"p50 {1000 * first[len(first) // 2]:.0f} ms, at worst {1000 * worst:.0f} ms "
        f"(target within {CHAT_FIRST_PIECE_ALLOWED:.0f} s: {verdict}); longest gap between pieces "
        f"{1000 * max(timing['longest_gap'] for timing in timings):.0f} ms"
    )
    return result["recorder"]


class ChatBrowser:
    """A signed-in browser's chat requests: the login form, then messages sent as the chat page's script sends
    them, reading the answer's server-sent events as they stream."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        form = self._csrf_token("/accounts/login/")
        self._post("/accounts/login/", {"username": "load", "password": PASSWORD, "csrfmiddlewaretoken": form})
        self.token = self._csrf_token("/chat/")

    def ask(self, content: str) -> dict:
        """Send a message; seconds until the answer's first piece, its pieces and the longest wait between them."""
        started = time.perf_counter()
        response = self._post(
            "/chat/send/",
            {"content": content, "csrfmiddlewaretoken": self.token},
            {"Accept": "text/event-stream"},
        )
        first_piece, pieces, last, longest_gap = None, 0, None, 0.0
        for line in response:
            if line.startswith(b"event: delta"):
                now = time.perf_counter()
                first_piece = first_piece if first_piece is not None else now - started
                longest_gap = max(longest_gap, now - last) if last else 0.0
                last, pieces = now, pieces + 1
            elif line.startswith(b"event: error"):
                raise SystemExit(f"the chat answered with an error: {response.read()[:300]!r}")
        if first_piece is None:
            raise SystemExit("the chat answer streamed no piece")
        return {"first_piece": first_piece, "pieces": pieces, "longest_gap": longest_gap}

    def _csrf_token(self, path: str) -> str:
        page = self.opener.open(self.base + path, timeout=30).read().decode()
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def _post(self, path: str, fields: dict, headers: dict | None = None):
        request = urllib.request.Request(
            self.base + path, urllib.parse.urlencode(fields).encode(), {"Referer": self.base + path, **(headers or {})}
        )
        return self.opener.open(request, timeout=60)


def measure_maximum(site, token, photos, clients) -> float:
    recorder = run_clients(site, token, photos, clients, 20)
    maximum = len(recorder.latencies) / 20
    print(f"maximum (20 s at {clients} clients): {maximum:.1f} uploads/s")
    return maximum


def _rss(sizes):
    return ", ".join(f"{size:.0f}" for size in sizes.values())


if __name__ == "__main__":
    main()
