"""Print the model's speed and memory figures on this machine (bench/RESULTS.md's figures come from here).

    python bench/bench_model.py [--model models/cifar10] [--arch efficientnet-lite0] [--skip-training]

- training images per second: real training steps of an architecture's default recipe on random pixels (for
  efficientnet-lite0, the steps on cached activations, after they are computed);
- single-image latency, all on one thread: a 1200x729, a 640x480 and a 12-megapixel JPEG photo and a 32x32
  thumbnail through `Classifier.classify` (decode once, each expert of the rule's case with its square and TTA,
  the combination, "none of the ten"); each expert's network alone on one image, without and with its TTA;
- the heat map of one photo (every expert of its case, 17 images each);
- peak resident memory of a process that only serves one upload at a time (imports mlcore.inference and
  classifies), and after batches of 32 through `Classifier.probabilities` (offline scoring), with that latency.
Each part runs in its own process so the figures do not leak into each other.
"""

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def median_ms(function, repeats: int) -> float:
    for _ in range(max(3, repeats // 10)):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def photo_jpeg(height: int, width: int) -> bytes:
    """A photo-like JPEG (colour gradients plus sensor-like noise), quality 90, made without big arrays so
    that making it does not count in the serving process's peak memory."""
    from PIL import Image

    size = (width, height)
    red = Image.linear_gradient("L").resize(size)
    green = Image.linear_gradient("L").rotate(90).resize(size)
    noise = Image.effect_noise(size, 40)
    buffer = io.BytesIO()
    Image.merge("RGB", (red, green, noise)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def serving(model: str) -> dict:
    import numpy as np

    from mlcore.inference import Classifier

    classifier = Classifier(model, num_threads=1)
    jpeg_12mp = photo_jpeg(3000, 4000)
    jpeg_photo = photo_jpeg(729, 1200)
    jpeg_vga = photo_jpeg(480, 640)
    jpeg_thumbnail = photo_jpeg(32, 32)
    figures = {
        "photo_1200x729_classify_ms": median_ms(lambda: classifier.classify([jpeg_photo]), 200),
        "photo_640x480_classify_ms": median_ms(lambda: classifier.classify([jpeg_vga]), 200),
        "photo_12mp_classify_ms": median_ms(lambda: classifier.classify([jpeg_12mp]), 30),
        "thumbnail_32x32_classify_ms": median_ms(lambda: classifier.classify([jpeg_thumbnail]), 200),
    }
    for name, expert in classifier.experts.items():
        pixels = np.random.default_rng(1).integers(0, 256, (1, expert.image_size, expert.image_size, 3), np.uint8)
        figures[f"{name}_network_no_tta_ms"] = median_ms(lambda e=expert, p=pixels: e.scores(p, tta="none"), 300)
        figures[f"{name}_with_its_tta_ms"] = median_ms(lambda e=expert, p=pixels: e.answer(p), 300)
    photo = classifier.classify([jpeg_photo])[0]
    figures["photo_experts"] = ", ".join(answer.name for answer in photo.experts)
    figures["heat_map_of_a_photo_ms"] = median_ms(
        lambda: classifier.heat_map(photo.squares, photo.label, photo.case), 20
    )
    # What a web worker holds: it classifies one upload at a time. Offline scoring in batches needs more.
    figures["serving_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    batch = np.random.default_rng(2).integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    figures["batch_of_32_thumbnails_ms"] = median_ms(lambda: classifier.probabilities(batch), 30)
    figures["peak_rss_after_batches_of_32_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["tensorflow_imported"] = "tensorflow" in sys.modules
    return figures


def training(arch: str, steps: int) -> dict:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    from dataclasses import replace

    import numpy as np

    from mlcore.architectures import default_recipe
    from mlcore.data import Dataset, Split
    from mlcore.train import train

    config = replace(default_recipe(arch), epochs=2, val_fraction=0.0)
    count = config.batch_size * steps
    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), np.arange(count) % 10)
    dataset = Dataset(train=split, test=Split(split.images[:10], split.labels[:10]), source="random", fingerprint="")
    epoch_seconds = []

    def progress(line):
        if line.startswith("epoch"):
            epoch_seconds.append(time.monotonic())

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        # Epoch 1 includes tracing the step function; epoch 2 is the steady state that a real run sees.
        train(dataset, config, Path(folder) / "bundle", progress=progress)
    seconds = epoch_seconds[1] - epoch_seconds[0]
    return {
        "train_architecture": arch,
        "train_images_per_second": count / seconds,
        "train_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_part(part: str, args) -> dict:
    command = [sys.executable, __file__, "--part", part, "--model", args.model, "--steps", str(args.steps)]
    command += ["--arch", args.arch]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "cifar10"))
    parser.add_argument("--arch", default="efficientnet-lite0", help="architecture whose training is timed")
    parser.add_argument("--steps", type=int, default=40, help="timed training steps of the recipe's batch size")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--part", choices=("serving", "training"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "serving":
        print(json.dumps(serving(args.model)))
        return
    if args.part == "training":
        print(json.dumps(training(args.arch, args.steps)))
        return
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores), Python {platform.python_version()}")
    figures = run_part("serving", args)
    if not args.skip_training:
        figures |= run_part("training", args)
    for name, value in figures.items():
        print(f"{name:<46} {value:.1f}" if isinstance(value, float) else f"{name:<46} {value}")


if __name__ == "__main__":
    main()
