"""A bundle's files as the Model data page reads them: one network's, or a bundle of experts' with each expert's own
folder read the same way, and the figures of a whole bundle that more than one section reads. Whatever is missing or
unreadable comes back empty; nothing is ever written."""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from django.utils.dateparse import parse_datetime

from mlcore import bundle
from mlcore.evaluate import PHOTOS_FILE
from mlcore.rule import Rule


@dataclass(frozen=True)
class BundleFiles:
    """The JSON files of one bundle folder; whatever is missing or unreadable is empty."""

    metadata: dict
    history: list
    evaluation: dict
    photos: dict | None  # the scores on real photos (`manage.py evaluate --data FOLDER --save`)
    experts: tuple = ()  # ExpertFiles, in the order the bundle lists them; empty for a bundle of one network

    @cached_property
    def rule(self) -> Rule | None:
        """The rule of a bundle of experts; None for one network (or a rule this code cannot read)."""
        try:
            return Rule.from_list(self.metadata["rule"]) if self.metadata.get("rule") else None
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class ExpertFiles:
    entry: dict  # what the bundle of experts says of it: name, folder, network, trained_on, square, through, tta
    files: BundleFiles | None  # its own folder; None when it cannot be read

    @property
    def name(self) -> str:
        return self.entry.get("name", "")

    @property
    def metadata(self) -> dict:
        return self.files.metadata if self.files else {}


def read_bundle(path: Path) -> BundleFiles | None:
    """The bundle's files, and for a bundle of experts each expert's; None when its metadata cannot be read."""

    def read(name):
        try:
            return bundle.read_json(path, name)
        except bundle.BundleError:
            return None

    metadata = read(bundle.METADATA_FILE)
    if not isinstance(metadata, dict):
        return None
    return BundleFiles(
        metadata=metadata,
        history=read(bundle.HISTORY_FILE) or [],
        evaluation=read(bundle.EVALUATION_FILE) or {},
        photos=read(PHOTOS_FILE),
        experts=tuple(ExpertFiles(entry, _read_expert(path, entry)) for entry in metadata.get("experts") or []),
    )


def _read_expert(path: Path, entry: dict) -> BundleFiles | None:
    """An expert's own folder, which must lie inside its bundle."""
    folder = (path / str(entry.get("folder") or "")).resolve()
    return read_bundle(folder) if path.resolve() in folder.parents else None


def accuracy_on_test(files: BundleFiles) -> float | None:
    return files.evaluation.get("accuracy", (files.metadata.get("test") or {}).get("accuracy"))


def total_parameters(files: BundleFiles) -> int | None:
    """A network's parameters; a bundle of experts': the sum over its experts (None if one is not recorded)."""
    if not files.experts:
        return files.metadata.get("parameters")
    each = [expert.metadata.get("parameters", expert.entry.get("parameters")) for expert in files.experts]
    return None if None in each else sum(each)


def case_for(rule: Rule | None, side: int):
    """The case of the rule that answers an image whose shorter side is `side`; None without one."""
    try:
        return rule.case_for(side) if rule else None
    except ValueError:
        return None


def bundle_time(text):
    """The bundle's ISO time as a datetime, for the language's date format; the text itself if it is not one."""
    try:
        return parse_datetime(text or "") or text
    except ValueError:
        return text
