"""The chat page and its endpoints. Replies stream as server-sent events; without JavaScript the form still
works: the reply is written in full, then the conversation page is shown again."""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, services
from chat.client import available_models, chat_configured
from chat.markdown import render_markdown
from classifier.selectors import prediction_get_for_owner


@login_required
@require_GET
def chat_index(request):
    latest = selectors.conversation_list_for_user(user=request.user).first()
    return _chat_page(request, latest)


@login_required
@require_GET
def chat_conversation(request, pk):
    return _chat_page(request, _own_conversation(request, pk))


@login_required
@require_POST
def chat_new(request):
    conversation = services.conversation_create(owner=request.user, model=request.POST.get("model"))
    return redirect(conversation)


@login_required
@require_POST
def chat_about_prediction(request, prediction_pk):
    prediction = prediction_get_for_owner(user=request.user, pk=prediction_pk)
    if prediction is None:
        raise Http404("No such prediction.")
    return redirect(services.conversation_create(owner=request.user, prediction=prediction))


@login_required
@require_POST
def chat_rename(request, pk):
    conversation = _own_conversation(request, pk)
    try:
        services.conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
    except services.ChatRefused as refusal:
        messages.error(request, str(refusal))
    return redirect(conversation)


@login_required
@require_POST
def chat_delete(request, pk):
    services.conversation_delete(conversation=_own_conversation(request, pk))
    messages.success(request, "Conversation deleted.")
    return redirect("chat_index")


@login_required
@require_POST
def chat_send(request, pk):
    conversation = _own_conversation(request, pk)
    if not chat_configured():
        return _refused(request, conversation, "Chat is not configured on this site.", 503)
    try:
        message = services.message_submit(conversation=conversation, content=request.POST.get("content", ""))
    except services.ChatRefused as refusal:
        return _refused(request, conversation, str(refusal), refusal.status)
    return _reply(request, conversation, {"user_message": {"id": message.pk, "html": render_markdown(message.content)}})


@login_required
@require_POST
def chat_regenerate(request, pk):
    conversation = _own_conversation(request, pk)
    if not chat_configured():
        return _refused(request, conversation, "Chat is not configured on this site.", 503)
    try:
        services.reply_discard_last(conversation=conversation)
    except services.ChatRefused as refusal:
        return _refused(request, conversation, str(refusal), refusal.status)
    return _reply(request, conversation, {})


@login_required
@require_POST
def chat_stop(request, message_pk):
    message = selectors.message_get_for_owner(user=request.user, pk=message_pk)
    if message is None:
        raise Http404("No such message.")
    services.message_stop(message=message)
    return HttpResponse(status=204)


def _chat_page(request, conversation):
    context = {
        "configured": chat_configured(),
        "conversations": selectors.conversation_list_for_user(user=request.user),
        "conversation": conversation,
        "chat_messages": list(conversation.messages.all()) if conversation else [],
        "models": available_models(),
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
    }
    return render(request, "chat/chat.html", context)


def _own_conversation(request, pk):
    conversation = selectors.conversation_get_for_owner(user=request.user, pk=pk)
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def _wants_events(request) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _refused(request, conversation, message, status):
    if _wants_events(request):
        return JsonResponse({"error": message}, status=status)
    messages.error(request, message)
    return redirect(conversation)


def _reply(request, conversation, first_event):
    events = services.reply_events(conversation=conversation, user=request.user)
    if not _wants_events(request):
        for _ in events:  # no JavaScript: write the whole reply, then show the page again
            pass
        return redirect(conversation)
    response = StreamingHttpResponse(_server_sent(first_event, events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx must pass each event on as it comes
    return response


def _server_sent(first_event, events):
    try:
        if first_event:
            yield _event("accepted", first_event)
        for kind, data in events:
            yield _event(kind, data)
    finally:
        events.close()  # the browser went away: save the reply as cut short and end the upstream request now


def _event(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"
