"""`manage.py train` and `manage.py evaluate`, run the way people run them."""

import json

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import cifar_test_images, image_bytes, write_image_archive

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return write_image_archive(tmp_path_factory.mktemp("data") / "tiny.tar.gz", {"train": 6, "test": 2})


@pytest.fixture(scope="module")
def trained(tmp_path_factory, archive):
    out = tmp_path_factory.mktemp("models") / "tiny"
    cache = tmp_path_factory.mktemp("cache")
    output = _call(
        "train", "--data", str(archive), "--out", str(out), "--epochs", "1", "--batch-size", "20",
        "--val-fraction", "0.2", "--cache-dir", str(cache), "--no-register", "--arch", "airbench", "--cutout", "8",
        "--widths", "8,16,16",  # a few seconds instead of 30 on 2 cores: the commands are under test, not the network
    )  # fmt: skip
    return out, output, cache


def _call(*args) -> str:
    import io

    buffer = io.StringIO()
    call_command(*args, stdout=buffer)
    return buffer.getvalue()


def test_train_prints_a_line_per_epoch_and_writes_the_bundle(trained):
    out, output, cache = trained
    assert "epoch  1/1" in output and "test accuracy" in output
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["training"]["command"].startswith("python manage.py train --data")
    assert metadata["training"]["validation_images"] == 10  # one of the six images of each class
    assert list(cache.glob("*.npz")), "decoded images are cached for the next run"
    assert "--cutout 8" in metadata["training"]["command"]
    assert metadata["training"]["config"]["cutout"] == 8


@pytest.mark.parametrize("option", [("--cutout", "32"), ("--cutout", "-1"), ("--lookahead-every", "-5")])
def test_train_refuses_augmentation_settings_that_make_no_sense(archive, option):
    with pytest.raises(CommandError, match="--cutout must be 0-31 pixels"):
        _call("train", "--data", str(archive), "--arch", "airbench", *option, "--no-register")


@pytest.mark.parametrize("option", [("--frozen-blocks", "0"), ("--frozen-blocks", "16"), ("--image-size", "16")])
def test_train_refuses_a_network_shape_that_cannot_be_trained(archive, option):
    with pytest.raises(CommandError, match="--image-size must be at least 32 pixels and --frozen-blocks 1-15"):
        _call("train", "--data", str(archive), *option, "--no-register")


def test_train_refuses_an_option_of_another_architecture(archive):
    with pytest.raises(CommandError, match="--arch efficientnet-lite0 has no --widths"):
        _call("train", "--data", str(archive), "--widths", "8,8,8", "--no-register")


def test_train_help_says_what_each_recipe_option_does_for_which_architecture():
    from classifier.management.commands.train import Command

    text = " ".join(Command().create_parser("manage.py", "train").format_help().split())
    assert "--arch {efficientnet-lite0,airbench} efficientnet-lite0: ImageNet-pretrained, fine-tuned (default)" in text
    assert "--widths WIDTHS airbench: channels of the three conv groups (default 64,320,320)" in text
    assert "--frozen-blocks FROZEN_BLOCKS efficientnet-lite0: how many of the 16 blocks" in text
    assert "--epochs EPOCHS passes over the training split; fractions allowed (default: 3.5 for" in text
    assert "--tta {none,flip,flip_translate} test-time augmentation the bundle evaluates and serves with" in text


def test_evaluate_json_prints_one_object_with_the_accuracy(trained, archive):
    out, _, cache = trained
    output = _call("evaluate", "--data", str(archive), "--model", str(out), "--json", "--cache-dir", str(cache))
    report = json.loads(output)
    assert report["split"] == "test" and report["images"] == 20
    assert 0 <= report["accuracy"] <= 1
    saved = json.loads((out / "evaluation.json").read_text())
    assert report["accuracy"] == pytest.approx(saved["accuracy"])


