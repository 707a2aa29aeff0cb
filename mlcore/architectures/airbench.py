"""airbench94 with the Muon optimiser (Keller Jordan, cifar10-airbench), ported to Keras for the CPU: trained
from scratch on 32x32 CIFAR images.

A whitening-initialised first layer, three conv groups with identity-initialised filters, frozen BatchNorm
scales, label smoothing, alternating flips and 2-pixel translations, a linear learning-rate decay and
flip-and-translate test-time augmentation. Layer names are stable ("whiten", "group1_conv1", "group1_norm1",
"head", ...) because training picks its optimiser by them and the bundle's layer table shows them.
Read top to bottom: the recipe, the network, augmentation, the optimiser, the training loop.
"""

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from mlcore import recipe as shared
from mlcore.fitting import (
    EpochLog,
    FitResult,
    LoopState,
    epoch_record,
    logits_function,
    random_crops,
    remaining_seconds,
    step_plan,
)
from mlcore.labels import CLASSES, NUM_CLASSES
from mlcore.recipe import option

NAME = "airbench"
TITLE = "airbench94"  # the network's name as people write it
SUMMARY = "from scratch at 32x32"  # what sets it apart, in a command's help
DESCRIPTION = "airbench94 (whitening conv, three conv groups, max-pool head), Keras functional, trained from scratch"
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # per channel, on pixels scaled to 0..1
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGE_SIZE = 32  # pixels, square
FEATURES_LAYER = "group3_gelu2"  # the last feature maps: 3x3 cells, max-pooled into the head
FEATURES_POOLING = "max"
HEAD_LAYER = None  # the head max-pools: class activation maps do not localise (mlcore/explain.py)
QUANTIZED_ACTIVATIONS = False  # int8 weights alone already serve it in under a millisecond
HEAT_MAPS = "occlusion"
NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NEWTON_SCHULZ_STEPS = 3
MEAN_PIXEL = np.round(255 * np.asarray(CIFAR_MEAN)).astype(np.uint8)  # "zero" after normalising
WHITEN_KERNEL = 2
WHITEN_WIDTH = 2 * 3 * WHITEN_KERNEL**2  # every eigen-direction of a 2x2x3 patch, positive and negative


def _widths(text: str) -> tuple[int, int, int]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if len(widths) != 3 or min(widths) < 1:
        raise ValueError(text)  # argparse turns this into "invalid _widths value"
    return widths


@dataclass(frozen=True)
class Recipe:
    architecture: str = "airbench"
    epochs: float = shared.epochs(14.0)
    batch_size: int = shared.batch_size(2000)
    seed: int = shared.seed()
    val_fraction: float = shared.val_fraction()
    limit: int | None = shared.limit()
    widths: tuple[int, int, int] = option((64, 320, 320), "channels of the three conv groups", parse=_widths)
    batchnorm_momentum: float = 0.6  # weight of the running statistics (Keras convention)
    label_smoothing: float = 0.2
    filter_lr: float = 0.24  # Muon step size for conv filters, decayed linearly to 0
    filter_momentum: float = 0.6  # Nesterov momentum of Muon
    bias_lr: float = 0.053  # SGD step size for BatchNorm and whitening biases, per summed-loss gradient
    head_lr: float = 0.67  # SGD step size for the classifier weights
    sgd_momentum: float = 0.85  # Nesterov momentum of SGD
    weight_decay: float = 2e-6  # per example in the batch, decoupled from the learning rate
    whiten_bias_epochs: float = 3.0  # the whitening bias trains this long, then freezes
    whiten_patch_images: int = 5000  # training images whose 2x2 patches set the whitening filters
    whiten_eps: float = 5e-4
    translate: int = 2  # pixels of random translation (reflect padding)
    cutout: int = option(
        0, "side in pixels of a square painted the mean colour at a random place; 0 for none", parse=int
    )
    lookahead_every: int = option(0, "steps between weight averaging (lookahead); 0 for none", parse=int)
    lookahead_decay: float = 0.95**5  # the average's decay at the end of the run (it grows as progress cubed)
    precision: str = "mixed_bfloat16"  # training arithmetic: mixed_bfloat16 (1.3x faster here) or float32
    # Test-time augmentation for evaluation and serving: none, flip (2 views) or flip_translate (6 views). Flip
    # keeps one image under 2 ms on one core here (1.3 ms); 6 views add 0.1-0.3 point for 3x the time.
    tta: str = shared.tta()
    image_size: int = IMAGE_SIZE  # the network's input: CIFAR's own size
    quantize_serving: bool = True  # int8 weights in the serving model (see bundle.serving_model_bytes)

    def __post_init__(self):
        shared.check(self)
        if not 0 <= self.cutout < 32 or self.lookahead_every < 0:
            raise ValueError("--cutout must be 0-31 pixels and --lookahead-every 0 or more steps")

    def as_dict(self) -> dict:
        return asdict(self)


