"""Serving: one function turns an image and a bundle into an answer (`Classifier.classify`).

A bundle is one network (a folder with model.tflite and metadata.json) or a bundle of experts: several such
folders under experts/ and a rule in its metadata (mlcore.rule) saying which of them answer which inputs, with
what weights, and when the answer is "none of the ten classes". Each photo is decoded once; each expert takes
its own square from it. A bundle of one network is served as one expert with a rule of one case.

LiteRT models are loaded once per process. A classifier has a few slots (`Classifier.slot`): at most that many
threads classify at once, each slot with its own interpreter per network, built on the slot's first use and kept;
never one per thread or per request. TensorFlow is never imported here when `ai-edge-litert` is installed, which
keeps a web worker small.
"""

import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from mlcore import bundle
from mlcore.explain import class_activation_map, occluded_copies, occlusion_drops
from mlcore.labels import CLASSES
from mlcore.preprocessing import CIFAR_SIZE, decoded_side, open_image, resize_pixels, square, upright_rgb
from mlcore.rule import ExpertScores, Rule
from mlcore.scores import energy, feature_closeness, prepare_feature_model, softmax, tta_views, weighted_views


@dataclass(frozen=True)
class ExpertAnswer:
    """What one expert said of one image."""

    name: str
    network: str  # what people call the network (EfficientNet-Lite0, airbench94)
    trained_on: str  # CIFAR-10 or ImageNet
    through: int | None  # the detail its square keeps (32: a photo reaches it through 32x32), None: all of it
    weight: float  # its weight in the combined answer
    probabilities: dict  # class name -> what it gives the class (sums to 1 - other)
    other: float | None  # its share outside the ten classes (experts with more classes than ours), else None
    unlike_training: bool | None  # its own "none of the ten" test, where it has one
    square: np.ndarray  # the (size, size, 3) uint8 pixels it saw
    kept: np.ndarray  # the same before enlarging: (through, through, 3) for a network that sees through a size

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    def as_dict(self) -> dict:
        """Everything but the pixels, for storing with a prediction."""
        return {
            "name": self.name,
            "network": self.network,
            "trained_on": self.trained_on,
            "through": self.through,
            "weight": self.weight,
            "probabilities": self.probabilities,
            "other": self.other,
            "unlike_training": self.unlike_training,
            "square": int(self.square.shape[0]),
        }


@dataclass(frozen=True)
class Answer:
    label: str  # the closest class, even when the image fits none
    confidence: float  # its calibrated probability
    probabilities: dict  # class name -> calibrated probability, in the classes' order
    seconds: float  # decoding, preprocessing and every expert, for this image
    none_of_the_classes: bool = False  # the rule's "none of the ten" clauses said so
    experts: tuple = ()  # ExpertAnswer of each expert that answered, in the rule's order
    case: str = ""  # the rule's case that answered (which experts, by the image's size)
    none_because: tuple = ()  # the conditions (as dicts) of the clause that made it "none of the ten"

    @property
    def pixels(self) -> np.ndarray:
        """The square the first expert saw."""
        return self.experts[0].square

    @property
    def squares(self) -> dict:
        """Expert name -> the square it kept of the photo (what `Classifier.heat_map` takes, and what a site stores:
        each network enlarges its own to its input)."""
        return {answer.name: answer.kept for answer in self.experts}

    @property
    def top_k(self) -> list:
        return sorted(
            ({"label": name, "probability": p} for name, p in self.probabilities.items()),
            key=lambda item: item["probability"],
            reverse=True,
        )


