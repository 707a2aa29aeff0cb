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
from mlcore.calibration import energy, feature_closeness, prepare_feature_model
from mlcore.evaluate import predict_logits, softmax, tta_views
from mlcore.explain import class_activation_map, occlusion_map
from mlcore.preprocessing import CIFAR_SIZE, resize_pixels, to_model_input


@dataclass(frozen=True)
class Prediction:
    label: str  # the closest class, even when the image fits none
    confidence: float  # its calibrated probability
    probabilities: dict  # class name -> calibrated probability, in the classes' order
    pixels: np.ndarray  # the (size, size, 3) uint8 image the network saw
    seconds: float  # preprocessing and inference time for this image
    none_of_the_classes: bool = False  # an out-of-distribution score fell below the bundle's threshold

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
        self.image_size = int((self.metadata.get("input") or {}).get("shape", [CIFAR_SIZE])[0])
        self.through = (self.metadata.get("preprocessing") or {}).get("through")
        serving = self.metadata.get("serving") or {}
        self.features_pooling = serving.get("features_pooling", "max")
        self.temperature = float((self.metadata.get("calibration") or {}).get("temperature", 1.0))
        self.thresholds = (self.metadata.get("ood") or {}).get("thresholds")
        ood = self.path / bundle.OOD_FILE
        self.feature_model = prepare_feature_model(dict(np.load(ood))) if ood.is_file() else None
        head = self.path / bundle.HEAD_FILE
        self.head_kernel = np.load(head)["kernel"] if head.is_file() else None
        self.heat_maps = self.metadata.get("heat_maps", "occlusion")
        self._model_bytes = (self.path / bundle.SERVING_FILE).read_bytes()
        self._local = threading.local()
        self._interpreter()  # fail now, not on the first request, if the model cannot load
        self.has_features = len(self._interpreter().get_output_details()) > 1

    def classify(self, images) -> list[Prediction]:
        """Classify PIL images, raw bytes, paths or file objects; raises ImageError for undecodable ones."""
        results = []
        for image in images:
            started = time.perf_counter()
            pixels = to_model_input(image, self.image_size, self.through)
            views, weights = tta_views(pixels[None], self.tta)
            logits, features = self._forward(np.concatenate(views))
            logits = _weighted(logits, views, weights)
            probabilities = softmax(logits, self.temperature)[0]
            pooled = None if features is None else _weighted(self._pool(features), views, weights)
            unfit = bool(self.none_of_the_classes(logits, pooled)[0])
            results.append(self._prediction(pixels, probabilities, unfit, time.perf_counter() - started))
        return results

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 10) calibrated probabilities for a uint8 (N, H, W, 3) batch, with the bundle's TTA."""
        return softmax(self.logits(pixels), self.temperature)

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 10) logits for a uint8 batch of square images of any size (resized to the network's input as
        `to_model_input` would), averaged over the bundle's test-time augmentation views."""
        return predict_logits(lambda batch: self._logits(self._sized(batch)), pixels, self.tta, batch_size=256)

    def scores(self, pixels: np.ndarray, batch_size: int = 256):
        """Logits and pooled last-layer features for a uint8 batch, each averaged over the TTA views."""
        all_logits, all_pooled = [], []
        for start in range(0, len(pixels), batch_size):
            views, weights = tta_views(self._sized(pixels[start : start + batch_size]), self.tta)
            logits, features = self._forward(np.ascontiguousarray(np.concatenate(views)))
            all_logits.append(_weighted(logits, views, weights))
            all_pooled.append(_weighted(self._pool(features), views, weights))
        return np.concatenate(all_logits), np.concatenate(all_pooled)

    def none_of_the_classes(self, logits: np.ndarray, pooled) -> np.ndarray:
        """True where an image fits none of the ten classes by the bundle's thresholds (all False without them)."""
        unfit = np.zeros(len(logits), dtype=bool)
        if not self.thresholds:
            return unfit
        unfit |= energy(logits, self.temperature) < self.thresholds["energy"]
        if pooled is not None and self.feature_model is not None:
            unfit |= feature_closeness(pooled, self.feature_model) < self.thresholds["features"]
        return unfit

    def heat_map(self, pixels: np.ndarray, label: str) -> np.ndarray:
        """Which parts of the image the network saw drove `label`, by the bundle's method (mlcore.explain)."""
        index = self.classes.index(label)
        pixels = self._sized(pixels[None])[0]
        if self.heat_maps == "cam" and self.head_kernel is not None:
            features = self._forward(pixels[None].astype(np.float32))[1][0]
            return class_activation_map(features, self.head_kernel[:, index])
        return occlusion_map(lambda batch: softmax(self._forward(batch)[0], self.temperature), pixels, index)

    def _prediction(self, pixels, probabilities, unfit, seconds) -> Prediction:
        best = int(np.argmax(probabilities))
        return Prediction(
            label=self.classes[best],
            confidence=float(probabilities[best]),
            probabilities={name: float(p) for name, p in zip(self.classes, probabilities, strict=True)},
            pixels=pixels,
            seconds=seconds,
            none_of_the_classes=unfit,
        )

    def _sized(self, pixels: np.ndarray) -> np.ndarray:
        return resize_pixels(pixels, self.image_size)

    def _pool(self, features: np.ndarray) -> np.ndarray:
        """The feature maps pooled as the network's head pools them."""
        return features.mean(axis=(1, 2)) if self.features_pooling == "mean" else features.max(axis=(1, 2))

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch)[0]

    def _forward(self, batch: np.ndarray):
        """Logits and, when the serving model has them, the last feature maps."""
        interpreter = self._interpreter()
        details = interpreter.get_input_details()[0]
        if tuple(details["shape"]) != batch.shape:
            interpreter.resize_tensor_input(details["index"], batch.shape)
            interpreter.allocate_tensors()
        interpreter.set_tensor(details["index"], batch.astype(np.float32))
        interpreter.invoke()
        logits = features = None
        for output in interpreter.get_output_details():
            value = interpreter.get_tensor(output["index"])
            if value.ndim == 2:
                logits = value.copy()
            else:
                features = value.copy()
        return logits, features

    def _interpreter(self):
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = _interpreter_class()(model_content=self._model_bytes, num_threads=self.num_threads)
            interpreter.allocate_tensors()
            self._local.interpreter = interpreter
        return interpreter


def _weighted(values, views, weights):
    per_view = np.split(np.asarray(values, dtype=np.float64), len(views))
    return sum(weight * value for weight, value in zip(weights, per_view, strict=True))


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
