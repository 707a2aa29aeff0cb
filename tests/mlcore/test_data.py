"""Loading CIFAR-10 from every accepted layout, the decoded-array cache and the validation split.

Every data set here is generated in tmp_path: a few solid-colour 32x32 images per class and split, each colour
encoding (split, class, index) so a test can tell which file landed in which row. Nothing reads the real data.
"""

import io
import pickle
import tarfile
import zlib

import numpy as np
import pytest
from PIL import Image

from mlcore.data import (
    EXPECTED_LAYOUT,
    DataError,
    Dataset,
    Split,
    load_dataset,
    train_validation_split,
)
from mlcore.labels import CLASSES

SPLIT_NAMES = ("train", "test")
PER_CLASS = 2
JPEG_TOLERANCE = 6  # a solid colour survives JPEG within a few levels


# --- helpers ------------------------------------------------------------------------------------------------


def colour_for(split, label, index):
    """A colour unique to (split, class, index): red is the class, green the index, blue the split."""
    return (label * 25, 40 + index * 60, 60 if split == "train" else 200)


def write_image_tree(root, *, suffix=".png", per_class=PER_CLASS, skip=None):
    """Write `root/cifar10-jpeg/<split>/<class>/NNNN<suffix>`; return the folder holding train/ and test/.

    `skip` is a (split, class) pair to leave out. Stray files that are not part of the layout are added too.
    """
    top = root / "cifar10-jpeg"
    for split in SPLIT_NAMES:
        for label, class_name in enumerate(CLASSES):
            if skip == (split, class_name):
                continue
            folder = top / split / class_name
            folder.mkdir(parents=True)
            for index in range(per_class):
                Image.new("RGB", (32, 32), colour_for(split, label, index)).save(folder / f"{index:04d}{suffix}")
    (top / "README.txt").write_text("not an image\n")
    (top / "train" / "notes.txt").write_text("not an image either\n")
    (top / "train" / "dog" / "Thumbs.db").write_bytes(b"\x00" * 64)  # not an image suffix: skipped
    return top


def make_archive(folder, archive, arcname):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return archive


def image_archive(tmp_path, **tree_options):
    top = write_image_tree(tmp_path / "tree", **tree_options)
    return make_archive(top, tmp_path / "cifar10-jpeg.tar.gz", "cifar10-jpeg")


def expected_labels(per_class):
    return np.repeat(np.arange(len(CLASSES)), per_class)


def expected_images(split, per_class):
    colours = [colour_for(split, label, index) for label in range(len(CLASSES)) for index in range(per_class)]
    return np.broadcast_to(np.array(colours, dtype=np.uint8)[:, None, None, :], (len(colours), 32, 32, 3))


def batch_images(batch_number, labels):
    """Channel-major rows: red plane = row y, green plane = column x, blue plane = 16*batch + label."""
    rows = np.empty((len(labels), 3, 32, 32), dtype=np.uint8)
    rows[:, 0] = np.arange(32)[:, None]
    rows[:, 1] = np.arange(32)[None, :]
    rows[:, 2] = (16 * batch_number + np.asarray(labels))[:, None, None]
    return rows.reshape(len(labels), 3072)


def batch_bytes(batch_number, labels):
    return pickle.dumps({b"batch_label": b"x", b"labels": list(labels), b"data": batch_images(batch_number, labels)})


TRAIN_BATCH_LABELS = list(range(10))  # one image per class in each of the five training batches
TEST_BATCH_LABELS = list(range(10)) * 2  # two per class in the test batch


