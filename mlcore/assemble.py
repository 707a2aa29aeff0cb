"""A bundle of experts, put together and measured: the CIFAR network a run trained, other CIFAR networks trained on
the same data and split (thumbnail experts), and the ImageNet expert for photos (mlcore.imagenet); then the rule that
combines them (mlcore.rule), every number of it chosen by measurement: on the validation split for thumbnails, on a
folder of real photos for photos, never on the test split; then the combined answers scored on both.

    folder/metadata.json            the experts, the rule with the figures that chose it, headline figures
    folder/evaluation.json          the test split through the rule, with each expert's own accuracy
    folder/photos.json              the real photos through the rule (when measured on them)
    folder/experts/<name>/          each expert: a bundle of one network (mlcore.bundle)
"""

import os
import shutil
import time
from pathlib import Path

import numpy as np

from mlcore import bundle, imagenet
from mlcore.architectures import bundle_architecture, get_architecture
from mlcore.calibration import KEEP_IN_DISTRIBUTION, out_of_distribution_images
from mlcore.data import Dataset, train_validation_split
from mlcore.evaluate import (
    NONE_FOLDER,
    PHOTOS_FILE,
    classify_photo_folder,
    evaluate_bundle,
    evaluate_photo_folder,
    headline,
)
from mlcore.inference import Classifier, Expert
from mlcore.labels import CLASSES
from mlcore.preprocessing import resize_pixels
from mlcore.rule import (
    Case,
    Condition,
    ExpertScores,
    Rule,
    choose_photo_none_rule,
    choose_thumbnail_none_rule,
    choose_weights,
)
from mlcore.scores import log_loss

EXPERTS_FOLDER = "experts"
# The largest shorter side answered as a thumbnail, by the CIFAR networks alone. Every CIFAR image is 32x32 and no
# real photo in any set measured was this small; the ImageNet network on CIFAR's 32x32 images is right 34% of the
# time, so it must never vote on them (and CIFAR figures stay those of the CIFAR networks).
THUMBNAIL_MAX_SIDE = 64
# Where the photo rule is fitted, the share of photos of the ten it may call "none of the ten".
IN_CLASS_FLAGGED_ALLOWED = 0.01
EXAMPLES_PER_PAIR = 4  # test images saved for each of the most confused class pairs


def expert_name(metadata: dict) -> str:
    """The folder name of a CIFAR network among a bundle's experts."""
    return f"cifar10-{bundle_architecture(metadata)}"


def check_same_split(metadata: dict, dataset: Dataset, seed: int, val_fraction: float, path) -> None:
    """A CIFAR network joins a bundle only if it was trained on the same data with the same validation split:
    otherwise the validation images that weigh it would have been its training images."""
    config = (metadata.get("training") or {}).get("config") or {}
    fingerprint = (metadata.get("data") or {}).get("fingerprint")
    if fingerprint != dataset.fingerprint:
        raise bundle.BundleError(f"{path} was trained on other data ({fingerprint}), not {dataset.fingerprint}")
    if (config.get("seed"), config.get("val_fraction")) != (seed, val_fraction):
        raise bundle.BundleError(
            f"{path} held out another validation split (seed {config.get('seed')}, fraction "
            f"{config.get('val_fraction')}; this run: seed {seed}, fraction {val_fraction}): its validation "
            "images would be training images of the other"
        )


def copy_expert(source, folder, dataset: Dataset, seed: int, val_fraction: float, taken=()) -> str:
    """Copy a CIFAR network's bundle into `folder`/experts/ (checked to share the data and the validation split),
    under a name of its own (not one of `taken`); returns the name."""
    metadata = bundle.read_metadata(source)
    if metadata.get("experts"):
        raise bundle.BundleError(f"{source} is a bundle of experts; give the folder of one network")
    check_same_split(metadata, dataset, seed, val_fraction, source)
    name = free_name(folder, expert_name(metadata), taken)
    shutil.copytree(source, Path(folder) / EXPERTS_FOLDER / name, ignore=shutil.ignore_patterns(bundle.EXAMPLES_FOLDER))
    return name


def free_name(folder, name: str, taken=()) -> str:
    """`name`, or `name-2`, `name-3` … when an expert of `folder` (or one of `taken`) has it already."""
    candidate, number = name, 1
    while candidate in taken or (Path(folder) / EXPERTS_FOLDER / candidate).exists():
        number += 1
        candidate = f"{name}-{number}"
    return candidate


