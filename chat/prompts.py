"""What the chat model is told: what the site is, and the facts a conversation carries; in the language of the
person asking, so that the model answers in it."""

from django.utils.translation import gettext

from classifier.class_names import class_name
from classifier.formats import decimal, percent
from classifier.serving import ClassifierUnavailable, get_classifier
from mlcore.labels import CLASSES


def system_prompt(context: str = "") -> str:
    lines = [
        gettext("You are the assistant of a self-hosted image classifier web site."),
        gettext(
            "Signed-in users upload photos; convolutional networks answer which of ten classes a photo shows, with "
            "probabilities: %(classes)s. Networks trained on CIFAR-10 see each photo through 32x32 pixels, as their "
            "training images were; for photos, a network trained on ImageNet also sees the sharp photo, and their "
            "answers are combined. They can only choose among these ten; when a photo fits none of them, the site "
            "answers “none of the ten classes” and says why."
        )
        % {"classes": class_list()},
        gettext("Users can see their history of predictions, and staff review and correct predictions."),
        gettext(
            "The classifier is for sorting photos into these ten classes; its answer covers only them, and it "
            "cannot say what else a photo shows. A user may send photos in the chat: each is stored as their "
            "prediction, and you get the classifier's answer for it, and the photo itself when you can see images. "
            "When you see the photo, say what it shows in your own words, and whether the classifier's answer fits."
        ),
        _model_facts(),
        gettext(
            "Answer plainly and briefly; use Markdown where it helps. If the user asks about their own predictions, "
            "you may call the list_my_predictions tool when it is offered."
        ),
        gettext("Answer in English unless the user writes in another language."),
    ]
    if context:
        lines.append(gettext("This conversation is about the following:\n%(context)s") % {"context": context})
    return "\n".join(line for line in lines if line)


def class_list() -> str:
    """The ten classes as the reader calls them, with the English name the tools use where it differs."""
    return ", ".join(name if class_name(name) == name else f"{class_name(name)} ({name})" for name in CLASSES)


def prediction_context(prediction) -> str:
    """A prediction's facts for the model (and the page): label, probabilities, what each network said and model
    facts, never the image."""
    facts = [_prediction_facts(prediction)]
    if prediction.none_of_the_classes:
        reasons = " ".join(prediction.none_reasons)
        facts.append(gettext("The site called it none of the ten classes: %(reasons)s") % {"reasons": reasons})
    for row in prediction.expert_rows:
        facts.append(
            gettext("%(network)s said %(label)s, %(probability)s (weight %(weight)s)")
            % {
                "network": row["title"],
                "label": row["label"],
                "probability": row["probability"],
                "weight": row["weight"],
            }
            + (gettext("; other things %(other)s") % {"other": row["other"]} if row["other"] else "")
            + "."
        )
    return "\n".join(facts)


def _prediction_facts(prediction) -> str:
    ranked = ", ".join(f"{class_name(item['label'])} {percent(item['probability'])}" for item in prediction.top_k)
    return gettext(
        "A prediction made by the classifier: the photo '%(name)s' (%(width)dx%(height)d pixels, %(type)s) was "
        "classified as '%(label)s' with %(confidence)s confidence. All probabilities: %(ranked)s. Model version "
        "%(version)s; it took %(milliseconds)s ms. Uploaded %(uploaded)s UTC."
    ) % {
        "name": prediction.original_name,
        "width": prediction.width,
        "height": prediction.height,
        "type": prediction.content_type,
        "label": class_name(prediction.label),
        "confidence": percent(prediction.confidence),
        "ranked": ranked,
        "version": prediction.model_version,
        "milliseconds": decimal(prediction.inference_ms, 1),
        "uploaded": f"{prediction.created_at:%Y-%m-%d %H:%M}",
    }


def _model_facts() -> str:
    try:
        metadata = get_classifier().metadata
    except ClassifierUnavailable:
        return gettext("The classifier's model is unavailable at the moment.")
    accuracy = (metadata.get("test") or {}).get("accuracy")
    if accuracy:
        return gettext("The model in service is %(name)s, %(accuracy)s accurate on 10,000 held-out test images.") % {
            "name": metadata.get("name"),
            "accuracy": percent(accuracy),
        }
    return gettext("The model in service is %(name)s.") % {"name": metadata.get("name")}
