"""The options of a `manage.py train` run: the command line its bundle records, what its checkpoint keeps of them
(mlcore.checkpoint), and which of them a resumed run takes back from there. A resumed run keeps its data and options:
one given again must be the same."""

from pathlib import Path

from mlcore.architectures import DEFAULT_ARCHITECTURE, recipe_options, recipe_with
from mlcore.bundle import BundleError, read_metadata
from mlcore.checkpoint import Checkpoint, CheckpointError
from mlcore.evaluate import is_photo_folder
from mlcore.recipe import flag, plain

RECIPE_OPTIONS = tuple(option.name for option in recipe_options())
# What a resumed run takes from its checkpoint when not given again (and must not be given otherwise).
RUN_OPTIONS = ("data", "arch", *RECIPE_OPTIONS, "photos", "thumbnail_expert", "include_reviewed")


def is_finished(out) -> bool:
    """Whether `out` holds the bundle of a finished run and no checkpoint."""
    if Checkpoint(out).exists():
        return False
    try:
        return "test" in read_metadata(out)
    except (BundleError, OSError, ValueError):
        return False


def prepare_run(options: dict) -> tuple[dict, object]:
    """The options and the recipe a run goes with, from a command's: with `resume` (the stopped run's bundle folder),
    the options kept in its checkpoint (`resumed_options`); the default architecture when none is named. A ValueError
    (a CheckpointError among them) says which option is wrong."""
    if options["resume"]:
        options = resumed_options(options)
    elif not options["data"]:
        raise ValueError("--data is required (or --resume DIR to go on with a stopped run)")
    options = options | {"arch": options["arch"] or DEFAULT_ARCHITECTURE}
    recipe = recipe_with(options["arch"], options)
    if options["photos"] is not None and not is_photo_folder(options["photos"]):
        raise ValueError(f"--photos {options['photos']} is not a folder of <class>/ and none/ photo subfolders")
    return options, recipe


def train_arguments(options: dict) -> dict:
    """The keyword arguments of mlcore.train.train that come from a run's options."""
    return {
        "command": command_line(options),
        "photos": options["photos"],
        "thumbnail_experts": options["thumbnail_expert"],
        "resume": bool(options["resume"]),
        "options": kept_options(options),
    }


def resumed_options(options: dict) -> dict:
    """`options` (a command's, with `resume` the stopped run's bundle folder) with those of the run kept in its
    checkpoint; a CheckpointError when one given again differs, or when there is no checkpoint."""
    out = options["resume"]
    if options["out"] and Path(options["out"]).resolve() != Path(out).resolve():
        raise CheckpointError(f"--resume {out} writes to {out}: leave out --out {options['out']}")
    saved = Checkpoint(out).run()["options"]
    for name in RUN_OPTIONS:
        given, kept = options.get(name), saved.get(name)
        if name == "data" or given is None or given is False or given == []:  # not given (--seed 0 is given)
            continue
        if isinstance(given, tuple):
            given = list(given)
        if given != kept:
            then = "default" if kept is None else plain(kept)
            raise CheckpointError(
                f"{flag(name)} {plain(given)} differs from the stopped run's {then}: a resumed run keeps its options "
                "(start a new run with --out to change them)"
            )
    resumed = options | {name: saved.get(name) for name in RUN_OPTIONS if name != "data" or not options["data"]}
    resumed["widths"] = tuple(resumed["widths"]) if resumed.get("widths") else None
    resumed["register"] = options["register"] and saved.get("register", True)  # --no-register either time holds
    return resumed | {"out": out, "thumbnail_expert": resumed.get("thumbnail_expert") or []}


def kept_options(options: dict) -> dict:
    """The options a resumed run takes up again, with paths made absolute: what the checkpoint keeps."""
    kept = {name: options.get(name) for name in RUN_OPTIONS}
    for name in ("data", "photos"):
        kept[name] = str(Path(kept[name]).resolve()) if kept[name] else None
    kept["thumbnail_expert"] = [str(Path(path).resolve()) for path in kept["thumbnail_expert"] or []]
    kept["widths"] = list(kept["widths"]) if kept["widths"] else None
    return kept | {"register": options["register"]}


def command_line(options: dict) -> str:
    """The command that runs the same training again, as the bundle records it."""
    names = ("data", "out", "arch", *RECIPE_OPTIONS, "photos", "thumbnail_expert", "include_reviewed")
    given = [_option(name, options.get(name)) for name in names]
    return "python manage.py train " + " ".join(option for option in given if option)


def _option(name: str, value) -> str:
    """`--name value`, or `--name` for a flag that is on, or nothing (not `in (None, False)`: --seed 0 counts)."""
    if value is None or value is False or value == []:
        return ""
    if isinstance(value, list):
        return " ".join(f"{flag(name)} {item}" for item in value)
    return flag(name) if value is True else f"{flag(name)} {plain(value)}"
