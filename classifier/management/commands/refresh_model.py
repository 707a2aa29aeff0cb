from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mlcore.architectures.efficientnet_lite0 import PretrainedWeightsError
from mlcore.bundle import BundleError
from mlcore.data import DataError, load_dataset
from mlcore.evaluate import is_photo_folder
from mlcore.scores import TTA_LEVELS


class Command(BaseCommand):
    help = (
        "Bring a model bundle up to date without retraining. A bundle of one network: serving model with feature "
        "maps, temperature and none-of-the-ten threshold fitted on its validation split, test evaluation. With "
        "--photos or --thumbnail-expert, or a bundle of experts: the networks stay, the ImageNet expert is built "
        "(with --photos) and the rule that combines them is measured again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, help="the data set the bundle was trained on")
        parser.add_argument("--model", default=str(settings.MODEL_DIR), help="the bundle folder (default: MODEL_DIR)")
        parser.add_argument("--cache-dir", default=settings.DATASET_CACHE_DIR)
        parser.add_argument(
            "--tta", choices=TTA_LEVELS, help="serve with this test-time augmentation from now on (default: the same)"
        )
        parser.add_argument(
            "--photos",
            help="a folder of real photos (<class>/ and none/ subfolders) to measure the photo rule on; the ImageNet "
            "expert joins the bundle",
        )
        parser.add_argument(
            "--thumbnail-expert",
            action="append",
            default=[],
            help="the bundle of another CIFAR network trained on the same data and validation split, to join the "
            "bundle for thumbnails if the validation split says it helps (repeatable)",
        )

    def handle(self, *args, data, model, cache_dir, tta, photos, thumbnail_expert, **options):
        from mlcore.train import refresh_bundle

        if photos is not None and not is_photo_folder(photos):
            raise CommandError(f"--photos {photos} is not a folder of <class>/ and none/ photo subfolders")
        try:
            refresh_bundle(
                model,
                load_dataset(data, cache_dir=cache_dir),
                progress=self.stdout.write,
                tta=tta,
                photos=photos,
                thumbnail_experts=thumbnail_expert,
            )
        except (DataError, BundleError, PretrainedWeightsError, KeyError) as error:
            raise CommandError(f"cannot refresh {model}: {error}") from error
