"""The public-site check (`make public-check`; docs/deploying.md, "Security"): the site as an attacker and its
users meet it.

Starts the production server (deploy/start.sh, gunicorn with two workers) on 127.0.0.1 with a fresh SQLite
database, behind no proxy but trusting 127.0.0.1 as one (DJANGO_TRUSTED_PROXIES), so that X-Forwarded-For plays the
part of the addresses nginx would append. First with small limits (UPLOADS_PER_HOUR=5, UPLOAD_QUOTA_MB=1):

- weak passwords are refused at sign-up and a strong one accepted;
- six wrong passwords from one address lock that address out, even when it sends another address first, while the
  user still logs in from their own;
- the sixth upload in an hour is a 429 with Retry-After and a JSON error, while another user still uploads;
- 300 KB photos are refused once the 1 MB quota is full, and the refused one is never listed.

Then with the default limits: 60 uploads, four of them named like spreadsheet formulas; the list of 100 with heat
maps (its time printed; it makes none); the admin's CSV export of the formula names (no cell starts with = + - @);
and twelve concurrent thumbnail requests for a 7000x7000 PNG (the workers' memory growth printed and checked).
Prints each check as `ok   ...` and exits 1 at the first that fails.
"""

import csv
import io
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from deploy.scale_check import (  # noqa: E402  (the scale check's HTTP client and process handling)
    CheckFailed,
    Client,
    Process,
    api_token,
    check,
    cpu_model,
    free_port,
    healthz,
    ok,
    wait_until,
)

PASSWORD = "correct horse battery staple"
ATTACKER, USER_ADDRESS = "203.0.113.5", "198.51.100.7"
FORMULA_NAMES = ['=HYPERLINK("example.invalid","x").jpg', "@SUM(1+1).jpg", "-2+3.jpg", "+cmd.jpg"]
MEMORY_LIMIT_MB = 400  # what twelve thumbnail requests may add to the workers, in all


def photo(size=(64, 48), seed=0, quality=90) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


def photo_of_about(kilobytes: int, seed: int) -> bytes:
    """A noisy JPEG of about `kilobytes` (noise compresses badly, so its size follows its area)."""
    side = 64
    while len(data := photo((side, side), seed)) < kilobytes * 1024:
        side += 32
    return data


def single_colour_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (40, 120, 200)).save(out, "PNG")
    return out.getvalue()


class Site:
    """One production server with its own database and media folder; `settings` are its environment's extras."""

    def __init__(self, work: Path, name: str, **settings):
        self.port = free_port()
        folder = work / name
        folder.mkdir()
        env = (
            dict(os.environ)
            | {
                "DJANGO_SETTINGS_MODULE": "classifier_site.settings.production",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                "DJANGO_SECURE_SSL_REDIRECT": "0",
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
                "DJANGO_TRUSTED_PROXIES": "127.0.0.1",
                "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
                "MEDIA_ROOT": str(folder / "media"),
                "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
                "RUN_MIGRATIONS": "1",
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "WEB_CONCURRENCY": "2",
                "PYTHON": sys.executable,
            }
            | settings
        )
        self.env = env
        self.server = Process(name, [str(ROOT / "deploy" / "start.sh")], env, folder / "server.log")
        started = time.monotonic()
        wait_until(lambda: healthz(self.port), name, self.server)
        limits = ", ".join(f"{key}={value}" for key, value in settings.items()) or "the default limits"
        ok(
            f"{name}: production server on 127.0.0.1:{self.port} with {limits}, "
            f"up in {time.monotonic() - started:.0f} s"
        )

    def client(self, token="") -> Client:
        return Client(self.port, token)

    def sign_up(self, username: str, password: str = PASSWORD):
        person = self.client()
        fields = {"username": username, "email": "", "password1": password, "password2": password}
        return person, person.submit("/accounts/signup/", fields)

    def api(self, username: str) -> Client:
        person, signed_up = self.sign_up(username)
        check(signed_up.status == 302, f"sign-up of {username} answered {signed_up.status}")
        return self.client(api_token(person))

    def workers_rss_mb(self) -> float:
        """The resident memory of the gunicorn workers (the children of the process start.sh became), in MB."""
        master = self.server.popen.pid
        total = 0
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:  # a process that has just ended
                continue
            if int(re.search(r"PPid:\s+(\d+)", text)[1]) == master:
                total += int(re.search(r"VmRSS:\s+(\d+) kB", text)[1])
        return total / 1024

    def stop(self) -> None:
        self.server.stop()


def upload(api: Client, *files):
    return api.request("POST", "/api/v1/predictions", files=[("image", name, data) for name, data in files])


