"""The Model data page's context: the version list, the chosen bundle's sections and, on request, two versions
compared.

A bundle is one network, or a bundle of experts: its own metadata (the experts, the rule that combines them with
the figures that chose it), its own evaluation and real-photo scores (the combined answers), and a folder of
one network for each expert, read the same way. Every figure is read from the bundle; nothing is typed by hand.
Bundles written before a field existed simply lack it, and the page says that part is not available for that model.
"""

from django.utils.translation import gettext

from classifier import formats
from classifier.models import ModelVersion
from classifier_site.info.bundle_files import read_bundle
from classifier_site.info.comparison import compare_models
from classifier_site.info.experts import class_maps, expert_weights, experts_view
from classifier_site.info.headline import bundle_headline
from classifier_site.info.networks import network_view, training_run
from classifier_site.info.rule import rule_view
from classifier_site.info.sections import (
    calibration,
    confused_pairs,
    confusion_matrix,
    none_of_the_ten_by_rule,
    per_class,
    real_photos,
)
from classifier_site.info.versions import BundleChoice, chosen_bundle


def model_page(*, version: str | None = None, compare: str | None = None) -> dict:
    """The template's context: the version list, the chosen bundle's sections and, on request, a comparison."""
    shown = chosen_bundle(version)
    versions = list(ModelVersion.objects.with_serving())
    return {
        "versions": [(version.name, version_label(version)) for version in versions],
        # the shipped default is registered when staff first open Model versions: until then it is not listed
        "serves_registered": any(version.is_served for version in versions),
        "selected": shown.name,
        "compared": compare or "",
        "model": model_view(shown),
        "comparison": compare_models(shown, chosen_bundle(compare)) if compare else None,
    }


def version_label(version: ModelVersion) -> str:
    return gettext("%(name)s (served now)") % {"name": version.name} if version.is_served else version.name


def model_view(choice: BundleChoice) -> dict:
    files = read_bundle(choice.path)
    if files is None:
        return {"available": False, "version": choice.name}
    metadata, evaluation = files.metadata, files.evaluation
    if files.experts:
        networks = [network_view(expert.files, expert.entry) for expert in files.experts if expert.files]
    else:
        networks = [network_view(files)]
    return {
        "available": True,
        "version": choice.name,
        "is_active": choice.is_active,
        "headline": bundle_headline(files),
        "experts": experts_view(files),
        "expert_weights": expert_weights(files),
        "rule": rule_view(files),
        "class_maps": class_maps(files),
        "networks": networks,
        "charts_available": any(network["charts"] for network in networks),
        "assembly": training_run(metadata) | {"time": formats.duration(metadata.get("assemble_seconds"))}
        if files.experts
        else None,
        "per_class": per_class(evaluation),
        "confusion": confusion_matrix(evaluation),
        "confused_pairs": confused_pairs(evaluation, choice),
        "calibration": calibration(files),
        "none_rule": none_of_the_ten_by_rule(files),
        "ood_tests": [ood for ood in (network["ood"] for network in networks) if ood],
        "real_photos": real_photos(files.photos),
    }
