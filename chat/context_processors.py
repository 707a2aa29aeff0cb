from chat.client import chat_configured


def chat(request) -> dict:
    """Whether the chat can answer, for the pages that offer it (a prediction's "Ask about this prediction")."""
    return {"chat_configured": chat_configured()}
