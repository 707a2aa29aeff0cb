"""The bundle a Model data page shows: the served one or a registered version by name, and the addresses of its
example images."""

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext

from classifier.models import ModelVersion
from classifier.selectors import model_version_served
from classifier.serving import active_bundle_path
from mlcore import bundle

ACTIVE = "active"  # stands for the served bundle in example image addresses


PLAIN_PNG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.png")


@dataclass(frozen=True)
class BundleChoice:
    path: Path
    name: str | None  # the ModelVersion's name; None for the served bundle when no version is registered
    is_active: bool

    @property
    def address_name(self) -> str:
        return self.name or ACTIVE


def active_bundle() -> BundleChoice:
    version = model_version_served()
    return BundleChoice(active_bundle_path(), version.name if version else None, is_active=True)


def chosen_bundle(name: str | None) -> BundleChoice:
    """The bundle of the version called `name` ("active" or nothing: the served one); 404 for an unknown name."""
    if not name or name == ACTIVE:
        return active_bundle()
    version = ModelVersion.objects.with_serving().filter(name=name).first()
    if version is None:
        raise Http404(gettext("There is no model version of that name."))
    return BundleChoice(Path(version.path), version.name, version.is_served)


def example_image_path(*, version: str, file_name: str) -> Path:
    """A PNG in the `examples/` folder of a version's bundle; 404 for anything but a plain file name there."""
    folder = chosen_bundle(version).path / bundle.EXAMPLES_FOLDER
    if not PLAIN_PNG_NAME.fullmatch(file_name) or ".." in file_name:
        raise Http404(gettext("No such example image."))
    path = folder / file_name
    if not path.is_file() or path.resolve().parent != folder.resolve():
        raise Http404(gettext("No such example image."))
    return path


def example_url(choice: BundleChoice):
    def url(relative_path: str) -> str | None:
        path = PurePosixPath(relative_path)
        if path.parent != PurePosixPath(bundle.EXAMPLES_FOLDER) or not PLAIN_PNG_NAME.fullmatch(path.name):
            return None
        return reverse("model_example", args=[choice.address_name, path.name])

    return url
