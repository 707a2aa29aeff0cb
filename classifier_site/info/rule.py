"""The rule of a bundle of experts in words and figures: its cases, weights and "none of the ten" clauses, and the
measurements that chose each number."""

from django.utils.text import slugify
from django.utils.translation import gettext, ngettext, pgettext_lazy

from classifier import formats
from classifier.verdicts import condition_text
from classifier_site.info import charts
from classifier_site.info.bundle_files import BundleFiles

# The cases of a rule as a reader calls them; a case of another name is shown by its name.
CASE_NAMES = {
    "thumbnail": pgettext_lazy("case of the rule", "thumbnails"),
    "photo": pgettext_lazy("case of the rule", "photos"),
    "all": pgettext_lazy("case of the rule", "all images"),
}


def rule_view(files: BundleFiles) -> dict | None:
    """The rule in words and figures: per case, the inputs it answers, the weights, the temperature, when it says
    "none of the ten", and the measurements that chose each number."""
    rule = files.rule
    if rule is None:
        return None
    networks = {expert.name: expert.entry.get("network") for expert in files.experts}
    own_tta = {expert.name: expert.entry.get("tta") for expert in files.experts}
    return {"cases": [case_view(case, networks, own_tta) for case in rule.cases]}


def case_view(case, networks: dict, own_tta: dict) -> dict:
    figures = case.figures or {}
    none_figures = figures.get("none_of_the_classes") or {}
    return {
        "name": case.name,
        "label": case_label(case.name),
        "anchor": f"case-{slugify(case.name)}",
        "inputs": inputs_text(case.min_short_side, case.max_short_side),
        "weights": [
            {"expert": name, "network": networks.get(name), "weight": weight_text(weight)}
            for name, weight in case.weights.items()
        ],
        "temperature": formats.decimal_or_whole(case.temperature),
        "tta": tta_rows(case, figures.get("tta") or {}, own_tta),
        "none_if": [[condition_text(condition.as_dict()) for condition in clause] for clause in case.none_if],
        "measured_on": measured_on_text(figures.get("measured_on")),
        "alone": alone_rows(figures),
        "combined": _combined(figures.get("combined")),
        "grid": weight_grid(figures.get("weights"), f"weights-{slugify(case.name)}"),
        "thresholds": threshold_rows(none_figures, case),
        "options": none_options(none_figures),
    }


def tta_rows(case, measured: dict, own_tta: dict) -> list[dict]:
    """The experts that answer this case with another test-time augmentation than their own, and the right answers
    that chose it (`measured`: {"expert", "right": {augmentation: count}})."""
    rows = []
    for name, tta in case.tta.items():
        own = own_tta.get(name)
        right = (measured.get("right") or {}) if measured.get("expert") == name else {}
        rows.append(
            {
                "expert": name,
                "tta": formats.test_time_augmentation(tta),
                "own": formats.test_time_augmentation(own),
                "right": formats.whole(right.get(tta)),
                "own_right": formats.whole(right.get(own)),
            }
        )
    return rows


def measured_on_text(measured) -> str | None:
    """What a case's numbers were measured on, in words (a bundle's metadata records the counts; what an older one
    wrote in words of its own is left out)."""
    if not isinstance(measured, dict):
        return None
    if "validation_images" in measured:
        return gettext("the validation split (%(images)s images)") % {
            "images": formats.whole(measured["validation_images"])
        }
    return gettext("%(ten)s real photos of the ten classes and %(others)s of other things (%(folder)s)") % {
        "ten": formats.whole(measured.get("photos_of_the_ten")),
        "others": formats.whole(measured.get("photos_of_other_things")),
        "folder": measured.get("folder", ""),
    }


def case_label(name: str) -> str:
    return str(CASE_NAMES.get(name, name))


def inputs_text(low: int, high: int | None) -> str:
    """Which images a case answers, by their shorter side."""
    if high is None and not low:
        return gettext("every image")
    if high is None:
        return ngettext(
            "images whose shorter side is at least %(low)s pixel",
            "images whose shorter side is at least %(low)s pixels",
            low,
        ) % {"low": formats.whole(low)}
    if not low:
        return ngettext(
            "images whose shorter side is at most %(high)s pixel",
            "images whose shorter side is at most %(high)s pixels",
            high,
        ) % {"high": formats.whole(high)}
    return ngettext(
        "images whose shorter side is %(low)s to %(high)s pixel",
        "images whose shorter side is %(low)s to %(high)s pixels",
        high,
    ) % {"low": formats.whole(low), "high": formats.whole(high)}


def alone_rows(figures: dict) -> list[dict]:
    """Each expert alone on the images that chose the weights: its share right, and how many of how many."""
    images = (figures.get("weights") or {}).get("images")
    return [
        {"expert": name, "right": formats.share_of(round(share * images) if images else None, images, share)}
        for name, share in alone_shares(figures).items()
    ]


