"""`manage.py train` killed part-way and resumed ends with the bundle the run without the stop writes."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from mlcore.checkpoint import Checkpoint
from tests.conftest import write_image_archive

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RUNS = {
    "airbench": ["--arch", "airbench", "--widths", "8,16,16", "--epochs", "6"],
    "efficientnet-lite0": [
        *("--arch", "efficientnet-lite0", "--image-size", "32", "--frozen-blocks", "14", "--epochs", "6"),
    ],
}
COMMON = ["--batch-size", "20", "--val-fraction", "0.2", "--no-register"]
TENSORFLOW_LOG_LINE = re.compile(r"^[IWEF]\d{4} |cuInit|oneDNN custom operations|absl::InitializeLog", re.MULTILINE)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return write_image_archive(tmp_path_factory.mktemp("data") / "tiny.tar.gz", {"train": 30, "test": 2})


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _call(*args) -> str:
    buffer = io.StringIO()
    call_command(*args, stdout=buffer)
    return buffer.getvalue()


def _process(*args, cache) -> subprocess.Popen:
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    environment["DJANGO_SETTINGS_MODULE"] = "classifier_site.settings.test"
    command = [sys.executable, "manage.py", "train", *args, "--cache-dir", str(cache)]
    return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_after_the_first_epoch(out: Path, process: subprocess.Popen) -> tuple[dict, str]:
    """SIGKILL as soon as the checkpoint holds a finished epoch; what the checkpoint then holds, and what the run
    wrote to stderr."""
    state = Checkpoint(out).folder / "state.npz"
    deadline = time.monotonic() + 300
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    return Checkpoint(out).load_state()[1], stderr.decode()


def _weights(out: Path) -> list:
    import keras

    return keras.models.load_model(out / "model.keras").get_weights()


@pytest.mark.parametrize("arch", list(RUNS))
def test_a_run_killed_after_an_epoch_resumes_to_the_same_weights(arch, archive, cache, tmp_path):
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    _call("train", "--data", str(archive), "--out", str(whole), *RUNS[arch], *COMMON, "--cache-dir", str(cache))

    process = _process("--data", str(archive), "--out", str(stopped), *RUNS[arch], *COMMON, cache=cache)
    at_kill, _ = _kill_after_the_first_epoch(stopped, process)
    assert 1 <= at_kill["epochs"] < 6, "the kill should land in the middle of the run"
    assert not (stopped / "model.keras").exists()

    output = _call("train", "--resume", str(stopped), "--cache-dir", str(cache))
    assert f"Resuming after epoch {at_kill['epochs']}" in output
    if arch == "efficientnet-lite0":
        assert "Reading the 14 frozen blocks' activations" in output  # not computed again
    for resumed, uninterrupted in zip(_weights(stopped), _weights(whole), strict=True):
        np.testing.assert_allclose(resumed, uninterrupted, rtol=1e-4, atol=1e-5)
    history = [json.loads((folder / "history.json").read_text()) for folder in (stopped, whole)]
    assert [entry["epoch"] for entry in history[0]] == [entry["epoch"] for entry in history[1]] == list(range(1, 7))
    assert not Checkpoint(stopped).folder.exists(), "a finished run leaves no checkpoint behind"
    assert "holds a finished run" in _call("train", "--resume", str(stopped))


def test_a_resume_with_other_options_or_data_names_what_differs(archive, cache, tmp_path):
    out = tmp_path / "stopped"
    process = _process("--data", str(archive), "--out", str(out), *RUNS["airbench"], *COMMON, cache=cache)
    _, errors = _kill_after_the_first_epoch(out, process)
    assert not TENSORFLOW_LOG_LINE.search(errors), errors[-2000:]

    with pytest.raises(CommandError, match=r"^--epochs 9 differs from the stopped run's 6: a resumed run keeps"):
        _call("train", "--resume", str(out), "--epochs", "9")
    with pytest.raises(CommandError, match=r"^--arch efficientnet-lite0 differs from the stopped run's airbench"):
        _call("train", "--resume", str(out), "--arch", "efficientnet-lite0")
    other = write_image_archive(tmp_path / "other.tar.gz", {"train": 20, "test": 2})
    with pytest.raises(CommandError, match=r"^the data differ from the checkpoint's: .*other.tar.gz \(200 training"):
        _call("train", "--resume", str(out), "--data", str(other), "--cache-dir", str(cache))
    with pytest.raises(CommandError, match=r"holds the checkpoint of an unfinished run: resume it with --resume"):
        _call("train", "--data", str(archive), "--out", str(out), *RUNS["airbench"], *COMMON)
    with pytest.raises(CommandError, match=r"holds no checkpoint to resume"):
        _call("train", "--resume", str(tmp_path / "never-started"))


def test_the_command_keeps_tensorflows_own_log_lines_out_unless_asked(archive, cache, tmp_path):
    args = ["--data", str(archive), *RUNS["airbench"], "--epochs", "1", *COMMON]
    # Both at once: each spends most of its time starting TensorFlow, which one core does as well as two.
    quiet = _process(*args, "--out", str(tmp_path / "quiet"), cache=cache)
    chatty = _process(*args, "--out", str(tmp_path / "chatty"), "-v", "2", cache=cache)
    output, errors = (stream.decode() for stream in quiet.communicate(timeout=600))
    assert quiet.returncode == 0, errors[-2000:]
    assert "epoch 1/1" in output.replace("  ", " ") and "test accuracy" in output
    assert not TENSORFLOW_LOG_LINE.search(errors + output), (errors + output)[-2000:]
    output, errors = (stream.decode() for stream in chatty.communicate(timeout=600))
    assert chatty.returncode == 0 and TENSORFLOW_LOG_LINE.search(errors + output)
