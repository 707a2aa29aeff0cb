"""Training: airbench94 with Muon, ported to TensorFlow for the CPU.

Read top to bottom: augmentation, the optimiser step, the epoch loop with progress and Ctrl-C handling, and
the bundle written at the end. The recipe's numbers live in `mlcore.config.TrainConfig`.
"""

import math
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mlcore import bundle
from mlcore.calibration import calibrate_bundle
from mlcore.config import CIFAR_MEAN, TrainConfig
from mlcore.data import Dataset, Split, train_validation_split
from mlcore.evaluate import classification_report, evaluate_bundle, predict_logits, softmax
from mlcore.labels import CLASSES
from mlcore.preprocessing import PREPROCESSING

# oneDNN is off by default on AMD CPUs; on for both makes training about 2.2x faster. Set before TF loads.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NEWTON_SCHULZ_STEPS = 3
MEAN_PIXEL = np.round(255 * np.asarray(CIFAR_MEAN)).astype(np.uint8)  # "zero" after normalising
EXAMPLES_PER_PAIR = 4  # test images saved in the bundle for each of the most confused class pairs


# --- augmentation -------------------------------------------------------------------------------------------


class AugmentedEpochs:
    """Random 2-pixel translations each epoch, and flips that alternate: a random half is mirrored in the first
    epoch and every image flips its state each epoch after, so each image is seen both ways in any two epochs.
    With `cutout`, a random square of that many pixels a side, inside the image, is painted the mean colour.
    """

    def __init__(self, images: np.ndarray, translate: int, rng: np.random.Generator, cutout: int = 0):
        self.rng = rng
        self.translate = translate
        self.cutout = cutout
        flip = rng.random(len(images)) < 0.5
        base = np.where(flip[:, None, None, None], images[:, :, ::-1, :], images)
        pad = ((0, 0), (translate, translate), (translate, translate), (0, 0))
        self.padded = np.pad(base, pad, mode="reflect") if translate else base
        self.size = images.shape[1]

    def epoch(self, index: int) -> np.ndarray:
        count, r, size = len(self.padded), self.translate, self.size
        out = np.empty((count, size, size, 3), dtype=np.uint8)
        if r:
            shifts = self.rng.integers(0, 2 * r + 1, size=(count, 2))
            for dy in range(2 * r + 1):
                for dx in range(2 * r + 1):
                    chosen = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
                    out[chosen] = self.padded[chosen, dy : dy + size, dx : dx + size, :]
        else:
            out[:] = self.padded
        if index % 2 == 1:
            out = out[:, :, ::-1, :]
        if self.cutout:
            out[cutout_masks(self.rng, count, size, self.cutout)] = MEAN_PIXEL
        return out


def cutout_masks(rng: np.random.Generator, count: int, size: int, side: int) -> np.ndarray:
    """One boolean (size, size) mask per image, each with a `side`-pixel square at a random place inside it."""
    corners = rng.integers(0, size - side + 1, size=(count, 2))
    pixels = np.arange(size)
    rows = (pixels >= corners[:, :1]) & (pixels < corners[:, :1] + side)
    columns = (pixels >= corners[:, 1:]) & (pixels < corners[:, 1:] + side)
    return rows[:, :, None] & columns[:, None, :]


# --- optimiser ----------------------------------------------------------------------------------------------


class Optimiser:
    """Muon for conv filters, Nesterov SGD with coupled weight decay for the head and the biases.

    Mirrors PyTorch's SGD semantics (decay added to the gradient, momentum buffer started at the first
    gradient), which is what airbench's numbers were tuned with.
    """

    def __init__(self, model, config: TrainConfig, total_steps: int, whiten_steps: int):
        import tensorflow as tf

        self.config = config
        self.total_steps = total_steps
        self.whiten_steps = whiten_steps
        decay = config.weight_decay * config.batch_size
        self.filters = [layer.kernel for layer in model.layers if layer.name.endswith(("_conv1", "_conv2"))]
        norm_biases = [layer.beta for layer in model.layers if "_norm" in layer.name]
        whiten_bias = model.get_layer("whiten").bias
        head = model.get_layer("head").kernel
        # (variable, base learning rate, decay coefficient, follows the whitening schedule)
        self.sgd = [(whiten_bias, config.bias_lr, decay / config.bias_lr, True)]
        self.sgd += [(beta, config.bias_lr, decay / config.bias_lr, False) for beta in norm_biases]
        self.sgd += [(head, config.head_lr, decay / config.head_lr, False)]
        self.variables = [entry[0] for entry in self.sgd] + self.filters
        self.buffers = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]

    def factors(self, step: int):
        """Linear decay to zero over the run; the whitening bias decays over its own, shorter span."""
        return (
            np.float32(1 - step / self.total_steps),
            np.float32(max(0.0, 1 - step / self.whiten_steps)),
        )

    def apply(self, gradients, lr_factor, whiten_factor):
        import tensorflow as tf

        config = self.config
        count = len(self.sgd)
        sgd_steps = zip(self.sgd, gradients[:count], self.buffers[:count], strict=True)
        for (variable, lr, decay, is_whiten), gradient, buffer in sgd_steps:
            gradient = gradient + decay * variable
            buffer.assign(config.sgd_momentum * buffer + gradient)
            step = gradient + config.sgd_momentum * buffer
            variable.assign_sub(lr * (whiten_factor if is_whiten else lr_factor) * step)
        for variable, gradient, buffer in zip(self.filters, gradients[count:], self.buffers[count:], strict=True):
            buffer.assign(config.filter_momentum * buffer + gradient)
            step = gradient + config.filter_momentum * buffer
            channels_out = variable.shape[-1]
            variable.assign(variable * (math.sqrt(channels_out) / tf.norm(variable)))
            flat = tf.transpose(tf.reshape(step, (-1, channels_out)))
            update = tf.reshape(tf.transpose(orthogonalise(flat)), variable.shape)
            variable.assign_sub(config.filter_lr * lr_factor * update)