class Expert:
    """One network of a bundle: its LiteRT model, its preprocessing, test-time augmentation and calibration, its
    own "none of the ten" test if it has one, and how its classes map onto the ten."""

    def __init__(self, folder, name: str | None = None, num_threads: int = 1, tta: str | None = None, entry=None):
        self.path = bundle.check_bundle(folder)
        self.metadata = bundle.read_metadata(self.path)
        self.name = name or self.metadata.get("name", self.path.name)
        entry = entry or {}  # what the bundle of experts says of it
        self.network = entry.get("network") or self.metadata.get("architecture_name") or self.name
        self.trained_on = entry.get("trained_on") or ("ImageNet" if "class_map" in self.metadata else "CIFAR-10")
        self.num_threads = num_threads
        self.tta = tta or self.metadata.get("tta", "none")
        preprocessing = self.metadata.get("preprocessing") or {}
        self.image_size = int((self.metadata.get("input") or {}).get("shape", [CIFAR_SIZE])[0])
        self.through = preprocessing.get("through")
        self.decode_side = int(preprocessing.get("decode_side") or decoded_side(self.image_size, self.through))
        serving = self.metadata.get("serving") or {}
        self.features_pooling = serving.get("features_pooling", "max")
        self.temperature = float((self.metadata.get("calibration") or {}).get("temperature", 1.0))
        self.thresholds = (self.metadata.get("ood") or {}).get("thresholds")
        self.class_map = _class_map(self.metadata)
        ood = self.path / bundle.OOD_FILE
        self.feature_model = prepare_feature_model(dict(np.load(ood))) if ood.is_file() else None
        head = self.path / bundle.HEAD_FILE
        self.head_kernel = np.load(head)["kernel"] if head.is_file() else None
        self.heat_maps = self.metadata.get("heat_maps", "occlusion")
        self._model_bytes = (self.path / bundle.SERVING_FILE).read_bytes()
        self._interpreters = {}  # slot -> its interpreter (Classifier.slot: one thread uses a slot at a time)
        # Built now, so that a model that cannot load fails here and not on the first request.
        self.has_features = len(self._interpreter(0).get_output_details()) > 1

    @property
    def interpreters_built(self) -> int:
        return len(self._interpreters)

    @property
    def has_test(self) -> bool:
        """Whether it has its own "none of the ten" test."""
        return bool(self.thresholds)

    def kept_square(self, image) -> np.ndarray:
        """The square it keeps of a decoded photo (mlcore.preprocessing.upright_rgb): its input, or the smaller
        square its input is enlarged from (`through`)."""
        return square(image, self.through or self.image_size)

    def answer(self, pixels: np.ndarray, tta: str | None = None, batch_size: int = 256, slot: int = 0) -> ExpertScores:
        """What it says of a uint8 (N, H, W, 3) batch of squares (resized to its input as `square` would), with its
        own test-time augmentation or `tta`, on the interpreter of `slot`. Its own "none of the ten" test answers
        only with its own augmentation, the one its thresholds were fitted with."""
        logits, pooled = self.scores(pixels, tta=tta, batch_size=batch_size, slot=slot)
        probabilities = softmax(logits, self.temperature)
        other = None
        if self.class_map is not None:
            probabilities = probabilities @ self.class_map
            other = np.clip(1.0 - probabilities.sum(axis=1), 0.0, 1.0)
        fitted = self.has_test and (tta or self.tta) == self.tta
        unlike = self.none_of_the_classes(logits, pooled) if fitted else None
        return ExpertScores(probabilities, other, unlike)

    def scores(self, pixels: np.ndarray, tta: str | None = None, batch_size: int = 256, slot: int = 0):
        """Logits and pooled last-layer features (None without them), each averaged over the TTA views."""
        all_logits, all_pooled = [], []
        for start in range(0, len(pixels), batch_size):
            views, weights = tta_views(self.sized(pixels[start : start + batch_size]), tta or self.tta)
            logits, features = self._forward(np.ascontiguousarray(np.concatenate(views)), slot)
            all_logits.append(weighted_views(logits, weights))
            if features is not None:
                all_pooled.append(weighted_views(self._pool(features), weights))
        return np.concatenate(all_logits), np.concatenate(all_pooled) if all_pooled else None

    def none_of_the_classes(self, logits: np.ndarray, pooled) -> np.ndarray:
        """True where an image fits none of the ten classes by its thresholds (all False without them)."""
        unfit = np.zeros(len(logits), dtype=bool)
        if not self.thresholds:
            return unfit
        unfit |= energy(logits, self.temperature) < self.thresholds["energy"]
        if pooled is not None and self.feature_model is not None:
            unfit |= feature_closeness(pooled, self.feature_model) < self.thresholds["features"]
        return unfit

    def class_activation_map(self, pixels: np.ndarray, index: int, slot: int = 0) -> np.ndarray:
        features = self._forward(self.sized(pixels[None]).astype(np.float32), slot)[1][0]
        return class_activation_map(features, self.head_kernel[:, index])

    def sized(self, pixels: np.ndarray) -> np.ndarray:
        return resize_pixels(pixels, self.image_size)

    def _pool(self, features: np.ndarray) -> np.ndarray:
        """The feature maps pooled as the network's head pools them."""
        return features.mean(axis=(1, 2)) if self.features_pooling == "mean" else features.max(axis=(1, 2))

    def _forward(self, batch: np.ndarray, slot: int = 0):
        """Logits and, when the serving model has them, the last feature maps."""
        interpreter = self._interpreter(slot)
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

    def _interpreter(self, slot: int):
        interpreter = self._interpreters.get(slot)
        if interpreter is None:
            interpreter = _interpreter_class()(model_content=self._model_bytes, num_threads=self.num_threads)
            interpreter.allocate_tensors()
            self._interpreters[slot] = interpreter
        return interpreter