def test_evaluate_can_score_with_another_test_time_augmentation(trained, archive):
    out, _, cache = trained
    args = ("evaluate", "--data", str(archive), "--model", str(out), "--json", "--cache-dir", str(cache))
    assert json.loads(_call(*args, "--tta", "none"))["tta"] == "none"
    assert json.loads(_call(*args, "--tta", "flip_translate"))["tta"] == "flip_translate"


def test_evaluate_reports_per_class_figures_on_the_train_split(trained, archive):
    out, _, cache = trained
    output = _call(
        "evaluate", "--data", str(archive), "--model", str(out), "--split", "train", "--cache-dir", str(cache)
    )
    assert output.startswith("train: 60 images, accuracy")
    assert "airplane" in output and "F1" in output


def test_train_with_a_wrong_path_is_a_one_line_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist: expected a tar archive or folder"):
        call_command("train", "--data", str(tmp_path / "missing.tar.gz"), "--out", str(tmp_path / "m"))


def test_train_with_a_wrong_layout_says_what_was_expected(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"")
    with pytest.raises(CommandError, match="expected a tar archive or folder with train/<class>/"):
        call_command(
            "train", "--data", str(tmp_path / "photos"), "--out", str(tmp_path / "m"), "--cache-dir", str(tmp_path)
        )


def test_evaluate_with_a_missing_bundle_is_a_clear_error(archive, tmp_path):
    with pytest.raises(CommandError, match="not a model bundle"):
        call_command(
            "evaluate", "--data", str(archive), "--model", str(tmp_path / "none"), "--cache-dir", str(tmp_path)
        )


@pytest.mark.django_db
def test_train_registers_the_new_bundle_as_an_inactive_model_version(archive, tmp_path):
    from classifier.models import ModelVersion

    out = tmp_path / "registered"
    output = _call(
        "train", "--data", str(archive), "--out", str(out), "--epochs", "1", "--batch-size", "20",
        "--image-size", "32", "--frozen-blocks", "10", "--cache-dir", str(tmp_path),
    )  # fmt: skip
    assert "Computing the 10 frozen blocks' activations" in output  # the default: the pretrained network
    version = ModelVersion.objects.get()
    assert version.path == str(out.resolve()) and not version.is_active
    assert f"Registered as model version {version.name}" in output


def test_evaluate_scores_a_folder_of_photos_per_class_and_saves_it_for_the_model_page(trained, tmp_path):
    out, _, _ = trained
    photos = tmp_path / "photos"
    for name, data in cifar_test_images(2).items():
        label = name.split("-")[0]
        if label in ("cat", "ship"):
            (photos / label).mkdir(parents=True, exist_ok=True)
            (photos / label / name).write_bytes(data)
    (photos / "none").mkdir()
    (photos / "none" / "grey.png").write_bytes(image_bytes("PNG", colour=(128, 128, 128)))
    (photos / "ship" / "notes.jpg").write_bytes(b"not a photo")

    output = _call("evaluate", "--data", str(photos), "--model", str(out), "--save")

    assert output.startswith("4 photos of the ten classes: accuracy")
    assert "cat" in output and "/2 right" in output
    assert "1 photo of other things" in output
    assert "Not images, skipped: ship/notes.jpg" in output
    saved = json.loads((out / "photos.json").read_text())
    assert saved["in_class_photos"] == 4 and saved["other_photos"] == 1
    assert [row["class"] for row in saved["per_class"]] == ["cat", "ship"]
    assert saved["accuracy"] == sum(row["correct"] for row in saved["per_class"]) / 4


def test_evaluate_says_what_a_photo_folder_should_hold(trained, tmp_path):
    out, _, _ = trained
    (tmp_path / "photos" / "none").mkdir(parents=True)
    with pytest.raises(CommandError, match="has no photos in <class>/ subfolders"):
        _call("evaluate", "--data", str(tmp_path / "photos"), "--model", str(out))
