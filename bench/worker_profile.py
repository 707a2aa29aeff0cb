"""Where a gunicorn worker's time goes, from a py-spy sampling profile taken with native frames.

py-spy samples every thread of the worker, including threads that are only waiting. A sample is a wait when the
thread sits in a blocking call under its innermost Python frame: for the GIL (the thread has finished some native
work and wants back in), for SQLite's write lock (its busy handler sleeps), or for work (idle). Every other sample
is CPU, put in the first category that one of its frames names, from the innermost frame out.
"""

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (category, the frame texts that name it); a frame is "function (file:line)" or "symbol (library)".
CPU_CATEGORIES = [
    ("networks (LiteRT invoke, tensors in and out)", ("Interpreter.", "xnn_", "tflite", "Expert._forward")),
    ("resizing", ("resize_pixels", "_resize (mlcore", "Image.resize", "square (mlcore", "Expert.sized")),
    ("decoding and orienting", ("open_image", "upright_rgb", "inspect_image", "ImageFile.load", "exif_transpose")),
    ("stored model-input image (WebP)", ("squares_image",)),
    ("stored copy without location data", ("without_location",)),
    ("hashing", ("sha256", "hexdigest")),
    ("scores, rule, none-of-the-ten", ("mlcore/scores.py", "mlcore/rule.py", "mlcore/inference.py")),
    ("file storage", ("files/storage", "_store_file", "django/core/files")),
    ("database", ("django/db/", "sqlite3", "psycopg")),
    ("request body (multipart)", ("multipartparser", "uploadhandler")),
    ("Django (middleware, view, JSON)", ("django/", "classifier/", "classifier_site/", "csp/", "whitenoise/")),
    ("gunicorn (HTTP, sockets, threads)", ("gunicorn/", "concurrent/futures", "socket.py", "selectors.py")),
]
OTHER = "other"
WAIT_FOR_GIL = "waiting for the GIL"
WAIT_FOR_SQLITE = "waiting for SQLite's write lock"
IDLE = "idle (waiting for a request or a lock)"
IDLE_CALLS = ("PyThread_acquire_lock", "epoll_wait", "sem_wait", "sem_timedwait", "sem_clockwait", "nanosleep")
GIL_WAIT_CALLS = ("pthread_cond_timedwait", "pthread_cond_wait")  # how CPython 3.11 waits in take_gil


def record(pid: int, seconds: float, out: Path, rate: int = 100) -> Path:
    """Sample the process `pid` and its threads for `seconds`, with native frames; py-spy's raw (collapsed) output."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate)]
    command += ["--native", "--format", "raw", "--output", str(out)]  # native frames need the process paused
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"py-spy failed: {result.stderr.strip()[-500:]}")
    return out


def kind_of_sample(frames: list[str]) -> str:
    """The category of one sampled stack (outermost frame first)."""
    innermost_python = max((i for i, frame in enumerate(frames) if ".py:" in frame), default=-1)
    native_below = frames[innermost_python + 1 :]
    if any("sqlite3InvokeBusyHandler" in frame for frame in native_below):
        return WAIT_FOR_SQLITE
    if any(call in frame for frame in native_below for call in IDLE_CALLS):
        return IDLE
    if any(call in frame for frame in native_below for call in GIL_WAIT_CALLS):
        return WAIT_FOR_GIL
    for frame in reversed(frames):
        for category, names in CPU_CATEGORIES:
            if any(name in frame for name in names):
                return category
    return OTHER


def breakdown(raw: Path) -> Counter:
    """Samples per category in a py-spy raw profile."""
    counts = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            counts[kind_of_sample(stack.split(";"))] += int(count)
    return counts


def print_breakdown(counts: Counter) -> None:
    waits = {WAIT_FOR_GIL, WAIT_FOR_SQLITE, IDLE}
    cpu = sum(count for category, count in counts.items() if category not in waits)
    print(f"  CPU samples of the worker's threads by what they ran ({cpu} samples):")
    for category, count in counts.most_common():
        if category not in waits:
            print(f"    {100 * count / max(1, cpu):5.1f}%  {category}")
    print("  threads waiting, in samples per CPU sample:")
    for category in (WAIT_FOR_GIL, WAIT_FOR_SQLITE, IDLE):
        print(f"    {counts[category] / max(1, cpu):5.2f}  {category}")
