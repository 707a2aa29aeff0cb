"""Conversations and messages: every write, and the streaming of replies from the chat server.

A user's message is saved before the chat server is called; the reply is saved as it streams in, and ends
complete, cut short (Stop, a closed page, a broken stream, CHAT_REPLY_MAX_SECONDS) or failed, with the reason shown
to the user. A user has one answer streaming at a time, and CHAT_MESSAGES_PER_MINUTE counts every answer asked for
(a regenerated one too): each holds a server thread and costs a call upstream. Photos sent with a message are
stored by Predict's upload service, as the sender's predictions, before the message is saved; what goes upstream for
each is the classifier's answer, and the photo itself only for a model in CHAT_VISION_MODELS.
"""

import base64
import time
from dataclasses import dataclass
from datetime import timedelta

import openai
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from chat import selectors
from chat.client import UPSTREAM_ERRORS, available_models, describe_failure, get_client, sees_images
from chat.markdown import render_markdown
from chat.models import Conversation, Message
from chat.prompts import prediction_context, system_prompt
from chat.tools import TOOLS, run_tool
from classifier.images import jpeg_copies
from classifier.limits import RateLimited, rate_limit_take, rate_limit_uses
from classifier.services import prediction_create_many, prediction_display_image
from classifier.serving import ClassifierUnavailable
from classifier.storage import StorageUnavailable
from mlcore.preprocessing import ImageError

TITLE_LENGTH = 60
MAX_TOOL_ROUNDS = 3
RENDER_EVERY = 0.25  # seconds between re-rendered Markdown snapshots sent to the page
SAVE_EVERY = 1.0  # seconds between saves of a reply being streamed
STOP_CHECK_EVERY = 0.2  # seconds between looks at the Stop flag


