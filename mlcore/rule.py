"""The rule of a bundle of experts, kept as data in the bundle's metadata: which networks answer for which
inputs (by the photo's shorter side), how their answers combine, and when the answer is "none of the ten classes";
and how each of those numbers is chosen by measurement.

Like scikit-learn's VotingClassifier, the experts know nothing of each other and the rule knows them only by name.
Combining is a weighted log-linear pool: p(class) ∝ exp(Σ weight_i · log p_i(class) / temperature), where p_i is
what expert i gives the ten classes, renormalised over them. "None of the ten classes" is a list of clauses: the
answer is none when every condition of any one clause holds. A condition reads one signal of one expert:
`other`, the share of its answer it puts outside the ten (an expert with more classes than ours), above a
threshold; or `unlike_training`, its own test for images unlike its training images (see mlcore.calibration).

A case may also set the test-time augmentation an expert answers it with (where it differs from the expert's own).

Plain numpy, no networks: mlcore.inference applies a rule, mlcore.assemble measures and writes one.
"""

import itertools
from dataclasses import dataclass, field

import numpy as np

from mlcore.scores import fit_temperature, log_loss, softmax

SIGNALS = ("other", "unlike_training")
WEIGHT_STEP = 0.1  # weights are chosen on a grid of this step, summing to one
THRESHOLD_STEP = 0.001


@dataclass(frozen=True)
class ExpertScores:
    """What one expert says of a batch of images, in the terms the rule reads."""

    probabilities: np.ndarray  # (N, 10): what it gives each of the ten classes (sums to 1 - other)
    other: np.ndarray | None = None  # (N,): its share outside the ten, for experts with more classes
    unlike_training: np.ndarray | None = None  # (N,) bool: its own none-of-the-ten test, where it has one

    def signal(self, name: str) -> np.ndarray | None:
        return self.other if name == "other" else self.unlike_training

    def ten(self) -> np.ndarray:
        """Its answer renormalised over the ten classes."""
        return self.probabilities / np.clip(self.probabilities.sum(axis=1, keepdims=True), 1e-12, None)


@dataclass(frozen=True)
class Condition:
    expert: str
    signal: str  # one of SIGNALS
    above: float | None = None  # the threshold of `other`

    def __post_init__(self):
        if self.signal not in SIGNALS:
            raise ValueError(f"unknown signal {self.signal!r}: choose one of {', '.join(SIGNALS)}")

    def holds(self, answers: dict) -> np.ndarray:
        value = answers[self.expert].signal(self.signal)
        if value is None:
            raise ValueError(f"the expert {self.expert} gives no {self.signal!r} signal")
        return value > self.above if self.signal == "other" else np.asarray(value, dtype=bool)

    def as_dict(self) -> dict:
        threshold = {"above": self.above} if self.signal == "other" else {}
        return {"expert": self.expert, "signal": self.signal} | threshold


@dataclass(frozen=True)
class Case:
    """Inputs whose shorter side lies in [min_short_side, max_short_side], and how they are answered."""

    name: str
    weights: dict  # expert name -> weight in the pool
    temperature: float = 1.0
    none_if: tuple = ()  # clauses: tuples of Conditions
    min_short_side: int = 0
    max_short_side: int | None = None
    tta: dict = field(default_factory=dict)  # expert name -> the test-time augmentation it answers this case with
    figures: dict = field(default_factory=dict, compare=False)  # the measurements that chose the numbers

    @property
    def experts(self) -> tuple:
        return tuple(self.weights)

    def covers(self, short_side: int) -> bool:
        return short_side >= self.min_short_side and (self.max_short_side is None or short_side <= self.max_short_side)

    def combine(self, answers: dict) -> np.ndarray:
        """(N, 10) probabilities of the pool."""
        return softmax(pooled_log_probabilities(answers, self.weights), self.temperature)

    def none_of_the_classes(self, answers: dict) -> tuple[np.ndarray, list]:
        """Per image: whether it is none of the ten, and the conditions of the first clause that said so."""
        count = len(next(iter(answers.values())).probabilities)
        flagged = np.zeros(count, dtype=bool)
        because = [()] * count
        for clause in self.none_if:
            holds = np.all([condition.holds(answers) for condition in clause], axis=0)
            for index in np.flatnonzero(holds & ~flagged):
                because[index] = clause
            flagged |= holds
        return flagged, because

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "min_short_side": self.min_short_side,
            "max_short_side": self.max_short_side,
            "weights": self.weights,
            "temperature": self.temperature,
            "none_if": [[condition.as_dict() for condition in clause] for clause in self.none_if],
            "tta": self.tta,
            "figures": self.figures,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Case":
        return cls(
            name=data["name"],
            weights={name: float(weight) for name, weight in data["weights"].items()},
            temperature=float(data.get("temperature", 1.0)),
            none_if=tuple(tuple(Condition(**condition) for condition in clause) for clause in data.get("none_if", ())),
            min_short_side=int(data.get("min_short_side") or 0),
            max_short_side=data.get("max_short_side"),
            tta=data.get("tta") or {},
            figures=data.get("figures", {}),
        )


