"""`to_model_input` and `open_image`: any photo in, the square uint8 RGB pixels a network takes out (32x32 unless
asked for another size)."""

import io

import numpy as np
import pytest
from PIL import Image

from mlcore.preprocessing import (
    DRAFT_FACTOR,
    ImageError,
    _draft_request,
    open_image,
    resize_pixels,
    to_model_input,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
GREY = (128, 128, 128)  # what transparent pixels are flattened onto


# --- helpers ------------------------------------------------------------------------------------------------


def encode(image, image_format, **options):
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def assert_model_input(array):
    assert isinstance(array, np.ndarray)
    assert array.shape == (32, 32, 3)
    assert array.dtype == np.uint8


def assert_colour(pixels, colour, tolerance=1):
    """Every pixel in `pixels` (any shape ending in 3) is within `tolerance` of `colour` on each channel."""
    difference = np.abs(np.asarray(pixels, dtype=int) - np.array(colour, dtype=int))
    assert difference.max() <= tolerance, f"expected {colour}, got values up to {difference.max()} away"


def noise_image(width=40, height=30, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def two_colour_palette_image(size=(32, 32)):
    """Palette image: index 1 (blue) on the top half, index 0 (red) on the bottom half."""
    image = Image.new("P", size, 0)
    image.putpalette([*RED, *BLUE] + [0] * (256 * 3 - 6))
    image.paste(1, (0, 0, size[0], size[1] // 2))
    return image


def sixteen_bit_png(value):
    data = encode(Image.new("I;16", (40, 40), value), "PNG")
    reopened = Image.open(io.BytesIO(data))
    assert reopened.mode.startswith("I")  # still 16 bits per pixel after the round trip
    return data


# --- every image mode ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_image", "expected"),
    [
        pytest.param(lambda: Image.new("RGB", (40, 40), (10, 20, 30)), (10, 20, 30), id="RGB"),
        pytest.param(lambda: Image.new("L", (40, 40), 77), (77, 77, 77), id="L"),
        pytest.param(lambda: Image.new("RGBA", (40, 40), (10, 200, 30, 255)), (10, 200, 30), id="RGBA-opaque"),
        pytest.param(lambda: Image.new("LA", (40, 40), (200, 255)), (200, 200, 200), id="LA-opaque"),
        pytest.param(lambda: Image.new("LA", (40, 40), (200, 0)), GREY, id="LA-transparent"),
        pytest.param(lambda: Image.new("1", (40, 40), 1), (255, 255, 255), id="1-white"),
        pytest.param(lambda: Image.new("1", (40, 40), 0), (0, 0, 0), id="1-black"),
        pytest.param(lambda: Image.new("CMYK", (40, 40), (255, 0, 0, 0)), (0, 255, 255), id="CMYK-cyan"),
        pytest.param(lambda: Image.new("CMYK", (40, 40), (0, 0, 255, 0)), (255, 255, 0), id="CMYK-yellow"),
        pytest.param(lambda: Image.new("CMYK", (40, 40), (0, 0, 0, 255)), (0, 0, 0), id="CMYK-black"),
        pytest.param(lambda: Image.new("I;16", (40, 40), 65535), (255, 255, 255), id="I;16-max"),
        pytest.param(lambda: Image.new("I;16", (40, 40), 257 * 100), (100, 100, 100), id="I;16-mid"),
        pytest.param(lambda: Image.new("I;16B", (40, 40), 257 * 60), (60, 60, 60), id="I;16B"),
        pytest.param(lambda: Image.new("I", (40, 40), 65535), (255, 255, 255), id="I-16-bit-range"),
        pytest.param(lambda: Image.new("I", (40, 40), 90), (90, 90, 90), id="I-8-bit-range"),
        pytest.param(lambda: Image.new("I", (40, 40), -5), (0, 0, 0), id="I-negative"),
        pytest.param(lambda: Image.new("F", (40, 40), 0.5), (128, 128, 128), id="F-unit-range"),
        pytest.param(lambda: Image.new("F", (40, 40), 200.0), (200, 200, 200), id="F-8-bit-range"),
        pytest.param(lambda: Image.new("YCbCr", (40, 40), (128, 128, 128)), (128, 128, 128), id="YCbCr"),
    ],
)
def test_every_image_mode_becomes_the_expected_rgb_colour(make_image, expected):
    result = to_model_input(make_image())

    assert_model_input(result)
    assert_colour(result, expected, tolerance=2)


def test_palette_image_without_transparency_keeps_its_palette_colours():
    result = to_model_input(encode(two_colour_palette_image(), "PNG"))

    assert_model_input(result)
    assert_colour(result[:14], BLUE)
    assert_colour(result[18:], RED)


@pytest.mark.parametrize("image_format", ["PNG", "GIF"])
def test_palette_image_with_a_transparent_index_is_flattened_onto_grey(image_format):
    data = encode(two_colour_palette_image(), image_format, transparency=0)  # red (index 0) is transparent
    assert Image.open(io.BytesIO(data)).mode == "P"

    result = to_model_input(data)

    assert_model_input(result)
    assert_colour(result[:14], BLUE)
    assert_colour(result[18:], GREY)


def test_palette_image_with_per_entry_alpha_is_flattened_onto_grey():
    image = two_colour_palette_image()
    image.info["transparency"] = bytes([0, 255])  # tRNS: index 0 transparent, index 1 opaque

    result = to_model_input(encode(image, "PNG"))

    assert_colour(result[:14], BLUE)
    assert_colour(result[18:], GREY)


@pytest.mark.parametrize("value", [65535, 257 * 100, 200])
def test_sixteen_bit_png_is_scaled_to_eight_bits(value):
    result = to_model_input(sixteen_bit_png(value))

    assert_model_input(result)
    assert_colour(result, (round(value / 257),) * 3)


def test_greyscale_png_with_transparent_grey_level_is_flattened_onto_grey():
    image = Image.new("L", (32, 32), 0)
    image.paste(255, (0, 0, 32, 16))  # white top half, black bottom half; black is the transparent level

    result = to_model_input(encode(image, "PNG", transparency=0))

    assert_colour(result[:14], (255, 255, 255))
    assert_colour(result[18:], GREY)


def test_rgb_png_with_transparent_colour_is_flattened_onto_grey():
    image = Image.new("RGB", (32, 32), RED)
    image.paste(GREEN, (0, 0, 32, 16))

    result = to_model_input(encode(image, "PNG", transparency=RED))

    assert_colour(result[:14], GREEN)
    assert_colour(result[18:], GREY)


# --- EXIF orientation ---------------------------------------------------------------------------------------


def red_left_blue_right_jpeg(orientation):
    image = Image.new("RGB", (64, 32), RED)
    image.paste(BLUE, (32, 0, 64, 32))
    if orientation is None:
        return encode(image, "JPEG", quality=95)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=95, exif=exif)


def is_red(pixel):
    return pixel[0] > 200 and pixel[2] < 60


def is_blue(pixel):
    return pixel[2] > 200 and pixel[0] < 60


@pytest.mark.parametrize(
    ("orientation", "top", "bottom", "left", "right"),
    [
        pytest.param(None, None, None, is_red, is_blue, id="no-exif"),
        pytest.param(1, None, None, is_red, is_blue, id="1-upright"),
        pytest.param(3, None, None, is_blue, is_red, id="3-rotated-180"),
        pytest.param(6, is_red, is_blue, None, None, id="6-rotate-clockwise"),
        pytest.param(8, is_blue, is_red, None, None, id="8-rotate-anticlockwise"),
    ],
)
def test_exif_orientation_is_applied_before_cropping(orientation, top, bottom, left, right):
    result = to_model_input(red_left_blue_right_jpeg(orientation))

    assert_model_input(result)
    for check, pixel in (
        (top, result[2, 16]),
        (bottom, result[29, 16]),
        (left, result[16, 2]),
        (right, result[16, 29]),
    ):
        if check is not None:
            assert check(pixel), f"pixel {pixel} in the wrong place for orientation {orientation}"
    if top is not None:  # after a quarter turn the colours are stacked, so each row is one colour
        assert is_red(result[2, 2]) == is_red(result[2, 29])


# --- transparency -------------------------------------------------------------------------------------------


def test_fully_transparent_rgba_png_becomes_grey():
    result = to_model_input(encode(Image.new("RGBA", (40, 40), (255, 0, 0, 0)), "PNG"))

    assert_model_input(result)
    assert_colour(result, GREY)


def test_half_transparent_white_is_blended_with_grey():
    result = to_model_input(encode(Image.new("RGBA", (40, 40), (255, 255, 255, 128)), "PNG"))

    assert_colour(result, (192, 192, 192), tolerance=2)


def test_transparent_part_of_an_rgba_image_is_grey_and_opaque_part_keeps_its_colour():
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    image.paste((0, 255, 0, 255), (0, 0, 32, 16))

    result = to_model_input(encode(image, "PNG"))

    assert_colour(result[:14], GREEN)
    assert_colour(result[18:], GREY)


# --- animated images ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "options"),
    [("GIF", {}), ("WEBP", {"lossless": True}), ("PNG", {})],
    ids=["gif", "webp", "apng"],
)
def test_first_frame_of_an_animated_image_decides(image_format, options):
    red, blue, green = (Image.new("RGB", (40, 40), colour) for colour in (RED, BLUE, GREEN))
    data = encode(red, image_format, save_all=True, append_images=[blue, green], duration=100, **options)
    opened = Image.open(io.BytesIO(data))
    assert getattr(opened, "n_frames", 1) == 3

    assert_colour(to_model_input(data), RED, tolerance=3)
    opened.seek(2)  # even a PIL image left on a later frame is read from its first
    assert_colour(to_model_input(opened), RED, tolerance=3)


# --- centre square crop -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(96, 32), (32, 96), (300, 100), (100, 300)])
def test_centre_square_is_kept_and_the_outer_bands_are_cropped(width, height):
    side = min(width, height)
    image = Image.new("RGB", (width, height), RED)
    left, top = (width - side) // 2, (height - side) // 2
    image.paste(GREEN, (left, top, left + side, top + side))

    result = to_model_input(image)

    assert_model_input(result)
    assert_colour(result[2:-2, 2:-2], GREEN, tolerance=2)  # the interior is the green square, unstretched
    assert result[..., 1].min() > 200  # no red band anywhere
    assert result[..., 0].max() < 40


def test_square_image_is_resized_whole():
    image = Image.new("RGB", (64, 64), RED)
    image.paste(BLUE, (0, 32, 64, 64))

    result = to_model_input(image)

    assert_colour(result[:14], RED)
    assert_colour(result[18:], BLUE)


def test_32x32_rgb_image_comes_back_pixel_for_pixel():
    image = noise_image(32, 32)

    np.testing.assert_array_equal(to_model_input(encode(image, "PNG")), np.asarray(image))


# --- accepted sources ---------------------------------------------------------------------------------------


def test_bytes_paths_file_objects_and_pil_images_all_agree(tmp_path):
    data = encode(noise_image(), "PNG")
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    expected = to_model_input(data)
    assert_model_input(expected)

    with open(path, "rb") as file:
        from_file = to_model_input(file)
    results = {
        "bytearray": to_model_input(bytearray(data)),
        "memoryview": to_model_input(memoryview(data)),
        "str path": to_model_input(str(path)),
        "Path": to_model_input(path),
        "file object": from_file,
        "BytesIO": to_model_input(io.BytesIO(data)),
        "PIL image": to_model_input(Image.open(path)),
        "loaded PIL image": to_model_input(noise_image()),
    }
    for source, result in results.items():
        np.testing.assert_array_equal(result, expected, err_msg=source)


def test_open_image_returns_pil_images_unchanged_and_opens_the_rest():
    image = noise_image()
    assert open_image(image) is image

    opened = open_image(encode(image, "PNG"))
    assert isinstance(opened, Image.Image)
    assert opened.size == (40, 30)
    assert opened.format == "PNG"


# --- other input sizes ---------------------------------------------------------------------------------------


def test_a_photo_goes_straight_to_a_larger_networks_size_keeping_its_detail():
    image = Image.new("RGB", (256, 256), RED)
    image.paste(BLUE, (0, 0, 256, 4))  # a 4-pixel stripe: visible at 128x128, blurred away at 32x32
    result = to_model_input(encode(image, "PNG"), 128)
    assert result.shape == (128, 128, 3) and result.dtype == np.uint8
    assert_colour(result[0:2], BLUE, tolerance=40)
    assert_colour(result[4:], RED, tolerance=3)


def test_through_32_a_photo_reaches_the_network_as_an_enlarged_cifar_image_would():
    photo = encode(noise_image(300, 200), "JPEG")
    result = to_model_input(photo, 128, through=32)
    assert result.shape == (128, 128, 3)
    np.testing.assert_array_equal(result, resize_pixels(to_model_input(photo, 32)[None], 128)[0])
    assert not np.array_equal(result, to_model_input(photo, 128))  # the straight path keeps finer detail


def test_resizing_decoded_images_matches_the_serving_path_for_a_32x32_upload():
    images = np.stack([np.asarray(noise_image(32, 32)) for _ in range(3)])
    resized = resize_pixels(images, 96)
    assert resized.shape == (3, 96, 96, 3)
    for pixels, result in zip(images, resized, strict=True):
        np.testing.assert_array_equal(result, to_model_input(encode(Image.fromarray(pixels), "PNG"), 96))
    assert resize_pixels(images, 32) is images  # already the right size: untouched


# --- large JPEGs --------------------------------------------------------------------------------------------

DRAFT_MIN_SIDE = DRAFT_FACTOR * 128  # what a 128-pixel network asks the JPEG decoder to keep


def test_draft_request_for_a_large_photo_keeps_the_short_side_at_the_minimum():
    width, height = _draft_request((4000, 3000), DRAFT_MIN_SIDE)

    assert min(width, height) >= DRAFT_MIN_SIDE
    assert width * height <= 4000 * 3000 / 16  # much smaller than the original
    assert width / height == pytest.approx(4000 / 3000, rel=0.02)


def test_draft_request_leaves_small_images_alone():
    assert _draft_request((100, 80), DRAFT_MIN_SIDE) == (100, 80)
    assert _draft_request((DRAFT_MIN_SIDE, 5000), DRAFT_MIN_SIDE) == (DRAFT_MIN_SIDE, 5000)


@pytest.fixture(scope="module")
def large_gradient_jpeg():
    """4000x3000 JPEG, dark on the left and bright on the right."""
    row = np.linspace(0, 255, 4000).astype(np.uint8)
    pixels = np.broadcast_to(row[None, :, None], (3000, 4000, 3))
    return encode(Image.fromarray(np.ascontiguousarray(pixels)), "JPEG", quality=80)


def test_large_jpeg_is_decoded_to_model_input(large_gradient_jpeg):
    result = to_model_input(large_gradient_jpeg)

    assert_model_input(result)
    brightness = result.astype(int).mean(axis=(0, 2))
    assert np.all(np.diff(brightness) >= 0)  # still a left-to-right gradient
    # the centre square spans x = 500..3500 of 4000, so the gradient runs from about 32 to about 223
    assert brightness[0] == pytest.approx(32, abs=8)
    assert brightness[-1] == pytest.approx(223, abs=8)
    assert np.ptp(result.astype(int), axis=0).max() <= 3  # every row alike


# --- errors -------------------------------------------------------------------------------------------------


def truncated(image_format):
    data = encode(noise_image(64, 64), image_format)
    return data[: len(data) // 2]


def empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    return path


def corrupted_png_data():
    data = bytearray(encode(noise_image(64, 64), "PNG"))
    start = data.index(b"IDAT") + 8
    data[start : start + 64] = bytes(64)
    return bytes(data)


@pytest.mark.parametrize(
    "make_source",
    [
        pytest.param(lambda tmp_path: b"definitely not an image" * 10, id="garbage-bytes"),
        pytest.param(lambda tmp_path: b"", id="empty-bytes"),
        pytest.param(lambda tmp_path: b"\x89PNG\r\n\x1a\n", id="png-signature-only"),
        pytest.param(lambda tmp_path: truncated("PNG"), id="truncated-png"),
        pytest.param(lambda tmp_path: truncated("JPEG"), id="truncated-jpeg"),
        pytest.param(lambda tmp_path: truncated("GIF"), id="truncated-gif"),
        pytest.param(lambda tmp_path: corrupted_png_data(), id="corrupted-png-data"),
        pytest.param(lambda tmp_path: empty_file(tmp_path), id="empty-file"),
        pytest.param(lambda tmp_path: tmp_path / "missing.jpg", id="missing-file"),
        pytest.param(lambda tmp_path: str(tmp_path), id="a-folder"),
    ],
)
def test_undecodable_input_raises_image_error_with_a_message(tmp_path, make_source):
    source = make_source(tmp_path)

    with pytest.raises(ImageError) as error:
        to_model_input(source)

    assert isinstance(error.value, ValueError)
    assert str(error.value).strip()


def test_empty_file_path_is_an_image_error_from_open_image_too(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="not a readable image"):
        open_image(empty)
