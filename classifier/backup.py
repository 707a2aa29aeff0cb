"""Backups: every user, prediction (with its image) and conversation in one .tar.gz, and back again.

The archive holds, in this order:

    manifest.json          {"format": "classifier-backup", "format_version": 1, "created_at", "counts"}
    users.jsonl            one user a line, the password hash included, so that accounts survive
                           (staff and superuser flags too, restored only when asked: --restore-staff)
    predictions.jsonl      one prediction a line: every field, `owner` and `reviewed_by` as usernames,
                           `model_input` in base64, and `id`, the prediction's id in the exported database
    conversations.jsonl    one conversation a line with its `messages`; `prediction` is an exported `id`
    files/<storage name>   each prediction's image, as stored, in the order of predictions.jsonl

The archive is written readable by its owner alone (mode 0600): it holds every password hash. API tokens are never
exported: they are secrets, and a restored site issues new ones.

An import adds what is missing and never overwrites anything. Users are matched by username and kept as they
are when present; a user it creates is staff or superuser only with `restore_staff` (an archive from elsewhere
must not hand out the admin). A prediction is already there when one with the same owner, SHA-256 and
created_at exists; a conversation when one with the same owner and created_at exists (its messages come with it
or not at all). So importing an archive twice, or into the site it came from, adds nothing the second time.

An import trusts the archive no more than an upload: each image goes through the upload's inspection
(classifier.images.inspect_image), so anything but an accepted image within the pixel limits fails the import, and
the bytes, never the archive, decide the stored content type and the file name's suffix.
"""

import base64
import datetime
import hashlib
import io
import json
import math
import os
import shutil
import tarfile
import tempfile
import zlib
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.utils import timezone

from classifier.images import ImageRejected, inspect_image
from classifier.models import Prediction
from classifier.storage import STORAGE_ERRORS

FORMAT = "classifier-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
USERS = "users.jsonl"
PREDICTIONS = "predictions.jsonl"
CONVERSATIONS = "conversations.jsonl"
# Fields renamed since archives of this format were first written, by (model, field): their old name in older ones.
FORMER_FIELD_NAMES = {("chat.conversation", "keeps_title"): "title_set_by_user"}
ROWS = (USERS, PREDICTIONS, CONVERSATIONS)
FILES = "files/"
STAFF_FLAGS = ("is_staff", "is_superuser")
# What a damaged or foreign archive raises while it is read; each becomes a BackupError.
UNREADABLE = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


class BackupError(Exception):
    """An export or import that cannot go on; the text is one line for the person running it."""


@dataclass
class ImportSummary:
    created: Counter = field(default_factory=Counter)
    already_there: Counter = field(default_factory=Counter)
    staff_dropped: list = field(default_factory=list)  # usernames created without the staff or superuser flag


# --- export ------------------------------------------------------------------------------------------------


def backup_export(*, path) -> dict:
    """Write the archive to `path`, through `path`.partial, so that a failed export leaves nothing at `path`.
    Both are readable by their owner alone, whatever the umask: the archive holds every password hash.

    Returns the counts written to the manifest.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} is not a folder.")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rows = {name: Path(scratch) / name for name in ROWS}
            counts, images = _dump_rows(rows)
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "created_at": timezone.now().isoformat(),
                "counts": counts,
            }
            with _owner_only(partial) as out, tarfile.open(partial, "w:gz", fileobj=out) as archive:
                manifest_bytes = json.dumps(manifest, indent=2).encode()
                _add_member(archive, MANIFEST, io.BytesIO(manifest_bytes), len(manifest_bytes))
                for name, rows_path in rows.items():
                    with rows_path.open("rb") as content:
                        _add_member(archive, name, content, rows_path.stat().st_size)
                for storage, name in images:
                    _add_stored_image(archive, storage, name)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return counts


def _owner_only(path: Path):
    """`path` opened for writing, mode 0600 before its first byte. A file left by an earlier export keeps its mode
    through os.open, hence the chmod; os.open's mode is the umask's to narrow, hence 0600 again."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "wb")