def orthogonalise(matrix):
    """Approximate U V^T of `matrix` = U S V^T by a few quintic Newton-Schulz iterations (Muon)."""
    import tensorflow as tf

    a, b, c = NEWTON_SCHULZ_COEFFICIENTS
    x = matrix / (tf.norm(matrix) + 1e-7)
    tall = matrix.shape[0] > matrix.shape[1]
    if tall:
        x = tf.transpose(x)
    for _ in range(NEWTON_SCHULZ_STEPS):
        gram = x @ tf.transpose(x)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return tf.transpose(x) if tall else x


class Lookahead:
    """airbench's weight averaging: every few steps the weights (BatchNorm statistics included) move to an
    exponential average of themselves, whose decay grows from 0 to `decay` as the cube of the progress; the
    last step leaves the network at the average."""

    def __init__(self, model, every: int, decay: float, total_steps: int):
        import tensorflow as tf

        self.every, self.decay, self.total_steps = every, decay, total_steps
        self.variables = [w for w in model.weights if "float" in str(w.dtype)]
        self.averages = [tf.Variable(w.numpy(), trainable=False) for w in self.variables]

    def after_step(self, step: int):
        if step >= self.total_steps:
            self._update(1.0)
        elif step % self.every == 0:
            self._update(self.decay * (step / self.total_steps) ** 3)

    def _update(self, decay: float):
        for average, variable in zip(self.averages, self.variables, strict=True):
            average.assign(average + (1.0 - decay) * (variable - average))
            variable.assign(average)


# --- training -----------------------------------------------------------------------------------------------


