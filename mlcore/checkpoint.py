"""Training that survives a stop. A run that writes its bundle to DIR keeps, in DIR.checkpoint/ beside it (the
bundle folder itself is replaced whole when the bundle is written, so the checkpoint lives next to it):

- run.json: what the run is (architecture, recipe, the data's fingerprint, the command's options), written first;
- state.npz: after every epoch, everything needed to go on: the weights and the optimiser's variables (the
  learning-rate schedule's position with them), the random generators' states, the epoch log and the best epoch;
- the frozen layers' activations (EfficientNet-Lite0), named by a fingerprint of their inputs.

Every file is written beside its final name and renamed over it, so a kill at any moment leaves the last complete
checkpoint. The folder goes when the run has written its bundle; an interrupted run (Ctrl-C) keeps it.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

SUFFIX = ".checkpoint"
RUN_FILE = "run.json"
STATE_FILE = "state.npz"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed as asked; the message is one line that says why."""


class Checkpoint:
    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.folder = self.out_dir.with_name(self.out_dir.name + SUFFIX)

    def exists(self) -> bool:
        return (self.folder / RUN_FILE).is_file()

    def run(self) -> dict:
        """What the run is (run.json); a CheckpointError that says so when there is none."""
        if not self.exists():
            raise CheckpointError(f"{self.out_dir} holds no checkpoint to resume ({self.folder} is missing)")
        try:
            return json.loads((self.folder / RUN_FILE).read_text())
        except (OSError, ValueError) as error:
            raise CheckpointError(f"{self.folder} holds no readable checkpoint: {error}") from None

    def start(self, run: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _replace_atomically(self.folder / RUN_FILE, lambda file: file.write(json.dumps(run, indent=1).encode()))

    def save_state(self, arrays: dict, info: dict) -> None:
        """Arrays by name and a JSON-able dict, in one file that replaces the previous one whole."""

        def write(file):
            np.savez(file, __info__=np.frombuffer(json.dumps(info).encode(), dtype=np.uint8), **arrays)

        _replace_atomically(self.folder / STATE_FILE, write)

    def load_state(self) -> tuple[dict, dict] | None:
        """(arrays, info) of the last finished epoch, or None before the first."""
        path = self.folder / STATE_FILE
        if not path.is_file():
            return None
        with np.load(path) as saved:
            arrays = {name: saved[name] for name in saved.files if name != "__info__"}
            info = json.loads(saved["__info__"].tobytes())
        return arrays, info

    def has_cached(self, name: str, fingerprint: str) -> bool:
        return self._cache_path(name, fingerprint).is_file()

    def cached(self, name: str, fingerprint: str, compute) -> np.ndarray:
        """`compute()`'s array, kept as `name`-`fingerprint`.npy and reused while the fingerprint matches (an
        older one of that name is removed)."""
        path = self._cache_path(name, fingerprint)
        if path.is_file():
            return np.load(path)
        for stale in self.folder.glob(f"{name}-*.npy"):
            stale.unlink()
        array = compute()
        self.folder.mkdir(parents=True, exist_ok=True)
        _replace_atomically(path, lambda file: np.save(file, array))
        return array

    def _cache_path(self, name: str, fingerprint: str) -> Path:
        return self.folder / f"{name}-{fingerprint[:16]}.npy"

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def fingerprint(*parts) -> str:
    """sha256 of arrays (their bytes, shape and type) and JSON-able values, in order."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).data)
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def differences(saved: dict, now: dict) -> list[str]:
    """'key <saved> in the checkpoint, <now> now' for each key whose value differs between two flat dicts."""
    keys = [key for key in {**saved, **now} if saved.get(key) != now.get(key)]
    return [f"{key} {_shown(saved.get(key))} in the checkpoint, {_shown(now.get(key))} now" for key in keys]


def _shown(value) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)


def _replace_atomically(path: Path, write) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