def _dump_rows(rows: dict) -> tuple[dict, list]:
    """Write the rows as JSON Lines to the files in `rows`; return the counts and the images, (storage, name)."""
    counts = Counter(users=0, predictions=0, images=0, conversations=0, messages=0)
    images = []
    # One snapshot, so that every reference in the archive points at a row that is in it.
    with transaction.atomic():
        with rows[USERS].open("w", encoding="utf-8") as out:
            for user in get_user_model().objects.order_by("pk").iterator():
                _write_line(out, _plain_fields(user))
                counts["users"] += 1
        with rows[PREDICTIONS].open("w", encoding="utf-8") as out:
            for prediction in Prediction.objects.select_related("owner", "reviewed_by").order_by("pk").iterator():
                reviewer = prediction.reviewed_by
                row = _plain_fields(prediction) | {
                    "id": prediction.pk,
                    "owner": prediction.owner.get_username(),
                    "reviewed_by": reviewer.get_username() if reviewer else None,
                }
                _write_line(out, row)
                counts["predictions"] += 1
                if prediction.image:
                    images.append((prediction.image.storage, prediction.image.name))
                    counts["images"] += 1
        with rows[CONVERSATIONS].open("w", encoding="utf-8") as out:
            for conversation in _conversations():
                row = _plain_fields(conversation) | {
                    "id": conversation.pk,
                    "owner": conversation.owner.get_username(),
                    "prediction": conversation.prediction_id,
                    "messages": [_plain_fields(message) for message in conversation.messages.order_by("pk")],
                }
                _write_line(out, row)
                counts["conversations"] += 1
                counts["messages"] += len(row["messages"])
    return dict(counts), images


def _conversations():
    if not apps.is_installed("chat"):
        return []
    return apps.get_model("chat", "Conversation").objects.select_related("owner").order_by("pk").iterator()


def _add_member(archive: tarfile.TarFile, name: str, content, size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(timezone.now().timestamp()), 0o644
    archive.addfile(info, content)  # copied a chunk at a time


def _add_stored_image(archive: tarfile.TarFile, storage, name: str) -> None:
    """Stream one stored file into the archive through the storage API (it may be S3: no paths)."""
    try:
        size = storage.size(name)
        content = storage.open(name, "rb")
    except STORAGE_ERRORS as error:
        raise BackupError(f"The image {name} cannot be read from storage ({error.__class__.__name__}).") from error
    with content:
        _add_member(archive, FILES + name, content, size)


# --- import ------------------------------------------------------------------------------------------------


def backup_import(*, path, restore_staff: bool = False) -> ImportSummary:
    """Restore an archive made by backup_export: all of it, or on any error nothing (files included).

    Users it creates get the archive's staff and superuser flags only with `restore_staff`; without, both are
    False and their usernames are in the summary's `staff_dropped`.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file.")
    with ExitStack() as stack:
        try:
            archive = stack.enter_context(tarfile.open(path, "r:*"))
        except UNREADABLE as error:
            raise BackupError(f"{path} is not a backup archive (a .tar.gz made by export_backup).") from error
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        manifest = _read_manifest(archive, path)
        rows = {name: _extract(archive, name, scratch) for name in ROWS}
        restore = _Restore(archive, rows, manifest["counts"], restore_staff=restore_staff)
        try:
            with transaction.atomic():
                restore.run()
        except BaseException:
            restore.remove_written_files()
            raise
    return restore.summary


def _json(text) -> object:
    """JSON as export_backup writes it: finite numbers only. Python's reader would take NaN, Infinity and a
    number too large for a float (1e999 becomes inf), which no database's JSON column stores."""
    return json.loads(text, parse_constant=_not_a_number, parse_float=_finite)


def _not_a_number(text: str):
    raise ValueError(f"{text} is not a number JSON allows")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large")
    return number


def _read_manifest(archive: tarfile.TarFile, path: Path) -> dict:
    """The first member, checked; reading it needs no scan of a possibly large, possibly foreign archive."""
    try:
        first = archive.next()
        is_manifest = first is not None and first.name == MANIFEST and first.isfile()
        manifest = _json(archive.extractfile(first).read()) if is_manifest else None
    except UNREADABLE as error:
        raise BackupError(_one_line(f"{path} is damaged: {error}")) from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a backup made by export_backup (it does not start with its {MANIFEST}).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is in backup format version {manifest.get('format_version')!r}; "
            f"this site reads version {FORMAT_VERSION}."
        )
    if not isinstance(manifest.get("counts"), dict):
        raise BackupError(f"{path} has a {MANIFEST} without counts.")
    return manifest


def _member(archive: tarfile.TarFile, name: str):
    try:
        content = archive.extractfile(name)
    except KeyError:
        raise BackupError(f"The archive has no {name}.") from None
    except UNREADABLE as error:
        raise BackupError(_one_line(f"The archive is damaged: {error}")) from error
    if content is None:
        raise BackupError(f"{name} in the archive is not a file.")
    return content


