"""Fuzz target: the backup import (`classifier.backup.backup_import`), any file in -> restored, or BackupError and
nothing changed.

The first byte chooses how the rest reaches the importer: even, written as it is (a plain tar, a .tar.gz or
anything else); odd, gzip-compressed first, so that mutations of an archive's contents still pass the gzip layer.
Before the run the site holds what the seed archive `site-plain.tar` restores (users, a prediction with its image,
a conversation), so imports meet rows and files that are already there.

The documented rejection is BackupError. A crash is any other exception; a BackupError after which any row or
stored file differs from before the import (an import is all or nothing); or a successful import that changed or
removed any row or file that was already saved. What a successful import adds is deleted again after it.
"""

import gzip
import hashlib
from pathlib import Path

import harness

harness.start_django(database=True)

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from chat.models import Conversation, Message  # noqa: E402
from classifier.backup import BackupError, backup_import  # noqa: E402
from classifier.models import Prediction  # noqa: E402

MODELS = (Message, Conversation, Prediction, get_user_model())  # in the order that deletes cleanly
ARCHIVE = harness.SCRATCH / "fuzzed-archive"


def site_state() -> dict:
    """Every row of the backed-up models, and every stored file's SHA-256."""
    rows = {model.__name__: {row["id"]: row for row in model.objects.values()} for model in MODELS}
    media = Path(settings.MEDIA_ROOT)
    files = {str(path.relative_to(media)): hashlib.sha256(path.read_bytes()).hexdigest() for path in _files(media)}
    return {"rows": rows, "files": files}


def _files(folder: Path):
    return (path for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else ()


def kept(before: dict, after: dict) -> bool:
    """Whether every row and file of `before` is in `after`, unchanged."""
    tables = before["rows"].items()
    rows = all(after["rows"][name].get(pk) == row for name, table in tables for pk, row in table.items())
    return rows and all(after["files"].get(name) == digest for name, digest in before["files"].items())


def restore_baseline(before: dict) -> None:
    """Delete every row and file that was not there before (what a successful import added)."""
    for model in MODELS:
        model.objects.exclude(pk__in=before["rows"][model.__name__]).delete()
    media = Path(settings.MEDIA_ROOT)
    for path in _files(media):
        if str(path.relative_to(media)) not in before["files"]:
            path.unlink()


def _write_archive(data: bytes) -> None:
    mode, content = (data[0], data[1:]) if data else (0, b"")
    ARCHIVE.write_bytes(gzip.compress(content, compresslevel=1, mtime=0) if mode % 2 else content)


def _seed_the_site() -> dict:
    seed = (harness.ROOT / "fuzz" / "corpus" / "backup_import" / "site-plain.tar").read_bytes()
    _write_archive(seed)
    backup_import(path=ARCHIVE)
    return site_state()


BASELINE = _seed_the_site()


def test_one_input(data: bytes) -> None:
    _write_archive(data)
    try:
        backup_import(path=ARCHIVE)
    except BackupError as error:
        if site_state() != BASELINE:
            raise AssertionError(f"a failed import ({error}) left rows or files behind") from error
        return
    if not kept(BASELINE, site_state()):
        raise AssertionError("an import changed or removed a row or a file that was already saved")
    restore_baseline(BASELINE)


if __name__ == "__main__":
    harness.fuzz(test_one_input)