def write_batches(folder, *, skip=(), damage=None):
    """Write the official pickled batches into `folder` (named cifar-10-batches-py)."""
    folder.mkdir(parents=True)
    files = {f"data_batch_{n}": batch_bytes(n, TRAIN_BATCH_LABELS) for n in range(1, 6)}
    files["test_batch"] = batch_bytes(6, TEST_BATCH_LABELS)
    files["batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in CLASSES]})
    if damage:
        name, data = damage
        files[name] = data
    for name, data in files.items():
        if name not in skip:
            (folder / name).write_bytes(data)
    (folder / "readme.html").write_text("<html></html>")
    return folder


def batches_archive(tmp_path, **options):
    folder = write_batches(tmp_path / "extracted" / "cifar-10-batches-py", **options)
    return make_archive(folder, tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py")


def assert_one_line_error(error_info, *fragments):
    message = str(error_info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def labelled_split(counts):
    """A Split with `counts[k]` images of class k; pixel (0, 0) holds the image's unique id in two bytes."""
    labels = np.repeat(np.arange(len(counts)), counts)
    images = np.zeros((len(labels), 32, 32, 3), dtype=np.uint8)
    ids = np.arange(len(labels))
    images[:, 0, 0, 0] = ids % 256
    images[:, 0, 0, 1] = ids // 256
    return Split(images, labels.astype(np.int64)), ids


def ids_of(split):
    return split.images[:, 0, 0, 0].astype(int) + 256 * split.images[:, 0, 0, 1].astype(int)


# --- the image-tree layout ----------------------------------------------------------------------------------


def test_tar_archive_of_jpegs_loads_without_extraction(tmp_path):
    archive = image_archive(tmp_path, suffix=".jpg")
    before = {p for p in tmp_path.rglob("*")}

    dataset = load_dataset(archive, cache_dir=False)

    assert {p for p in tmp_path.rglob("*")} == before  # nothing extracted next to the archive
    assert dataset.source == str(archive)
    assert dataset.fingerprint.startswith("sha256:")
    for split in SPLIT_NAMES:
        data = dataset.split(split)
        assert data.images.shape == (len(CLASSES) * PER_CLASS, 32, 32, 3)
        assert data.images.dtype == np.uint8
        assert data.labels.dtype == np.int64
        assert len(data) == len(CLASSES) * PER_CLASS
        np.testing.assert_array_equal(data.labels, expected_labels(PER_CLASS))
        np.testing.assert_array_equal(np.bincount(data.labels, minlength=len(CLASSES)), [PER_CLASS] * len(CLASSES))
        difference = np.abs(data.images.astype(int) - expected_images(split, PER_CLASS).astype(int))
        assert difference.max() <= JPEG_TOLERANCE


def test_tar_archive_of_pngs_decodes_exact_pixels_in_class_then_file_order(tmp_path):
    dataset = load_dataset(image_archive(tmp_path, suffix=".png"), cache_dir=False)

    for split in SPLIT_NAMES:
        np.testing.assert_array_equal(dataset.split(split).images, expected_images(split, PER_CLASS))
        np.testing.assert_array_equal(dataset.split(split).labels, expected_labels(PER_CLASS))


def test_extracted_folder_loads_same_arrays_and_fingerprint_as_archive(tmp_path):
    top = write_image_tree(tmp_path / "tree", suffix=".png")
    archive = make_archive(top, tmp_path / "cifar10-jpeg.tar.gz", "cifar10-jpeg")

    from_archive = load_dataset(archive, cache_dir=False)
    from_folder = load_dataset(top, cache_dir=False)
    from_parent_folder = load_dataset(tmp_path / "tree", cache_dir=False)  # prefix folders are allowed

    for dataset in (from_folder, from_parent_folder):
        assert dataset.fingerprint == from_archive.fingerprint
        for split in SPLIT_NAMES:
            np.testing.assert_array_equal(dataset.split(split).images, from_archive.split(split).images)
            np.testing.assert_array_equal(dataset.split(split).labels, from_archive.split(split).labels)


def test_fingerprint_changes_when_one_pixel_changes(tmp_path):
    top = write_image_tree(tmp_path / "tree", suffix=".png")
    first = load_dataset(top, cache_dir=False)
    image = Image.open(top / "test" / "cat" / "0001.png").convert("RGB")
    image.putpixel((5, 5), (0, 0, 0))
    image.save(top / "test" / "cat" / "0001.png")

    assert load_dataset(top, cache_dir=False).fingerprint != first.fingerprint


# --- the official pickled batches ---------------------------------------------------------------------------


def check_batches_dataset(dataset):
    assert dataset.train.images.shape == (50, 32, 32, 3)
    assert dataset.test.images.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(dataset.train.labels, TRAIN_BATCH_LABELS * 5)
    np.testing.assert_array_equal(dataset.test.labels, TEST_BATCH_LABELS)
    for split in (dataset.train, dataset.test):
        assert split.images.dtype == np.uint8
        # channel-major rows become height x width x channel: red = y, green = x
        assert (split.images[..., 0] == np.arange(32)[:, None]).all()
        assert (split.images[..., 1] == np.arange(32)[None, :]).all()
    # the blue plane tells which batch each training image came from: batches 1..5 in order
    batch_of_row = np.repeat(np.arange(1, 6), 10)
    np.testing.assert_array_equal(dataset.train.images[:, 7, 9, 2], 16 * batch_of_row + dataset.train.labels)
    np.testing.assert_array_equal(dataset.test.images[:, 7, 9, 2], 16 * 6 + dataset.test.labels)


def test_official_python_archive_converts_channel_major_rows_to_hwc(tmp_path):
    check_batches_dataset(load_dataset(batches_archive(tmp_path), cache_dir=False))


def test_extracted_batches_folder_loads_same_as_official_archive(tmp_path):
    archive = batches_archive(tmp_path)
    from_folder = load_dataset(tmp_path / "extracted" / "cifar-10-batches-py", cache_dir=False)

    check_batches_dataset(from_folder)
    assert from_folder.fingerprint == load_dataset(archive, cache_dir=False).fingerprint


def test_pure_red_row_becomes_red_image(tmp_path):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    row = np.zeros((1, 3072), dtype=np.uint8)
    row[0, :1024] = 255  # the red plane comes first in each row
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": row, b"labels": [3]}))

    test = load_dataset(folder, cache_dir=False).test

    assert test.images.shape == (1, 32, 32, 3)
    assert (test.images[0, ..., 0] == 255).all()
    assert (test.images[0, ..., 1:] == 0).all()
    np.testing.assert_array_equal(test.labels, [3])


# --- limit ----------------------------------------------------------------------------------------------------


def test_limit_keeps_first_images_of_each_class_in_both_splits_of_image_tree(tmp_path):
    archive = image_archive(tmp_path, suffix=".png", per_class=3)

    dataset = load_dataset(archive, limit=2, cache_dir=False)

    for split in SPLIT_NAMES:
        np.testing.assert_array_equal(dataset.split(split).labels, expected_labels(2))
        np.testing.assert_array_equal(dataset.split(split).images, expected_images(split, 2))


def test_limit_keeps_n_images_per_class_of_official_batches(tmp_path):
    dataset = load_dataset(batches_archive(tmp_path), limit=1, cache_dir=False)

    np.testing.assert_array_equal(dataset.train.labels, np.arange(10))
    np.testing.assert_array_equal(dataset.train.images[:, 0, 0, 2], 16 + np.arange(10))  # all from batch 1
    np.testing.assert_array_equal(dataset.test.labels, np.arange(10))


@pytest.mark.parametrize("limit", [0, -3])
def test_limit_below_one_is_refused(tmp_path, limit):
    archive = image_archive(tmp_path)
    with pytest.raises(DataError) as error:
        load_dataset(archive, limit=limit, cache_dir=False)
    assert_one_line_error(error, "limit")


# --- errors ---------------------------------------------------------------------------------------------------


def test_missing_path_names_the_path_and_expected_layout(tmp_path):
    missing = tmp_path / "nowhere" / "cifar10.tar.gz"
    with pytest.raises(DataError) as error:
        load_dataset(missing, cache_dir=False)
    assert_one_line_error(error, str(missing), "does not exist", EXPECTED_LAYOUT)


def test_plain_text_file_is_not_a_data_set(tmp_path):
    text = tmp_path / "cifar10.tar.gz"
    text.write_text("this is not an archive\n" * 50)
    with pytest.raises(DataError) as error:
        load_dataset(text, cache_dir=False)
    assert_one_line_error(error, str(text), EXPECTED_LAYOUT)


@pytest.mark.parametrize("keep", [0.4, 0.7, 0.95])
def test_truncated_archive_is_a_data_error(tmp_path, keep):
    archive = image_archive(tmp_path, suffix=".png")
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError) as error:
        load_dataset(archive, cache_dir=False)
    assert_one_line_error(error, EXPECTED_LAYOUT)


@pytest.mark.parametrize("keep_bytes", [2, 10, 100])
def test_archive_cut_before_its_first_header_is_a_data_error(tmp_path, keep_bytes):
    archive = image_archive(tmp_path, suffix=".png")
    archive.write_bytes(archive.read_bytes()[:keep_bytes])
    with pytest.raises(DataError) as error:
        load_dataset(archive, cache_dir=False)
    assert_one_line_error(error, EXPECTED_LAYOUT)


def test_gzip_header_followed_by_garbage_is_a_data_error(tmp_path):
    archive = tmp_path / "cifar10.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 200)
    with pytest.raises(DataError) as error:
        load_dataset(archive, cache_dir=False)
    assert_one_line_error(error, EXPECTED_LAYOUT)


def test_archive_with_damaged_compressed_data_is_a_data_error(tmp_path):
    # A valid gzip stream for the first 200 kB of a tar, then bytes that are not deflate data.
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        payload = np.random.default_rng(0).bytes(300_000)
        info = tarfile.TarInfo("cifar10-jpeg/README.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(raw.getvalue()[:200_000]) + compressor.flush(zlib.Z_FULL_FLUSH) + b"\xff" * 64
    archive = tmp_path / "cifar10.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body)

    with pytest.raises(DataError) as error:
        load_dataset(archive, cache_dir=False)
    assert_one_line_error(error, EXPECTED_LAYOUT)


@pytest.mark.parametrize(("split", "class_name"), [("train", "cat"), ("test", "truck")])
def test_tree_missing_a_class_names_split_and_class(tmp_path, split, class_name):
    archive = image_archive(tmp_path, skip=(split, class_name))
    with pytest.raises(DataError) as error:
        load_dataset(archive, cache_dir=False)
    assert_one_line_error(error, f"no {split} images for {class_name}", EXPECTED_LAYOUT)
    assert "dog" not in str(error.value)


def test_empty_folder_lists_every_missing_class(tmp_path):
    with pytest.raises(DataError) as error:
        load_dataset(tmp_path, cache_dir=False)
    assert_one_line_error(error, ", ".join(CLASSES), EXPECTED_LAYOUT)


@pytest.mark.parametrize("in_archive", [True, False])
def test_corrupt_jpeg_member_is_named_in_the_error(tmp_path, in_archive):
    top = write_image_tree(tmp_path / "tree", suffix=".jpg")
    bad = top / "test" / "frog" / "0001.jpg"
    bad.write_bytes(bad.read_bytes()[:40])  # a JPEG header and nothing else
    path = make_archive(top, tmp_path / "cifar10-jpeg.tar.gz", "cifar10-jpeg") if in_archive else top

    with pytest.raises(DataError) as error:
        load_dataset(path, cache_dir=False)
    assert_one_line_error(error, "test/frog/0001.jpg")


def test_non_image_bytes_under_an_image_name_are_named_in_the_error(tmp_path):
    top = write_image_tree(tmp_path / "tree")
    (top / "train" / "ship" / "0000.png").write_text("hello")
    with pytest.raises(DataError) as error:
        load_dataset(top, cache_dir=False)
    assert_one_line_error(error, "train/ship/0000.png")


def test_batches_archive_without_test_batch_says_it_is_missing(tmp_path):
    archive = batches_archive(tmp_path, skip=("test_batch",))
    with pytest.raises(DataError) as error:
        load_dataset(archive, cache_dir=False)
    assert_one_line_error(error, "cifar-10-batches-py/test_batch is missing", EXPECTED_LAYOUT)


def test_batches_folder_without_a_training_batch_names_it(tmp_path):
    folder = write_batches(tmp_path / "cifar-10-batches-py", skip=("data_batch_4",))
    with pytest.raises(DataError) as error:
        load_dataset(folder, cache_dir=False)
    assert_one_line_error(error, "data_batch_4", EXPECTED_LAYOUT)


@pytest.mark.parametrize(
    "damaged",
    [
        pytest.param(batch_bytes(3, TRAIN_BATCH_LABELS)[:-40], id="truncated-pickle"),
        pytest.param(b"\x00\x01not a pickle at all", id="garbage"),
        pytest.param(pickle.dumps({b"labels": TRAIN_BATCH_LABELS}), id="no-data-key"),
        pytest.param(pickle.dumps({b"data": np.zeros((10, 3000), np.uint8), b"labels": [0] * 10}), id="short-rows"),
        pytest.param(pickle.dumps([1, 2, 3]), id="not-a-dict"),
    ],
)
@pytest.mark.parametrize("in_archive", [True, False])
def test_damaged_batch_is_named_in_the_error(tmp_path, damaged, in_archive):
    if in_archive:
        path = batches_archive(tmp_path, damage=("data_batch_3", damaged))
    else:
        path = write_batches(tmp_path / "cifar-10-batches-py", damage=("data_batch_3", damaged))
    with pytest.raises(DataError) as error:
        load_dataset(path, cache_dir=False)
    assert_one_line_error(error, "cifar-10-batches-py/data_batch_3 is damaged", EXPECTED_LAYOUT)


def test_batch_with_fewer_labels_than_images_is_a_data_error(tmp_path):
    mismatched = pickle.dumps({b"data": batch_images(6, TEST_BATCH_LABELS), b"labels": [0, 1, 2]})
    folder = write_batches(tmp_path / "cifar-10-batches-py", damage=("test_batch", mismatched))
    with pytest.raises(DataError):
        load_dataset(folder, cache_dir=False)


# --- the cache ------------------------------------------------------------------------------------------------


def assert_same_dataset(first, second):
    assert second.fingerprint == first.fingerprint
    for split in SPLIT_NAMES:
        assert second.split(split).images.dtype == first.split(split).images.dtype
        assert second.split(split).labels.dtype == first.split(split).labels.dtype
        np.testing.assert_array_equal(second.split(split).images, first.split(split).images)
        np.testing.assert_array_equal(second.split(split).labels, first.split(split).labels)


def test_first_load_writes_one_cache_file_and_second_load_matches(tmp_path):
    archive = image_archive(tmp_path, suffix=".png")
    cache = tmp_path / "cache"

    first = load_dataset(archive, cache_dir=cache)
    files = list(cache.iterdir())
    second = load_dataset(archive, cache_dir=cache)

    assert len(files) == 1
    assert files[0].suffix == ".npz"
    assert list(cache.iterdir()) == files
    assert_same_dataset(first, second)
    assert second.source == str(archive)


def test_second_load_is_served_from_the_cache(tmp_path):
    archive = image_archive(tmp_path, suffix=".png")
    cache = tmp_path / "cache"
    first = load_dataset(archive, cache_dir=cache)
    (cache_file,) = cache.iterdir()
    # Overwrite the cache with marked pixels: if the next load shows them, it read the cache instead of decoding.
    marked = first.train.images.copy()
    marked[:, 0, 0] = 7
    np.savez(
        cache_file,
        train_images=marked,
        train_labels=first.train.labels,
        test_images=first.test.images,
        test_labels=first.test.labels,
    )

    second = load_dataset(archive, cache_dir=cache)

    np.testing.assert_array_equal(second.train.images, marked)
    assert second.fingerprint != first.fingerprint  # the fingerprint follows the pixels it returns


def test_batches_dataset_round_trips_through_the_cache(tmp_path):
    archive = batches_archive(tmp_path)
    first = load_dataset(archive, cache_dir=tmp_path / "cache")
    second = load_dataset(archive, cache_dir=tmp_path / "cache")
    check_batches_dataset(second)
    assert_same_dataset(first, second)


def corrupt_garbage(data):
    return b"this is not an npz file"


def corrupt_truncated(data):
    return data[: len(data) // 2]


def corrupt_empty(data):
    return b""


def corrupt_bit_flip(data):
    return data[:300] + bytes([data[300] ^ 0xFF]) + data[301:]


@pytest.mark.parametrize(
    "corrupt",
    [
        corrupt_garbage,
        corrupt_truncated,
        corrupt_empty,
        corrupt_bit_flip,
    ],
)
def test_corrupted_cache_file_is_ignored_and_rebuilt(tmp_path, corrupt):
    archive = image_archive(tmp_path, suffix=".png")
    cache = tmp_path / "cache"
    first = load_dataset(archive, cache_dir=cache)
    (cache_file,) = cache.iterdir()
    good = cache_file.read_bytes()
    cache_file.write_bytes(corrupt(good))

    second = load_dataset(archive, cache_dir=cache)

    assert_same_dataset(first, second)
    assert list(cache.iterdir()) == [cache_file]
    assert cache_file.stat().st_size == len(good)  # rebuilt, not left broken
    assert_same_dataset(first, load_dataset(archive, cache_dir=cache))


def test_cache_dir_false_writes_nothing_anywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    archive = image_archive(tmp_path, suffix=".png")
    before = sorted(tmp_path.rglob("*"))

    load_dataset(archive, cache_dir=False)

    assert sorted(tmp_path.rglob("*")) == before


def test_default_cache_dir_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    archive = image_archive(tmp_path, suffix=".png")

    load_dataset(archive)

    assert len(list((tmp_path / "xdg").rglob("*.npz"))) == 1


def test_cache_keeps_limited_and_full_loads_apart(tmp_path):
    archive = image_archive(tmp_path, suffix=".png", per_class=3)
    cache = tmp_path / "cache"

    full = load_dataset(archive, cache_dir=cache)
    limited = load_dataset(archive, limit=1, cache_dir=cache)

    assert len(list(cache.iterdir())) == 2
    assert len(full.train) == 30
    assert len(limited.train) == 10
    assert len(load_dataset(archive, cache_dir=cache).train) == 30


def test_cache_of_a_folder_is_not_reused_after_an_image_changes(tmp_path):
    top = write_image_tree(tmp_path / "tree", suffix=".png")
    cache = tmp_path / "cache"
    first = load_dataset(top, cache_dir=cache)
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(top / "train" / "bird" / "0000.png")  # a different size on disk too

    second = load_dataset(top, cache_dir=cache)

    row = 2 * PER_CLASS  # bird is class 2, file 0000 is its first image
    np.testing.assert_array_equal(second.train.images[row], noise)
    assert second.fingerprint != first.fingerprint


# --- train / validation split -----------------------------------------------------------------------------------

COUNTS = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
def test_validation_split_is_stratified_disjoint_and_complete(fraction):
    split, ids = labelled_split(COUNTS)

    train, validation = train_validation_split(split, fraction, seed=0)

    expected = [round(n * fraction) for n in COUNTS]
    np.testing.assert_array_equal(np.bincount(validation.labels, minlength=10), expected)
    np.testing.assert_array_equal(np.bincount(train.labels, minlength=10), np.array(COUNTS) - expected)
    train_ids, validation_ids = ids_of(train), ids_of(validation)
    assert set(train_ids).isdisjoint(validation_ids)
    assert sorted([*train_ids, *validation_ids]) == list(ids)
    # every image keeps its own label
    np.testing.assert_array_equal(train.labels, split.labels[train_ids])
    np.testing.assert_array_equal(validation.labels, split.labels[validation_ids])
    assert train.images.shape[1:] == validation.images.shape[1:] == (32, 32, 3)


def test_validation_split_is_the_same_for_the_same_seed_and_differs_for_another():
    split, _ = labelled_split(COUNTS)

    first = ids_of(train_validation_split(split, 0.3, seed=5)[1])
    again = ids_of(train_validation_split(split, 0.3, seed=5)[1])
    other = ids_of(train_validation_split(split, 0.3, seed=6)[1])

    np.testing.assert_array_equal(first, again)
    assert set(first) != set(other)


def test_validation_fraction_zero_gives_an_empty_validation_split():
    split, ids = labelled_split(COUNTS)

    train, validation = train_validation_split(split, 0.0, seed=0)

    assert len(validation) == 0
    assert validation.images.shape == (0, 32, 32, 3)
    np.testing.assert_array_equal(ids_of(train), ids)
    np.testing.assert_array_equal(train.labels, split.labels)


@pytest.mark.parametrize("fraction", [1.0, 1.5, -0.1, float("nan")])
def test_validation_fraction_outside_zero_to_one_is_refused(fraction):
    split, _ = labelled_split(COUNTS)
    with pytest.raises(DataError) as error:
        train_validation_split(split, fraction, seed=0)
    assert_one_line_error(error, "val-fraction")


# --- Dataset ------------------------------------------------------------------------------------------------


def test_dataset_split_by_name_and_unknown_name_is_refused():
    train, _ = labelled_split([1] * 10)
    test, _ = labelled_split([2] * 10)
    dataset = Dataset(train=train, test=test, source="x", fingerprint="sha256:0")

    assert dataset.split("train") is train
    assert dataset.split("test") is test
    with pytest.raises(DataError) as error:
        dataset.split("nope")
    assert_one_line_error(error, "'nope'", "train", "test")
