"""Training, whatever the architecture: split the data, let the architecture fit its network, then write the
bundle, calibrate it on the validation split and score the test split through the serving model; with real photos
or other CIFAR networks to join it, put the network in a bundle of experts (mlcore.assemble). A run keeps a
checkpoint beside its output folder after every epoch (mlcore.checkpoint) and can be resumed from it.

The recipe's numbers live in each architecture's `Recipe` (mlcore/architectures/); nothing here asks which
architecture it has.
"""

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from mlcore import bundle
from mlcore.architectures import bundle_architecture, get_architecture
from mlcore.assemble import EXAMPLES_PER_PAIR, EXPERTS_FOLDER, assemble, copy_expert, expert_name
from mlcore.calibration import calibrate_bundle
from mlcore.checkpoint import Checkpoint, CheckpointError, differences, fingerprint
from mlcore.data import Dataset, Split, train_validation_split
from mlcore.evaluate import evaluate_bundle, headline
from mlcore.fitting import flops_per_image, layer_table, minutes
from mlcore.labels import CLASSES
from mlcore.preprocessing import CIFAR_SIZE, preprocessing_description, resize_pixels
from mlcore.scores import classification_report, predict_logits, softmax

# oneDNN is off by default on AMD CPUs; on for both makes training about 2.2x faster. Set before TF loads.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPRESENTATIVE_IMAGES = 200  # training images whose activation ranges set a full-integer model's quantisation


def train(
    dataset: Dataset,
    recipe,
    out_dir,
    *,
    progress=print,
    command: str | None = None,
    extra_train: Split | None = None,
    photos=None,
    thumbnail_experts=(),
    resume: bool = False,
    options: dict | None = None,
) -> dict:
    """Train a network (`train_network`) into `out_dir`; with `photos` (a folder of real photos to measure the photo
    rule on: the ImageNet expert joins) or `thumbnail_experts` (bundles of CIFAR networks trained on the same data
    and validation split), into a bundle of experts there instead, written beside it and swapped in when complete.

    The run keeps a checkpoint beside `out_dir` (mlcore.checkpoint) until its bundle is complete; `resume` goes on from
    it, and refuses other data or another recipe. `options` (what a command was given) are kept with it, for the
    command that resumes. Returns the metadata of what `out_dir` holds."""
    checkpoint = _checkpoint_for(out_dir, dataset, recipe, extra_train, resume, options)
    metadata, trained = _train(
        dataset, recipe, out_dir, progress, command, extra_train, photos, thumbnail_experts, checkpoint
    )
    if trained["training"]["interrupted"]:
        progress(f"The checkpoint stays in {checkpoint.folder}: --resume {out_dir} goes on from the last epoch.")
    else:
        checkpoint.remove()
    return metadata


def describe_run(dataset: Dataset, recipe, extra_train: Split | None, options: dict | None) -> dict:
    """What a checkpoint records of its run, and what a resumed run must match."""
    extra = fingerprint(extra_train.images, extra_train.labels) if extra_train is not None else None
    return {
        "architecture": recipe.architecture,
        "recipe": json.loads(json.dumps(recipe.as_dict())),  # as run.json keeps it (tuples become lists)
        "data": dataset.summary() | {"extra_train": extra},
        "options": options or {},
    }


def _checkpoint_for(out_dir, dataset, recipe, extra_train, resume: bool, options) -> Checkpoint:
    checkpoint = Checkpoint(out_dir)
    run = describe_run(dataset, recipe, extra_train, options)
    if not resume:
        if checkpoint.exists():
            raise CheckpointError(
                f"{out_dir} holds the checkpoint of an unfinished run: resume it with --resume {out_dir}, "
                f"or delete {checkpoint.folder} to start again"
            )
        checkpoint.start(run)
        return checkpoint
    saved = checkpoint.run()
    if saved["architecture"] != run["architecture"]:
        raise CheckpointError(
            f"the checkpoint in {out_dir} is of a {saved['architecture']} run, not {run['architecture']}"
        )
    changed = differences(saved["recipe"], run["recipe"])
    if changed:
        raise CheckpointError(f"the recipe differs from the checkpoint's: {'; '.join(changed)}")
    if saved["data"]["fingerprint"] != run["data"]["fingerprint"]:
        then, now = saved["data"], run["data"]
        raise CheckpointError(
            f"the data differ from the checkpoint's: {now['source']} ({now['train_images']} training and "
            f"{now['test_images']} test images) is not {then['source']} ({then['train_images']} and "
            f"{then['test_images']}) as it was"
        )
    if saved["data"].get("extra_train") != run["data"]["extra_train"]:
        raise CheckpointError("the reviewed uploads added to the training images differ from the checkpoint's")
    return checkpoint


