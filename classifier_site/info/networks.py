"""What the Model data page shows of each network: its architecture layer by layer, its training run with the
loss and accuracy charts, and its own "none of the ten" test."""

from django.utils.text import slugify
from django.utils.translation import gettext, ngettext, pgettext

from classifier import formats
from classifier_site.info import charts
from classifier_site.info.bundle_files import BundleFiles
from classifier_site.info.bundle_words import (
    data_set_text,
    feature_model_text,
    generated_kinds_text,
    network_description,
    score_descriptions,
    score_name,
    split_name,
)


def network_view(files: BundleFiles, entry: dict | None = None) -> dict:
    """What the page shows of one network: the whole of a bundle of one network, or one expert of a bundle of
    experts (`entry`: what that bundle says of it)."""
    metadata = files.metadata
    name = (entry or {}).get("name")
    suffix = f"-{slugify(name)}" if name else ""
    return {
        "name": name,
        "anchor": f"network{suffix}",
        "network": (entry or {}).get("network"),
        "description": network_description(metadata),
        "architecture": architecture(metadata),
        "trained": "training" in metadata or entry is None,
        "training": training_run(metadata),
        "weights_from": metadata.get("weights"),
        "trained_on": data_set_text(metadata.get("weights_trained_on")) or (entry or {}).get("trained_on"),
        "charts": training_charts(files.history, suffix),
        "ood": out_of_distribution(metadata, files.evaluation) | {"expert": name} if metadata.get("ood") else None,
    }


def architecture(metadata: dict) -> dict:
    flops = metadata.get("flops_per_image")
    layers = [
        {
            "name": layer.get("name", ""),
            "kind": layer.get("kind", ""),
            "output_shape": " × ".join(str(size) for size in layer.get("output_shape") or []),
            "parameters": layer.get("parameters") or 0,
        }
        for layer in metadata.get("layers") or []
    ]
    return {
        "blocks": layer_blocks(layers),
        "layer_count": len(layers),
        "parameters": metadata.get("parameters"),
        "parameters_text": formats.whole(metadata.get("parameters")),
        "flops": flops,
        "flops_text": formats.millions(flops),
        "multiply_adds_text": formats.millions(flops / 2) if flops is not None else None,
    }


def layer_blocks(layers: list[dict]) -> list[dict]:
    """The layer table by block: consecutive layers whose names share the part before the first "_" (stem_*,
    block0_*, group1_*, head_*); consecutive layers that are a block of one (pixels, scale; pool, dropout,
    classifier) go together, named by their names."""
    runs = []
    for layer in layers:
        prefix = layer["name"].split("_", 1)[0]
        if runs and runs[-1][0] == prefix:
            runs[-1][1].append(layer)
        else:
            runs.append((prefix, [layer]))
    groups = []
    for prefix, members in runs:
        if len(members) == 1 and groups and groups[-1]["prefix"] is None:
            groups[-1]["layers"] += members
        else:
            groups.append({"prefix": prefix if len(members) > 1 else None, "layers": members})
    blocks = []
    for group in groups:
        members, parameters = group["layers"], sum(layer["parameters"] for layer in group["layers"])
        blocks.append(
            {
                "name": group["prefix"] or ", ".join(layer["name"] for layer in members),
                "layers": [layer | {"parameters": formats.whole(layer["parameters"])} for layer in members],
                "layers_text": ngettext("%(count)s layer", "%(count)s layers", len(members))
                % {"count": formats.whole(len(members))},
                "parameters_text": ngettext("%(count)s parameter", "%(count)s parameters", parameters)
                % {"count": formats.whole(parameters)},
            }
        )
    return blocks


