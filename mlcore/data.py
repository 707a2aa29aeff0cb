"""Load CIFAR-10 from any of the layouts people have on disk, decode it once and cache it as arrays.

Accepted paths:
- a tar archive (any compression) of JPEG/PNG files laid out as `[prefix/]train/<class>/*` and `test/<class>/*`,
  such as cifar10-jpeg.tar.gz, read straight from the archive;
- the same tree extracted into a folder;
- the official `cifar-10-python.tar.gz`, or its extracted `cifar-10-batches-py/` folder.
"""

import hashlib
import os
import pickle
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from mlcore.labels import CLASSES
from mlcore.preprocessing import ImageError, to_model_input

SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
EXPECTED_LAYOUT = (
    "expected a tar archive or folder with train/<class>/ and test/<class>/ image folders for the ten "
    "CIFAR-10 classes, or cifar-10-python.tar.gz, or its extracted cifar-10-batches-py/ folder"
)
CACHE_VERSION = 1


class DataError(ValueError):
    """The data path is missing, unreadable or not laid out as expected."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 32, 32, 3) uint8
    labels: np.ndarray  # (N,) int64 indices into CLASSES

    def __len__(self):
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    train: Split
    test: Split
    source: str
    fingerprint: str  # sha256 of the decoded pixels and labels, whatever the layout on disk

    def summary(self) -> dict:
        """What a bundle's metadata records of the data it was made from."""
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "train_images": len(self.train),
            "test_images": len(self.test),
        }

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}: choose one of {', '.join(SPLITS)}")
        return getattr(self, name)


def load_dataset(path, *, limit: int | None = None, cache_dir=None) -> Dataset:
    """Decode the data set at `path` (cached under `cache_dir` after the first time)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist: {EXPECTED_LAYOUT}")
    if limit is not None and limit < 1:
        raise DataError("--limit must be a positive number of images per class")
    cache_file = _cache_file(path, limit, cache_dir)
    if cache_file is not None and cache_file.exists():
        try:
            return _read_cache(cache_file, path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            cache_file.unlink(missing_ok=True)  # a broken cache is rebuilt, never trusted
    splits = _decode(path, limit)
    if cache_file is not None:
        _write_cache(cache_file, splits)
    return Dataset(train=splits["train"], test=splits["test"], source=str(path), fingerprint=_fingerprint(splits))


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "classifier-site" / "datasets"


def train_validation_split(split: Split, val_fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out `val_fraction` of each class, chosen with `seed`; the rest is for training."""
    if not 0 <= val_fraction < 1:
        raise DataError("--val-fraction must be at least 0 and below 1")
    rng = np.random.default_rng(seed)
    held_out = []
    for label in range(len(CLASSES)):
        members = np.flatnonzero(split.labels == label)
        count = int(round(len(members) * val_fraction))
        held_out.append(rng.permutation(members)[:count])
    val_mask = np.zeros(len(split), dtype=bool)
    val_mask[np.concatenate(held_out)] = True
    return (
        Split(split.images[~val_mask], split.labels[~val_mask]),
        Split(split.images[val_mask], split.labels[val_mask]),
    )


# --- decoding -----------------------------------------------------------------------------------------------


def _decode(path: Path, limit):
    if path.is_dir():
        if (path / "data_batch_1").exists() or (path / "test_batch").exists():
            return _decode_python_batches(lambda name: _read_batch_file(path, name), limit)
        return _decode_image_files(_folder_members(path), limit)
    try:
        if not tarfile.is_tarfile(path):
            raise DataError(f"{path} is neither a folder nor a tar archive: {EXPECTED_LAYOUT}")
        with tarfile.open(path, "r:*") as archive:
            members = {m.name: m for m in archive.getmembers() if m.isfile()}
            batches = {PurePosixPath(name).name: m for name, m in members.items() if "cifar-10-batches-py/" in name}
            if batches:
                return _decode_python_batches(lambda name: _read_member(archive, batches, name), limit)
            return _decode_image_files(
                {name: (lambda m=m: archive.extractfile(m).read()) for name, m in members.items()}, limit
            )
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataError(f"{path} is not a readable archive ({error}): {EXPECTED_LAYOUT}") from error


def _read_member(archive, batches, name):
    if name not in batches:
        raise DataError(f"cifar-10-batches-py/{name} is missing: {EXPECTED_LAYOUT}")
    return archive.extractfile(batches[name]).read()