def listed_names(api: Client) -> list:
    listing = api.request("GET", "/api/v1/predictions?page_size=100")
    return [item["original_name"] for item in json.loads(listing.body)["predictions"]]


# --- with small limits ---------------------------------------------------------------------------------------


def passwords(site: Site) -> None:
    for weak in ("a", "password123"):
        _, refused = site.sign_up(f"weak-{len(weak)}", weak)
        check(refused.status == 400, f"sign-up with the password {weak!r} answered {refused.status}")
    _, accepted = site.sign_up("strong", PASSWORD)
    check(accepted.status == 302, f"sign-up with a strong password answered {accepted.status}")
    ok("sign-up refuses the passwords 'a' and 'password123' (400) and accepts a strong one")


def lock_out_only_the_attacker(site: Site) -> None:
    _, signed_up = site.sign_up("victim")
    check(signed_up.status == 302, f"sign-up of victim answered {signed_up.status}")
    attacker = site.client()
    token = attacker.csrf_token("/accounts/login/")

    def log_in(password, forwarded_for, client=attacker, csrf=token):
        fields = {"csrfmiddlewaretoken": csrf, "username": "victim", "password": password}
        headers = {"X-Forwarded-For": forwarded_for}
        return client.request("POST", "/accounts/login/", fields=fields, headers=headers).status

    statuses = [log_in("wrong password", ATTACKER) for _ in range(6)]
    check(statuses[-1] == 429, f"six wrong passwords answered {statuses}")
    check(log_in(PASSWORD, ATTACKER) == 429, "the attacker's address was not locked out")
    spoofed = log_in(PASSWORD, f"{USER_ADDRESS}, {ATTACKER}")
    check(spoofed == 429, f"the attacker sending the user's address first answered {spoofed}")
    user = site.client()
    own = log_in(PASSWORD, USER_ADDRESS, client=user, csrf=user.csrf_token("/accounts/login/"))
    check(own == 302, f"the user logging in from {USER_ADDRESS} answered {own}")
    ok(
        f"six wrong passwords from {ATTACKER} lock that address out (429, also with {USER_ADDRESS} sent first); "
        f"the user still logs in from {USER_ADDRESS}"
    )


def upload_rate(site: Site) -> None:
    api = site.api("uploader")
    statuses = [upload(api, (f"{n}.jpg", photo(seed=n))).status for n in range(5)]
    check(statuses == [201] * 5, f"the first five uploads answered {statuses}")
    refused = upload(api, ("sixth.jpg", photo(seed=6)))
    body = json.loads(refused.body)
    check(refused.status == 429, f"the sixth upload answered {refused.status}")
    check(int(refused.headers.get("retry-after", "0")) > 0, "the 429 has no Retry-After")
    check("error" in body, f"the 429 has no JSON error: {refused.text[:200]}")
    check("sixth.jpg" not in listed_names(api), "the refused upload is listed")
    other = upload(site.api("neighbour"), ("mine.jpg", photo(seed=7)))
    check(other.status == 201, f"another user's upload answered {other.status}")
    ok(
        f"UPLOADS_PER_HOUR=5: the sixth upload is 429 (Retry-After {refused.headers['retry-after']} s, "
        f"{body['error']!r}); another user still uploads"
    )


def upload_quota(site: Site) -> None:
    api = site.api("saver")
    photos = [photo_of_about(300, seed) for seed in range(10, 14)]
    statuses = [upload(api, (f"big-{n}.jpg", data)).status for n, data in enumerate(photos)]
    stored = statuses.count(201)
    check(statuses[:stored] == [201] * stored and 1 <= stored <= 4, f"the 300 KB uploads answered {statuses}")
    refused = upload(api, ("over.jpg", photos[0]))
    check(400 <= refused.status < 500 and "error" in json.loads(refused.body), f"over quota: {refused.status}")
    check("over.jpg" not in listed_names(api), "the refused upload is listed")
    ok(
        f"UPLOAD_QUOTA_MB=1: {stored} photos of {len(photos[0]) // 1024} KB stored, then {refused.status} with "
        f"{json.loads(refused.body)['error']!r}; the refused one is not listed"
    )


# --- with the default limits ---------------------------------------------------------------------------------


