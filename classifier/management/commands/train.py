import contextlib
import logging
import os
import sys
import warnings
from dataclasses import fields, replace
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from classifier.selectors import reviewed_uploads_as_training_data
from classifier.services import model_version_register
from mlcore.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE, default_recipe
from mlcore.architectures.efficientnet_lite0 import PretrainedWeightsError
from mlcore.bundle import BundleError, read_metadata, utc_now
from mlcore.checkpoint import Checkpoint, CheckpointError
from mlcore.data import DataError, load_dataset
from mlcore.evaluate import is_photo_folder
from mlcore.scores import TTA_LEVELS

# Options that set a field of the chosen architecture's recipe; left out, the recipe's default holds.
RECIPE_OPTIONS = (
    "epochs",
    "batch_size",
    "seed",
    "val_fraction",
    "limit",
    "image_size",
    "frozen_blocks",
    "learning_rate",
    "widths",
    "cutout",
    "lookahead_every",
    "tta",
)
# What a resumed run takes from its checkpoint when not given again (and must not be given otherwise).
RUN_OPTIONS = ("data", "arch", *RECIPE_OPTIONS, "photos", "thumbnail_expert", "include_reviewed")


class Command(BaseCommand):
    help = "Train the network on CIFAR-10 (CPU) and write a model bundle."

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            help="cifar10-jpeg.tar.gz, an image-folder tree, cifar-10-python.tar.gz or cifar-10-batches-py/",
        )
        parser.add_argument(
            "--out",
            help="bundle folder to write (default: var/models/<date-time>); the run's checkpoint is kept beside it, "
            "in <folder>.checkpoint, until the bundle is complete",
        )
        parser.add_argument(
            "--resume",
            metavar="DIR",
            help="go on with the stopped run whose bundle folder is DIR, from its last finished epoch, with the "
            "data and options it was started with",
        )
        parser.add_argument(
            "--arch",
            choices=list(ARCHITECTURES),
            help="efficientnet-lite0: ImageNet-pretrained, fine-tuned (default); airbench: from scratch at 32x32",
        )
        parser.add_argument("--epochs", type=float, help="passes over the training split (default: the recipe's)")
        parser.add_argument("--batch-size", type=int, help="images per optimiser step (default: the recipe's)")
        parser.add_argument("--seed", type=int)
        parser.add_argument(
            "--val-fraction", type=float, help="share of the training split held out for model selection"
        )
        parser.add_argument("--limit", type=int, help="images per class, for a quick run")
        parser.add_argument(
            "--tta", choices=TTA_LEVELS, help="test-time augmentation the bundle evaluates and serves with"
        )
        parser.add_argument("--image-size", type=int, help="efficientnet-lite0: input pixels, square (default 128)")
        parser.add_argument("--frozen-blocks", type=int, help="efficientnet-lite0: blocks kept at ImageNet weights")
        parser.add_argument("--learning-rate", type=float, help="efficientnet-lite0: peak learning rate")
        parser.add_argument(
            "--widths", type=_widths, help="airbench: channels of the three conv groups, e.g. 64,256,256"
        )
        parser.add_argument("--cutout", type=int, help="airbench: side in pixels of the square painted out; 0 for none")
        parser.add_argument("--lookahead-every", type=int, help="airbench: steps between weight averaging; 0 for none")
        parser.add_argument(
            "--photos",
            help="a folder of real photos (<class>/ and none/ subfolders, never trained on) to measure the photo rule "
            "on: the network then joins the ImageNet expert in a bundle of experts",
        )
        parser.add_argument(
            "--thumbnail-expert",
            action="append",
            default=[],
            help="the bundle of another CIFAR network trained on the same data and validation split, to join the "
            "new one for thumbnails if the validation split says it helps (repeatable)",
        )
        parser.add_argument(
            "--no-register",
            dest="register",
            action="store_false",
            help="do not register the new bundle as a model version in the site's database",
        )
        parser.add_argument(
            "--include-reviewed",
            action="store_true",
            help="add the uploads staff confirmed or corrected to the training images (never to validation or test)",
        )
        parser.add_argument(
            "--cache-dir",
            default=settings.DATASET_CACHE_DIR,
            help="where decoded data sets are cached (default: ~/.cache/classifier-site)",
        )

    def handle(self, *args, **options):
        _quiet_tensorflow(options["verbosity"])
        from mlcore.train import train

        if options["resume"]:
            if _finished(options["resume"]):
                self._progress(f"{options['resume']} holds a finished run: there is nothing to resume.")
                return
            options = _resumed_options(options)
        elif not options["data"]:
            raise CommandError("--data is required (or --resume DIR to go on with a stopped run)")
        options["arch"] = options["arch"] or DEFAULT_ARCHITECTURE
        recipe = _recipe(options)
        out = options["out"] or settings.BASE_DIR / "var" / "models" / utc_now()[:16].replace(":", "")
        if options["photos"] is not None and not is_photo_folder(options["photos"]):
            raise CommandError(f"--photos {options['photos']} is not a folder of <class>/ and none/ photo subfolders")
        try:
            dataset = load_dataset(options["data"], limit=options["limit"], cache_dir=options["cache_dir"])
            extra_train = self._reviewed_uploads() if options["include_reviewed"] else None
            train(
                dataset,
                recipe,
                out,
                progress=self._progress,
                command=_command_line(options),
                extra_train=extra_train,
                photos=options["photos"],
                thumbnail_experts=options["thumbnail_expert"],
                resume=bool(options["resume"]),
                options=_run_options(options),
            )
        except (DataError, BundleError, PretrainedWeightsError, CheckpointError) as error:
            raise CommandError(str(error)) from error
        if options["register"]:
            self._register(out)

    def _register(self, out):
        try:
            version = model_version_register(path=out)
        except BundleError as error:  # the bundle is written; only its registration failed
            self.stderr.write(f"The bundle is not registered as a model version: {error}")
            return
        self._progress(f"Registered as model version {version.name}; staff can activate it in the admin.")

    def _reviewed_uploads(self):
        extra_train = reviewed_uploads_as_training_data(warn=lambda line: self.stderr.write(f"Warning: {line}"))
        self._progress(f"Adding {len(extra_train) if extra_train else 0} reviewed uploads to the training images.")
        return extra_train

    def _progress(self, line):
        self.stdout.write(line)
        self.stdout.flush()  # a run takes tens of minutes: show each epoch even when output goes to a file


