from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from classifier.services import model_version_register, reviewed_uploads_as_training_data
from mlcore.bundle import BundleError, utc_now
from mlcore.config import TrainConfig
from mlcore.data import DataError, load_dataset
from mlcore.evaluate import TTA_LEVELS


class Command(BaseCommand):
    help = "Train the CNN on CIFAR-10 (CPU) and write a model bundle."

    def add_arguments(self, parser):
        defaults = TrainConfig()
        parser.add_argument(
            "--data",
            required=True,
            help="cifar10-jpeg.tar.gz, an image-folder tree, cifar-10-python.tar.gz or cifar-10-batches-py/",
        )
        parser.add_argument("--out", help="bundle folder to write (default: var/models/<date-time>)")
        parser.add_argument("--epochs", type=float, default=defaults.epochs)
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument(
            "--val-fraction",
            type=float,
            default=defaults.val_fraction,
            help="share of the training split held out for model selection",
        )
        parser.add_argument("--limit", type=int, help="images per class, for a quick run")
        parser.add_argument(
            "--no-register",
            dest="register",
            action="store_false",
            help="do not register the new bundle as a model version in the site's database",
        )
        parser.add_argument(
            "--widths",
            type=_widths,
            default=defaults.widths,
            help="channels of the three conv groups, e.g. 64,256,256 (default: %(default)s)",
        )
        parser.add_argument(
            "--cutout",
            type=int,
            default=defaults.cutout,
            help="side in pixels of the random square painted out of each training image; 0 for none "
            "(default: %(default)s)",
        )
        parser.add_argument(
            "--lookahead-every",
            type=int,
            default=defaults.lookahead_every,
            help="steps between weight-averaging updates; 0 turns the averaging off (default: %(default)s)",
        )
        parser.add_argument(
            "--tta",
            choices=TTA_LEVELS,
            default=defaults.tta,
            help="test-time augmentation the bundle evaluates and serves with",
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
        from mlcore.train import train

        if options["epochs"] <= 0 or options["batch_size"] < 1:
            raise CommandError("--epochs and --batch-size must be positive")
        if not 0 <= options["cutout"] < 32 or options["lookahead_every"] < 0:
            raise CommandError("--cutout must be 0-31 pixels and --lookahead-every 0 or more steps")
        config = TrainConfig(
            epochs=options["epochs"],
            batch_size=options["batch_size"],
            seed=options["seed"],
            val_fraction=options["val_fraction"],
            limit=options["limit"],
            widths=options["widths"],
            cutout=options["cutout"],
            lookahead_every=options["lookahead_every"],
            tta=options["tta"],
        )
        out = options["out"] or settings.BASE_DIR / "var" / "models" / utc_now()[:16].replace(":", "")
        try:
            dataset = load_dataset(options["data"], limit=options["limit"], cache_dir=options["cache_dir"])
            extra_train = self._reviewed_uploads() if options["include_reviewed"] else None
            train(
                dataset,
                config,
                out,
                progress=self._progress,
                command=_command_line(options),
                extra_train=extra_train,
            )
        except (DataError, BundleError) as error:
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


def _command_line(options) -> str:
    names = (
        "data",
        "out",
        "epochs",
        "batch_size",
        "seed",
        "val_fraction",
        "limit",
        "widths",
        "cutout",
        "lookahead_every",
        "tta",
        "include_reviewed",
    )
    given = [_option(name, options.get(name)) for name in names]
    return "python manage.py train " + " ".join(option for option in given if option)


def _option(name: str, value) -> str:
    """`--name value`, or `--name` for a flag that is on, or nothing (not `in (None, False)`: --seed 0 counts)."""
    flag = f"--{name.replace('_', '-')}"
    if value is None or value is False:
        return ""
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
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
