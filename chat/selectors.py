from chat.models import Conversation, Message


def conversation_list_for_user(*, user):
    return Conversation.objects.filter(owner=user)


def conversation_get_for_owner(*, user, pk) -> Conversation | None:
    return Conversation.objects.filter(owner=user, pk=pk).first()


def message_get_for_owner(*, user, pk) -> Message | None:
    return Message.objects.filter(conversation__owner=user, pk=pk).first()