def _quiet_tensorflow(verbosity: int) -> None:
    """TensorFlow's own log lines (no CUDA driver, oneDNN notices, the converter's advice) look like failures on a
    machine without a GPU: shown from -v 2 on only. TensorFlow writes them to the process's stderr when it loads,
    before any setting of its own is read, so it is imported here with stderr closed; an error raised while it
    loads still reaches the user, as the exception this command prints."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbosity >= 2 else "3"
    if verbosity >= 2:
        return
    warnings.filterwarnings("ignore", module="(keras|tensorflow|absl)")
    logging.getLogger("absl").setLevel(logging.ERROR)
    with _stderr_discarded():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def _stderr_discarded():
    """File descriptor 2 to /dev/null while the block runs (what C++ libraries write goes there too)."""
    sys.stderr.flush()
    saved, discard = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(discard, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(discard)


def _finished(out) -> bool:
    """Whether `out` holds the bundle of a finished run and no checkpoint."""
    if Checkpoint(out).exists():
        return False
    try:
        return "test" in read_metadata(out)
    except (BundleError, OSError, ValueError):
        return False


def _resumed_options(options) -> dict:
    """The options of the run kept in the checkpoint beside `--resume DIR`; an option given again must be the same."""
    out = options["resume"]
    if options["out"] and Path(options["out"]).resolve() != Path(out).resolve():
        raise CommandError(f"--resume {out} writes to {out}: leave out --out {options['out']}")
    try:
        saved = Checkpoint(out).run()["options"]
    except CheckpointError as error:
        raise CommandError(str(error)) from error
    for name in RUN_OPTIONS:
        given, kept = options.get(name), saved.get(name)
        if name == "data" or given is None or given is False or given == []:  # not given (--seed 0 is given)
            continue
        if isinstance(given, tuple):
            given = list(given)
        if given != kept:
            flag, then = f"--{name.replace('_', '-')}", "default" if kept is None else _plain(kept)
            raise CommandError(
                f"{flag} {_plain(given)} differs from the stopped run's {then}: a resumed run keeps its options "
                "(start a new run with --out to change them)"
            )
    resumed = options | {name: saved.get(name) for name in RUN_OPTIONS if name != "data" or not options["data"]}
    resumed["widths"] = tuple(resumed["widths"]) if resumed.get("widths") else None
    resumed["register"] = options["register"] and saved.get("register", True)  # --no-register either time holds
    return resumed | {"out": out, "thumbnail_expert": resumed.get("thumbnail_expert") or []}


def _run_options(options) -> dict:
    """The options a resumed run takes up again, with paths made absolute."""
    kept = {name: options.get(name) for name in RUN_OPTIONS}
    for name in ("data", "photos"):
        kept[name] = str(Path(kept[name]).resolve()) if kept[name] else None
    kept["thumbnail_expert"] = [str(Path(path).resolve()) for path in kept["thumbnail_expert"] or []]
    kept["widths"] = list(kept["widths"]) if kept["widths"] else None
    return kept | {"register": options["register"]}


def _command_line(options) -> str:
    names = ("data", "out", "arch", *RECIPE_OPTIONS, "photos", "thumbnail_expert", "include_reviewed")
    given = [_option(name, options.get(name)) for name in names]
    return "python manage.py train " + " ".join(option for option in given if option)


def _option(name: str, value) -> str:
    """`--name value`, or `--name` for a flag that is on, or nothing (not `in (None, False)`: --seed 0 counts)."""
    flag = f"--{name.replace('_', '-')}"
    if value is None or value is False or value == []:
        return ""
    if isinstance(value, list):
        return " ".join(f"{flag} {item}" for item in value)
    return flag if value is True else f"{flag} {_plain(value)}"


def _widths(text: str) -> tuple[int, int, int]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if len(widths) != 3 or min(widths) < 1:
        raise ValueError(text)  # argparse turns this into "invalid _widths value"
    return widths


def _plain(value) -> str:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _recipe(options):
    """The chosen architecture's default recipe with the options given on the command line."""
    recipe = default_recipe(options["arch"])
    known = {field.name for field in fields(recipe)}
    given = {name: options[name] for name in RECIPE_OPTIONS if options.get(name) is not None}
    foreign = sorted(name for name in given if name not in known)
    if foreign:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in foreign)
        raise CommandError(f"--arch {options['arch']} has no {flags}: those options belong to another architecture")
    recipe = replace(recipe, **given)
    if recipe.epochs <= 0 or recipe.batch_size < 1:
        raise CommandError("--epochs and --batch-size must be positive")
    if recipe.image_size < 32 or not 1 <= getattr(recipe, "frozen_blocks", 1) <= 15:
        raise CommandError("--image-size must be at least 32 pixels and --frozen-blocks 1-15")
    if not 0 <= getattr(recipe, "cutout", 0) < 32 or getattr(recipe, "lookahead_every", 0) < 0:
        raise CommandError("--cutout must be 0-31 pixels and --lookahead-every 0 or more steps")
    return recipe
