"""The network families mlcore can train, by the name `manage.py train --arch` takes.

Each family's module gives the same few things: NAME, TITLE, DESCRIPTION, a `Recipe` dataclass (its default training
recipe, with `image_size`, `tta`, `seed`, `val_fraction`, `limit`, `epochs`, `batch_size` and
`quantize_serving`), `make_model`, `fit`, FEATURES_LAYER / FEATURES_POOLING (the last feature maps the
serving model also returns, and how the head pools them), QUANTIZED_ACTIVATIONS (a full-integer serving
model, or int8 weights alone), and HEAT_MAPS / HEAD_LAYER (the heat-map method that
localises best for it, and the linear head that class activation maps need, if any).
"""

from types import ModuleType

from mlcore.architectures import airbench, efficientnet_lite0

ARCHITECTURES = {module.NAME: module for module in (efficientnet_lite0, airbench)}
DEFAULT_ARCHITECTURE = efficientnet_lite0.NAME


def get_architecture(name: str) -> ModuleType:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}: choose one of {', '.join(ARCHITECTURES)}") from None


def default_recipe(name: str = DEFAULT_ARCHITECTURE):
    return get_architecture(name).Recipe()
