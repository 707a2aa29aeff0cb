"""A resumed run takes its data and options from its checkpoint; an option given again must be the same."""

import re

import pytest

from mlcore.checkpoint import Checkpoint, CheckpointError
from mlcore.resume import RUN_OPTIONS, command_line, kept_options, prepare_run, resumed_options


def _given(**options) -> dict:
    """The options `manage.py train` passes: None (or the default) for each option left out."""
    left_out = dict.fromkeys(RUN_OPTIONS) | {"out": None, "resume": None, "include_reviewed": False}
    return left_out | {"register": True, "thumbnail_expert": []} | options


@pytest.fixture
def stopped(tmp_path):
    """The bundle folder of a stopped airbench run, started with --no-register."""
    out = tmp_path / "run"
    started = _given(data="data.tar.gz", arch="airbench", epochs=6.0, widths=(8, 16, 16), seed=0, register=False)
    Checkpoint(out).start({"options": kept_options(started)})
    return out


def test_a_resumed_run_goes_on_with_the_options_it_was_started_with(stopped):
    options = resumed_options(_given(resume=str(stopped)))
    assert (options["arch"], options["epochs"], options["widths"], options["seed"]) == ("airbench", 6, (8, 16, 16), 0)
    assert options["data"].endswith("data.tar.gz") and options["out"] == str(stopped)
    assert options["register"] is False, "--no-register given when it started holds"


def test_an_option_given_again_must_be_the_same(stopped):
    same = resumed_options(_given(resume=str(stopped), epochs=6.0, widths=(8, 16, 16), seed=0))
    assert same["epochs"] == 6
    refusals = {
        "epochs": (9.0, "--epochs 9 differs from the stopped run's 6: a resumed run keeps its options"),
        "seed": (1, "--seed 1 differs from the stopped run's 0"),
        "cutout": (8, "--cutout 8 differs from the stopped run's default"),
        "arch": ("efficientnet-lite0", "--arch efficientnet-lite0 differs from the stopped run's airbench"),
    }
    for name, (value, message) in refusals.items():
        with pytest.raises(CheckpointError, match=f"^{re.escape(message)}"):
            resumed_options(_given(resume=str(stopped), **{name: value}))


def test_data_given_again_is_taken_and_checked_against_the_checkpoint_later(stopped):
    assert resumed_options(_given(resume=str(stopped), data="moved.tar.gz"))["data"] == "moved.tar.gz"


def test_a_resumed_run_writes_where_it_was_writing(stopped, tmp_path):
    with pytest.raises(CheckpointError, match=f"leave out --out {re.escape(str(tmp_path / 'other'))}$"):
        resumed_options(_given(resume=str(stopped), out=str(tmp_path / "other")))
    assert resumed_options(_given(resume=str(stopped), out=str(stopped)))["out"] == str(stopped)


def test_a_run_needs_data_or_a_run_to_resume_and_a_real_photo_folder(tmp_path):
    with pytest.raises(ValueError, match=r"^--data is required \(or --resume DIR"):
        prepare_run(_given())
    with pytest.raises(ValueError, match="is not a folder of <class>/ and none/ photo subfolders"):
        prepare_run(_given(data="data.tar.gz", photos=str(tmp_path)))
    options, recipe = prepare_run(_given(data="data.tar.gz", epochs=2.0))
    assert options["arch"] == recipe.architecture == "efficientnet-lite0" and recipe.epochs == 2


def test_the_command_line_a_bundle_records_runs_the_same_training_again():
    options = _given(
        data="d.tar.gz", arch="airbench", epochs=6.0, seed=0, widths=(8, 16, 16), include_reviewed=True,
        thumbnail_expert=["a", "b"],
    )  # fmt: skip
    assert command_line(options) == (
        "python manage.py train --data d.tar.gz --arch airbench --epochs 6 --seed 0 --widths 8,16,16 "
        "--thumbnail-expert a --thumbnail-expert b --include-reviewed"
    )
