"""The sentences of a prediction's page, of its card in History and of its row in the admin that depend on its
figures, ready to print in the active language.

The template only lays them out. Each text keeps the msgid the template used to hold, so its translation stays.
"""

from django.utils.translation import gettext

from classifier.class_names import class_name, shown_name


def heat_map_alt(prediction) -> str:
    return gettext("heat map: where the network found the evidence for “%(shown)s”") % {
        "shown": class_name(prediction.label)
    }


def expert_answers(prediction) -> list[dict]:
    """Each network's row (`Prediction.expert_rows`) with what it said, its weight and the square it saw, in words."""
    return [
        row
        | {
            "answer": _answer(row),
            "weight_note": gettext("weight %(weight)s") % {"weight": row["weight"]},
            "seen_alt": gettext("the square %(name)s saw") % {"name": row["phrase"]},
            "seen_caption": _seen_caption(row),
        }
        for row in prediction.expert_rows
    ]


def _answer(row: dict) -> str:
    """ "dog, 95.2%; other things 3.1%", the larger share first; "; unlike its training images" when its own test
    says so."""
    parts = [gettext("%(label)s, %(probability)s") % {"label": row["label"], "probability": row["probability"]}]
    if row["other"]:
        parts.insert(0 if row["other_first"] else 1, gettext("other things %(other)s") % {"other": row["other"]})
    if row["unlike_training"]:
        parts.append(gettext("unlike its training images"))
    return "; ".join(parts)


def _seen_caption(row: dict) -> str:
    values = {"name": row["title"], "side": row["side"], "through": row["through"]}
    if row["through"]:
        return gettext("%(name)s saw %(side)s×%(side)s pixels, through %(through)s×%(through)s") % values
    return gettext("%(name)s saw %(side)s×%(side)s pixels") % values


def feedback_said(label: str) -> str:
    """What the owner said of the answer ("" when nothing)."""
    if not label:
        return ""
    if label == "none":
        return gettext("You said: none of the ten classes.")
    # The English article goes by the class's English name; a language without articles translates both alike.
    if label[0] in "aeiou":
        return gettext("You said: it is an %(said_name)s.") % {"said_name": class_name(label)}
    return gettext("You said: it is a %(said_name)s.") % {"said_name": class_name(label)}


def review_lines(prediction) -> list[str]:
    """What staff decided and what the owner says, a short line each, for the admin: "Corrected to cat",
    "Confirmed" or "Not reviewed", then "Owner says: dog" (or "none of these", as they chose it) when the owner
    disagreed."""
    if prediction.review_status == prediction.ReviewStatus.CORRECTED:
        lines = [gettext("Corrected to %(class)s") % {"class": shown_name(prediction.reviewed_label)}]
    else:
        lines = [prediction.get_review_status_display()]
    if prediction.feedback_label:
        lines.append(gettext("Owner says: %(class)s") % {"class": prediction.get_feedback_label_display()})
    return lines


def review_note(prediction) -> dict | None:
    """The card's word on the review: what staff decided ("Corrected: cat", "Confirmed"), or, until they decide,
    what the owner said is wrong with the answer, marked as awaiting review; None when there is neither."""
    if prediction.settled_label:
        text = prediction.get_review_status_display()
        if prediction.review_status == prediction.ReviewStatus.CORRECTED:
            text = f"{text}: {shown_name(prediction.reviewed_label)}"
        return {"text": text, "awaiting": False}
    if prediction.feedback_label:
        said = shown_name(prediction.feedback_label)
        return {"text": gettext("You said: %(said)s — awaiting review") % {"said": said}, "awaiting": True}
    return None