def _extract(archive: tarfile.TarFile, name: str, scratch: Path) -> Path:
    """Copy a rows member out first: reading it while images are read would rewind the gzip stream each time."""
    target = scratch / name
    try:
        with _member(archive, name) as content, target.open("wb") as out:
            shutil.copyfileobj(content, out)
    except UNREADABLE as error:
        raise BackupError(_one_line(f"{name} in the archive is damaged: {error}")) from error
    return target


class _Restore:
    """One import: what it adds, and the files it wrote, to take back if it fails."""

    def __init__(self, archive: tarfile.TarFile, rows: dict, counts: dict, *, restore_staff: bool):
        self.archive = archive
        self.rows = rows
        self.counts = counts
        self.restore_staff = restore_staff
        self.summary = ImportSummary()
        self.image_field = Prediction._meta.get_field("image")
        self.written_files = []
        self.users = {}  # username -> user
        self.predictions = {}  # exported id -> prediction

    def run(self) -> None:
        for row in self._read_rows(USERS, "users"):
            self._restore_user(row)
        for row in self._read_rows(PREDICTIONS, "predictions"):
            self._restore_prediction(row)
        if self.counts.get("conversations") and not apps.is_installed("chat"):
            raise BackupError("The archive has conversations, but the chat app is not installed here.")
        for row in self._read_rows(CONVERSATIONS, "conversations"):
            self._restore_conversation(row)

    def remove_written_files(self) -> None:
        for name in self.written_files:
            self.image_field.storage.delete(name)
        self.written_files.clear()

    def _read_rows(self, name: str, kind: str):
        """The rows of one member, one at a time; a count that differs from the manifest's fails the import."""
        count = 0
        with self.rows[name].open("rb") as lines:
            for line in lines:
                try:
                    row = _json(line)
                except ValueError as error:
                    raise BackupError(_one_line(f"{name} in the archive is damaged: {error}")) from error
                if not isinstance(row, dict):
                    raise BackupError(f"{name} in the archive is damaged: line {count + 1} is not an object.")
                count += 1
                yield row
        if count != self.counts.get(kind):
            raise BackupError(
                f"The archive is damaged: its manifest counts {self.counts.get(kind)} {kind}, {name} has {count}."
            )

    def _restore_user(self, row: dict) -> None:
        user_model = get_user_model()
        values = _values(user_model, row)
        username = values[user_model.USERNAME_FIELD]
        user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            granted = [flag for flag in STAFF_FLAGS if values.get(flag)]
            if granted and not self.restore_staff:
                values |= dict.fromkeys(granted, False)
                self.summary.staff_dropped.append(username)
            user = user_model.objects.create(**values)
            self.summary.created["users"] += 1
        else:
            self.summary.already_there["users"] += 1
        self.users[username] = user

    def _owner(self, row: dict, kind: str):
        """The user a prediction or conversation belongs to: every one has an owner."""
        if row.get("owner") is None:
            raise BackupError(f"An archived {kind} has no owner.")
        return self._user(row["owner"])

    def _user(self, username):
        if username is None:
            return None
        if not isinstance(username, str) or username not in self.users:
            raise BackupError(f"The archive refers to a user {username!r} that is not in it.")
        return self.users[username]

    def _restore_prediction(self, row: dict) -> None:
        values = _values(Prediction, row)
        owner = self._owner(row, "prediction")
        existing = Prediction.objects.filter(owner=owner, sha256=values["sha256"], created_at=values["created_at"])
        prediction = existing.first()
        if prediction is not None:
            self.summary.already_there["predictions"] += 1
        else:
            if values["image"]:
                values["image"], values["content_type"] = self._restore_image(values["image"])
                self.summary.created["images"] += 1
            prediction = Prediction.objects.create(
                owner=owner, reviewed_by=self._user(row.get("reviewed_by")), **values
            )
            self.summary.created["predictions"] += 1
        self.predictions[row.get("id")] = prediction

    def _restore_image(self, name: str) -> tuple[str, str]:
        """Save an archived image and return the name it is stored under and its content type, both decided by
        the upload's inspection of its bytes (the name keeps the archive's, with the detected format's suffix). An
        identical file already there is reused; a different one is never overwritten (the image gets a free name).
        """
        _check_storage_name(name)
        try:
            with _member(self.archive, FILES + name) as archived:
                data = archived.read()  # in memory, as an upload is: the inspection reads it whole
        except UNREADABLE as error:
            raise BackupError(_one_line(f"The image {name} in the archive is damaged: {error}")) from error
        try:
            inspected = inspect_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
        except ImageRejected as error:
            raise BackupError(_one_line(f"The image {name} in the archive is refused: {error}.")) from None
        name = str(PurePosixPath(name).with_suffix(inspected.suffix))
        storage = self.image_field.storage
        if storage.exists(name):
            with storage.open(name, "rb") as stored:
                if _sha256(stored) == hashlib.sha256(data).hexdigest():
                    return name, inspected.content_type
        saved = storage.save(name, ContentFile(data), max_length=self.image_field.max_length)
        self.written_files.append(saved)
        return saved, inspected.content_type

    def _restore_conversation(self, row: dict) -> None:
        conversation_model = apps.get_model("chat", "Conversation")
        message_model = apps.get_model("chat", "Message")
        values = _values(conversation_model, row)
        owner = self._owner(row, "conversation")
        if conversation_model.objects.filter(owner=owner, created_at=values["created_at"]).exists():
            self.summary.already_there["conversations"] += 1
            return
        prediction = None
        if row.get("prediction") is not None:
            if not isinstance(row["prediction"], int) or row["prediction"] not in self.predictions:
                raise BackupError(
                    f"A conversation refers to prediction {row['prediction']}, which is not in the archive."
                )
            prediction = self.predictions[row["prediction"]]
        if not isinstance(row.get("messages"), list):
            raise BackupError("An archived conversation has no list of messages.")
        conversation = conversation_model.objects.create(owner=owner, prediction=prediction, **values)
        messages = [message_model(conversation=conversation, **_values(message_model, m)) for m in row["messages"]]
        message_model.objects.bulk_create(messages)
        self.summary.created["conversations"] += 1
        self.summary.created["messages"] += len(messages)


