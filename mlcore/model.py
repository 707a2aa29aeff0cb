"""The CNN: an airbench94-shaped network as a functional Keras model that takes raw RGB pixels (0..255).

Layer names are stable ("whiten", "group1_conv1", "group1_norm1", "head", ...) because training picks its
optimiser by them and the bundle's layer table shows them.
"""

import math

import numpy as np

from mlcore.config import CIFAR_MEAN, CIFAR_STD, IMAGE_SIZE
from mlcore.labels import NUM_CLASSES

WHITEN_KERNEL = 2
WHITEN_WIDTH = 2 * 3 * WHITEN_KERNEL**2  # every eigen-direction of a 2x2x3 patch, positive and negative


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
        if kind == "Conv2D":
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * kh * kw * cin * cout * h * w
        elif kind == "Dense":
            cin, cout = layer.kernel.shape
            total += 2 * cin * cout
    return int(total)
