from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from classifier.selectors import reviewed_uploads_as_training_data
from classifier.services import model_version_register
from mlcore.architectures import ARCHITECTURES, architectures_help, recipe_options
from mlcore.architectures.efficientnet_lite0 import PretrainedWeightsError
from mlcore.bundle import BundleError, utc_now
from mlcore.checkpoint import CheckpointError
from mlcore.data import DataError, load_dataset
from mlcore.quiet import quiet_tensorflow
from mlcore.recipe import flag
from mlcore.resume import is_finished, prepare_run, train_arguments


class Command(BaseCommand):
    help = "Train the network on CIFAR-10 (CPU) and write a model bundle."

    def add_arguments(self, parser):
        parser.add_argument(
            "--data", help="cifar10-jpeg.tar.gz, an image-folder tree, cifar-10-python.tar.gz or cifar-10-batches-py/"
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
        parser.add_argument("--arch", choices=list(ARCHITECTURES), help=architectures_help())
        for option in recipe_options():
            parser.add_argument(flag(option.name), type=option.parse, choices=option.choices, help=option.help)
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
            "--no-register", dest="register", action="store_false", help="do not register the bundle as a model version"
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
        quiet_tensorflow(options["verbosity"])
        from mlcore.train import train

        if options["resume"] and is_finished(options["resume"]):
            self._progress(f"{options['resume']} holds a finished run: there is nothing to resume.")
            return
        try:
            options, recipe = prepare_run(options)
        except ValueError as error:  # a CheckpointError too
            raise CommandError(str(error)) from error
        out = options["out"] or settings.BASE_DIR / "var" / "models" / utc_now()[:16].replace(":", "")
        try:
            dataset = load_dataset(options["data"], limit=options["limit"], cache_dir=options["cache_dir"])
            extra = self._reviewed_uploads() if options["include_reviewed"] else None
            train(dataset, recipe, out, progress=self._progress, extra_train=extra, **train_arguments(options))
        except (DataError, BundleError, PretrainedWeightsError, CheckpointError) as error:
            raise CommandError(str(error)) from error
        if options["register"]:
            self._register(out)

    def _register(self, out):
        try:
            version = model_version_register(path=out)
            self._progress(f"Registered as model version {version.name}; staff can activate it in the admin.")
        except BundleError as error:  # the bundle is written; only its registration failed
            self.stderr.write(f"The bundle is not registered as a model version: {error}")

    def _reviewed_uploads(self):
        extra_train = reviewed_uploads_as_training_data(warn=lambda line: self.stderr.write(f"Warning: {line}"))
        self._progress(f"Adding {len(extra_train) if extra_train else 0} reviewed uploads to the training images.")
        return extra_train

    def _progress(self, line):
        self.stdout.write(line)
        self.stdout.flush()  # a run takes tens of minutes: show each epoch even when output goes to a file