def _train(dataset, recipe, out_dir, progress, command, extra_train, photos, thumbnail_experts, checkpoint):
    """(the metadata of what `out_dir` holds, the trained network's metadata)"""
    if photos is None and not thumbnail_experts:
        metadata = train_network(
            dataset, recipe, out_dir, progress=progress, command=command, extra_train=extra_train, checkpoint=checkpoint
        )
        return metadata, metadata
    staging = bundle.staging_folder(out_dir)
    (staging / EXPERTS_FOLDER).mkdir()
    name = f"cifar10-{recipe.architecture}"
    others = []
    for path in thumbnail_experts:  # checked before the hour of training, not after
        others.append(copy_expert(path, staging, dataset, recipe.seed, recipe.val_fraction, taken=(name, *others)))
    trained = train_network(
        dataset,
        recipe,
        staging / EXPERTS_FOLDER / name,
        progress=progress,
        command=command,
        extra_train=extra_train,
        checkpoint=checkpoint,
    )
    seed, fraction = recipe.seed, recipe.val_fraction
    metadata = assemble(
        staging, dataset, [name, *others], seed=seed, val_fraction=fraction, photos=photos, progress=progress
    )
    bundle.swap_in(staging, out_dir)
    return metadata, trained


def train_network(
    dataset: Dataset,
    recipe,
    out_dir,
    *,
    progress=print,
    command: str | None = None,
    extra_train: Split | None = None,
    checkpoint: Checkpoint | None = None,
) -> dict:
    """Train with `recipe` (any architecture's Recipe), keep the best epoch by validation accuracy, calibrate it
    on the validation split, score it on the test split and write the bundle. With a `checkpoint`, the training
    loop keeps its state there after every epoch and goes on from what it holds.

    `extra_train` (e.g. staff-reviewed uploads) joins the training split only, never validation or test.
    Ctrl-C stops after the step in flight; the bundle is still written from the best epoch finished so far.
    Returns the bundle's metadata.
    """
    architecture = get_architecture(recipe.architecture)
    started = time.monotonic()
    commit = bundle.git_commit()  # read now: the tree may change while a long run trains
    train_split, val_split = train_validation_split(dataset.train, recipe.val_fraction, recipe.seed)
    extra_count = len(extra_train) if extra_train is not None else 0
    if extra_count:
        train_split = Split(
            np.concatenate([train_split.images, extra_train.images]),
            np.concatenate([train_split.labels, extra_train.labels]),
        )
    fitted = architecture.fit(train_split, val_split, recipe, progress=progress, started=started, checkpoint=checkpoint)
    recipe, model = fitted.recipe, fitted.model
    train_seconds = time.monotonic() - started

    validation = None
    if len(val_split):
        validation = classification_report(
            val_split.labels, softmax(predict_logits(fitted.logits_fn, val_split.images, recipe.tta))
        )
        validation["tta"] = recipe.tta
    size = recipe.image_size
    metadata = {
        "name": f"{architecture.NAME}-{bundle.utc_now()[:16].replace(':', '')}",
        "created_at": bundle.utc_now(),
        "architecture": architecture.DESCRIPTION,
        "architecture_name": architecture.NAME,
        "classes": list(CLASSES),
        "input": {"shape": [size, size, 3], "dtype": "float32", "range": [0, 255], "layout": "NHWC RGB"},
        "output": "logits",
        "preprocessing": preprocessing_description(size, through=CIFAR_SIZE),
        "tta": recipe.tta,
        "heat_maps": architecture.HEAT_MAPS,
        "parameters": int(model.count_params()),
        "flops_per_image": flops_per_image(model),
        "layers": layer_table(model),
        "training": {
            "config": recipe.as_dict(),
            "command": command,
            "steps": fitted.steps,
            "epochs_completed": len(fitted.history),
            "best_epoch": fitted.best_record["epoch"],
            "interrupted": fitted.interrupted,
            "train_images": len(train_split),
            "reviewed_uploads": extra_count,
            "validation_images": len(val_split),
            "train_seconds": round(train_seconds, 1),
        },
        "validation": headline(validation),
        "data": dataset.summary(),
        "hardware": bundle.hardware_description(),
        "libraries": bundle.library_versions(),
        "git_commit": commit,
        "serving": _serving_description(architecture, recipe),
    }
    progress(f"Writing the bundle to {out_dir} ...")
    bundle.write_bundle(
        out_dir,
        model=model,
        metadata=metadata,
        history=fitted.history,
        features_layer=architecture.FEATURES_LAYER,
        head_layer=architecture.HEAD_LAYER,
        quantize=recipe.quantize_serving,
        representative=_representative_images(architecture, train_split, size),
    )
    if len(val_split):
        progress("Calibrating on the validation split: temperature and the none-of-the-ten threshold ...")
        metadata |= calibrate_bundle(out_dir, val_split, train_split)
        bundle.write_json(out_dir, bundle.METADATA_FILE, metadata)
    progress(f"Scoring the {len(dataset.test)} test images through the serving model ...")
    evaluation = evaluate_bundle(out_dir, dataset.test, examples=EXAMPLES_PER_PAIR)
    metadata["test"] = headline(evaluation)
    metadata["wall_seconds"] = round(time.monotonic() - started, 1)
    bundle.write_json(out_dir, bundle.EVALUATION_FILE, evaluation)
    bundle.write_json(out_dir, bundle.METADATA_FILE, metadata)
    progress(
        f"Done in {minutes(metadata['wall_seconds'])}: test accuracy {evaluation['accuracy']:.2%} "
        f"({recipe.tta} test-time augmentation), bundle in {out_dir}"
    )
    return metadata


