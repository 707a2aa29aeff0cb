"""Each architecture's recipe checks its own values and describes the options `manage.py train` takes for it."""

import re

import pytest

from mlcore.architectures import (
    ARCHITECTURES,
    airbench,
    bundle_architecture,
    efficientnet_lite0,
    recipe_options,
    recipe_with,
)
from mlcore.recipe import plain
from mlcore.scores import TTA_LEVELS

SHAPE = "--image-size must be at least 32 pixels and --frozen-blocks 1-15"


@pytest.mark.parametrize(
    ("recipe", "values", "message"),
    [
        (airbench.Recipe, {"epochs": 0}, "--epochs and --batch-size must be positive"),
        (efficientnet_lite0.Recipe, {"batch_size": 0}, "--epochs and --batch-size must be positive"),
        (efficientnet_lite0.Recipe, {"frozen_blocks": 16}, SHAPE),
        (efficientnet_lite0.Recipe, {"image_size": 31}, SHAPE),
        (airbench.Recipe, {"image_size": 16}, SHAPE),
        (airbench.Recipe, {"cutout": 32}, "--cutout must be 0-31 pixels and --lookahead-every 0 or more steps"),
        (airbench.Recipe, {"lookahead_every": -1}, "--cutout must be 0-31 pixels"),
    ],
)
def test_a_recipe_refuses_values_that_cannot_be_trained(recipe, values, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        recipe(**values)


def test_the_options_given_change_the_recipe_and_the_others_keep_its_defaults():
    recipe = recipe_with("airbench", {"cutout": 8, "widths": (8, 16, 16), "epochs": None, "data": "other.tar.gz"})
    assert (recipe.cutout, recipe.widths) == (8, (8, 16, 16))
    assert recipe.epochs == airbench.Recipe().epochs


def test_options_of_another_architecture_are_refused_by_name():
    expected = "--arch airbench has no --frozen-blocks, --learning-rate: those options belong to another architecture"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        recipe_with("airbench", {"learning_rate": 0.1, "frozen_blocks": 3})


def test_each_option_says_which_architectures_have_it_and_their_defaults():
    options = {option.name: option for option in recipe_options()}
    assert options["widths"].help == "airbench: channels of the three conv groups (default 64,320,320)"
    assert options["frozen_blocks"].help.startswith("efficientnet-lite0: ")
    assert options["epochs"].help.endswith("(default: 3.5 for efficientnet-lite0, 14 for airbench)")
    assert options["tta"].choices == TTA_LEVELS and not options["tta"].help.startswith(tuple(ARCHITECTURES))


def test_each_option_reads_back_the_default_it_shows():
    for option in recipe_options():
        for module in ARCHITECTURES.values():
            default = getattr(module.Recipe(), option.name, None)
            if default is not None and option.parse:
                assert option.parse(plain(default)) == default, option.name
            elif default is not None:
                assert default in option.choices, option.name


@pytest.mark.parametrize("text", ["8,16", "8,16,0", "8,sixteen,16"])
def test_widths_are_three_positive_channel_counts(text):
    widths = {option.name: option for option in recipe_options()}["widths"]
    assert widths.parse("8,16,16") == (8, 16, 16)
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        widths.parse(text)


@pytest.mark.parametrize(
    ("metadata", "name"),
    [
        ({"architecture_name": "efficientnet-lite0", "training": {"config": {}}}, "efficientnet-lite0"),
        ({"training": {"config": {"architecture": "efficientnet-lite0"}}}, "efficientnet-lite0"),
        ({"training": {"config": {"epochs": 10}}}, "airbench"),  # written before either was recorded
        ({}, "airbench"),
    ],
)
def test_an_old_bundle_names_its_architecture_in_its_config_or_is_airbench(metadata, name):
    assert bundle_architecture(metadata) == name
