"""Serving: load a bundle's LiteRT model once per process and classify images from any thread.

TensorFlow is never imported here when `ai-edge-litert` is installed, which keeps a web worker small.
"""

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from mlcore import bundle
from mlcore.evaluate import predict_logits, softmax
from mlcore.preprocessing import to_model_input


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict  # class name -> probability, in the classes' order
    pixels: np.ndarray  # the (32, 32, 3) uint8 image the network saw
    seconds: float  # preprocessing and inference time for this image

    @property
    def top_k(self) -> list:
        return sorted(
            ({"label": name, "probability": p} for name, p in self.probabilities.items()),
            key=lambda item: item["probability"],
            reverse=True,
        )


class Classifier:
    """A bundle ready to classify. Each thread gets its own interpreter; the model bytes are shared."""

    def __init__(self, bundle_dir, num_threads: int = 1, tta: str | None = None):
        self.path = bundle.check_bundle(bundle_dir)
        self.metadata = bundle.read_metadata(self.path)
        self.classes = tuple(self.metadata["classes"])
        self.tta = tta or self.metadata.get("tta", "none")
        self.version = self.metadata.get("name", self.path.name)
        self.num_threads = num_threads
        self._model_bytes = (self.path / bundle.SERVING_FILE).read_bytes()
        self._local = threading.local()
        self._interpreter()  # fail now, not on the first request, if the model cannot load

    def classify(self, images) -> list[Prediction]:
        """Classify PIL images, raw bytes, paths or file objects; raises ImageError for undecodable ones."""
        results = []
        for image in images:
            started = time.perf_counter()
            pixels = to_model_input(image)
            probabilities = self.probabilities(pixels[None])[0]
            results.append(self._prediction(pixels, probabilities, time.perf_counter() - started))
        return results

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 10) probabilities for a uint8 (N, 32, 32, 3) batch, with the bundle's test-time augmentation."""
        return softmax(predict_logits(self._logits, pixels, self.tta, batch_size=256))

    def _prediction(self, pixels, probabilities, seconds) -> Prediction:
        best = int(np.argmax(probabilities))
        return Prediction(
            label=self.classes[best],
            confidence=float(probabilities[best]),
            probabilities={name: float(p) for name, p in zip(self.classes, probabilities, strict=True)},
            pixels=pixels,
            seconds=seconds,
        )

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter()
        details = interpreter.get_input_details()[0]
        if tuple(details["shape"]) != batch.shape:
            interpreter.resize_tensor_input(details["index"], batch.shape)
            interpreter.allocate_tensors()
        interpreter.set_tensor(details["index"], batch.astype(np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()

    def _interpreter(self):
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = _interpreter_class()(model_content=self._model_bytes, num_threads=self.num_threads)
            interpreter.allocate_tensors()
            self._local.interpreter = interpreter
        return interpreter


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the fallback costs TensorFlow's import, but works wherever training does
        from tensorflow.lite import Interpreter
    return Interpreter


@lru_cache(maxsize=4)
def load_classifier(bundle_dir, num_threads: int = 1) -> Classifier:
    """The process-wide classifier for a bundle folder, loaded on first use."""
    return Classifier(Path(bundle_dir), num_threads=num_threads)
