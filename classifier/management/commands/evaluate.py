import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mlcore.bundle import BundleError
from mlcore.data import SPLITS, DataError, load_dataset
from mlcore.evaluate import TTA_LEVELS, evaluate_bundle


class Command(BaseCommand):
    help = "Score a model bundle on a split of a CIFAR-10 data set."

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, help="the same kinds of path as `train --data`")
        parser.add_argument("--model", default=str(settings.MODEL_DIR), help="bundle folder (default: MODEL_DIR)")
        parser.add_argument("--split", choices=SPLITS, default="test")
        parser.add_argument("--limit", type=int, help="images per class, for a quick check")
        parser.add_argument("--tta", choices=TTA_LEVELS, help="test-time augmentation (default: the bundle's)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--cache-dir", default=settings.DATASET_CACHE_DIR)

    def handle(self, *args, **options):
        try:
            dataset = load_dataset(options["data"], limit=options["limit"], cache_dir=options["cache_dir"])
            report = evaluate_bundle(options["model"], dataset.split(options["split"]), tta=options["tta"])
        except (DataError, BundleError) as error:
            raise CommandError(str(error)) from error
        report = {"model": options["model"], "split": options["split"]} | report
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        self.stdout.write(
            f"{report['split']}: {report['images']} images, accuracy {report['accuracy']:.2%} "
            f"(test-time augmentation: {report['tta']})"
        )
        for row in report["per_class"]:
            self.stdout.write(
                f"  {row['class']:<11} precision {row['precision']:.3f}  recall {row['recall']:.3f}  F1 {row['f1']:.3f}"
            )