def training_run(metadata: dict) -> dict:
    training = metadata.get("training") or {}
    data = metadata.get("data") or {}
    config = training.get("config") or {}
    hardware = metadata.get("hardware") or {}
    return {
        "source": data.get("source"),
        "fingerprint": data.get("fingerprint"),
        "dataset_train_images": formats.whole(data.get("train_images")),
        "dataset_test_images": formats.whole(data.get("test_images")),
        "train_images": formats.whole(training.get("train_images")),
        "validation_images": formats.whole(training.get("validation_images")),
        "reviewed_uploads": formats.whole(training.get("reviewed_uploads")),
        "epochs": training.get("epochs_completed"),
        "planned_epochs": formats.decimal_or_whole(config["epochs"]) if config.get("epochs") is not None else None,
        "best_epoch": training.get("best_epoch"),
        "interrupted": training.get("interrupted", False),
        "train_time": formats.duration(training.get("train_seconds")),
        "wall_time": formats.duration(metadata.get("wall_seconds")),
        "hardware": ", ".join(
            str(part)
            for part in (
                hardware.get("cpu"),
                ngettext("%(count)d core", "%(count)d cores", hardware["cpu_count"]) % {"count": hardware["cpu_count"]}
                if hardware.get("cpu_count")
                else None,
                hardware.get("machine"),
                hardware.get("system"),
            )
            if part
        ),
        "command": training.get("command"),
        "git_commit": metadata.get("git_commit"),
        "libraries": sorted((metadata.get("libraries") or {}).items()),
        "config": [(key, _config_value(value)) for key, value in config.items()],
    }


def training_charts(history: list, suffix: str = "") -> dict | None:
    """Two SVG charts, loss and accuracy, each with a training and a validation line; one point per epoch.
    `suffix` keeps the charts' ids apart when several networks have them on one page."""
    if not history:
        return None
    epochs = [record["epoch"] for record in history]

    training, validation = pgettext("chart line", "training"), pgettext("chart line", "validation")

    def per_epoch(measure, title, y_label, **formatting):
        return charts.line_chart(
            chart_id=f"{measure}-chart{suffix}",
            title=title,
            x_label=gettext("Epoch"),
            y_label=y_label,
            x_values=epochs,
            series=[
                charts.Series(training, [record.get(f"train_{measure}") for record in history], charts.TRAIN_COLOUR),
                charts.Series(
                    validation,
                    [record.get(f"val_{measure}") for record in history],
                    charts.VALIDATION_COLOUR,
                    dashed=True,
                ),
            ],
            **formatting,
        )

    return {
        "loss": per_epoch(
            "loss", gettext("Loss per epoch"), gettext("Loss"), y_format=lambda value: formats.decimal(value, 2)
        ),
        "accuracy": per_epoch(
            "accuracy",
            gettext("Accuracy per epoch"),
            gettext("Accuracy"),
            y_format=lambda value: formats.percent(value, 1),
            y_tick_format=charts.whole_percent,
        ),
    }


def out_of_distribution(metadata: dict, evaluation: dict) -> dict | None:
    """A network's own "none of the ten" test: its scores, thresholds and measured rates, in words keyed by the
    names the bundle records (bundle_words)."""
    ood = metadata.get("ood")
    if not ood:
        return None
    inside = ood.get("in_distribution") or {}
    outside = ood.get("out_of_distribution") or {}
    return {
        "scores": score_descriptions(ood.get("thresholds") or {}),
        "threshold": _thresholds(ood),
        "feature_images": feature_model_text(ood.get("feature_images")),
        "true_positive_rate": formats.percent(ood.get("true_positive_rate")),
        "false_positive_rate": formats.percent(ood.get("false_positive_rate")),
        "in_distribution_images": formats.whole(inside.get("images")),
        "in_distribution_source": split_name(inside.get("source")),
        "out_of_distribution_images": formats.whole(outside.get("images")),
        "out_of_distribution_kinds": generated_kinds_text(outside.get("kinds") or []),
        "test_rate": formats.percent(evaluation.get("none_of_the_classes_rate")),
    }


def _thresholds(ood) -> str:
    """One threshold, or one per score ("energy 1.637, features -614.674")."""
    if ood.get("thresholds"):
        return ", ".join(f"{score_name(name)} {formats.decimal(value, 3)}" for name, value in ood["thresholds"].items())
    return formats.decimal(ood.get("threshold"), 3)


def _config_value(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return pgettext("no value", "none") if value is None else str(value)
