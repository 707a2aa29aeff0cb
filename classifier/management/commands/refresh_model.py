from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mlcore.bundle import BundleError
from mlcore.data import DataError, load_dataset
from mlcore.scores import TTA_LEVELS


class Command(BaseCommand):
    help = (
        "Bring a model bundle up to date without retraining: serving model with feature maps (heat maps), "
        "temperature and none-of-the-ten threshold fitted on its validation split, test evaluation; optionally "
        "another test-time augmentation."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, help="the data set the bundle was trained on")
        parser.add_argument("--model", default=str(settings.MODEL_DIR), help="the bundle folder (default: MODEL_DIR)")
        parser.add_argument("--cache-dir", default=settings.DATASET_CACHE_DIR)
        parser.add_argument(
            "--tta", choices=TTA_LEVELS, help="serve with this test-time augmentation from now on (default: the same)"
        )

    def handle(self, *args, data, model, cache_dir, tta, **options):
        from mlcore.train import refresh_bundle

        try:
            refresh_bundle(model, load_dataset(data, cache_dir=cache_dir), progress=self.stdout.write, tta=tta)
        except (DataError, BundleError, KeyError) as error:
            raise CommandError(f"cannot refresh {model}: {error}") from error