@dataclass(frozen=True)
class Rule:
    cases: tuple  # of Case, in order; the first that covers an input answers it

    def __post_init__(self):
        if not self.cases:
            raise ValueError("a rule needs at least one case")

    def case_for(self, short_side: int) -> Case:
        for case in self.cases:
            if case.covers(short_side):
                return case
        raise ValueError(f"no case of the rule covers an image whose shorter side is {short_side} pixels")

    def case_named(self, name: str) -> Case:
        return next((case for case in self.cases if case.name == name), self.cases[0])

    @property
    def experts(self) -> tuple:
        return tuple(dict.fromkeys(name for case in self.cases for name in case.experts))

    def as_list(self) -> list:
        return [case.as_dict() for case in self.cases]

    @classmethod
    def from_list(cls, cases: list) -> "Rule":
        return cls(tuple(Case.from_dict(case) for case in cases))

    @classmethod
    def single(cls, expert: str, unlike_training: bool) -> "Rule":
        """One network answering everything, "none of the ten" by its own test: a bundle of one network."""
        none_if = ((Condition(expert, "unlike_training"),),) if unlike_training else ()
        return cls((Case("all", {expert: 1.0}, none_if=none_if),))


def pooled_log_probabilities(answers: dict, weights: dict) -> np.ndarray:
    return sum(weight * np.log(np.clip(answers[name].ten(), 1e-12, None)) for name, weight in weights.items())


# --- choosing the numbers by measurement -------------------------------------------------------------------


def choose_weights(answers: dict, labels: np.ndarray, experts: tuple, fit_pool_temperature: bool = True) -> dict:
    """The weights (a grid of WEIGHT_STEP, summing to one) under which the pool is right most often on labelled
    images, ties going to the lower log loss; then, if asked, the pool's temperature fitted by log loss (else 1: a
    handful of mistakes cannot calibrate one). Returns the weights, the temperature and every point of the grid
    with its accuracy and log loss (the figures that chose them)."""
    labels = np.asarray(labels, dtype=np.int64)
    steps = round(1 / WEIGHT_STEP)
    grid = []
    for parts in itertools.product(range(steps + 1), repeat=len(experts) - 1):
        if sum(parts) <= steps:
            weights = dict(zip(experts, [*(p / steps for p in parts), (steps - sum(parts)) / steps], strict=True))
            probabilities = softmax(pooled_log_probabilities(answers, weights))
            grid.append(
                {
                    "weights": {name: round(weight, 4) for name, weight in weights.items()},
                    "accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
                    "right": int((probabilities.argmax(axis=1) == labels).sum()),
                    "log_loss": log_loss(probabilities, labels),
                }
            )
    best = max(grid, key=lambda point: (point["right"], -point["log_loss"]))
    temperature = 1.0
    if fit_pool_temperature:
        temperature = round(fit_temperature(pooled_log_probabilities(answers, best["weights"]), labels), 4)
    return {"weights": best["weights"], "temperature": temperature, "grid": grid, "images": len(labels)}


