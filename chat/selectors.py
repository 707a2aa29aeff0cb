from chat.models import Conversation, Message
from classifier.models import Prediction


def conversation_list_for_user(*, user):
    return Conversation.objects.filter(owner=user)


def conversation_get_for_owner(*, user, pk) -> Conversation | None:
    return Conversation.objects.filter(owner=user, pk=pk).select_related("prediction").first()


def conversation_prediction(*, conversation: Conversation) -> Prediction | None:
    """The prediction a conversation is about, for a link back to it: None once it is deleted, never another's."""
    prediction = conversation.prediction
    return prediction if prediction is not None and prediction.owner_id == conversation.owner_id else None


def message_get_for_owner(*, user, pk) -> Message | None:
    return Message.objects.filter(conversation__owner=user, pk=pk).first()