# --- rows as JSON ------------------------------------------------------------------------------------------


def _columns(model) -> list:
    """Every stored field but the primary key, relations (written by hand, by natural key) and a prediction's
    copies of its photo (made again from the image the first time each is shown)."""
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key
        and not field.is_relation
        and not (model is Prediction and field.name in Prediction.COPIES)
    ]


def _plain_fields(instance) -> dict:
    return {field.name: _to_json(field, field.value_from_object(instance)) for field in _columns(type(instance))}


def _values(model, row: dict) -> dict:
    """The model's plain fields from an archived row, as Python values. A field added since the archive was written
    takes its default when it has one (or None where it may be empty); any other missing field is an error."""
    try:
        return {field.name: _from_json(field, _archived(field, row)) for field in _columns(model)}
    except KeyError as error:
        raise BackupError(f"An archived {model._meta.verbose_name} has no {error.args[0]!r}.") from None
    except (TypeError, ValueError, ValidationError) as error:
        raise BackupError(_one_line(f"An archived {model._meta.verbose_name} has a bad value: {error}")) from error


def _archived(field, row: dict):
    if field.name in row:
        return row[field.name]
    former_name = FORMER_FIELD_NAMES.get((field.model._meta.label_lower, field.name))
    if former_name is not None and former_name in row:
        return row[former_name]
    if field.has_default():
        return _to_json(field, field.get_default())
    if field.null:
        return None
    raise KeyError(field.name)


def _to_json(field, value):
    if value is None:
        return None
    if isinstance(field, models.BinaryField):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(field, models.FileField):
        return value.name or ""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()  # to the microsecond; DjangoJSONEncoder would cut it to milliseconds
    return value


def _from_json(field, value):
    if value is None:
        if not field.null:  # never exported so: the column cannot hold it
            raise ValueError(f"{field.name} cannot be empty")
        return None
    if isinstance(field, models.BinaryField):
        return base64.b64decode(value, validate=True)
    value = field.to_python(value)
    field.run_validators(value)  # what the database would refuse: a number beyond its integers, a string too long
    return value


def _write_line(out, row: dict) -> None:
    out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _sha256(source) -> str:
    """The SHA-256 of a stored file, read a chunk at a time."""
    digest = hashlib.sha256()
    while chunk := source.read(1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def _check_storage_name(name: str) -> None:
    """A name from an archive is written to storage, so it must stay inside it."""
    unsafe = not isinstance(name, str) or name.startswith("/") or "\\" in name
    if unsafe or ".." in PurePosixPath(name).parts or not PurePosixPath(name).name:
        raise BackupError(f"The archive names an image {name!r}, which is not a safe storage name.")


def _one_line(text: str) -> str:
    return text.splitlines()[0] if text else text
