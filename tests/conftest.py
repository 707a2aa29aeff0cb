import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from mlcore.data import Dataset, Split
from mlcore.labels import CLASSES


def synthetic_split(per_class: int, seed: int) -> Split:
    """Images a tiny network can tell apart: each class has its own colour, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    palette = rng.integers(0, 256, size=(len(CLASSES), 3))
    images = palette[labels][:, None, None, :] + rng.normal(0, 20, size=(len(labels), 32, 32, 3))
    return Split(np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64))


@pytest.fixture(scope="session")
def synthetic_dataset() -> Dataset:
    return Dataset(
        train=synthetic_split(10, seed=1),
        test=synthetic_split(3, seed=2),
        source="synthetic",
        fingerprint="sha256:synthetic",
    )


def write_image_archive(path, split_counts: dict, image_format: str = "PNG", prefix: str = "cifar10-jpeg/"):
    """A tar.gz laid out like cifar10-jpeg.tar.gz, with `split_counts[split]` images per class."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as archive:
        for split, count in split_counts.items():
            for label, name in enumerate(CLASSES):
                for index in range(count):
                    pixels = np.full((32, 32, 3), 20 * label, dtype=np.uint8) + rng.integers(
                        0, 10, (32, 32, 3), np.uint8
                    )
                    buffer = io.BytesIO()
                    Image.fromarray(pixels).save(buffer, image_format)
                    info = tarfile.TarInfo(f"{prefix}{split}/{name}/{index:04d}.{image_format.lower()}")
                    info.size = len(buffer.getvalue())
                    archive.addfile(info, io.BytesIO(buffer.getvalue()))
    return path