def _read_batch_file(folder: Path, name: str) -> bytes:
    if not (folder / name).is_file():
        raise DataError(f"cifar-10-batches-py/{name} is missing: {EXPECTED_LAYOUT}")
    return (folder / name).read_bytes()


def _folder_members(root: Path):
    return {
        file.relative_to(root).as_posix(): (lambda file=file: file.read_bytes())
        for file in root.rglob("*")
        if file.is_file()
    }


def _decode_image_files(readers: dict, limit):
    """Decode `split/class/file` members (any prefix before `split`) in a stable, sorted order."""
    chosen = {split: {label: [] for label in range(len(CLASSES))} for split in SPLITS}
    for name in sorted(readers):
        parts = PurePosixPath(name).parts
        if len(parts) < 3 or not name.lower().endswith(IMAGE_SUFFIXES):
            continue
        split, class_name = parts[-3], parts[-2]
        if split in SPLITS and class_name in CLASSES:
            chosen[split][CLASSES.index(class_name)].append(name)
    splits = {}
    for split, by_label in chosen.items():
        missing = [CLASSES[label] for label, names in by_label.items() if not names]
        if missing:
            raise DataError(f"no {split} images for {', '.join(missing)}: {EXPECTED_LAYOUT}")
        names = [(label, name) for label, found in by_label.items() for name in found[:limit]]
        images = np.empty((len(names), 32, 32, 3), dtype=np.uint8)
        for index, (_, name) in enumerate(names):
            try:
                images[index] = to_model_input(readers[name]())
            except ImageError as error:
                raise DataError(f"{name}: {error}") from error
        labels = np.array([label for label, _ in names], dtype=np.int64)
        splits[split] = Split(images, labels)
    return splits


def _decode_python_batches(read, limit):
    """The official pickled batches: rows of 3072 bytes, channel-major, with integer labels."""
    files = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    splits = {}
    for split, names in files.items():
        images, labels = [], []
        for name in names:
            try:
                batch = pickle.loads(read(name), encoding="bytes")
                data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                batch_labels = np.asarray(batch[b"labels"], dtype=np.int64)
                if len(batch_labels) != len(data) or not np.isin(batch_labels, range(len(CLASSES))).all():
                    raise DataError(f"cifar-10-batches-py/{name} has labels that do not match its images")
                images.append(data.transpose(0, 2, 3, 1))
                labels.append(batch_labels)
            except DataError:
                raise
            except Exception as error:  # pickle raises many kinds of error for a damaged file
                raise DataError(f"cifar-10-batches-py/{name} is damaged ({error}): {EXPECTED_LAYOUT}") from error
        split_data = Split(np.concatenate(images), np.concatenate(labels))
        splits[split] = _limit_per_class(split_data, limit) if limit else split_data
    return splits


def _limit_per_class(split: Split, limit: int) -> Split:
    keep = np.concatenate([np.flatnonzero(split.labels == label)[:limit] for label in range(len(CLASSES))])
    keep.sort()
    return Split(split.images[keep], split.labels[keep])


# --- cache --------------------------------------------------------------------------------------------------


def _cache_file(path: Path, limit, cache_dir):
    if cache_dir is False:
        return None
    stat = path.stat()
    if path.is_dir():
        stamp = [(str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.rglob("*"))]
    else:
        stamp = [stat.st_size, stat.st_mtime_ns]
    key = hashlib.sha256(repr((CACHE_VERSION, str(path.resolve()), stamp, limit)).encode()).hexdigest()[:24]
    return Path(cache_dir or default_cache_dir()) / f"cifar10-{key}.npz"


def _write_cache(cache_file: Path, splits):
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    partial = cache_file.with_suffix(".partial.npz")
    arrays = {f"{split}_{kind}": getattr(splits[split], kind) for split in SPLITS for kind in ("images", "labels")}
    np.savez(partial, **arrays)
    partial.replace(cache_file)  # readers never see half a cache file


def _read_cache(cache_file: Path, path: Path) -> Dataset:
    with np.load(cache_file) as arrays:
        splits = {split: Split(arrays[f"{split}_images"], arrays[f"{split}_labels"]) for split in SPLITS}
    return Dataset(train=splits["train"], test=splits["test"], source=str(path), fingerprint=_fingerprint(splits))


def _fingerprint(splits) -> str:
    digest = hashlib.sha256()
    for split in SPLITS:
        digest.update(np.ascontiguousarray(splits[split].images).tobytes())
        digest.update(np.ascontiguousarray(splits[split].labels).tobytes())
    return "sha256:" + digest.hexdigest()
