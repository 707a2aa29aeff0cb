import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mlcore.bundle import BundleError, write_json
from mlcore.data import SPLITS, DataError, load_dataset
from mlcore.evaluate import PHOTOS_FILE, evaluate_bundle, evaluate_photo_folder, is_photo_folder
from mlcore.scores import TTA_LEVELS


class Command(BaseCommand):
    help = (
        "Score a model bundle on a split of a CIFAR-10 data set, or on a folder of your own photos laid out as "
        "<class>/ subfolders (plus none/ for photos of other things)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            required=True,
            help="the same kinds of path as `train --data`, or a folder of <class>/ and none/ photo subfolders",
        )
        parser.add_argument(
            "--save",
            action="store_true",
            help=f"with a photo folder: keep the scores in the bundle ({PHOTOS_FILE}) for the Model data page",
        )
        parser.add_argument("--model", default=str(settings.MODEL_DIR), help="bundle folder (default: MODEL_DIR)")
        parser.add_argument("--split", choices=SPLITS, default="test")
        parser.add_argument("--limit", type=int, help="images per class, for a quick check")
        parser.add_argument("--tta", choices=TTA_LEVELS, help="test-time augmentation (default: the bundle's)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--cache-dir", default=settings.DATASET_CACHE_DIR)

    def handle(self, *args, **options):
        if is_photo_folder(options["data"]):
            return self._photos(options)
        if options["save"]:
            raise CommandError("--save keeps the scores of a photo folder; CIFAR figures are written by train")
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
        if "none_of_the_classes_rate" in report:
            self.stdout.write(f"Called none of the ten: {report['none_of_the_classes_rate']:.2%} of the images")
        for expert in report.get("experts", []):
            self.stdout.write(
                f"  {expert['name']} alone: accuracy {expert['accuracy']:.2%} (weight {expert['weight']})"
            )

    def _photos(self, options):
        try:
            report = evaluate_photo_folder(options["model"], options["data"], tta=options["tta"])
            if options["save"]:
                write_json(options["model"], PHOTOS_FILE, report)
        except (DataError, BundleError) as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        self.stdout.write(
            f"{_photos(report['in_class_photos'])} of the ten classes: accuracy {report['accuracy']:.2%}, "
            f"{report['in_class_flagged_none_rate']:.1%} wrongly called none of the ten"
        )
        for row in report["per_class"]:
            self.stdout.write(f"  {row['class']:<11} {row['correct']}/{row['photos']} right")
        if report["other_photos"]:
            self.stdout.write(
                f"{_photos(report['other_photos'])} of other things: {report['other_flagged_none_rate']:.1%} "
                "called none of the ten"
            )
        for expert in report.get("experts", []):
            self.stdout.write(f"  {expert['name']} alone: {expert['correct']}/{expert['photos']} right")
        for mistake in report["mistakes"]:
            self.stdout.write(
                f"  {mistake['class']} photo answered {mistake['predicted']} ({mistake['confidence']:.0%})"
            )
        if report["unreadable"]:
            self.stdout.write(f"Not images, skipped: {', '.join(report['unreadable'])}")
        if options["save"]:
            self.stdout.write(f"Saved in {options['model']}/{PHOTOS_FILE}")


def _photos(count: int) -> str:
    return f"{count} photo" if count == 1 else f"{count} photos"
