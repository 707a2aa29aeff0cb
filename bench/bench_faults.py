"""Fault drills against the site under gunicorn on 127.0.0.1; prints what happened in each.

    python bench/bench_faults.py [--only NAME ...]

- worker-killed: a worker is killed (SIGKILL) while 4 clients upload; gunicorn starts a new one; then every record
  has its file, and `manage.py sweep_uploads` removes any file whose request died before its record was saved;
- bad-bundle: the site starts with the model bundle missing, then with a network of it corrupt: a clear log line,
  /healthz 503, pages say the classifier is unavailable, the API answers 503, nothing answers 500;
- database-away: the SQLite database's folder disappears under a running site, then comes back: 503 pages
  meanwhile, then it recovers by itself;
- disk-full: media on a tiny file system (needs root): uploads get a clear 507 and leave no partial files;
- reload: `kill -HUP` twice while 4 clients upload: no request fails.
"""

import argparse
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_load import Site, consistency, run_clients, sample_photos, upload  # noqa: E402
from bench.bench_model import cpu_name  # noqa: E402


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except OSError as error:
        return 0, repr(error)
    finally:
        connection.close()


def during(action, after_seconds, clients_run):
    """Run `action` after a delay while `clients_run` runs; return what clients_run returns."""
    timer = threading.Timer(after_seconds, action)
    timer.start()
    try:
        return clients_run()
    finally:
        timer.join()


def worker_killed(scratch, photos):
    site = Site(scratch)
    token = site.prepare()
    site.start()
    try:
        workers = site.worker_pids()
        victim = workers[0]
        recorder = during(lambda: os.kill(victim, signal.SIGKILL), 5, lambda: run_clients(site, token, photos, 4, 15))
        time.sleep(2)
        replaced = victim not in site.worker_pids() and len(site.worker_pids()) == len(workers)
        before = consistency(site, recorder.ids)
        sweep = subprocess.run(
            [sys.executable, "manage.py", "sweep_uploads", "--older-than", "0"],
            env=site.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        after = consistency(site, recorder.ids)
        errors = len(recorder.latencies) - recorder.statuses.get(201, 0)
        print(f"worker-killed: {len(recorder.latencies)} uploads, {errors} failed (requests on the killed worker)")
        print(f"  worker replaced: {replaced}; workers now {site.worker_pids()}")
        print(f"  before the sweep: {before}")
        print(f"  sweep: {sweep.stdout.strip() or sweep.stderr.strip()}")
        print(f"  after the sweep: {after}")
    finally:
        site.stop()


def bad_bundle(scratch, photos):
    corrupt = scratch / "corrupt-bundle"
    shutil.copytree(ROOT / "models" / "cifar10", corrupt)
    tflite = sorted(corrupt.rglob("model.tflite"))[0]  # a bundle of one network, or its first expert's
    tflite.write_bytes(tflite.read_bytes()[:1000])
    for label, model_dir in (("missing", scratch / "no-such-bundle"), ("corrupt", corrupt)):
        folder = scratch / label
        folder.mkdir()
        site = Site(folder)
        site.env["MODEL_DIR"] = str(model_dir)
        token = site.prepare()
        log = folder / "gunicorn.log"
        site.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "classifier_site.wsgi"],
            env=site.env,
            cwd=ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(100):
                status, _ = get(site.port, "/healthz")
                if status:
                    break
                time.sleep(0.2)
            health, health_body = get(site.port, "/healthz")
            home, home_page = get(site.port, "/")
            api_status, _, api_body = upload(site.port, token, *photos[0])
            lines = [line for line in log.read_text().splitlines() if "cannot be loaded" in line]
            print(
                f"bad-bundle ({label}): /healthz {health}, / {home} (says unavailable: "
                f"{'unavailable' in home_page}), API upload {api_status} {api_body[:90]!r}"
            )
            print(f"  log: {lines[0][:160] if lines else 'NO LOG LINE'}")
        finally:
            site.stop()


def database_away(scratch, photos):
    site = Site(scratch)
    database_dir = scratch / "database"
    database_dir.mkdir()
    site.database = database_dir / "db.sqlite3"
    site.env["DATABASE_URL"] = f"sqlite:///{site.database}"
    token = site.prepare()
    site.start()
    try:
        up = get(site.port, "/healthz")[0], upload(site.port, token, *photos[0])[0]
        database_dir.rename(scratch / "database-away")
        away_health = get(site.port, "/healthz")
        away_upload = upload(site.port, token, *photos[0])
        away_page = get(site.port, "/accounts/login/")
        (scratch / "database-away").rename(database_dir)
        back = get(site.port, "/healthz")[0], upload(site.port, token, *photos[0])[0]
        print(f"database-away: before /healthz and upload {up}")
        print(
            f"  while away: /healthz {away_health[0]}, upload {away_upload[0]} {away_upload[2][:80]!r}, "
            f"login page {away_page[0]} (no traceback: {'Traceback' not in away_page[1]})"
        )
        print(f"  back, with no restart: /healthz and upload {back}")
    finally:
        site.stop()


def disk_full(scratch, photos):
    site = Site(scratch)
    site.media.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(site.media)]).returncode != 0:
        print("disk-full: skipped (mounting a small file system needs root)")
        return
    try:
        token = site.prepare()
        site.start()
        try:
            statuses = {}
            for index in range(60):
                status, _, body = upload(site.port, token, *photos[index % len(photos)])
                statuses[status] = statuses.get(status, 0) + 1
                if status == 507:
                    refusal = body
            partial = consistency(site, [])
            print(f"disk-full: 60 uploads onto 256 KB of media: {statuses}")
            print(f"  refusal: {refusal[:160]!r}" if statuses.get(507) else "  no refusal seen")
            print(
                f"  files without a record: {partial['files_without_record']}, "
                f"records without a file: {partial['files_missing']}"
            )
        finally:
            site.stop()
    finally:
        subprocess.run(["umount", str(site.media)], check=True)


def reload_twice(scratch, photos):
    site = Site(scratch)
    token = site.prepare()
    site.start()
    try:

        def hup_twice():
            os.kill(site.process.pid, signal.SIGHUP)
            time.sleep(5)
            os.kill(site.process.pid, signal.SIGHUP)

        recorder = during(hup_twice, 3, lambda: run_clients(site, token, photos, 4, 15))
        errors = len(recorder.latencies) - recorder.statuses.get(201, 0)
        print(
            f"reload: kill -HUP twice under 4 clients: {len(recorder.latencies)} uploads, {errors} failed "
            f"{recorder.statuses}; p99 {recorder.percentile(0.99):.0f} ms"
        )
        for failure in recorder.failures:
            print("  e.g.", failure)
    finally:
        site.stop()


DRILLS = {
    "worker-killed": worker_killed,
    "bad-bundle": bad_bundle,
    "database-away": database_away,
    "disk-full": disk_full,
    "reload": reload_twice,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(DRILLS))
    args = parser.parse_args()
    photos = sample_photos()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; shipped gunicorn.conf.py; SQLite")
    for name in args.only or DRILLS:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as scratch:
            DRILLS[name](Path(scratch), photos)


if __name__ == "__main__":
    main()
