"""The ImageNet expert: the table that reads ImageNet's 1000 classes as our ten, and the expert the shipped bundle
serves, on photos of each class (tests/fixtures/photos, their licences in the README there)."""

from pathlib import Path

import numpy as np
import pytest

from mlcore import imagenet
from mlcore.inference import Expert
from mlcore.labels import CLASSES
from mlcore.preprocessing import to_model_input

PHOTOS = Path(__file__).parent.parent / "fixtures" / "photos"
SHIPPED_EXPERT = Path(__file__).resolve().parents[2] / "models" / "cifar10" / "experts" / imagenet.NAME
PHOTO_OF = {
    "airplane": "airplane-airliner.jpg",
    "automobile": "automobile-land-rover.jpg",
    "bird": "bird-red-tailed-hawk.jpg",
    "cat": "cat-chelsea.jpg",
    "deer": "deer-white-tailed-buck.jpg",
    "dog": "dog-rottweiler.jpg",
    "frog": "frog-green-tree-frog.jpg",
    "horse": "horse-racehorse.jpg",
    "ship": "ship-container-ship.jpg",
    "truck": "truck-fire-ladder.jpg",
}


def names_of(group: str) -> set[str]:
    listed = imagenet.class_list()
    return {listed[index][1] for index in imagenet.GROUPS[group]}


def test_the_class_list_is_imagenets_thousand_classes_in_output_order():
    listed = imagenet.class_list()
    assert len(listed) == 1000 and len({wnid for wnid, _ in listed}) == 1000
    assert listed[0] == ("n01440764", "tench") and listed[999] == ("n15075141", "toilet_tissue")


def test_every_imagenet_class_counts_for_at_most_one_of_ours():
    mapped = [index for name in CLASSES for index in imagenet.GROUPS[name]]
    assert set(imagenet.GROUPS) == set(CLASSES)
    assert len(mapped) == len(set(mapped)) and all(0 <= index < 1000 for index in mapped)


def test_each_group_holds_what_its_comment_and_cifars_definitions_say():
    assert names_of("cat") == {"tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "Egyptian_cat"}
    assert names_of("dog") == {name for _, name in imagenet.class_list()[151:269]}  # the 118 breeds
    assert names_of("frog") == {"bullfrog", "tree_frog", "tailed_frog"}
    assert names_of("deer") == {"hartebeest", "impala", "gazelle"}  # ImageNet has no deer
    assert names_of("horse") == {"sorrel"}
    assert names_of("airplane") == {"airliner", "warplane"}
    assert {"ostrich", "black_swan", "king_penguin", "goldfinch", "bald_eagle", "flamingo"} <= names_of("bird")
    assert {"container_ship", "canoe", "speedboat", "submarine", "aircraft_carrier", "wreck"} <= names_of("ship")
    assert {"sports_car", "convertible", "cab", "jeep", "minivan", "beach_wagon"} <= names_of("automobile")
    assert {"fire_engine", "garbage_truck", "trailer_truck", "tow_truck", "moving_van"} <= names_of("truck")
    everything_mapped = set().union(*(names_of(name) for name in CLASSES))
    # CIFAR-10: neither automobile nor truck includes pickups; big cats, wolves, zebras and buses are none of ours
    for other in ("pickup", "lion", "tiger", "timber_wolf", "dingo", "zebra", "school_bus", "airship", "plane"):
        assert other not in everything_mapped


@pytest.fixture(scope="module")
def shipped_expert():
    return Expert(SHIPPED_EXPERT)


@pytest.mark.parametrize("label", CLASSES)
def test_a_photo_of_each_class_lands_in_it_through_the_table(shipped_expert, label):
    answer = shipped_expert.answer(to_model_input(PHOTOS / PHOTO_OF[label], imagenet.IMAGE_SIZE)[None])
    assert CLASSES[int(answer.probabilities[0].argmax())] == label
    assert answer.probabilities[0].max() > 0.5 and answer.other[0] < 0.3


def test_a_photo_of_none_of_the_ten_goes_to_other(shipped_expert):
    answer = shipped_expert.answer(to_model_input(PHOTOS / "espresso-coffee.jpg", imagenet.IMAGE_SIZE)[None])
    assert answer.other[0] > 0.95
    assert answer.probabilities[0].sum() == pytest.approx(1 - answer.other[0])


def test_the_expert_is_built_from_the_weight_package_with_the_table_in_its_metadata(tmp_path, shipped_expert):
    representative = np.random.default_rng(0).integers(0, 256, (8, 224, 224, 3), dtype=np.uint8)
    folder = imagenet.build_expert(tmp_path / "imagenet", representative, progress=lambda line: None)
    built = Expert(folder)
    assert built.metadata["class_map"] == {name: list(imagenet.GROUPS[name]) for name in CLASSES}
    assert len(built.metadata["classes"]) == 1000 and built.decode_side == imagenet.IMAGE_SIZE
    cat = to_model_input(PHOTOS / "cat-chelsea.jpg", imagenet.IMAGE_SIZE)[None]
    assert CLASSES[int(built.answer(cat).probabilities[0].argmax())] == "cat"
