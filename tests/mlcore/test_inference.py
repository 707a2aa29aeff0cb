"""The shipped model, served the way the site serves it."""

import io
import tarfile
import threading
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image

from mlcore.inference import Classifier, load_classifier
from mlcore.labels import CLASSES
from mlcore.preprocessing import ImageError, to_model_input

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "cifar10"
SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "cifar10-test-sample.tar.gz"


def sample_images():
    """300 real CIFAR-10 test images (30 per class, the first by file name) as JPEG bytes and labels."""
    images, labels = [], []
    with tarfile.open(SAMPLE) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            if member.isfile():
                images.append(archive.extractfile(member).read())
                labels.append(CLASSES.index(PurePosixPath(member.name).parts[-2]))
    return images, np.array(labels)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier(SHIPPED_MODEL)


def test_shipped_model_scores_at_least_88_percent_on_real_test_images(classifier):
    images, labels = sample_images()
    assert len(images) == 300
    predictions = classifier.classify(images)
    accuracy = np.mean([CLASSES.index(p.label) == label for p, label in zip(predictions, labels, strict=True)])
    assert accuracy >= 0.88, f"shipped model scored {accuracy:.1%} on the 300-image sample"


def test_a_prediction_carries_all_ten_probabilities_highest_first(classifier):
    images, _ = sample_images()
    prediction = classifier.classify([images[0]])[0]
    assert list(prediction.probabilities) == list(CLASSES)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    top = prediction.top_k
    assert [item["probability"] for item in top] == sorted(prediction.probabilities.values(), reverse=True)
    assert top[0]["label"] == prediction.label and top[0]["probability"] == prediction.confidence
    assert prediction.pixels.shape == (128, 128, 3) and prediction.pixels.dtype == np.uint8
    # the shipped CIFAR network learnt from 32x32 images enlarged to 128x128: a photo is brought to 32x32 first
    assert classifier.first.through == 32
    np.testing.assert_array_equal(prediction.pixels, to_model_input(images[0], 128, through=32))


def test_bytes_pil_images_and_paths_give_the_same_answer(classifier, tmp_path):
    images, _ = sample_images()
    path = tmp_path / "photo.jpg"
    path.write_bytes(images[5])
    answers = classifier.classify([images[5], Image.open(io.BytesIO(images[5])), path, str(path)])
    assert len({tuple(a.probabilities.values()) for a in answers}) == 1


def test_a_large_photo_is_classified(classifier):
    gradient = np.linspace(0, 255, 4000, dtype=np.uint8)
    photo = np.stack([np.tile(gradient, (3000, 1))] * 3, axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=85)
    assert classifier.classify([buffer.getvalue()])[0].label in CLASSES


def test_undecodable_input_raises_image_error(classifier):
    with pytest.raises(ImageError):
        classifier.classify([b"this is not an image"])


def test_concurrent_threads_get_the_same_answers_as_one_thread(classifier):
    images, _ = sample_images()
    batch = images[:40]
    expected = [p.probabilities for p in classifier.classify(batch)]
    results, errors = {}, []

    def worker(index):
        try:
            results[index] = [p.probabilities for p in classifier.classify(batch)]
        except Exception as error:  # a thread's failure must fail the test, not vanish
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for answer in results.values():
        for got, want in zip(answer, expected, strict=True):
            assert got == pytest.approx(want, abs=1e-6)


def _photo_jpeg(width=320, height=240) -> bytes:
    """A photo-sized image, which the bundle answers with its photo case (other experts than a thumbnail's)."""
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def test_threads_share_the_slots_interpreters_never_one_per_thread_or_per_request():
    classifier = Classifier(SHIPPED_MODEL, slots=2)
    images, _ = sample_images()
    batch = [*images[:3], _photo_jpeg()]  # thumbnails and a photo: every expert answers
    errors = []

    def worker():
        try:
            for _ in range(3):
                classifier.classify(batch)
        except Exception as error:  # a thread's failure must fail the test, not vanish
            errors.append(error)

    def run_threads(count):
        threads = [threading.Thread(target=worker) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    run_threads(8)
    built = classifier.interpreters_built
    assert not errors
    assert len(classifier.experts) <= built <= 2 * len(classifier.experts)  # one per expert per slot at most
    run_threads(8)
    assert classifier.interpreters_built == built  # and none more for more requests or new threads


def test_a_thread_waits_for_a_free_slot_and_a_held_slot_serves_its_own_classifying():
    classifier = Classifier(SHIPPED_MODEL, slots=2)
    images, _ = sample_images()
    release, got_slot = threading.Event(), threading.Event()
    holders_ready = threading.Barrier(3)

    def hold():
        with classifier.slot():
            holders_ready.wait()
            release.wait(10)

    def third():
        with classifier.slot():
            got_slot.set()
            classifier.classify(images[:1])  # the slot it holds: no second slot needed, no deadlock

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for thread in holders:
        thread.start()
    holders_ready.wait()
    waiting = threading.Thread(target=third)
    waiting.start()
    assert not got_slot.wait(0.3), "a third thread classified while both slots were held"
    release.set()
    waiting.join(10)
    assert got_slot.is_set() and not waiting.is_alive()
    for thread in holders:
        thread.join()


def test_the_classifier_is_loaded_once_per_process():
    assert load_classifier(SHIPPED_MODEL) is load_classifier(SHIPPED_MODEL)


def test_a_missing_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a model bundle"):
        Classifier(tmp_path / "nowhere")
