"""Which heat-map method localises better for a bundle: occlusion or class activation maps (CAM). A bundle of
experts is measured with its occlusion maps (every expert of the photo's case, the combined answer's fall), and
each expert that could make class activation maps alone is measured alone too.

    python bench/bench_heat_maps.py [--model models/cifar10] [--photos 20]

Each of the first N CIFAR test photos of the committed fixture (spread over the ten classes) is pasted into
each quarter of the centre square of a wide grey photo, as a user's photo with the object off-centre would be.
A placement counts as a hit when the map's hottest cell lies in the quarter that holds the photo. Prints hits
and the median time per map for both methods, with the CPU's name.
"""

import argparse
import io
import statistics
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUARTERS = ((0, 0), (1, 0), (0, 1), (1, 1))  # (column, row) of the quarter


def fixture_photos(count: int) -> list:
    from PIL import Image

    with tarfile.open(ROOT / "tests" / "fixtures" / "cifar10-test-sample.tar.gz") as archive:
        names = sorted(m.name for m in archive.getmembers() if m.isfile())
        by_index = sorted(names, key=lambda name: (name.rsplit("/", 1)[-1], name))  # one of each class in turn
        return [Image.open(io.BytesIO(archive.extractfile(name).read())).convert("RGB") for name in by_index[:count]]


def planted(photo, quarter):
    from PIL import Image

    canvas = Image.new("RGB", (384, 192), (128, 128, 128))
    canvas.paste(photo.resize((96, 96)), (96 + 96 * quarter[0], 96 * quarter[1]))
    return canvas


def main() -> int:
    import numpy as np

    from bench.bench_model import cpu_name
    from mlcore.inference import Classifier

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "cifar10"))
    parser.add_argument("--photos", type=int, default=20)
    args = parser.parse_args()
    classifier = Classifier(args.model)
    print(f"{args.model}: {classifier.version}, experts {', '.join(classifier.experts)}; CPU: {cpu_name()}")
    runs = [("occlusion, every expert of the case", None)]
    runs += [
        (f"cam, {name} alone", name) for name, expert in classifier.experts.items() if expert.head_kernel is not None
    ]
    for title, alone in runs:
        hits, seconds, placements = 0, [], 0
        for photo in fixture_photos(args.photos):
            for quarter in QUARTERS:
                result = classifier.classify([planted(photo, quarter)])[0]
                started = time.perf_counter()
                if alone:
                    expert = classifier.experts[alone]
                    cells = expert.class_activation_map(result.squares[alone], classifier.classes.index(result.label))
                else:
                    cells = classifier.heat_map(result.squares, result.label, result.case)
                seconds.append(time.perf_counter() - started)
                row, col = np.unravel_index(cells.argmax(), cells.shape)
                grid = cells.shape[0]
                hits += (int(col * 2 // grid), int(row * 2 // grid)) == quarter
                placements += 1
        print(
            f"{title}: {hits}/{placements} placements peak in the right quarter; map {cells.shape[0]}x"
            f"{cells.shape[1]}, {1000 * statistics.median(seconds):.1f} ms median per map"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
