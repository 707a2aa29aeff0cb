"""What the chat model is told: what the site is, and the facts a conversation carries."""

from classifier.ml import ClassifierUnavailable, get_classifier
from mlcore.labels import CLASSES


def system_prompt(context: str = "") -> str:
    lines = [
        "You are the assistant of a self-hosted image classifier web site.",
        "Signed-in users upload photos; a small convolutional network (trained on CIFAR-10) answers which of ten "
        f"classes a photo shows, with probabilities: {', '.join(CLASSES)}. It can only choose among these ten and "
        "sees each photo as a 32x32-pixel image, so photos of anything else still get one of the ten labels.",
        "Users can see their history of predictions, and staff review and correct predictions.",
        _model_facts(),
        "Answer plainly and briefly; use Markdown where it helps. If the user asks about their own predictions, "
        "you may call the list_my_predictions tool when it is offered.",
    ]
    if context:
        lines.append(f"This conversation is about the following:\n{context}")
    return "\n".join(line for line in lines if line)


def prediction_context(prediction) -> str:
    """A prediction's facts for the model: label, probabilities and model facts, never the image itself."""
    ranked = ", ".join(f"{item['label']} {item['probability']:.1%}" for item in prediction.top_k)
    return (
        f"A prediction made by the classifier: the photo '{prediction.original_name}' "
        f"({prediction.width}x{prediction.height} pixels, {prediction.content_type}) was classified as "
        f"'{prediction.label}' with {prediction.confidence:.1%} confidence. All probabilities: {ranked}. "
        f"Model version {prediction.model_version}; it took {prediction.inference_ms:.1f} ms. "
        f"Uploaded {prediction.created_at:%Y-%m-%d %H:%M} UTC."
    )


def _model_facts() -> str:
    try:
        metadata = get_classifier().metadata
    except ClassifierUnavailable:
        return "The classifier's model is unavailable at the moment."
    accuracy = (metadata.get("test") or {}).get("accuracy")
    score = f", {accuracy:.1%} accurate on 10,000 held-out test images" if accuracy else ""
    return f"The model in service is {metadata.get('name')}{score}."