def widest_margin_threshold(inside: np.ndarray, outside: np.ndarray, allowed_inside: int) -> dict:
    """A threshold on a score in [0, 1] that is above for as many `outside` values as possible while at most
    `allowed_inside` of the `inside` values are above it: the middle of the range of such thresholds, so that the
    margin on both sides is as wide as the measurement allows."""
    inside, outside = np.asarray(inside, dtype=np.float64), np.asarray(outside, dtype=np.float64)
    candidates = np.arange(0.0, 1.0 + THRESHOLD_STEP / 2, THRESHOLD_STEP)
    inside_above = (inside[None, :] > candidates[:, None]).sum(axis=1)
    outside_above = (outside[None, :] > candidates[:, None]).sum(axis=1)
    feasible = inside_above <= allowed_inside
    best = outside_above[feasible].max()
    fewest_inside = inside_above[feasible & (outside_above == best)].min()
    chosen = candidates[feasible & (outside_above == best) & (inside_above == fewest_inside)]
    threshold = float(np.round(np.median(chosen), 3))
    return {
        "threshold": threshold,
        "range": [float(chosen.min()), float(chosen.max())],
        "outside_above": int((outside > threshold).sum()),
        "outside": len(outside),
        "inside_above": int((inside > threshold).sum()),
        "inside": len(inside),
    }


def choose_photo_none_rule(answers: dict, labels: np.ndarray, photo_expert: str, detectors: tuple, allowed: float):
    """Clauses for "none of the ten" on photos, from photos of the ten classes (labels 0-9) and of other things
    (label -1), flagging at most `allowed` of the first: `photo_expert`'s share outside the ten above a threshold
    alone; or above a lower threshold where a CIFAR network's own test also finds the photo unlike its training
    images (both experts must agree there), where that threshold is lower. Returns the clauses and the figures that
    chose them."""
    labels = np.asarray(labels)
    in_class, others = labels >= 0, labels < 0
    budget = int(np.floor(allowed * in_class.sum()))
    other = answers[photo_expert].other
    alone = widest_margin_threshold(other[in_class], other[others], budget)
    clauses = [(Condition(photo_expert, "other", alone["threshold"]),)]
    figures = {"photo_expert_alone": alone}
    left = other <= alone["threshold"]
    budget -= alone["inside_above"]
    for detector in detectors:
        agree = left & answers[detector].unlike_training
        together = widest_margin_threshold(other[agree & in_class], other[agree & others], max(budget, 0))
        figures[f"with_{detector}"] = together
        if together["threshold"] >= alone["threshold"]:
            continue  # it could never say "none" where the first clause does not already
        both = (Condition(photo_expert, "other", together["threshold"]), Condition(detector, "unlike_training"))
        clauses.append(both)
        left &= ~(agree & (other > together["threshold"]))
        budget -= together["inside_above"]
    return tuple(clauses), figures


def choose_thumbnail_none_rule(inside: dict, outside: dict, detectors: tuple, allowed: float):
    """Clauses for "none of the ten" on thumbnails, from the CIFAR networks' own tests on real images of the ten
    (`inside`: expert -> ExpertScores) and on generated images of none of them (`outside`): of each network's test
    alone, and all of them together, the one that catches the most generated images while flagging at most
    `allowed` of the real ones."""
    options = [((Condition(name, "unlike_training"),),) for name in detectors]
    if len(detectors) > 1:
        options.append((tuple(Condition(name, "unlike_training") for name in detectors),))
    measured = []
    for clauses in options:
        case = Case("measure", dict.fromkeys(detectors, 1.0), none_if=clauses)
        measured.append(
            {
                "none_if": [[condition.as_dict() for condition in clause] for clause in clauses],
                "real_flagged": float(case.none_of_the_classes(inside)[0].mean()),
                "generated_caught": float(case.none_of_the_classes(outside)[0].mean()),
            }
        )
    feasible = [index for index, point in enumerate(measured) if point["real_flagged"] <= allowed] or [
        min(range(len(measured)), key=lambda index: measured[index]["real_flagged"])
    ]
    best = max(feasible, key=lambda index: (measured[index]["generated_caught"], -measured[index]["real_flagged"]))
    return options[best], {"options": measured, "chosen": best}