def _representative_images(architecture, train_split: Split, size: int):
    """Training images at the input size, for measuring the activation ranges of a full-integer serving model."""
    if not architecture.QUANTIZED_ACTIVATIONS:
        return None
    return resize_pixels(train_split.images[:REPRESENTATIVE_IMAGES], size)


def _serving_description(architecture, recipe) -> dict:
    return {
        "file": bundle.SERVING_FILE,
        "runtime": "LiteRT (XNNPACK)",
        "weights": _quantisation(architecture, recipe.quantize_serving),
        "tta": recipe.tta,
        "outputs": ["logits", f"feature maps of {architecture.FEATURES_LAYER}"],
        "features_pooling": architecture.FEATURES_POOLING,
    }


def _quantisation(architecture, quantize: bool) -> str:
    if not quantize:
        return "float32"
    if architecture.QUANTIZED_ACTIVATIONS:
        return f"int8 weights and activations (ranges from {REPRESENTATIVE_IMAGES} training images)"
    return "int8, activations quantised per call"


def refresh_bundle(
    bundle_dir, dataset: Dataset, *, progress=print, tta: str | None = None, photos=None, thumbnail_experts=()
) -> dict:
    """Bring a bundle up to date without retraining. A bundle of one network, alone: `refresh_network`. With
    `photos` or `thumbnail_experts`, or a bundle of experts: its networks stay as they are (the main one refreshed
    with `tta` if given), the ImageNet expert is built again from the weight package when `photos` are given (a
    bundle that has one needs them), and the rule is measured again (mlcore.assemble); written beside the bundle and
    swapped in when complete. Returns the new metadata."""
    metadata = bundle.read_metadata(bundle_dir)
    listed = metadata.get("experts") or []
    if not listed and photos is None and not thumbnail_experts:
        return refresh_network(bundle_dir, dataset, progress=progress, tta=tta)
    if photos is None and any(entry["trained_on"] == "ImageNet" for entry in listed):
        raise bundle.BundleError(
            f"{bundle_dir} has an expert for photos: give a folder of real photos to measure it on"
        )
    staging = bundle.staging_folder(bundle_dir)
    if listed:
        shutil.copytree(bundle_dir, staging, dirs_exist_ok=True)
        networks = [entry["name"] for entry in listed if entry["trained_on"] == "CIFAR-10"]
    else:
        networks = [expert_name(metadata)]
        shutil.copytree(bundle_dir, staging / EXPERTS_FOLDER / networks[0])
    main = staging / EXPERTS_FOLDER / networks[0]
    if tta:
        refresh_network(main, dataset, progress=progress, tta=tta)
    config = bundle.read_metadata(main)["training"]["config"]
    seed, fraction = config["seed"], config["val_fraction"]
    for path in thumbnail_experts:
        networks.append(copy_expert(path, staging, dataset, seed, fraction, taken=networks))
    metadata = assemble(staging, dataset, networks, seed=seed, val_fraction=fraction, photos=photos, progress=progress)
    bundle.swap_in(staging, bundle_dir)
    return metadata


