"""The chat page and its endpoints. /chat/ opens ready to type: the first message creates the conversation.
Replies stream as server-sent events; without JavaScript the form still works: the reply is written in full,
then the conversation page is shown again."""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, services
from chat.client import available_models, chat_configured, sees_images
from chat.markdown import render_markdown
from classifier.selectors import prediction_get_for_owner


@login_required
@require_GET
def chat_index(request):
    """A new conversation, ready to type; the conversations so far are listed beside it."""
    return _chat_page(request, None)


@login_required
@require_GET
def chat_conversation(request, pk):
    conversation = _own_conversation(request, pk)
    asks_what = request.GET.get("ask") == "what" and not conversation.messages.exists()
    return _chat_page(request, conversation, draft=gettext("What does this photo show?") if asks_what else "")


@login_required
@require_POST
def chat_about_prediction(request, prediction_pk):
    prediction = prediction_get_for_owner(user=request.user, pk=prediction_pk)
    if prediction is None:
        raise Http404(gettext("No such prediction."))
    conversation = services.conversation_create(owner=request.user, prediction=prediction)
    if request.POST.get("ask") == "what":  # "Ask the assistant what it is": the question is in the box, ready
        return redirect(f"{conversation.get_absolute_url()}?ask=what")
    return redirect(conversation)


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
    messages.success(request, gettext("Conversation deleted."))
    return redirect("chat_index")


@login_required
@require_POST
def chat_start(request):
    """The first message, typed on /chat/: creates the conversation, then answers as chat_send does."""
    content = request.POST.get("content", "")
    if not chat_configured():
        return _refused(request, None, _not_configured(), content)
    try:
        turn = services.conversation_start(
            owner=request.user, content=content, model=request.POST.get("model"), **_photos(request)
        )
    except services.ChatRefused as refusal:
        return _refused(request, None, refusal, content)
    return _reply(request, turn, _accepted(turn.question))


@login_required
@require_POST
def chat_send(request, pk):
    conversation = _own_conversation(request, pk)
    content = request.POST.get("content", "")
    if not chat_configured():
        return _refused(request, conversation, _not_configured(), content)
    try:
        turn = services.message_submit(conversation=conversation, content=content, **_photos(request))
    except services.ChatRefused as refusal:
        return _refused(request, conversation, refusal, content)
    return _reply(request, turn, _accepted(turn.question))


@login_required
@require_POST
def chat_regenerate(request, pk):
    conversation = _own_conversation(request, pk)
    if not chat_configured():
        return _refused(request, conversation, _not_configured())
    try:
        turn = services.reply_regenerate(conversation=conversation)
    except services.ChatRefused as refusal:
        return _refused(request, conversation, refusal)
    return _reply(request, turn, {})


@login_required
@require_POST
def chat_stop(request, message_pk):
    message = selectors.message_get_for_owner(user=request.user, pk=message_pk)
    if message is None:
        raise Http404(gettext("No such message."))
    services.message_stop(message=message)
    return HttpResponse(status=204)


def _photos(request) -> dict:
    """The photos sent with a message, and the names of those refused while streaming in (over MAX_UPLOAD_MB)."""
    return {"photos": request.FILES.getlist("photos"), "oversize_names": getattr(request, "oversize_uploads", [])}


def _chat_page(request, conversation, *, error="", draft="", status=200):
    """The chat page: `conversation`, or a new one when None; `draft` goes back into the box after a refusal."""
    context = {
        "configured": chat_configured(),
        "conversations": selectors.conversation_list_for_user(user=request.user),
        "conversation": conversation,
        "prediction": selectors.conversation_prediction(conversation=conversation) if conversation else None,
        "chat_messages": list(conversation.messages.prefetch_related("photos")) if conversation else [],
        "models": available_models(),
        "vision_models": settings.CHAT_VISION_MODELS,
        "sees_images": sees_images(conversation.model if conversation else available_models()[0]),
        "max_photos": settings.CHAT_PHOTOS_PER_MESSAGE,
        "max_upload_mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024),
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "error": error,
        "draft": draft,
    }
    return render(request, "chat/chat.html", context, status=status)


def _own_conversation(request, pk):
    conversation = selectors.conversation_get_for_owner(user=request.user, pk=pk)
    if conversation is None:
        raise Http404(gettext("No such conversation."))
    return conversation


def _wants_events(request) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _not_configured() -> services.ChatRefused:
    return services.ChatRefused(gettext("Chat is not configured on this site."), 503)


def _refused(request, conversation, refusal: services.ChatRefused, draft=""):
    """The reason, as JSON for the page's script, or the page again with the text still in the box."""
    if _wants_events(request):
        response = JsonResponse({"error": str(refusal)}, status=refusal.status)
    else:
        response = _chat_page(request, conversation, error=str(refusal), draft=draft, status=refusal.status)
    if refusal.retry_after is not None:
        response["Retry-After"] = str(refusal.retry_after)
    return response


def _accepted(message) -> dict:
    """The first event of a reply: the user's message as HTML, and the conversation it now belongs to, with what
    the page needs to show it as its own page shows it (the model, renaming and deleting)."""
    conversation = message.conversation
    return {
        "user_message": {
            "id": message.pk,
            "html": render_markdown(message.content),
            "photos": render_to_string("chat/_photos.html", {"message": message}),
        },
        "conversation": {
            "id": conversation.pk,
            "title": conversation.title,
            "model": conversation.model,
            "url": conversation.get_absolute_url(),
            "rename_url": reverse("chat_rename", args=[conversation.pk]),
            "delete_url": reverse("chat_delete", args=[conversation.pk]),
            "send_url": reverse("chat_send", args=[conversation.pk]),
            "regenerate_url": reverse("chat_regenerate", args=[conversation.pk]),
        },
    }


def _reply(request, turn, first_event):
    events = services.reply_events(reply=turn.reply, user=request.user)
    if not _wants_events(request):
        for _ in events:  # no JavaScript: write the whole reply, then show the page again
            pass
        return redirect(turn.reply.conversation)
    stream = _server_sent(first_event, events, translation.get_language())
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx must pass each event on as it comes
    return response


def _server_sent(first_event, events, language):
    """The events as text. The server reads this after the view has returned, so the request's language is set
    again here, for the system prompt and the error messages."""
    with translation.override(language):
        try:
            if first_event:
                yield _event("accepted", first_event)
            for kind, data in events:
                yield _event(kind, data)
        finally:
            events.close()  # the browser went away: save the reply as cut short and end the upstream request now


def _event(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"