class ChatRefused(Exception):
    """A message the site will not send on; the text is for the user."""

    def __init__(self, message: str, status: int = 400, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ReplyOverran(Exception):
    """An answer still streaming after CHAT_REPLY_MAX_SECONDS."""


class ImagesRefused(Exception):
    """The chat server answered 400 to a request with photos in it: its model takes no images."""


@dataclass(frozen=True)
class Turn:
    """What a send or a regenerate saved: the user's message (None when an answer is asked for again) and the
    answer to it, streaming until reply_events ends it."""

    question: Message | None
    reply: Message


def conversation_create(*, owner, model: str | None = None, prediction=None) -> Conversation:
    models = available_models()
    conversation = Conversation(
        owner=owner, model=model if model in models else models[0], title=gettext("New conversation")
    )
    if prediction is not None:
        conversation.prediction = prediction
        conversation.context = prediction_context(prediction)
        conversation.title = (gettext("About %(name)s") % {"name": prediction.original_name})[:200]
        conversation.keeps_title = True
    conversation.save()
    return conversation


def conversation_start(*, owner, content: str, model: str | None = None, photos=(), oversize_names=()) -> Turn:
    """A new conversation with its first message and the answer begun, or nothing when the message is refused."""
    text = _checked_message(content, photos=len(photos) + len(oversize_names))
    stored = _photos_store(owner, photos, oversize_names)
    with transaction.atomic():
        _claim_turn(owner)
        conversation = conversation_create(owner=owner, model=model)
        return Turn(_message_save(conversation, text, stored), _reply_begin(conversation))


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    title = " ".join(title.split())[:200]
    if not title:
        raise ChatRefused(gettext("A conversation needs a title."))
    conversation.title = title
    conversation.keeps_title = True
    conversation.save(update_fields=["title", "keeps_title"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def message_submit(*, conversation: Conversation, content: str, photos=(), oversize_names=()) -> Turn:
    """Check and save the user's message and its photos (before anything is sent upstream) and begin its answer;
    the first message names a chat without a title of its own. ChatRefused, with no message saved, when it cannot be
    sent."""
    text = _checked_message(content, photos=len(photos) + len(oversize_names))
    stored = _photos_store(conversation.owner, photos, oversize_names)
    with transaction.atomic():
        _claim_turn(conversation.owner)
        return Turn(_message_save(conversation, text, stored), _reply_begin(conversation))


def _photos_store(owner, photos, oversize_names) -> list:
    """Each photo classified and stored as `owner`'s prediction by the upload service Predict uses (its checks and
    limits); ChatRefused, with Predict's reasons, when any is refused. The chat's own limits are looked at first, so
    that a message that would be refused stores no photos."""
    if not photos and not oversize_names:
        return []
    _turn_refusal_check(owner)
    try:
        result = prediction_create_many(owner=owner, files=photos, oversize_names=oversize_names)
    except ClassifierUnavailable:
        raise ChatRefused(gettext("The classifier is unavailable right now, so photos cannot be sent."), 503) from None
    if result.rejections:
        reasons = " ".join(rejection.message for rejection in result.rejections)
        kept = gettext(" The photos that were accepted are in your History.") if result.predictions else ""
        raise ChatRefused(
            gettext("Nothing was sent: %(reasons)s") % {"reasons": reasons} + kept,
            result.status if result.status != 201 else 400,
            result.retry_after,
        )
    return result.predictions


def _turn_refusal_check(owner) -> None:
    """ChatRefused (429) when `owner` could not send a message now, counting nothing."""
    used = rate_limit_uses(scope="chat", key=f"user:{owner.pk}", window=timedelta(minutes=1))
    if 0 < settings.CHAT_MESSAGES_PER_MINUTE <= used:
        raise ChatRefused(_too_many_messages(), 429, 60)
    if _streaming_replies(owner).exists():
        raise ChatRefused(_still_streaming(), 429, 5)


def reply_regenerate(*, conversation: Conversation) -> Turn:
    """Remove the answer to the last user message and begin a new one (Regenerate, Retry): counted as a message."""
    with transaction.atomic():
        _claim_turn(conversation.owner)
        last_user = conversation.messages.filter(role=Message.Role.USER).last()
        if last_user is None:
            raise ChatRefused(gettext("There is no message to answer yet."))
        conversation.messages.filter(role=Message.Role.ASSISTANT, created_at__gte=last_user.created_at).delete()
        return Turn(None, _reply_begin(conversation))


def _claim_turn(owner) -> None:
    """Count one answer against CHAT_MESSAGES_PER_MINUTE and make sure none of `owner`'s is streaming, or raise
    ChatRefused (429). Call it inside the transaction that saves the turn: the count's row stays locked until then,
    so parallel sends are counted one after the other and cannot start two answers."""
    try:
        rate_limit_take(
            scope="chat", key=f"user:{owner.pk}", limit=settings.CHAT_MESSAGES_PER_MINUTE, window=timedelta(minutes=1)
        )
    except RateLimited as refusal:
        raise ChatRefused(_too_many_messages(), 429, refusal.retry_after) from None
    if _streaming_replies(owner).exists():
        raise ChatRefused(_still_streaming(), 429, 5)


def _still_streaming() -> str:
    return gettext(
        "An answer is still being written for you (in this or another window). Wait for it or stop it, then send "
        "again; your text is still in the box."
    )


def _streaming_replies(owner):
    """`owner`'s answers still being written. One older than CHAT_REPLY_MAX_SECONDS (and a last wait for the chat
    server) cannot be: its stream would have ended it, so its server process died, and it no longer counts."""
    alive_for = timedelta(seconds=settings.CHAT_REPLY_MAX_SECONDS + settings.OPENAI_TIMEOUT)
    return Message.objects.filter(
        conversation__owner=owner, status=Message.Status.STREAMING, created_at__gte=timezone.now() - alive_for
    )


def _reply_begin(conversation: Conversation) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=conversation.model,
    )


def _checked_message(content: str, *, photos: int = 0) -> str:
    """The message's text (empty only beside a photo), or ChatRefused saying why it cannot be sent (empty, too
    long, too many photos)."""
    text = content.strip()
    if not text and not photos:
        raise ChatRefused(gettext("Write a message first."))
    if photos > settings.CHAT_PHOTOS_PER_MESSAGE:
        raise ChatRefused(
            ngettext(
                "A message can carry at most %(limit)d photo; this one has %(count)d.",
                "A message can carry at most %(limit)d photos; this one has %(count)d.",
                settings.CHAT_PHOTOS_PER_MESSAGE,
            )
            % {"limit": settings.CHAT_PHOTOS_PER_MESSAGE, "count": photos}
        )
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatRefused(
            ngettext(
                "A message can be at most %(limit)d character; this one has %(length)d.",
                "A message can be at most %(limit)d characters; this one has %(length)d.",
                settings.CHAT_MAX_MESSAGE_CHARS,
            )
            % {"limit": settings.CHAT_MAX_MESSAGE_CHARS, "length": len(text)}
        )
    return text


def _too_many_messages() -> str:
    return ngettext(
        "You can send %(limit)d message a minute. Wait a moment, then send again; your text is still in the box.",
        "You can send %(limit)d messages a minute. Wait a moment, then send again; your text is still in the box.",
        settings.CHAT_MESSAGES_PER_MINUTE,
    ) % {"limit": settings.CHAT_MESSAGES_PER_MINUTE}


def _message_save(conversation: Conversation, text: str, photos=()) -> Message:
    first = not conversation.messages.filter(role=Message.Role.USER).exists()
    message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=text)
    # Only the owner's own photos ever join their conversation: what goes upstream is read from these.
    message.photos.set([photo for photo in photos if photo.owner_id == conversation.owner_id])
    if first and not conversation.keeps_title:
        conversation.title = title_from(text or ", ".join(photo.original_name for photo in photos))
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["title", "updated_at"])
    return message


