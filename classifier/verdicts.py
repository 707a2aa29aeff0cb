"""What the pages say of a prediction's experts and of a "none of the ten classes" answer, in the active language.

A prediction keeps each expert's answer (`Prediction.experts`) and the conditions of the model's rule that made
it "none of the ten" (`Prediction.none_because`, as mlcore.rule writes them); these turn them into sentences.
"""

from django.utils.text import capfirst
from django.utils.translation import gettext

from classifier.class_names import class_name
from classifier.formats import decimal_or_whole, percent


def expert_name(expert: dict) -> str:
    """ "the ImageNet network (EfficientNet-Lite0)"."""
    return gettext("the %(data)s network (%(network)s)") % {
        "data": expert.get("trained_on", "CIFAR-10"),
        "network": expert.get("network", expert.get("name", "")),
    }


def none_reasons(experts: list, none_because: list) -> list[str]:
    """One sentence per condition that made the answer "none of the ten"."""
    by_name = {expert.get("name"): expert for expert in experts}
    if not none_because:  # a prediction from before the rule said why: its one network's own test
        return [gettext("The network finds it unlike every class of its training images.")]
    return [condition_text(condition, by_name.get(condition.get("expert"), {})) for condition in none_because]


def condition_text(condition: dict, answer: dict | None = None) -> str:
    """One condition of a "none of the ten" clause (as mlcore.rule writes it) in words. Without `answer`: as the
    model's rule states it, for the Model data page; with the expert's `answer` to an image: as it held for that
    image, for the prediction's page."""
    other = condition.get("signal") == "other"
    if answer is None:
        if other:
            return gettext("%(expert)s puts more than %(threshold)s of its answer outside the ten classes") % {
                "expert": condition.get("expert"),
                "threshold": decimal_or_whole(condition.get("above")),
            }
        return gettext("%(expert)s’s own test finds the image unlike its training images") % {
            "expert": condition.get("expert")
        }
    who = capfirst(expert_name(answer))
    if other:
        return gettext("%(expert)s sees something else: it puts %(share)s of its answer outside the ten classes.") % {
            "expert": who,
            "share": percent(answer.get("other") or 0.0, 0),
        }
    return gettext("%(expert)s finds it unlike every class of its training images.") % {"expert": who}


def expert_rows(experts: list) -> list[dict]:
    """Each expert's answer as the prediction's page lists it."""
    rows = []
    for expert in experts:
        probabilities = expert.get("probabilities") or {}
        label = max(probabilities, key=probabilities.get) if probabilities else ""
        other = expert.get("other")
        rows.append(
            {
                "name": expert.get("name", ""),
                "title": capfirst(expert_name(expert)),
                "phrase": expert_name(expert),
                "label": class_name(label) if label else "",
                "probability": percent(probabilities.get(label, 0.0)),
                "other": None if other is None else percent(other),
                "other_first": other is not None and other > probabilities.get(label, 0.0),
                "unlike_training": bool(expert.get("unlike_training")),
                "weight": decimal_or_whole(expert.get("weight") or 0.0),
                "side": expert.get("square"),
                "through": expert.get("through"),
            }
        )
    return rows
