"""Tools the chat model may call. Each runs for the signed-in user only, on their own data."""

import json

from classifier.selectors import prediction_list_for_user
from mlcore.labels import CLASSES

MAX_LISTED = 20

LIST_MY_PREDICTIONS = {
    "type": "function",
    "function": {
        "name": "list_my_predictions",
        "description": "List the signed-in user's most recent predictions (newest first), optionally of one class.",
        "parameters": {
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": list(CLASSES), "description": "Only predictions of this class."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LISTED, "description": "How many."},
            },
            "additionalProperties": False,
        },
    },
}
TOOLS = [LIST_MY_PREDICTIONS]


def run_tool(name: str, arguments: str, *, user) -> str:
    """Run a tool call for `user` and return its result as JSON text for the model."""
    if name != "list_my_predictions":
        return json.dumps({"error": f"unknown tool {name!r}"})
    try:
        options = json.loads(arguments or "{}")
        limit = min(MAX_LISTED, max(1, int(options.get("limit", 10))))
        label = options.get("label")
    except (TypeError, ValueError, AttributeError):
        return json.dumps({"error": "the arguments must be a JSON object with optional 'label' and 'limit'"})
    predictions = prediction_list_for_user(user=user, label=label)[:limit]
    return json.dumps(
        {
            "predictions": [
                {
                    "id": prediction.pk,
                    "file": prediction.original_name,
                    "label": prediction.label,
                    "confidence": round(prediction.confidence, 4),
                    "created_at": prediction.created_at.isoformat(timespec="seconds"),
                    "review": prediction.review_status,
                }
                for prediction in predictions
            ]
        }
    )
