"""Training-time augmentation and weight averaging: what each does to the images and weights it is given."""

import numpy as np
import pytest

from mlcore.architectures.airbench import MEAN_PIXEL, AugmentedEpochs, Lookahead, cutout_masks


def _images(count=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)


def test_every_cutout_mask_is_one_square_of_the_given_side_inside_the_image():
    masks = cutout_masks(np.random.default_rng(1), 500, 32, 12)
    assert masks.shape == (500, 32, 32)
    for mask in masks:
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert mask.sum() == 144 and len(rows) == 12 and len(columns) == 12
        assert rows[-1] - rows[0] == 11 and columns[-1] - columns[0] == 11
    # Squares land all over the image, corners included.
    assert masks[:, 0, 0].any() and masks[:, 31, 31].any()


def test_cutout_paints_a_square_the_mean_colour_and_leaves_the_rest_alone():
    images = _images()
    plain = AugmentedEpochs(images, translate=0, rng=np.random.default_rng(5)).epoch(0)
    cut = AugmentedEpochs(images, translate=0, rng=np.random.default_rng(5), cutout=8).epoch(0)
    changed = (plain != cut).any(axis=-1)
    for before, after, where in zip(plain, cut, changed, strict=True):
        painted = (after == MEAN_PIXEL).all(axis=-1)
        assert where.sum() <= 64 and painted.sum() >= 64
        np.testing.assert_array_equal(after[~painted], before[~painted])


def test_flips_alternate_between_epochs_from_a_random_half_mirrored_at_the_start():
    images = _images()
    augmented = AugmentedEpochs(images, translate=0, rng=np.random.default_rng(2))
    first, second = augmented.epoch(0), augmented.epoch(1)
    np.testing.assert_array_equal(second, first[:, :, ::-1, :])
    mirrored = [np.array_equal(a, b[:, ::-1]) for a, b in zip(first, images, strict=True)]
    assert 10 < sum(mirrored) < 54  # a random part of the images starts mirrored
    shifted = AugmentedEpochs(images, translate=2, rng=np.random.default_rng(2)).epoch(0)
    assert shifted.shape == images.shape and shifted.dtype == np.uint8


@pytest.mark.slow
def test_lookahead_pulls_the_weights_towards_their_average_and_ends_on_it():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    kernel = model.layers[0].kernel
    start = kernel.numpy().copy()
    lookahead = Lookahead(model, every=5, decay=0.5, total_steps=10)

    kernel.assign(start + 1.0)
    lookahead.after_step(3)  # not a multiple of 5: nothing happens
    np.testing.assert_allclose(kernel.numpy(), start + 1.0)
    lookahead.after_step(5)  # decay 0.5 * (5/10)^3 = 0.0625: the average moves most of the way
    np.testing.assert_allclose(kernel.numpy(), start + 0.9375, rtol=1e-6)

    kernel.assign(start + 10.0)
    lookahead.after_step(10)  # the last step: back to the average, the latest weights not taken in
    np.testing.assert_allclose(kernel.numpy(), start + 0.9375, rtol=1e-6)
    moving_mean = model.layers[1].moving_mean
    assert any(variable is moving_mean for variable in lookahead.variables)
