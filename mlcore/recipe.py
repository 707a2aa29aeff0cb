"""What every architecture's `Recipe` shares: the fields `manage.py train` sets, each described in its dataclass field
metadata (what it does, how the text given becomes a value, or the values allowed), and the checks of their values.

A field made with `option(...)` is a command-line option of the architectures whose Recipe declares it that way
(mlcore.architectures.recipe_options); the other fields keep their defaults.
"""

from dataclasses import field

from mlcore.scores import TTA_LEVELS

NETWORK_SHAPE_ERROR = "--image-size must be at least 32 pixels and --frozen-blocks 1-15"


def option(default, help: str, *, parse=None, choices=None):
    """A recipe field that `manage.py train` takes as --its-name: `parse` turns the text given into its value (an
    argparse type: a ValueError refuses it), or `choices` lists the values allowed."""
    return field(default=default, metadata={"help": help, "parse": parse, "choices": choices})


def epochs(default: float):
    return option(default, "passes over the training split; fractions allowed", parse=float)


def batch_size(default: int):
    return option(default, "images per optimiser step", parse=int)


def seed():
    return option(0, "seed of the validation split, the initial weights and the augmentation", parse=int)


def val_fraction():
    return option(0.04, "share of the training split held out for model selection", parse=float)


def limit():
    return option(None, "images per class, for a quick run", parse=int)


def tta():
    return option("flip", "test-time augmentation the bundle evaluates and serves with", choices=TTA_LEVELS)


def check(recipe) -> None:
    """The checks of the fields every recipe has; a ValueError names the options at fault."""
    if recipe.epochs <= 0 or recipe.batch_size < 1:
        raise ValueError("--epochs and --batch-size must be positive")
    if recipe.image_size < 32:
        raise ValueError(NETWORK_SHAPE_ERROR)


def flag(name: str) -> str:
    """The command-line option that sets the field or option `name`."""
    return f"--{name.replace('_', '-')}"


def plain(value) -> str:
    """A value as it is written on the command line: 64,320,320 for a sequence, 3.5 (not 3.50) for a number."""
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)
