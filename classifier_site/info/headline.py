"""The headline figures of a model: its name, test accuracy, size and when it was made."""

from classifier import formats
from classifier_site.info.bundle_files import BundleFiles, accuracy_on_test, bundle_time, total_parameters


def headline(files: BundleFiles) -> dict:
    metadata, evaluation = files.metadata, files.evaluation
    test = metadata.get("test") or {}
    validation = metadata.get("validation") or {}
    parameters = total_parameters(files)
    return {
        "name": metadata.get("name", ""),
        "created_at": bundle_time(metadata.get("created_at")),
        "description": metadata.get("architecture", ""),
        "test_accuracy": formats.percent(accuracy_on_test(files), 2),
        "test_images": formats.whole(evaluation.get("images", test.get("images"))),
        "test_log_loss": formats.decimal(evaluation.get("log_loss", test.get("log_loss")), 4),
        "validation_accuracy": formats.percent(validation.get("accuracy"), 2),
        "validation_images": formats.whole(validation.get("images")),
        "tta": formats.test_time_augmentation(metadata.get("tta") or evaluation.get("tta") or test.get("tta")),
        "evaluated_at": evaluation.get("evaluated_at", ""),
        "parameters": parameters,
        "parameters_text": formats.whole(parameters),
        "networks": len(files.experts) or 1,
        "experts_test": [
            {"name": row.get("name", ""), "accuracy": formats.percent(row.get("accuracy"), 2)}
            for row in evaluation.get("experts") or []
        ],
    }