def title_from(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= TITLE_LENGTH else words[: TITLE_LENGTH - 1].rstrip() + "…"


def message_stop(*, message: Message) -> None:
    """Ask the stream writing `message` to end; it saves what it has and closes the upstream request."""
    Message.objects.filter(pk=message.pk, status=Message.Status.STREAMING).update(stop_requested=True)


def upstream_messages(conversation: Conversation) -> list[dict]:
    """The system prompt, the photo the conversation is about, and the last CHAT_CONTEXT_MESSAGES messages: what
    one call upstream costs stays bounded however long the conversation grows. Each photo goes with the classifier's
    answer for it, and itself only to a model in CHAT_VISION_MODELS."""
    history = (
        conversation.messages.exclude(status__in=[Message.Status.FAILED, Message.Status.STREAMING])
        .exclude(content="", photos=None)
        .prefetch_related("photos")
    )
    recent = list(history.order_by("-created_at", "-id")[: settings.CHAT_CONTEXT_MESSAGES])[::-1]
    vision = sees_images(conversation.model)
    about = selectors.conversation_prediction(conversation=conversation)
    opening = []
    if about is not None and vision:  # its facts are in the system prompt already
        opening = [
            {"role": "user", "content": [_text_part(gettext("The photo we are talking about:")), *_image_part(about)]}
        ]
    return [
        {"role": "system", "content": system_prompt(conversation.context)},
        *opening,
        *({"role": message.role, "content": _upstream_content(message, conversation, vision)} for message in recent),
    ]


def _upstream_content(message: Message, conversation: Conversation, vision: bool):
    """The message's text; with photos, the classifier's answer for each, and each photo itself for a vision
    model (as content parts)."""
    photos = [photo for photo in message.photos.all() if photo.owner_id == conversation.owner_id]
    if not photos:
        return message.content
    facts = [
        gettext("Photo %(number)d. %(facts)s") % {"number": number, "facts": prediction_context(photo)}
        for number, photo in enumerate(photos, start=1)
    ]
    if not vision:
        return "\n\n".join([message.content, *facts]).strip()
    parts = [_text_part(message.content)] if message.content else []
    for text, photo in zip(facts, photos, strict=True):
        parts += [_text_part(text), *_image_part(photo)]
    return parts


def _text_part(text: str) -> dict:
    return {"type": "text", "text": text}


def _image_part(prediction) -> list[dict]:
    """The photo as an image part: a data URL of a JPEG at most CHAT_IMAGE_SIZE on its longer side, upright and
    without metadata; nothing when its file cannot be read (the classifier's answer still goes)."""
    try:
        data, _ = prediction_display_image(prediction=prediction)
        if data is None:
            return []
        copy = jpeg_copies(data, settings.CHAT_IMAGE_SIZE)[0]
    except (StorageUnavailable, ImageError):
        return []
    url = "data:image/jpeg;base64," + base64.b64encode(copy).decode("ascii")
    return [{"type": "image_url", "image_url": {"url": url}}]


def reply_events(*, reply: Message, user):
    """Ask the chat server for `reply` (a Turn's, begun by message_submit, conversation_start or reply_regenerate);
    yield (event, data) pairs while it streams in.

    Events: start {message_id}; delta {text[, html]}; tool {name}; done {message_id, status, html, usage};
    error {message, retry_after, message_id, status, html}. Closing the generator (the page went away) saves
    the reply as cut short and ends the upstream request.
    """
    conversation = reply.conversation
    writer = ReplyWriter(reply)
    yield "start", {"message_id": reply.pk}
    try:
        yield from _stream(conversation, user, writer)
    except GeneratorExit:
        writer.finish(Message.Status.INCOMPLETE)
        raise
    except ReplyOverran:
        message = _overran()
        writer.finish(Message.Status.INCOMPLETE if writer.text else Message.Status.FAILED, error=message)
        yield "error", {"message": message, "retry_after": None, **writer.summary()}
    except ImagesRefused:
        message = _images_refused(conversation.model)
        writer.finish(Message.Status.FAILED, error=message)
        yield "error", {"message": message, "retry_after": None, **writer.summary()}
    except UPSTREAM_ERRORS as error:
        failure = describe_failure(error, streamed_anything=bool(writer.text))
        writer.finish(Message.Status.INCOMPLETE if writer.text else Message.Status.FAILED, error=str(failure))
        yield "error", {"message": str(failure), "retry_after": failure.retry_after, **writer.summary()}
    except BaseException:
        writer.finish(Message.Status.FAILED, error=gettext("The site failed while writing this answer."))
        raise
    else:
        yield "done", writer.summary()
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())


