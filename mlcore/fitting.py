"""What every architecture's training loop shares: the result it hands back, the per-epoch record and the
progress line, what a checkpoint keeps of the loop (`LoopState`), and a compiled inference pass for scoring the
validation split."""

import math
import time
from dataclasses import dataclass

import numpy as np

from mlcore.checkpoint import CheckpointError
from mlcore.scores import classification_report, predict_logits, softmax


@dataclass
class FitResult:
    model: object  # the float32 Keras model at its best epoch
    recipe: object  # the recipe as run (e.g. the batch size capped at the training images)
    history: list  # one epoch_record per epoch
    best_record: dict
    steps: int
    interrupted: bool
    logits_fn: object  # uint8 NHWC batch in the network's input size -> logits, on `model`


def random_crops(padded: np.ndarray, size: int, margin: int, rng: np.random.Generator) -> np.ndarray:
    """A (size, size) crop of each padded map at a random offset of 0..2*margin on each axis: random shifts by up
    to `margin` cells or pixels, for images and activation maps alike."""
    shifts = rng.integers(0, 2 * margin + 1, size=(len(padded), 2))
    out = np.empty((len(padded), size, size, *padded.shape[3:]), dtype=padded.dtype)
    for dy in range(2 * margin + 1):
        for dx in range(2 * margin + 1):
            chosen = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
            out[chosen] = padded[chosen, dy : dy + size, dx : dx + size]
    return out


def step_plan(epochs: float, batch_size: int, images: int) -> tuple[int, int, int, int]:
    """(batch size, steps per epoch, total steps, epochs started) for `epochs` passes over `images`; the batch is
    capped at the number of images and a fraction of an epoch ends the run part-way through its last pass."""
    batch_size = min(batch_size, images)
    steps_per_epoch = images // batch_size
    total_steps = max(1, math.ceil(epochs * steps_per_epoch))
    return batch_size, steps_per_epoch, total_steps, math.ceil(total_steps / steps_per_epoch)


class EpochLog:
    """The history of a run: each finished epoch's record (with its times), the best epoch by validation accuracy
    with a copy of `model`'s weights at that point, and a progress line per epoch."""

    def __init__(self, model, epochs: int, progress, started: float):
        self.model, self.epochs, self.progress, self.started = model, epochs, progress, started
        self.history, self.best = [], None

    def finish(self, record: dict, epoch_started: float, remaining_seconds: float) -> None:
        record["seconds"] = round(time.monotonic() - epoch_started, 1)
        record["elapsed_seconds"] = round(time.monotonic() - self.started, 1)
        self.history.append(record)
        if self.best is None or record["val_accuracy"] >= self.best[0]["val_accuracy"]:
            self.best = (record, self.model.get_weights())
        self.progress(format_epoch(record, self.epochs, remaining_seconds))

    def restore(self, history: list, best_record: dict, best_weights: list, elapsed_seconds: float) -> None:
        """Take up the log of a run stopped after its last checkpoint."""
        self.history, self.best = history, (best_record, best_weights)
        self.started = time.monotonic() - elapsed_seconds

    def interrupted(self) -> None:
        """After Ctrl-C: go on with the best epoch so far, or stop if no epoch finished."""
        self.progress("Interrupted: writing the bundle from the best epoch so far.")
        if self.best is None:
            raise KeyboardInterrupt


class LoopState:
    """What a training loop's checkpoint keeps after every epoch and a resumed run puts back: `variables` (every
    variable the loop changes: weights, BatchNorm statistics, dropout's seed, the optimiser's state and step
    count, in the order the same code builds them), the numpy generator and the epoch log. Without a checkpoint
    it does nothing."""

    def __init__(self, checkpoint, variables: list, rng: np.random.Generator, log: EpochLog):
        self.checkpoint, self.variables, self.rng, self.log = checkpoint, list(variables), rng, log

    def restore(self) -> tuple[int, int]:
        """(epochs finished, steps done) by the run so far, its state put back; (0, 0) for a new run."""
        loaded = self.checkpoint.load_state() if self.checkpoint is not None else None
        if loaded is None:
            return 0, 0
        arrays, info = loaded
        if info["variables"] != len(self.variables):
            raise CheckpointError(
                f"the checkpoint in {self.checkpoint.folder} has {info['variables']} variables, this network "
                f"{len(self.variables)}: it was written by other code"
            )
        for index, variable in enumerate(self.variables):
            variable.assign(arrays[f"variable_{index}"])
        self.rng.bit_generator.state = info["rng"]
        best = [arrays[f"best_{index}"] for index in range(info["best_weights"])]
        self.log.restore(info["history"], info["best_record"], best, info["elapsed_seconds"])
        self.log.progress(f"Resuming after epoch {info['epochs']} (step {info['step']}) from {self.checkpoint.folder}.")
        return info["epochs"], info["step"]

    def save(self, epochs: int, step: int) -> None:
        """Keep the state after `epochs` finished epochs."""
        if self.checkpoint is None:
            return
        best_record, best_weights = self.log.best
        arrays = {f"variable_{index}": variable.numpy() for index, variable in enumerate(self.variables)}
        arrays |= {f"best_{index}": weights for index, weights in enumerate(best_weights)}
        info = {
            "epochs": epochs,
            "step": step,
            "rng": self.rng.bit_generator.state,
            "history": self.log.history,
            "best_record": best_record,
            "best_weights": len(best_weights),
            "variables": len(self.variables),
            "elapsed_seconds": time.monotonic() - self.log.started,
        }
        self.checkpoint.save_state(arrays, info)


def remaining_seconds(session_started: float, first_step: int, step: int, total_steps: int) -> float:
    """Time left at this session's pace (a resumed run counts only the steps it took itself)."""
    return (time.monotonic() - session_started) / max(1, step - first_step) * (total_steps - step)


def logits_function(network):
    """A compiled inference-mode forward pass: uint8 NHWC numpy batch in, float32 logits out."""
    import tensorflow as tf

    @tf.function(jit_compile=False)
    def logits(images):
        return tf.cast(network(tf.cast(images, tf.float32), training=False), tf.float32)

    return lambda images: logits(tf.constant(images)).numpy()


def epoch_record(epoch, step, total_steps, loss_sum, correct_sum, seen, val_split, logits_fn):
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


def format_epoch(record, epochs, remaining_seconds):
    val = f"val loss {record['val_loss']:.4f} val acc {record['val_accuracy']:.2%}" if record["val_loss"] else ""
    return (
        f"epoch {record['epoch']:>2}/{epochs}  loss {record['train_loss']:.4f}  acc {record['train_accuracy']:.2%}  "
        f"{val}  {record['seconds']:.0f}s  elapsed {minutes(record['elapsed_seconds'])}  "
        f"remaining ~{minutes(remaining_seconds)}"
    )


def minutes(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def layer_table(model):
    """One row per layer: name, kind, output shape (without the batch axis) and parameter count."""
    return [
        {
            "name": layer.name,
            "kind": type(layer).__name__,
            "output_shape": list(layer.output.shape[1:]),
            "parameters": int(layer.count_params()),
        }
        for layer in model.layers
    ]


def flops_per_image(model):
    """Multiply-adds of the conv and dense layers times two: the usual FLOP count for one forward pass."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("Conv2D", "DepthwiseConv2D"):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, channels = layer.output.shape
            total += 2 * kh * kw * h * w * (channels if kind == "DepthwiseConv2D" else cin * cout)
        elif kind == "Dense":
            cin, cout = layer.kernel.shape
            total += 2 * cin * cout
    return int(total)