def assemble(folder, dataset: Dataset, networks: list, *, seed: int, val_fraction: float, photos=None, progress=print):
    """Measure and write the rule of the bundle in `folder`, whose experts/ holds the CIFAR `networks` (names, the
    first the main one); with `photos` (a folder of <class>/ and none/ photos), build the ImageNet expert too and
    measure the photo case on them. Returns the metadata written."""
    started = time.monotonic()
    folder = Path(folder)
    threads = os.cpu_count() or 1
    _, validation = train_validation_split(dataset.train, val_fraction, seed)
    cifar = {name: Expert(folder / EXPERTS_FOLDER / name, name, threads) for name in networks}
    progress(f"Measuring the CIFAR networks ({', '.join(cifar)}) on the {len(validation)} validation images ...")
    thumbnail = _thumbnail_case(cifar, validation, photos is not None)
    cases = [thumbnail]
    experts = [_entry(name, expert, "CIFAR-10") for name, expert in cifar.items()]
    if photos is not None:
        progress("Building the ImageNet expert ...")
        representative = resize_pixels(dataset.train.images[: imagenet.REPRESENTATIVE_IMAGES], imagenet.IMAGE_SIZE)
        imagenet.build_expert(folder / EXPERTS_FOLDER / imagenet.NAME, representative, progress=progress)
        photo_expert = Expert(folder / EXPERTS_FOLDER / imagenet.NAME, imagenet.NAME, threads)
        experts.append(_entry(imagenet.NAME, photo_expert, "ImageNet"))
        progress(f"Measuring the photo rule on the real photos in {photos} ...")
        cases.append(_photo_case(folder, experts, thumbnail, networks[0], photos))
    rule = Rule(tuple(cases))
    metadata = _metadata(dataset, experts, rule)
    bundle.write_json(folder, bundle.METADATA_FILE, metadata)
    progress(f"Scoring the {len(dataset.test)} test images through the rule ...")
    evaluation = evaluate_bundle(folder, dataset.test, examples=EXAMPLES_PER_PAIR)
    bundle.write_json(folder, bundle.EVALUATION_FILE, evaluation)
    metadata["test"] = headline(evaluation)
    if photos is not None:
        report = evaluate_photo_folder(folder, photos)
        bundle.write_json(folder, PHOTOS_FILE, report)
        metadata["photos"] = {
            key: report[key]
            for key in ("in_class_photos", "accuracy", "in_class_flagged_none_rate", "other_photos")
            + ("other_flagged_none_rate", "confident_and_none", "evaluated_at")
        }
    metadata["assemble_seconds"] = round(time.monotonic() - started, 1)
    bundle.write_json(folder, bundle.METADATA_FILE, metadata)
    return metadata


def _thumbnail_case(cifar: dict, validation, photos_too: bool) -> Case:
    """The CIFAR networks on thumbnails: weights by validation accuracy (a network weighed to nothing leaves the
    case), "none of the ten" by their own tests as measured on the validation split and generated images."""
    answers = {name: expert.answer(validation.images) for name, expert in cifar.items()}
    names = tuple(cifar)
    figures = {"measured_on": {"validation_images": len(validation)}}
    weights, temperature = {names[0]: 1.0}, 1.0
    if len(names) > 1:
        chosen = choose_weights(answers, validation.labels, names)
        weights = {name: weight for name, weight in chosen["weights"].items() if weight > 0}
        temperature = chosen["temperature"] if len(weights) > 1 else 1.0
        figures["weights"] = chosen
        figures["alone"] = {
            name: float((answers[name].ten().argmax(axis=1) == validation.labels).mean()) for name in names
        }
    detectors = tuple(name for name in weights if cifar[name].has_test)
    none_if = ()
    if len(detectors) == 1:
        none_if = ((Condition(detectors[0], "unlike_training"),),)
    elif detectors:
        generated = out_of_distribution_images(validation.images)
        outside = {name: cifar[name].answer(generated) for name in detectors}
        none_if, figures["none_of_the_classes"] = choose_thumbnail_none_rule(
            answers, outside, detectors, 1 - KEEP_IN_DISTRIBUTION
        )
    combined = Case("measure", weights, temperature).combine(answers)
    figures["combined"] = {
        "images": len(validation),
        "accuracy": float((combined.argmax(axis=1) == validation.labels).mean()),
        "log_loss": log_loss(combined, validation.labels),
        "tta": ", ".join(sorted({cifar[name].tta for name in weights})),
    }
    return Case(
        "thumbnail" if photos_too else "all",
        weights,
        temperature,
        none_if,
        max_short_side=THUMBNAIL_MAX_SIDE if photos_too else None,
        figures=figures,
    )