def alone_shares(figures: dict) -> dict:
    """The case's figures give each expert alone as a share right (validation split) or as a count right (real
    photos, out of the images the weights were chosen on): both as shares."""
    images = (figures.get("weights") or {}).get("images")
    shares = {}
    for name, value in (figures.get("alone") or {}).items():
        if isinstance(value, int) and images:
            shares[name] = value / images
        elif isinstance(value, float):
            shares[name] = value
    return shares


def _combined(combined: dict | None) -> dict | None:
    if not combined:
        return None
    return {
        "accuracy": formats.percent(combined.get("accuracy"), 2),
        "images": formats.whole(combined.get("images")),
        "log_loss": formats.decimal(combined.get("log_loss"), 3),
        "tta": formats.test_time_augmentation(combined.get("tta")),
    }


def weight_grid(chosen: dict | None, chart_id: str) -> dict | None:
    """Every weighting tried, with the pool's accuracy and log loss; a chart of accuracy against the first
    expert's weight where there are two experts (the second's is the rest)."""
    grid = (chosen or {}).get("grid")
    if not grid:
        return None
    experts = list(grid[0].get("weights") or {})
    images = chosen.get("images")
    rows = [
        {
            "weights": [weight_text(point["weights"].get(name)) for name in experts],
            "accuracy": formats.percent(point.get("accuracy"), 2),
            "right": formats.whole(point.get("right")),
            "log_loss": formats.decimal(point.get("log_loss"), 3),
            "chosen": point.get("weights") == chosen.get("weights"),
        }
        for point in grid
    ]
    chart = None
    if len(experts) == 2:
        first, second = experts
        chart = charts.accuracy_by_weight(
            chart_id=chart_id,
            title=gettext("Accuracy of the pool by the weight of %(expert)s") % {"expert": first},
            x_label=gettext("Weight of %(first)s (%(second)s: the rest)") % {"first": first, "second": second},
            points=[
                charts.GridPoint(
                    point["weights"][first],
                    point["accuracy"],
                    gettext("%(first)s %(first_weight)s, %(second)s %(second_weight)s: %(accuracy)s right")
                    % {
                        "first": first,
                        "first_weight": weight_text(point["weights"][first]),
                        "second": second,
                        "second_weight": weight_text(point["weights"][second]),
                        "accuracy": formats.percent(point["accuracy"], 2),
                    },
                    point.get("weights") == chosen.get("weights"),
                )
                for point in grid
            ],
            x_format=formats.decimal_or_whole,
        )
    return {"experts": experts, "rows": rows, "images": formats.whole(images), "chart": chart}


def threshold_rows(figures: dict, case) -> list[dict]:
    """The thresholds on an expert's share outside the ten (`other`), each with the range of thresholds that did
    equally well (the one chosen is its middle: the widest margin) and what it catches."""
    photo_expert = next((c.expert for clause in case.none_if for c in clause if c.signal == "other"), None)
    rows = []
    for key, measured in figures.items():
        if not isinstance(measured, dict) or "threshold" not in measured:
            continue
        if key.startswith("with_"):
            clause = gettext("%(expert)s’s share outside the ten, where %(detector)s’s own test agrees") % {
                "expert": photo_expert,
                "detector": key.removeprefix("with_"),
            }
        else:
            clause = gettext("%(expert)s’s share outside the ten, alone") % {"expert": photo_expert}
        low, high = measured.get("range") or (None, None)
        rows.append(
            {
                "clause": clause,
                "threshold": formats.decimal_or_whole(measured["threshold"]),
                "range": gettext("%(low)s to %(high)s")
                % {"low": formats.decimal_or_whole(low), "high": formats.decimal_or_whole(high)}
                if low is not None
                else None,
                "outside": formats.part_of(measured.get("outside_above"), measured.get("outside")),
                "inside": formats.part_of(measured.get("inside_above"), measured.get("inside")),
            }
        )
    return rows


def none_options(figures: dict) -> list[dict]:
    """The "none of the ten" options measured for thumbnails: the share of real images each flags and of
    generated images it catches; the chosen one marked."""
    rows = []
    for index, option in enumerate(figures.get("options") or []):
        rows.append(
            {
                "none_if": [
                    [condition_text(condition) for condition in clause] for clause in option.get("none_if") or []
                ],
                "real_flagged": formats.percent(option.get("real_flagged")),
                "generated_caught": formats.percent(option.get("generated_caught")),
                "chosen": index == figures.get("chosen"),
            }
        )
    return rows


def weight_text(weight) -> str | None:
    return None if weight is None else formats.decimal_or_whole(weight)
