"""Temperature scaling, reliability, the none-of-the-ten threshold and class activation maps."""

import numpy as np
import pytest

from mlcore.calibration import KEEP_IN_DISTRIBUTION, choose_thresholds, fit_feature_model, out_of_distribution_images
from mlcore.explain import heat_map_image, occluded_copies, occlusion_drops
from mlcore.scores import energy, feature_closeness, fit_temperature, reliability, softmax


def test_fit_temperature_recovers_how_overconfident_logits_are():
    rng = np.random.default_rng(0)
    honest = rng.normal(0, 2, (4000, 10))
    labels = np.array([rng.choice(10, p=p) for p in softmax(honest)])
    assert fit_temperature(3.0 * honest, labels) == pytest.approx(3.0, rel=0.1)


def test_reliability_of_honest_probabilities_is_close_to_zero_error():
    rng = np.random.default_rng(1)
    probabilities = softmax(rng.normal(0, 2, (5000, 10)))
    labels = np.array([rng.choice(10, p=p) for p in probabilities])
    report = reliability(probabilities, labels)
    assert sum(row["count"] for row in report["bins"]) == 5000
    assert report["ece"] < 0.03
    overconfident = reliability(softmax(np.log(probabilities) * 4), labels)
    assert overconfident["ece"] > 0.1


def test_the_thresholds_keep_the_chosen_share_of_real_images_and_report_what_passes_of_the_rest():
    rng = np.random.default_rng(2)
    inside = {"energy": rng.normal(5, 1, 4000), "features": rng.normal(-10, 2, 4000)}
    outside = {"energy": rng.normal(2, 1, 1000), "features": rng.normal(-30, 5, 1000)}
    choice = choose_thresholds(inside, outside)
    assert choice["true_positive_rate"] == pytest.approx(KEEP_IN_DISTRIBUTION, abs=0.01)
    kept = (outside["energy"] >= choice["thresholds"]["energy"]) & (
        outside["features"] >= choice["thresholds"]["features"]
    )
    assert choice["false_positive_rate"] == pytest.approx(kept.mean())


def test_energy_is_high_when_one_class_fits_and_feature_closeness_when_near_a_class_mean():
    assert energy(np.array([[10.0, 0, 0]]), 1.0)[0] > energy(np.array([[1.0, 1, 1]]), 1.0)[0]
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(10), 50)
    pooled = rng.normal(0, 1, (500, 8)) + labels[:, None]
    model = fit_feature_model(pooled, labels)
    near, far = feature_closeness(np.array([[3.0] * 8, [40.0] * 8]), model)
    assert near > far


def test_generated_images_cover_every_kind_and_are_valid_pixels():
    images = out_of_distribution_images(np.zeros((5, 32, 32, 3), np.uint8), per_kind=2)
    assert images.shape == (14, 32, 32, 3) and images.dtype == np.uint8


def test_occlusion_finds_the_region_the_class_depends_on():
    pixels = np.full((32, 32, 3), 128, dtype=np.uint8)
    pixels[24:32, 0:8] = 255  # a white patch in the bottom-left region

    def probabilities(batch):  # a "model" whose class 3 is the brightness of the bottom-left corner
        score = batch[:, 24:32, 0:8].mean(axis=(1, 2, 3)) / 255
        out = np.zeros((len(batch), 10))
        out[:, 3] = score
        return out

    cells = occlusion_drops(probabilities(occluded_copies(pixels))[:, 3])
    assert cells.shape == (4, 4) and cells[3, 0] == 1.0 and cells.sum() == 1.0


def test_the_heat_map_has_the_photos_aspect_and_is_hot_where_the_map_is():
    cells = np.zeros((3, 3))
    cells[0, 0] = 1.0
    overlay = heat_map_image(cells, (400, 200))
    assert overlay.size == (256, 128) and overlay.mode == "RGBA"
    alpha = np.asarray(overlay)[..., 3]
    assert alpha[:, :64].max() == 0 and alpha[:, -64:].max() == 0  # outside the centre square the network saw
    y, x = np.unravel_index(alpha.argmax(), alpha.shape)
    assert x < 64 + 128 / 3 and y < 128 / 3