def train(
    dataset: Dataset,
    config: TrainConfig,
    out_dir,
    *,
    progress=print,
    command: str | None = None,
    extra_train: Split | None = None,
) -> dict:
    """Train, keep the best epoch by validation accuracy, calibrate it on the validation split, score it on the
    test split and write the bundle.

    `extra_train` (e.g. staff-reviewed uploads) joins the training split only, never validation or test.
    Ctrl-C stops after the step in flight; the bundle is still written from the best epoch finished so far.
    Returns the bundle's metadata.
    """
    import keras
    import tensorflow as tf

    from mlcore.model import flops_per_image, layer_table, make_model, whitening_filters

    started = time.monotonic()
    commit = bundle.git_commit()  # read now: the tree may change while a long run trains
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_split, val_split = train_validation_split(dataset.train, config.val_fraction, config.seed)
    extra_count = len(extra_train) if extra_train is not None else 0
    if extra_count:
        train_split = Split(
            np.concatenate([train_split.images, extra_train.images]),
            np.concatenate([train_split.labels, extra_train.labels]),
        )
    batch_size = min(config.batch_size, len(train_split))
    steps_per_epoch = len(train_split) // batch_size
    total_steps = max(1, math.ceil(config.epochs * steps_per_epoch))
    whiten_steps = max(1, math.ceil(config.whiten_bias_epochs * steps_per_epoch))
    epochs = math.ceil(total_steps / steps_per_epoch)
    config = replace(config, batch_size=batch_size)

    # Mixed precision computes in bfloat16 but keeps float32 weights (BatchNorm stays float32 inside Keras); the
    # bundle always gets a float32 copy, so serving and evaluation never see bfloat16.
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        model = make_model(config.widths, config.batchnorm_momentum, seed=config.seed)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    patch_images = train_split.images[: config.whiten_patch_images]
    model.get_layer("whiten").kernel.assign(whitening_filters(patch_images, config.whiten_eps))
    optimiser = Optimiser(model, config, total_steps, whiten_steps)
    lookahead = None
    if config.lookahead_every:
        lookahead = Lookahead(model, config.lookahead_every, config.lookahead_decay, total_steps)
    smoothing = config.label_smoothing

    @tf.function(jit_compile=False)
    def train_step(images, labels, lr_factor, whiten_factor):
        targets = tf.one_hot(labels, len(CLASSES)) * (1 - smoothing) + smoothing / len(CLASSES)
        with tf.GradientTape() as tape:
            logits = tf.cast(model(tf.cast(images, tf.float32), training=True), tf.float32)
            losses = tf.nn.softmax_cross_entropy_with_logits(targets, logits)
            loss = tf.reduce_sum(losses)  # summed, not averaged: the learning rates assume it
        gradients = tape.gradient(loss, optimiser.variables)
        optimiser.apply(gradients, lr_factor, whiten_factor)
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == labels, tf.int32))
        return loss, correct

    # Validation runs on a float32 copy of the network: the arithmetic the bundle is served with.
    float32_model = make_model(config.widths, config.batchnorm_momentum, seed=config.seed)
    validation_logits = logits_function(float32_model)

    def score_validation():
        float32_model.set_weights(model.get_weights())
        return validation_logits

    progress(
        f"Training on {len(train_split)} images, validating on {len(val_split)}; "
        f"{epochs} epochs of {steps_per_epoch} steps of {batch_size} images."
    )
    augmented = AugmentedEpochs(train_split.images, config.translate, rng, config.cutout)
    history, best = [], None
    interrupted = False
    step = 0
    try:
        for epoch in range(epochs):
            epoch_started = time.monotonic()
            images = augmented.epoch(epoch)
            order = rng.permutation(len(images))
            loss_sum, correct_sum, seen = 0.0, 0, 0
            for batch in range(steps_per_epoch):
                if step >= total_steps:
                    break
                index = order[batch * batch_size : (batch + 1) * batch_size]
                lr_factor, whiten_factor = optimiser.factors(step)
                loss, correct = train_step(
                    tf.constant(images[index]), tf.constant(train_split.labels[index]), lr_factor, whiten_factor
                )
                loss_sum += float(loss)
                correct_sum += int(correct)
                seen += len(index)
                step += 1
                if lookahead is not None:
                    lookahead.after_step(step)
            record = _epoch_record(epoch, step, total_steps, loss_sum, correct_sum, seen, val_split, score_validation())
            record["seconds"] = round(time.monotonic() - epoch_started, 1)
            record["elapsed_seconds"] = round(time.monotonic() - started, 1)
            history.append(record)
            if best is None or record["val_accuracy"] >= best[0]["val_accuracy"]:
                best = (record, model.get_weights())
            remaining = (time.monotonic() - started) / step * (total_steps - step)
            progress(_format_epoch(record, epochs, remaining))
    except KeyboardInterrupt:
        interrupted = True
        progress("Interrupted: writing the bundle from the best epoch so far.")
        if best is None:
            raise
    best_record, best_weights = best
    model = float32_model
    model.set_weights(best_weights)
    train_seconds = time.monotonic() - started

    validation = None
    if len(val_split):
        validation = classification_report(
            val_split.labels, softmax(predict_logits(validation_logits, val_split.images, config.tta))
        )
        validation["tta"] = config.tta
    metadata = {
        "name": f"airbench-muon-{bundle.utc_now()[:16].replace(':', '')}",
        "created_at": bundle.utc_now(),
        "architecture": "airbench94 (whitening conv, three conv groups, max-pool head), Keras functional",
        "classes": list(CLASSES),
        "input": {"shape": [32, 32, 3], "dtype": "float32", "range": [0, 255], "layout": "NHWC RGB"},
        "output": "logits",
        "preprocessing": PREPROCESSING,
        "tta": config.tta,
        "parameters": int(model.count_params()),
        "flops_per_image": flops_per_image(model),
        "layers": layer_table(model),
        "training": {
            "config": config.as_dict(),
            "command": command,
            "steps": step,
            "epochs_completed": len(history),
            "best_epoch": best_record["epoch"],
            "interrupted": interrupted,
            "train_images": len(train_split),
            "reviewed_uploads": extra_count,
            "validation_images": len(val_split),
            "train_seconds": round(train_seconds, 1),
        },
        "validation": _headline(validation),
        "data": {
            "source": dataset.source,
            "fingerprint": dataset.fingerprint,
            "train_images": len(dataset.train),
            "test_images": len(dataset.test),
        },
        "hardware": bundle.hardware_description(),
        "libraries": bundle.library_versions(),
        "git_commit": commit,
        "serving": {
            "file": bundle.SERVING_FILE,
            "runtime": "LiteRT (XNNPACK)",
            "weights": "int8, activations quantised per call" if config.quantize_serving else "float32",
            "tta": config.tta,
            "outputs": ["logits", f"feature maps of {bundle.FEATURES_LAYER}"],
        },
    }
    progress(f"Writing the bundle to {out_dir} ...")
    bundle.write_bundle(out_dir, model=model, metadata=metadata, history=history, quantize=config.quantize_serving)
    if len(val_split):
        progress("Calibrating on the validation split: temperature and the none-of-the-ten threshold ...")
        metadata |= calibrate_bundle(out_dir, val_split, train_split)
        bundle.write_json(out_dir, bundle.METADATA_FILE, metadata)
    progress(f"Scoring the {len(dataset.test)} test images through the serving model ...")
    evaluation = evaluate_bundle(out_dir, dataset.test, examples=EXAMPLES_PER_PAIR)
    metadata["test"] = _headline(evaluation)
    metadata["wall_seconds"] = round(time.monotonic() - started, 1)
    bundle.write_json(out_dir, bundle.EVALUATION_FILE, evaluation)
    bundle.write_json(out_dir, bundle.METADATA_FILE, metadata)
    progress(
        f"Done in {_minutes(metadata['wall_seconds'])}: test accuracy {evaluation['accuracy']:.2%} "
        f"({config.tta} test-time augmentation), bundle in {out_dir}"
    )
    return metadata


