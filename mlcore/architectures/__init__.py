"""The network families mlcore can train, by the name `manage.py train --arch` takes.

Each family's module gives the same few things: NAME, TITLE, SUMMARY, DESCRIPTION, a `Recipe` dataclass (its
default training recipe, with `image_size`, `tta`, `seed`, `val_fraction`, `limit`, `epochs`, `batch_size` and
`quantize_serving`; it checks its own values, and its fields made with mlcore.recipe.option are the command's
options), `make_model`, `fit`, FEATURES_LAYER / FEATURES_POOLING (the last feature maps the
serving model also returns, and how the head pools them), QUANTIZED_ACTIVATIONS (a full-integer serving
model, or int8 weights alone), and HEAT_MAPS / HEAD_LAYER (the heat-map method that
localises best for it, and the linear head that class activation maps need, if any).
"""

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from types import ModuleType

from mlcore.architectures import airbench, efficientnet_lite0
from mlcore.recipe import flag, plain

ARCHITECTURES = {module.NAME: module for module in (efficientnet_lite0, airbench)}
DEFAULT_ARCHITECTURE = efficientnet_lite0.NAME


@dataclass(frozen=True)
class RecipeOption:
    """A recipe field a command takes as an option: `help` names the architectures that have it and its defaults."""

    name: str
    help: str
    parse: Callable[[str], object] | None
    choices: tuple | None


def get_architecture(name: str) -> ModuleType:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}: choose one of {', '.join(ARCHITECTURES)}") from None


def default_recipe(name: str = DEFAULT_ARCHITECTURE):
    return get_architecture(name).Recipe()


def architectures_help() -> str:
    """What each architecture is, in a line, the default marked."""
    return "; ".join(
        f"{name}: {module.SUMMARY}{' (default)' if name == DEFAULT_ARCHITECTURE else ''}"
        for name, module in ARCHITECTURES.items()
    )


def recipe_with(name: str, options: dict):
    """`name`'s default recipe with the recipe options in `options` that are not None. A ValueError says which options
    belong to another architecture, or which values make no sense."""
    recipe = default_recipe(name)
    given = {option.name: options[option.name] for option in recipe_options() if options.get(option.name) is not None}
    foreign = sorted(set(given) - {field.name for field in fields(recipe)})
    if foreign:
        flags = ", ".join(map(flag, foreign))
        raise ValueError(f"--arch {name} has no {flags}: those options belong to another architecture")
    return replace(recipe, **given)


def recipe_options() -> list[RecipeOption]:
    """Every architecture's options (mlcore.recipe.option): those all of them have first, in the default recipe's
    order, then each architecture's own."""
    declared = {
        name: {field.name: field for field in fields(module.Recipe) if "help" in field.metadata}
        for name, module in ARCHITECTURES.items()
    }
    everywhere = [name for name in declared[DEFAULT_ARCHITECTURE] if all(name in own for own in declared.values())]
    names = dict.fromkeys([*everywhere, *(name for own in declared.values() for name in own)])
    return [_option({arch: own[name] for arch, own in declared.items() if name in own}) for name in names]


def _option(having: dict) -> RecipeOption:
    """The option of a field, from its declarations by the architectures that have it."""
    field = next(iter(having.values()))
    defaults = {arch: declared.default for arch, declared in having.items()}
    if None in defaults.values():
        text = field.metadata["help"]
    elif len(set(defaults.values())) == 1:
        text = f"{field.metadata['help']} (default {plain(field.default)})"
    else:
        each = ", ".join(f"{plain(default)} for {arch}" for arch, default in defaults.items())
        text = f"{field.metadata['help']} (default: {each})"
    if len(having) < len(ARCHITECTURES):
        text = f"{', '.join(having)}: {text}"
    return RecipeOption(field.name, text, field.metadata["parse"], field.metadata["choices"])


def bundle_architecture(metadata: dict) -> str:
    """The architecture of a bundle's network: bundles written before `architecture_name` was kept name it in their
    training config, and the oldest were all airbench's."""
    config = (metadata.get("training") or {}).get("config") or {}
    return metadata.get("architecture_name") or config.get("architecture") or airbench.NAME
