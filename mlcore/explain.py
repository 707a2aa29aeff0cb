"""Heat maps: which parts of the image drove the answer, by occlusion or by class activation mapping.

Occlusion: each of 4x4 regions of the image the network saw is covered with grey in turn; the more the
class's probability falls, the more that region drove it. All 17 images go through the serving model in one call;
with several experts, each gets the same region of its own square greyed and the combined answer is what falls.

Class activation mapping (CAM): for a network whose head averages its last feature maps and applies one linear
layer, each cell's share of a class's logit is that cell's features times the class's weights, so the map
comes free with the forward pass already made. With this head it equals Grad-CAM.

Which one a bundle uses is measured per architecture (bench/bench_heat_maps.py): for airbench, whose head
max-pools 3x3 maps whose cells each see nearly the whole image, CAM does not localise and occlusion does; for the
shipped EfficientNet-Lite0 occlusion also localised better (72 of 80 placements against 65).
"""

import numpy as np
from PIL import Image

OCCLUSION_GRID = 4  # regions per side
GREY = 128
HEAT_COLOURS = np.array([[0, 0, 0], [128, 0, 160], [230, 40, 40], [255, 200, 0], [255, 255, 200]], dtype=np.float64)


def occluded_copies(pixels: np.ndarray, grid: int = OCCLUSION_GRID) -> np.ndarray:
    """The square image, then one copy per region (row by row) with that region greyed out: grid * grid + 1 images.
    Squares of different sizes get the same regions, as fractions of the side."""
    side = pixels.shape[0]
    batch = np.repeat(pixels[None], grid * grid + 1, axis=0)
    for index in range(grid * grid):
        row, col = divmod(index, grid)
        top, bottom = row * side // grid, (row + 1) * side // grid
        left, right = col * side // grid, (col + 1) * side // grid
        batch[index + 1, top:bottom, left:right] = GREY
    return batch


def occlusion_drops(probabilities: np.ndarray, grid: int = OCCLUSION_GRID) -> np.ndarray:
    """(grid, grid) map from a class's probability on `occluded_copies`: how much it falls without each region,
    scaled to 0..1."""
    drops = np.maximum(probabilities[0] - probabilities[1:], 0.0).reshape(grid, grid)
    top = drops.max()
    return np.round(drops / top, 4) if top > 0 else drops


def class_activation_map(features: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    """(h, w) positive evidence for a class from (h, w, channels) feature maps and that class's weights, 0..1."""
    evidence = np.maximum(np.asarray(features, dtype=np.float64) @ np.asarray(class_weights, dtype=np.float64), 0.0)
    top = evidence.max()
    return np.round(evidence / top, 4) if top > 0 else evidence


def heat_map_image(cells, photo_size: tuple[int, int], longest_side: int = 256) -> Image.Image:
    """An RGBA overlay with the photo's aspect: the map fills the centre square the network saw (smoothly
    upsampled), transparent elsewhere; hotter and more opaque where the evidence is stronger."""
    width, height = photo_size
    scale = longest_side / max(width, height)
    out_width, out_height = max(1, round(width * scale)), max(1, round(height * scale))
    side = min(out_width, out_height)
    grid = Image.fromarray((np.asarray(cells, dtype=np.float64) * 255).astype(np.uint8), mode="L")
    values = np.asarray(grid.resize((side, side), Image.Resampling.BICUBIC), dtype=np.float64) / 255
    positions = values * (len(HEAT_COLOURS) - 1)
    low = np.floor(positions).astype(int).clip(0, len(HEAT_COLOURS) - 2)
    blend = (positions - low)[..., None]
    rgb = HEAT_COLOURS[low] * (1 - blend) + HEAT_COLOURS[low + 1] * blend
    alpha = (values * 200)[..., None]
    square = Image.fromarray(np.concatenate([rgb, alpha], axis=-1).astype(np.uint8), mode="RGBA")
    overlay = Image.new("RGBA", (out_width, out_height), (0, 0, 0, 0))
    overlay.paste(square, ((out_width - side) // 2, (out_height - side) // 2))
    return overlay
