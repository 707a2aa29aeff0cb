"""Bundles of experts: the rule as data (which experts answer which images, how they combine, when the answer is
"none of the ten"), the numbers of it chosen by measurement, and a bundle put together by a real training run."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore import bundle, imagenet
from mlcore.architectures.airbench import Recipe
from mlcore.inference import Classifier
from mlcore.labels import CLASSES
from mlcore.rule import Case
from mlcore.train import refresh_bundle, train

PHOTOS = Path(__file__).parent.parent / "fixtures" / "photos"
SHIPPED = Path(__file__).resolve().parents[2] / "models" / "cifar10"
TINY = Recipe(epochs=1, batch_size=25, widths=(8, 16, 16), val_fraction=0.2, whiten_patch_images=50)


def fixed_network(folder: Path, name: str, logits: dict, outputs=CLASSES, class_map=None) -> Path:
    """A bundle of one network that answers every image with the same logits (class name -> logit, 0 elsewhere):
    a real LiteRT model, served like any other."""
    import keras

    from mlcore.preprocessing import preprocessing_description

    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(0.0)(inputs))
    dense = keras.layers.Dense(len(outputs))
    model = keras.Model(inputs, dense(pooled))
    bias = np.array([logits.get(label, 0.0) for label in outputs], dtype=np.float32)
    dense.set_weights([np.zeros((3, len(outputs)), np.float32), bias])
    folder.mkdir(parents=True)
    (folder / bundle.SERVING_FILE).write_bytes(bundle.serving_model_bytes(model, None, quantize=False))
    metadata = {"name": name, "classes": list(outputs), "input": {"shape": [32, 32, 3]}, "tta": "none"}
    metadata["preprocessing"] = preprocessing_description(32)
    if class_map:
        metadata["class_map"] = class_map
    bundle.write_json(folder, bundle.METADATA_FILE, metadata)
    return folder


def bundle_of(folder: Path, experts: list, cases: list) -> Path:
    entries = [
        {"name": name, "folder": f"experts/{name}", "network": "fixed", "trained_on": on} for name, on in experts
    ]
    bundle.write_json(folder, bundle.METADATA_FILE, {"name": "made", "experts": entries, "rule": cases})
    return folder


def grey_photo(side: int) -> Image.Image:
    return Image.new("RGB", (side, side), (120, 120, 120))


def test_each_expert_alone_is_wrong_and_the_two_together_right(tmp_path):
    # The photo shows a cat. One expert hesitates between cat and dog and says dog; the other between cat and bird
    # and says bird; only cat is likely to both, so the pool says cat.
    fixed_network(tmp_path / "experts" / "alpha", "alpha", {"cat": 2.0, "dog": 2.3})
    fixed_network(tmp_path / "experts" / "beta", "beta", {"cat": 2.0, "bird": 2.3})
    weights = {"alpha": 0.5, "beta": 0.5}
    bundle_of(tmp_path, [("alpha", "CIFAR-10"), ("beta", "CIFAR-10")], [Case("all", weights).as_dict()])
    answer = Classifier(tmp_path).classify([grey_photo(100)])[0]
    alone = {expert.name: expert.label for expert in answer.experts}
    assert alone == {"alpha": "dog", "beta": "bird"}
    assert answer.label == "cat"
    assert [expert.weight for expert in answer.experts] == [0.5, 0.5]


@pytest.fixture(scope="module")
def shipped():
    return Classifier(SHIPPED)


def test_thumbnails_never_reach_the_imagenet_expert(shipped, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the ImageNet expert looked at a thumbnail")

    monkeypatch.setattr(shipped.experts[imagenet.NAME], "answer", must_not_run)
    for side in (32, 48, 64):
        answer = shipped.classify([grey_photo(side)])[0]
        assert answer.case == "thumbnail" and imagenet.NAME not in {expert.name for expert in answer.experts}
    with pytest.raises(AssertionError, match="looked at a thumbnail"):
        shipped.classify([grey_photo(65)])


def test_a_photo_is_answered_by_the_cifar_and_the_imagenet_expert_each_from_its_own_square(shipped):
    answer = shipped.classify([PHOTOS / "dog-rottweiler.jpg"])[0]
    assert answer.case == "photo" and answer.label == "dog" and not answer.none_of_the_classes
    sides = {expert.name: expert.square.shape[0] for expert in answer.experts}
    assert sides == {"cifar10-efficientnet-lite0": 128, imagenet.NAME: 224}
    assert answer.experts[1].other is not None and answer.experts[0].other is None


def test_a_photo_of_none_of_the_ten_says_why_and_is_not_sure_of_a_class(shipped):
    answer = shipped.classify([PHOTOS / "espresso-coffee.jpg"])[0]
    assert answer.none_of_the_classes
    assert answer.none_because[0] == {"expert": imagenet.NAME, "signal": "other", "above": pytest.approx(0.833)}


# --- a bundle put together by `train` ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """Real photos of the ten classes and one of something else, laid out as `manage.py evaluate` reads them."""
    folder = tmp_path_factory.mktemp("photos")
    for photo in PHOTOS.glob("*.jpg"):
        label = photo.name.split("-")[0]
        target = folder / (label if label in CLASSES else "none") / photo.name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(photo, target)
    return folder


@pytest.fixture(scope="module")
def trained_experts(tmp_path_factory, synthetic_dataset, photo_folder):
    root = tmp_path_factory.mktemp("experts")
    silent = {"progress": lambda line: None}
    train(synthetic_dataset, TINY, root / "thumbnail", **silent)
    train(
        synthetic_dataset,
        replace(TINY, widths=(8, 8, 8)),
        root / "bundle",
        photos=photo_folder,
        thumbnail_experts=[root / "thumbnail"],
        **silent,
    )
    return root / "bundle"


@pytest.mark.slow
def test_train_writes_a_bundle_of_experts_with_the_rule_and_the_figures_that_chose_it(trained_experts, photo_folder):
    metadata = json.loads((trained_experts / "metadata.json").read_text())
    assert [entry["name"] for entry in metadata["experts"]] == ["cifar10-airbench", "cifar10-airbench-2", imagenet.NAME]
    thumbnail, photo = (Case.from_dict(case) for case in metadata["rule"])
    assert (thumbnail.max_short_side, photo.min_short_side) == (64, 65)
    assert imagenet.NAME not in thumbnail.weights and set(photo.weights) == {"cifar10-airbench", imagenet.NAME}
    assert sum(photo.weights.values()) == pytest.approx(1.0)
    assert len(photo.figures["weights"]["grid"]) == 11 and "photo_expert_alone" in photo.figures["none_of_the_classes"]
    assert photo.none_if[0][0].signal == "other"
    assert metadata["photos"]["in_class_photos"] == 10 and metadata["photos"]["other_photos"] == 1
    for name in ("evaluation.json", "photos.json"):
        assert (trained_experts / name).is_file()
    espresso = Classifier(trained_experts).classify([photo_folder / "none" / "espresso-coffee.jpg"])[0]
    assert espresso.case == "photo" and espresso.none_of_the_classes


@pytest.mark.slow
def test_a_network_from_another_validation_split_is_refused(trained_experts, synthetic_dataset, photo_folder, tmp_path):
    other = tmp_path / "other"
    train(synthetic_dataset, replace(TINY, seed=7), other, progress=lambda line: None)
    with pytest.raises(bundle.BundleError, match="another validation split"):
        refresh_bundle(trained_experts, synthetic_dataset, photos=photo_folder, thumbnail_experts=[other])