def _photo_case(folder, experts: list, thumbnail: Case, main: str, photos) -> Case:
    """The main CIFAR network and the ImageNet expert on photos: the main network's test-time augmentation (its own,
    or none when that gets as many photos right: a photo costs one view less), the weights by how many real photos
    the pool gets right, and "none of the ten" from what both know, each measured on the real photos."""
    names = (main, imagenet.NAME)
    own_tta = next(entry["tta"] for entry in experts if entry["name"] == main)
    measured = {
        tta: _photo_answers(folder, experts, thumbnail, names, {main: tta}, photos) for tta in {own_tta, "none"}
    }
    chosen_by_tta = {tta: _photo_weights(answers, labels, names) for tta, (answers, labels) in measured.items()}
    tta = "none" if chosen_by_tta["none"]["right"] >= chosen_by_tta[own_tta]["right"] else own_tta
    answers, labels = measured[tta]
    chosen, in_class = chosen_by_tta[tta], labels >= 0
    detectors = (main,) if answers[main].unlike_training is not None else ()
    none_if, none_figures = choose_photo_none_rule(answers, labels, imagenet.NAME, detectors, IN_CLASS_FLAGGED_ALLOWED)
    return Case(
        "photo",
        chosen["weights"],
        chosen["temperature"],
        none_if,
        min_short_side=THUMBNAIL_MAX_SIDE + 1,
        tta={main: tta} if tta != own_tta else {},
        figures={
            "measured_on": {
                "photos_of_the_ten": int(in_class.sum()),
                "photos_of_other_things": int((~in_class).sum()),
                "folder": str(photos),
            },
            "tta": {"expert": main, "right": {key: value["right"] for key, value in chosen_by_tta.items()}},
            "weights": chosen,
            "alone": {
                name: int((answers[name].ten()[in_class].argmax(axis=1) == labels[in_class]).sum()) for name in names
            },
            "none_of_the_classes": none_figures,
        },
    )


def _photo_answers(folder, experts: list, thumbnail: Case, names: tuple, tta: dict, photos):
    """Each expert's answers on the photo folder, as arrays, through a provisional rule; and the labels (-1 for
    photos of other things)."""
    provisional = Case("photo", dict.fromkeys(names, 0.5), min_short_side=THUMBNAIL_MAX_SIDE + 1, tta=tta)
    rule = Rule((thumbnail, provisional)).as_list()
    bundle.write_json(folder, bundle.METADATA_FILE, {"experts": experts, "rule": rule})
    rows, _ = classify_photo_folder(Classifier(folder, num_threads=os.cpu_count() or 1), photos)
    labels = np.array([-1 if label == NONE_FOLDER else CLASSES.index(label) for label, _ in rows])
    return {name: _stacked(rows, name) for name in names}, labels


def _photo_weights(answers: dict, labels, names: tuple) -> dict:
    """The weights on the photos of the ten, and how many the pool then gets right. The pool of the two (each
    calibrated on its own data) keeps temperature 1: the photos are right so often that fitting one on them would
    only make its mistakes surer."""
    in_class = labels >= 0
    subset = {name: _subset(scores, in_class) for name, scores in answers.items()}
    chosen = choose_weights(subset, labels[in_class], names, fit_pool_temperature=False)
    return chosen | {"right": max(point["right"] for point in chosen["grid"])}


def _stacked(rows, name: str) -> ExpertScores:
    """One expert's answers on the photos, as arrays."""
    answers = [next(answer for answer in prediction.experts if answer.name == name) for _, prediction in rows]
    probabilities = np.array([[answer.probabilities[label] for label in CLASSES] for answer in answers])
    other = None if answers[0].other is None else np.array([answer.other for answer in answers])
    unlike = None if answers[0].unlike_training is None else np.array([answer.unlike_training for answer in answers])
    return ExpertScores(probabilities, other, unlike)


def _subset(scores: ExpertScores, mask) -> ExpertScores:
    return ExpertScores(
        scores.probabilities[mask],
        None if scores.other is None else scores.other[mask],
        None if scores.unlike_training is None else scores.unlike_training[mask],
    )


def _entry(name: str, expert: Expert, trained_on: str) -> dict:
    architecture = get_architecture(bundle_architecture(expert.metadata))
    return {
        "name": name,
        "folder": f"{EXPERTS_FOLDER}/{name}",
        "network": architecture.TITLE,
        "trained_on": trained_on,
        "architecture": expert.metadata.get("architecture"),
        "square": expert.image_size,
        "through": expert.through,
        "tta": expert.tta,
        "parameters": int(expert.metadata.get("parameters") or 0),
        "flops_per_image": int(expert.metadata.get("flops_per_image") or 0),
    }


def _metadata(dataset: Dataset, experts: list, rule: Rule) -> dict:
    return {
        "name": f"experts-{bundle.utc_now()[:16].replace(':', '')}",
        "created_at": bundle.utc_now(),
        "architecture": " + ".join(f"{entry['network']} ({entry['trained_on']})" for entry in experts),
        "parameters": sum(entry["parameters"] for entry in experts),
        "classes": list(CLASSES),
        "experts": experts,
        "rule": rule.as_list(),
        "combination": (
            "weighted log-linear pool: p(class) ∝ exp(Σ weight × log p_expert(class) / temperature), each expert's "
            "answer renormalised over the ten classes"
        ),
        "validation": rule.cases[0].figures["combined"],
        "data": dataset.summary(),
        "hardware": bundle.hardware_description(),
        "libraries": bundle.library_versions(),
        "git_commit": bundle.git_commit(),
    }
