"""The headline figures of a model, built once for every page that shows them: home and Predict (the served model)
and Model data (any version). Texts in the active language, and the raw values the home and Predict pages round
themselves."""

from classifier import formats
from classifier.serving import ClassifierUnavailable, get_classifier
from classifier_site.info.bundle_files import BundleFiles, bundle_time, total_parameters
from classifier_site.info.bundle_words import bundle_description


def served_headline() -> dict | None:
    """The served model's headline, or None when it cannot be loaded; for a bundle of experts, its networks, and
    the training of the main one (the networks beside it keep their own in the bundle)."""
    try:
        classifier = get_classifier()
    except ClassifierUnavailable:
        return None
    metadata = classifier.metadata
    return {
        **headline(
            metadata,
            {},
            parameters=metadata.get("parameters"),
            networks=[f"{expert.network} ({expert.trained_on})" for expert in classifier.experts.values()],
            trained=classifier.first.metadata,
        ),
        # What the home page says the site does: only what the served bundle does.
        "sees_sharp_photo": any(expert.trained_on == "ImageNet" for expert in classifier.experts.values()),
        "says_none": any(case.none_if for case in classifier.rule.cases),
    }


def bundle_headline(files: BundleFiles) -> dict:
    """The headline of a bundle as read from its files: its size is that of all its experts."""
    return headline(
        files.metadata,
        files.evaluation,
        parameters=total_parameters(files),
        networks=[expert.name for expert in files.experts],
        trained=files.experts[0].metadata if files.experts else files.metadata,
    )


def headline(metadata: dict, evaluation: dict, *, parameters: int | None, networks: list, trained: dict) -> dict:
    """`evaluation`: the bundle's scores of its test images (else the metadata's); `networks`: its experts, if any;
    `trained`: the metadata of the network whose training the home page tells."""
    test = metadata.get("test") or {}
    validation = metadata.get("validation") or {}
    training = trained.get("training") or {}
    accuracy = evaluation.get("accuracy", test.get("accuracy"))
    tta = metadata.get("tta") or evaluation.get("tta") or test.get("tta")
    return {
        "name": metadata.get("name", ""),
        "created_at": bundle_time(metadata.get("created_at")),
        "description": bundle_description(metadata),
        "test_accuracy": formats.percent(accuracy, 2),
        "test_accuracy_percent": None if accuracy is None else 100 * accuracy,
        "test_images": formats.whole(evaluation.get("images", test.get("images"))),
        "test_log_loss": formats.decimal(evaluation.get("log_loss", test.get("log_loss")), 4),
        "validation_accuracy": formats.percent(validation.get("accuracy"), 2),
        "validation_images": formats.whole(validation.get("images")),
        "tta_name": tta,
        "tta": formats.test_time_augmentation(tta),
        "evaluated_at": evaluation.get("evaluated_at", ""),
        "parameters": parameters,
        "parameters_text": formats.whole(parameters),
        "networks": len(networks) or 1,
        "experts": networks,
        "experts_test": [
            {"name": row.get("name", ""), "accuracy": formats.percent(row.get("accuracy"), 2)}
            for row in evaluation.get("experts") or []
        ],
        "train_minutes": (trained.get("wall_seconds") or 0) / 60,
        "epochs": training.get("epochs_completed"),
        "hardware": (trained.get("hardware") or {}).get("cpu"),
    }