def refresh_network(bundle_dir, dataset: Dataset, *, progress=print, tta: str | None = None) -> dict:
    """Bring a bundle of one network written by an earlier version up to date: re-export the serving model
    (with the feature maps for heat maps) from its Keras model, calibrate it on its own validation split (the
    seed and fraction it was trained with) and score the test split again; with `tta`, serve with that test-time
    augmentation from now on (calibrated and scored with it). Returns the new metadata."""
    import keras

    metadata = bundle.read_metadata(bundle_dir)
    if tta:
        metadata["tta"] = tta
        metadata["serving"] = metadata.get("serving", {}) | {"tta": tta}
        bundle.write_json(bundle_dir, bundle.METADATA_FILE, metadata)
    config = metadata["training"]["config"]
    architecture = get_architecture(bundle_architecture(metadata))
    model = keras.models.load_model(Path(bundle_dir) / bundle.MODEL_FILE)
    progress("Re-exporting the serving model with its feature maps ...")
    size = int(model.input_shape[1])
    train_split, val_split = train_validation_split(dataset.train, config["val_fraction"], config["seed"])
    quantize = config.get("quantize_serving", True)
    representative = _representative_images(architecture, train_split, size)
    bundle.write_serving_files(bundle_dir, model, architecture.FEATURES_LAYER, quantize, representative)
    bundle.write_head_file(bundle_dir, model, architecture.HEAD_LAYER)
    metadata["heat_maps"] = architecture.HEAT_MAPS
    metadata["preprocessing"] = preprocessing_description(size, through=CIFAR_SIZE)
    progress(f"Calibrating on the {len(val_split)} validation images ...")
    metadata |= calibrate_bundle(bundle_dir, val_split, train_split)
    bundle.write_json(bundle_dir, bundle.METADATA_FILE, metadata)
    progress(f"Scoring the {len(dataset.test)} test images through the serving model ...")
    evaluation = evaluate_bundle(bundle_dir, dataset.test, examples=EXAMPLES_PER_PAIR)
    metadata["test"] = headline(evaluation)
    metadata["architecture_name"] = architecture.NAME
    metadata["serving"] = metadata.get("serving", {}) | {
        "weights": _quantisation(architecture, quantize),
        "outputs": ["logits", f"feature maps of {architecture.FEATURES_LAYER}"],
        "features_pooling": architecture.FEATURES_POOLING,
    }
    bundle.write_json(bundle_dir, bundle.EVALUATION_FILE, evaluation)
    bundle.write_json(bundle_dir, bundle.METADATA_FILE, metadata)
    progress(f"Done: test accuracy {evaluation['accuracy']:.2%}, temperature {metadata['calibration']['temperature']}")
    return metadata