def logits_function(network):
    """A compiled inference-mode forward pass: uint8 NHWC numpy batch in, float32 logits out."""
    import tensorflow as tf

    @tf.function(jit_compile=False)
    def logits(images):
        return tf.cast(network(tf.cast(images, tf.float32), training=False), tf.float32)

    return lambda images: logits(tf.constant(images)).numpy()


def _epoch_record(epoch, step, total_steps, loss_sum, correct_sum, seen, val_split, logits_fn):
    record = {
        "epoch": epoch + 1,
        "step": step,
        "total_steps": total_steps,
        "train_loss": loss_sum / max(seen, 1),
        "train_accuracy": correct_sum / max(seen, 1),
        "val_loss": None,
        "val_accuracy": None,
    }
    if len(val_split):
        report = classification_report(val_split.labels, softmax(predict_logits(logits_fn, val_split.images)))
        record["val_loss"] = report["log_loss"]
        record["val_accuracy"] = report["accuracy"]
    else:  # without a validation split, the latest epoch counts as the best
        record["val_accuracy"] = record["train_accuracy"]
    return record


def _headline(report):
    if report is None:
        return None
    return {key: report[key] for key in ("images", "accuracy", "log_loss")} | {"tta": report.get("tta")}


def _format_epoch(record, epochs, remaining_seconds):
    val = f"val loss {record['val_loss']:.4f} val acc {record['val_accuracy']:.2%}" if record["val_loss"] else ""
    return (
        f"epoch {record['epoch']:>2}/{epochs}  loss {record['train_loss']:.4f}  acc {record['train_accuracy']:.2%}  "
        f"{val}  {record['seconds']:.0f}s  elapsed {_minutes(record['elapsed_seconds'])}  "
        f"remaining ~{_minutes(remaining_seconds)}"
    )


def _minutes(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def refresh_bundle(bundle_dir, dataset: Dataset, *, progress=print) -> dict:
    """Bring a bundle written by an earlier version up to date without retraining: re-export the serving model
    (with the feature maps for heat maps) from its Keras model, calibrate it on its own validation split (the
    seed and fraction it was trained with) and score the test split again. Returns the new metadata."""
    import keras

    metadata = bundle.read_metadata(bundle_dir)
    config = metadata["training"]["config"]
    model = keras.models.load_model(Path(bundle_dir) / bundle.MODEL_FILE)
    progress("Re-exporting the serving model with its feature maps ...")
    bundle.write_serving_files(bundle_dir, model, quantize=config.get("quantize_serving", True))
    train_split, val_split = train_validation_split(dataset.train, config["val_fraction"], config["seed"])
    progress(f"Calibrating on the {len(val_split)} validation images ...")
    metadata |= calibrate_bundle(bundle_dir, val_split, train_split)
    bundle.write_json(bundle_dir, bundle.METADATA_FILE, metadata)
    progress(f"Scoring the {len(dataset.test)} test images through the serving model ...")
    evaluation = evaluate_bundle(bundle_dir, dataset.test, examples=EXAMPLES_PER_PAIR)
    metadata["test"] = _headline(evaluation)
    metadata["serving"]["outputs"] = ["logits", f"feature maps of {bundle.FEATURES_LAYER}"]
    bundle.write_json(bundle_dir, bundle.EVALUATION_FILE, evaluation)
    bundle.write_json(bundle_dir, bundle.METADATA_FILE, metadata)
    progress(f"Done: test accuracy {evaluation['accuracy']:.2%}, temperature {metadata['calibration']['temperature']}")
    return metadata