# --- the network ------------------------------------------------------------------------------------------
def make_model(widths=(64, 256, 256), batchnorm_momentum=0.6, seed=0):
    """Build the network with airbench's initialisation; the whitening filters are set later from data."""
    import keras
    from keras import layers

    rng = np.random.default_rng(seed)
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3), name="pixels")
    mean = [255.0 * m for m in CIFAR_MEAN]
    variance = [(255.0 * s) ** 2 for s in CIFAR_STD]
    # Normalising and whitening stay float32 under mixed precision: whitening multiplies the faint,
    # high-frequency patch directions up to 45x, and bfloat16 rounding noise amplified that much made the
    # network depend on noise that float32 inference does not have (validation accuracy fell to a third).
    x = layers.Normalization(mean=mean, variance=variance, name="normalize", dtype="float32")(inputs)
    x = layers.Conv2D(WHITEN_WIDTH, WHITEN_KERNEL, padding="valid", name="whiten", dtype="float32")(x)
    x = layers.Activation("gelu", name="whiten_gelu", dtype="float32")(x)
    channels_in = WHITEN_WIDTH
    for index, channels_out in enumerate(widths, start=1):
        x = _conv_group(x, f"group{index}", channels_in, channels_out, batchnorm_momentum)
        channels_in = channels_out
    x = layers.MaxPooling2D(3, name="final_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(NUM_CLASSES, use_bias=False, name="head")(x)
    logits = layers.Rescaling(1.0 / channels_in, name="logits")(x)
    model = keras.Model(inputs, logits, name="cifar_airbench")
    _initialise(model, rng)
    return model


def _conv_group(x, name, channels_in, channels_out, batchnorm_momentum):
    from keras import layers

    x = layers.Conv2D(channels_out, 3, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = _batch_norm(f"{name}_norm1", batchnorm_momentum)(x)
    x = layers.Activation("gelu", name=f"{name}_gelu1")(x)
    x = layers.Conv2D(channels_out, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    x = _batch_norm(f"{name}_norm2", batchnorm_momentum)(x)
    return layers.Activation("gelu", name=f"{name}_gelu2")(x)


def _batch_norm(name, momentum):
    from keras import layers

    # Scales stay at one (airbench trains only the shifts); a tiny epsilon keeps the normalisation exact.
    return layers.BatchNormalization(momentum=momentum, epsilon=1e-12, scale=False, name=name)


def _initialise(model, rng):
    """PyTorch-style uniform init, identity ("dirac") filters where channels allow, a unit-variance head."""
    for layer in model.layers:
        if layer.name.endswith(("_conv1", "_conv2")):
            kernel = _uniform_fan_in(rng, layer.kernel.shape)
            channels_in = kernel.shape[2]
            identity = min(channels_in, kernel.shape[3])
            kernel[..., :identity] = 0.0
            centre = kernel.shape[0] // 2
            kernel[centre, centre, np.arange(identity), np.arange(identity)] = 1.0
            layer.kernel.assign(kernel)
        elif layer.name == "whiten":
            fan_in = int(np.prod(layer.kernel.shape[:3]))
            bound = 1.0 / math.sqrt(fan_in)
            layer.bias.assign(rng.uniform(-bound, bound, size=layer.bias.shape).astype("float32"))
        elif layer.name == "head":
            kernel = _uniform_fan_in(rng, layer.kernel.shape)
            layer.kernel.assign(kernel / kernel.std())


def _uniform_fan_in(rng, shape):
    fan_in = int(np.prod(shape[:-1]))
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=tuple(shape)).astype("float32")


def whitening_filters(images, eps=5e-4):
    """Filters that decorrelate the 2x2 patches of `images` (uint8 NHWC), as a Keras conv kernel.

    Each eigenvector of the patch covariance, scaled by its inverse standard deviation, appears twice, once
    negated, so that the GELU after the layer keeps the information on both sides of zero.
    """
    mean = 255.0 * np.asarray(CIFAR_MEAN, dtype="float64")
    std = 255.0 * np.asarray(CIFAR_STD, dtype="float64")
    x = (images.astype("float64") - mean) / std
    k = WHITEN_KERNEL
    height, width = x.shape[1] - k + 1, x.shape[2] - k + 1
    # Flatten each patch in (row, column, channel) order: the order of a Keras kernel's first three axes.
    shifted = [x[:, i : i + height, j : j + width, :] for i in range(k) for j in range(k)]
    patches = np.stack(shifted, axis=3).reshape(-1, k * k * 3)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    scaled = eigenvectors / np.sqrt(eigenvalues + eps)  # columns are the filters
    kernel = np.concatenate([scaled, -scaled], axis=1)
    return kernel.reshape(k, k, 3, 2 * k * k * 3).astype("float32")


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
        count, size = len(self.padded), self.size
        out = random_crops(self.padded, size, self.translate, self.rng) if self.translate else self.padded.copy()
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

    def __init__(self, model, config: "Recipe", total_steps: int, whiten_steps: int):
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


def fit(train_split, val_split, recipe: Recipe, *, progress=print, started=None, checkpoint=None) -> FitResult:
    """Train from scratch and keep the best epoch by validation accuracy (Ctrl-C stops after the step in
    flight and keeps the best epoch finished so far). With a `checkpoint` (mlcore.checkpoint), keep the loop's
    state there after every epoch and go on from the state it holds."""
    import keras
    import tensorflow as tf

    started = started or time.monotonic()
    keras.utils.set_random_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    batch_size, steps_per_epoch, total_steps, epochs = step_plan(recipe.epochs, recipe.batch_size, len(train_split))
    whiten_steps = max(1, math.ceil(recipe.whiten_bias_epochs * steps_per_epoch))
    recipe = replace(recipe, batch_size=batch_size)

    # Mixed precision computes in bfloat16 but keeps float32 weights (BatchNorm stays float32 inside Keras); the
    # bundle always gets a float32 copy, so serving and evaluation never see bfloat16.
    keras.mixed_precision.set_global_policy(recipe.precision)
    try:
        model = make_model(recipe.widths, recipe.batchnorm_momentum, seed=recipe.seed)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    patch_images = train_split.images[: recipe.whiten_patch_images]
    model.get_layer("whiten").kernel.assign(whitening_filters(patch_images, recipe.whiten_eps))
    optimiser = Optimiser(model, recipe, total_steps, whiten_steps)
    lookahead = None
    if recipe.lookahead_every:
        lookahead = Lookahead(model, recipe.lookahead_every, recipe.lookahead_decay, total_steps)
    smoothing = recipe.label_smoothing

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
    float32_model = make_model(recipe.widths, recipe.batchnorm_momentum, seed=recipe.seed)
    validation_logits = logits_function(float32_model)

    def score_validation():
        float32_model.set_weights(model.get_weights())
        return validation_logits

    progress(
        f"Training on {len(train_split)} images, validating on {len(val_split)}; "
        f"{epochs} epochs of {steps_per_epoch} steps of {batch_size} images."
    )
    augmented = AugmentedEpochs(train_split.images, recipe.translate, rng, recipe.cutout)
    log = EpochLog(model, epochs, progress, started)
    variables = [*model.variables, *optimiser.buffers, *(lookahead.averages if lookahead is not None else [])]
    state = LoopState(checkpoint, variables, rng, log)
    first_epoch, step = state.restore()
    first_step, session_started = step, time.monotonic()
    interrupted = False
    try:
        for epoch in range(first_epoch, epochs):
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
            record = epoch_record(epoch, step, total_steps, loss_sum, correct_sum, seen, val_split, score_validation())
            log.finish(record, epoch_started, remaining_seconds(session_started, first_step, step, total_steps))
            state.save(epoch + 1, step)
    except KeyboardInterrupt:
        interrupted = True
        log.interrupted()
    best_record, best_weights = log.best
    float32_model.set_weights(best_weights)
    return FitResult(float32_model, recipe, log.history, best_record, step, interrupted, validation_logits)