def _stream(conversation, user, writer):
    messages = upstream_messages(conversation)
    tools = TOOLS if settings.CHAT_TOOLS else None
    for _ in range(MAX_TOOL_ROUNDS + 1):
        try:
            stream = _open(conversation.model, messages, tools)
        except openai.BadRequestError:
            if not tools:
                _raise_if_images(messages)
                raise
            tools = None  # a server without tool calling: ask again without tools
            try:
                stream = _open(conversation.model, messages, tools)
            except openai.BadRequestError:
                _raise_if_images(messages)
                raise
        calls = {}
        round_text = len(writer.text)
        with stream:
            for chunk in stream:
                writer.count_usage(getattr(chunk, "usage", None))
                for choice in chunk.choices:
                    if choice.delta.content:
                        writer.add(choice.delta.content)
                        yield "delta", {"text": choice.delta.content, **writer.snapshot_if_due()}
                    for call in choice.delta.tool_calls or []:
                        _collect_tool_call(calls, call)
                if writer.stop_requested():
                    writer.finish(Message.Status.INCOMPLETE)
                    return
                if writer.overran():
                    raise ReplyOverran()
        if not calls or tools is None:
            writer.finish(Message.Status.COMPLETE)
            return
        messages.append(_assistant_tool_message(writer.text[round_text:], calls))
        for call in calls.values():
            yield "tool", {"name": call["name"]}
            writer.reply.tool_calls.append({"name": call["name"], "arguments": call["arguments"]})
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": run_tool(call["name"], call["arguments"], user=user),
                }
            )
    writer.finish(Message.Status.COMPLETE)


def _raise_if_images(messages) -> None:
    """ImagesRefused when a refused request carried a photo: the likeliest reason, and one the user can act on."""
    for message in messages:
        if isinstance(message["content"], list) and any(part["type"] == "image_url" for part in message["content"]):
            raise ImagesRefused()


def _images_refused(model: str) -> str:
    return gettext(
        "The model %(model)s refused the photo (400): it seems not to take images. Start a new conversation with "
        "another model, or ask an administrator to take it off CHAT_VISION_MODELS; without it, the assistant gets "
        "the classifier's answer for each photo."
    ) % {"model": model}


def _overran() -> str:
    return gettext("The answer took longer than %(seconds)d seconds and was cut short here.") % {
        "seconds": settings.CHAT_REPLY_MAX_SECONDS
    }


def _open(model, messages, tools):
    options = {"tools": tools} if tools else {}
    return get_client().chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **options
    )


def _collect_tool_call(calls: dict, delta) -> None:
    call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
    call["id"] = delta.id or call["id"]
    if delta.function is not None:
        call["name"] += delta.function.name or ""
        call["arguments"] += delta.function.arguments or ""


def _assistant_tool_message(text: str, calls: dict) -> dict:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
            for call in calls.values()
        ],
    }


class ReplyWriter:
    """Keeps a streaming reply's text, saves it now and then, and notices when Stop was pressed."""

    def __init__(self, reply: Message):
        self.reply = reply
        self.parts: list[str] = []
        self.text = ""
        now = time.monotonic()
        self._rendered_at = self._saved_at = self._stop_checked_at = self._started_at = now
        self._finished = False

    def overran(self) -> bool:
        return time.monotonic() - self._started_at > settings.CHAT_REPLY_MAX_SECONDS

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.text += text
        if time.monotonic() - self._saved_at >= SAVE_EVERY:
            self.reply.content = self.text
            self.reply.save(update_fields=["content"])
            self._saved_at = time.monotonic()

    def snapshot_if_due(self) -> dict:
        if time.monotonic() - self._rendered_at < RENDER_EVERY:
            return {}
        self._rendered_at = time.monotonic()
        return {"html": render_markdown(self.text)}

    def count_usage(self, usage) -> None:
        if usage is None:
            return
        self.reply.prompt_tokens = (self.reply.prompt_tokens or 0) + (usage.prompt_tokens or 0)
        self.reply.completion_tokens = (self.reply.completion_tokens or 0) + (usage.completion_tokens or 0)

    def stop_requested(self) -> bool:
        if time.monotonic() - self._stop_checked_at < STOP_CHECK_EVERY:
            return False
        self._stop_checked_at = time.monotonic()
        return Message.objects.filter(pk=self.reply.pk, stop_requested=True).exists()

    def finish(self, status: str, error: str = "") -> None:
        if self._finished:
            return
        self._finished = True
        self.reply.content = self.text
        self.reply.status = status
        self.reply.error = error
        self.reply.save()

    def summary(self) -> dict:
        return {
            "message_id": self.reply.pk,
            "status": self.reply.status,
            "html": render_markdown(self.text),
            "usage": {"prompt_tokens": self.reply.prompt_tokens, "completion_tokens": self.reply.completion_tokens},
        }