class Classifier:
    """A bundle ready to classify: its experts and its rule."""

    def __init__(self, bundle_dir, num_threads: int = 1, tta: str | None = None, slots: int = 1):
        self.path = bundle.check_bundle(bundle_dir)
        self.metadata = bundle.read_metadata(self.path)
        self.classes = tuple(self.metadata.get("classes", CLASSES))
        self.version = self.metadata.get("name", self.path.name)
        listed = self.metadata.get("experts")
        if listed:
            self.experts = {
                entry["name"]: Expert(self.path / entry["folder"], entry["name"], num_threads, tta, entry)
                for entry in listed
            }
            self.rule = Rule.from_list(self.metadata["rule"])
        else:
            expert = Expert(self.path, self.version, num_threads, tta)
            self.experts = {expert.name: expert}
            self.rule = Rule.single(expert.name, expert.has_test)
        missing = [name for name in self.rule.experts if name not in self.experts]
        if missing:
            raise bundle.BundleError(f"{self.path}: the rule names experts the bundle does not list: {missing}")
        self.slots = max(1, int(slots))
        self._free_slots = queue.LifoQueue()  # the slot used last first: a second is built only when needed
        for index in reversed(range(self.slots)):  # slot 0 on top: its interpreters are built already
            self._free_slots.put(index)
        self._held = threading.local()

    @contextmanager
    def slot(self):
        """One of the classifier's slots while the block runs; waits until one is free. At most `slots` threads
        classify at once, each on its slot's interpreters, so that threads beyond that (a web server's, kept for
        streaming and slow clients) neither compete for the CPU nor hold networks of their own. A thread that
        holds a slot already keeps it: a caller may take one around more work than classifying."""
        held = getattr(self._held, "slot", None)
        if held is not None:
            yield held
            return
        index = self._free_slots.get()
        self._held.slot = index
        try:
            yield index
        finally:
            self._held.slot = None
            self._free_slots.put(index)

    @property
    def interpreters_built(self) -> int:
        """How many LiteRT interpreters the experts have built: at most slots x experts, however many threads."""
        return sum(expert.interpreters_built for expert in self.experts.values())

    @cached_property
    def first(self) -> Expert:
        """The first expert: the main CIFAR network of a bundle of experts, or the network of a bundle of one."""
        return next(iter(self.experts.values()))

    def classify(self, images) -> list[Answer]:
        """Classify PIL images, raw bytes, paths or file objects; raises ImageError for undecodable ones."""
        with self.slot() as slot:
            return [self._classify_one(image, slot) for image in images]

    def prepare(self, source) -> tuple:
        """Everything before the networks: the rule's case for the image's size, then expert name -> the square
        it keeps of the decoded photo, and expert name -> that square at its input size. Raises ImageError."""
        image = open_image(source)
        case = self.rule.case_for(min(image.size))
        experts = [self.experts[name] for name in case.experts]
        decoded = upright_rgb(image, max(expert.decode_side for expert in experts))
        kept = {expert.name: expert.kept_square(decoded) for expert in experts}
        squares = {expert.name: expert.sized(kept[expert.name][None])[0] for expert in experts}
        return case, kept, squares

    def _classify_one(self, source, slot: int) -> Answer:
        started = time.perf_counter()
        case, kept, squares = self.prepare(source)
        answers = {
            name: self.experts[name].answer(squares[name][None], case.tta.get(name), slot=slot) for name in case.experts
        }
        probabilities = case.combine(answers)[0]
        flagged, because = case.none_of_the_classes(answers)
        best = int(np.argmax(probabilities))
        return Answer(
            label=CLASSES[best],
            confidence=float(probabilities[best]),
            probabilities=_by_class(probabilities),
            seconds=time.perf_counter() - started,
            none_of_the_classes=bool(flagged[0]),
            experts=tuple(
                _expert_answer(self.experts[name], case.weights[name], answers[name], squares[name], kept[name])
                for name in case.experts
            ),
            case=case.name,
            none_because=tuple(condition.as_dict() for condition in because[0]),
        )

    def answer_pixels(self, pixels: np.ndarray):
        """(probabilities (N, 10), none of the ten (N,) bool, each expert's ExpertScores) for a uint8 batch of
        square images of one size, answered by the case of the rule that covers that size: how a data set is
        scored (a CIFAR image is 32x32, as small as a photo can be)."""
        case = self.rule.case_for(pixels.shape[1])
        with self.slot() as slot:
            answers = {name: self.experts[name].answer(pixels, case.tta.get(name), slot=slot) for name in case.experts}
        return case.combine(answers), case.none_of_the_classes(answers)[0], answers

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 10) calibrated probabilities for a uint8 (N, H, W, 3) batch of squares, by the rule."""
        return self.answer_pixels(pixels)[0]

    def heat_map(self, squares: dict, label: str, case: str | None = None) -> np.ndarray:
        """Which parts of the image drove `label`: each region of every expert's square greyed out in turn and the
        fall in the combined answer measured (mlcore.explain); `squares` maps expert names to the squares they saw.
        A bundle of one network whose metadata asks for class activation maps gets those instead."""
        index = CLASSES.index(label)
        chosen = self.rule.case_named(case) if case else self.rule.case_for(next(iter(squares.values())).shape[0])
        with self.slot() as slot:
            if len(chosen.experts) == 1:
                expert = self.experts[chosen.experts[0]]
                if expert.heat_maps == "cam" and expert.head_kernel is not None:
                    return expert.class_activation_map(squares[expert.name], index, slot)
            answers = {name: self._occluded_answer(self.experts[name], squares[name], slot) for name in chosen.experts}
        return occlusion_drops(chosen.combine(answers)[:, index])

    @staticmethod
    def _occluded_answer(expert: Expert, square_pixels: np.ndarray, slot: int) -> ExpertScores:
        return expert.answer(occluded_copies(expert.sized(square_pixels[None])[0]), "none", slot=slot)


def _class_map(metadata: dict) -> np.ndarray | None:
    """(outputs, 10) matrix summing an expert's classes into the ten, for an expert with other classes than ours
    (metadata "class_map": class name -> its output indices); None for a network of the ten classes."""
    mapping = metadata.get("class_map")
    if mapping is None:
        if list(metadata.get("classes", CLASSES)) != list(CLASSES):
            raise bundle.BundleError(f"{metadata.get('name')}: classes other than the ten need a class_map")
        return None
    matrix = np.zeros((len(metadata["classes"]), len(CLASSES)))
    for column, name in enumerate(CLASSES):
        matrix[mapping.get(name, []), column] = 1.0
    if (matrix.sum(axis=1) > 1).any():
        raise bundle.BundleError(f"{metadata.get('name')}: the class_map maps an output to two classes")
    return matrix


def _expert_answer(expert: Expert, weight, scores: ExpertScores, pixels, kept) -> ExpertAnswer:
    return ExpertAnswer(
        name=expert.name,
        network=expert.network,
        trained_on=expert.trained_on,
        through=expert.through,
        weight=float(weight),
        probabilities=_by_class(scores.probabilities[0]),
        other=None if scores.other is None else float(scores.other[0]),
        unlike_training=None if scores.unlike_training is None else bool(scores.unlike_training[0]),
        square=pixels,
        kept=kept,
    )


def _by_class(probabilities) -> dict:
    return {name: float(p) for name, p in zip(CLASSES, probabilities, strict=True)}


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the fallback costs TensorFlow's import, but works wherever training does
        from tensorflow.lite import Interpreter
    return Interpreter


@lru_cache(maxsize=4)
def load_classifier(bundle_dir, num_threads: int = 1, slots: int = 1) -> Classifier:
    """The process-wide classifier for a bundle folder, loaded on first use."""
    return Classifier(Path(bundle_dir), num_threads=num_threads, slots=slots)