def list_with_heat_maps(site: Site, api: Client) -> None:
    names = [*FORMULA_NAMES, *(f"photo-{n}.jpg" for n in range(56))]
    for first in range(0, len(names), 20):
        batch = [(name, photo(seed=100 + first + n)) for n, name in enumerate(names[first : first + 20])]
        created = upload(api, *batch)
        check(created.status == 201, f"uploading 20 photos answered {created.status}")
    started = time.monotonic()
    listing = api.request("GET", "/api/v1/predictions?explain=1&page_size=100")
    seconds = time.monotonic() - started
    items = json.loads(listing.body)["predictions"]
    check(listing.status == 200 and len(items) == 60, f"the list answered {listing.status} with {len(items)} items")
    check(all(item["heat_map"]["cells"] is None for item in items), "the list made heat maps")
    check(all(item["heat_map_url"].endswith("?explain=1") for item in items), "an item has no heat_map_url")
    one = json.loads(api.request("GET", items[0]["heat_map_url"].split(str(site.port), 1)[1]).body)
    check(one["heat_map"]["cells"], "an item's heat_map_url gave no heat map")
    ok(
        f"after 60 uploads, GET /api/v1/predictions?explain=1&page_size=100 answered in {seconds:.2f} s, "
        "making no heat map"
    )


def csv_without_formulas(site: Site) -> None:
    manage = [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "root", "--email", ""]
    env = site.env | {"DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    made = subprocess.run(manage, env=env, cwd=ROOT, capture_output=True, text=True)
    check(made.returncode == 0, f"createsuperuser failed: {made.stderr[-500:]}")
    staff = site.client()
    logged_in = staff.submit("/admin/login/", {"username": "root", "password": PASSWORD, "next": "/admin/"})
    check(logged_in.status == 302, f"the admin log-in answered {logged_in.status}")
    changelist = staff.request("GET", "/admin/classifier/prediction/")
    first = re.search(r'name="_selected_action" value="(\d+)"', changelist.text)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', changelist.text)
    check(changelist.status == 200 and first and token, f"the admin's prediction list answered {changelist.status}")
    # "Select all": the action runs on every prediction the list holds, as a reviewer exporting them all would.
    fields = {"csrfmiddlewaretoken": token[1], "action": "export_csv", "index": "0", "select_across": "1"}
    exported = staff.request("POST", "/admin/classifier/prediction/", fields=fields | {"_selected_action": first[1]})
    check(exported.status == 200 and "text/csv" in exported.headers.get("content-type", ""), "no CSV came back")
    rows = list(csv.reader(io.StringIO(exported.body.decode("utf-8-sig"))))
    cells = [cell for row in rows[1:] for cell in row]
    names = [row[rows[0].index("original_name")] for row in rows[1:]]
    check(all(f"'{name}" in names for name in FORMULA_NAMES), f"the formula names are not all exported: {names}")
    risky = [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    check(not risky, f"cells that a spreadsheet would run: {risky}")
    ok(f"the admin's CSV export of {len(rows) - 1} predictions: the formula names start with ', no cell with = + - @")


def thumbnails_memory(site: Site, api: Client) -> None:
    big = single_colour_png(7000)
    created = upload(api, ("huge-single-colour.png", big))
    check(created.status == 201, f"the 7000x7000 PNG upload answered {created.status}: {created.text[:200]}")
    pk = json.loads(created.body)["predictions"][0]["id"]
    before = site.workers_rss_mb()
    answers = []

    def fetch():
        answers.append(api.request("GET", f"/predictions/{pk}/image?size=thumbnail"))

    threads = [threading.Thread(target=fetch) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    grown = site.workers_rss_mb() - before
    check([answer.status for answer in answers] == [200] * 12, "a thumbnail request failed")
    cache = answers[0].headers.get("cache-control", "")
    check({"private", "no-cache"} <= set(cache.split(", ")), f"thumbnails are sent Cache-Control: {cache}")
    check(grown < MEMORY_LIMIT_MB, f"twelve thumbnail requests grew the workers by {grown:.0f} MB")
    ok(
        f"twelve concurrent thumbnails of a 7000x7000 PNG ({len(big) // 1024} KB) grew the two workers by "
        f"{grown:.0f} MB (limit {MEMORY_LIMIT_MB}); sent Cache-Control: {cache}"
    )


def main() -> int:
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="public-check-") as work:
        sites = []
        try:
            small = Site(Path(work), "small-limits", UPLOADS_PER_HOUR="5", UPLOAD_QUOTA_MB="1")
            sites.append(small)
            passwords(small)
            lock_out_only_the_attacker(small)
            upload_rate(small)
            upload_quota(small)
            small.stop()
            default = Site(Path(work), "default-limits")
            sites.append(default)
            api = default.api("lister")
            list_with_heat_maps(default, api)
            csv_without_formulas(default)
            thumbnails_memory(default, api)
        except CheckFailed as failure:
            print(f"FAIL: {failure}", file=sys.stderr)
            for site in sites:
                print(f"--- last lines of {site.server.name}'s log ---\n{site.server.tail()}", file=sys.stderr)
            return 1
        finally:
            for site in sites:
                site.stop()
    print(
        f"public-check: all checks passed in {time.monotonic() - begun:.0f} s on {cpu_model()}, {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
