"""The chat against a real OpenAI-compatible HTTP server: streaming, tools, failures, limits and privacy."""

import json
import time

import pytest

from chat.models import Conversation, Message
from chat.services import conversation_create, message_submit, reply_events
from classifier.models import Prediction
from tests.chat.fake_openai import cut, hang, refuse_tools_then, status, stream, tool_call
from tests.classifier.factories import make_prediction
from tests.ports import free_port

pytestmark = pytest.mark.django_db

EVENTS = {"HTTP_ACCEPT": "text/event-stream"}


@pytest.fixture
def conversation(user, fake_openai):
    return conversation_create(owner=user)


def events_of(response):
    """The (event, data) pairs of a server-sent event stream."""
    assert response["Content-Type"] == "text/event-stream"
    assert response["X-Accel-Buffering"] == "no"
    text = b"".join(response.streaming_content).decode()
    pairs = []
    for block in filter(None, text.split("\n\n")):
        kind, data = block.split("\n")
        pairs.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return pairs


def send(client, conversation, content):
    return client.post(f"/chat/{conversation.pk}/send/", {"content": content}, **EVENTS)


def test_without_key_or_base_url_chat_says_how_to_configure_it(owner_client, settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    page = owner_client.get("/chat/").content.decode()
    assert "Chat is not configured" in page and "OPENAI_API_KEY" in page and "OPENAI_BASE_URL" in page
    assert owner_client.get("/").status_code == 200
    assert owner_client.get("/predict/").status_code == 200


def test_chat_needs_a_signed_in_user(client):
    assert client.get("/chat/")["Location"].startswith("/accounts/login/")


def test_a_message_streams_an_answer_that_is_stored(owner_client, conversation, fake_openai):
    fake_openai.then(stream("Hello", ", ", "world", "!"))
    events = events_of(send(owner_client, conversation, "Say hello"))
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["accepted", "start"] and kinds[-1] == "done"
    assert "".join(data["text"] for kind, data in events if kind == "delta") == "Hello, world!"
    done = events[-1][1]
    assert done["status"] == "complete" and done["html"] == "<p>Hello, world!</p>\n"
    assert done["usage"] == {"prompt_tokens": 12, "completion_tokens": 5}
    user_message, answer = conversation.messages.all()
    assert (user_message.role, user_message.content) == ("user", "Say hello")
    assert (answer.role, answer.content, answer.status) == ("assistant", "Hello, world!", "complete")
    assert (answer.prompt_tokens, answer.completion_tokens) == (12, 5)
    conversation.refresh_from_db()
    assert conversation.title == "Say hello"
    request = fake_openai.requests[0]
    assert request["model"] == "test-model" and request["stream"] is True
    assert request["messages"][0]["role"] == "system" and "CIFAR-10" in request["messages"][0]["content"]
    assert request["messages"][-1] == {"role": "user", "content": "Say hello"}


def test_the_whole_history_goes_upstream_and_the_title_stays_the_first_messages(
    owner_client, conversation, fake_openai
):
    events_of(send(owner_client, conversation, "First question about cats"))
    events_of(send(owner_client, conversation, "And dogs?"))
    roles = [message["role"] for message in fake_openai.requests[-1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    conversation.refresh_from_db()
    assert conversation.title == "First question about cats"


def test_answers_are_rendered_as_safe_markdown(owner_client, conversation, fake_openai):
    fake_openai.then(stream("**bold** <script>alert(1)</script>\n\n```python\nprint(1)\n```\n[x](javascript:alert(1))"))
    events_of(send(owner_client, conversation, "<img src=x onerror=alert(1)>"))
    page = owner_client.get(f"/chat/{conversation.pk}/").content.decode()
    assert "<strong>bold</strong>" in page
    assert '<pre><code class="language-python">print(1)' in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="javascript:' not in page


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (status(401, "Incorrect API key provided"), "refused the API key (401)"),
        (status(429, "Rate limit reached", {"Retry-After": "7"}), "Try again in 7 seconds"),
        (status(500, "boom"), "internal error (500)"),
        (status(503, "overloaded"), "internal error (503)"),
        (hang(5), "did not answer within 2 seconds"),
    ],
)
def test_upstream_failures_are_shown_and_the_users_message_is_kept(
    owner_client, conversation, fake_openai, behaviour, expected
):
    fake_openai.then(behaviour)
    events = events_of(send(owner_client, conversation, "Are you there?"))
    kind, data = events[-1]
    assert kind == "error" and expected in data["message"]
    assert data["status"] == "failed"
    user_message, answer = conversation.messages.all()
    assert user_message.content == "Are you there?"
    assert answer.status == "failed" and expected in answer.error
    assert expected in owner_client.get(f"/chat/{conversation.pk}/").content.decode()


def test_429_tells_when_to_retry(owner_client, conversation, fake_openai):
    fake_openai.then(status(429, "slow down", {"Retry-After": "7"}))
    assert events_of(send(owner_client, conversation, "hi"))[-1][1]["retry_after"] == 7


def test_a_stream_cut_midway_keeps_the_partial_answer_marked_incomplete(owner_client, conversation, fake_openai):
    fake_openai.then(cut("The first ", "half of "))
    kind, data = events_of(send(owner_client, conversation, "Tell me a story"))[-1]
    assert kind == "error" and "cut off" in data["message"]
    answer = conversation.messages.last()
    assert answer.content == "The first half of " and answer.status == "incomplete"


def test_an_unreachable_server_is_reported(owner_client, conversation, settings):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"  # nobody listens there
    kind, data = events_of(send(owner_client, conversation, "hello?"))[-1]
    assert kind == "error" and "cannot be reached" in data["message"]
    assert conversation.messages.first().content == "hello?"


def test_retry_after_a_failure_answers_the_same_message(owner_client, conversation, fake_openai):
    fake_openai.then(status(500), stream("Now it works"))
    events_of(send(owner_client, conversation, "Please answer"))
    events = events_of(owner_client.post(f"/chat/{conversation.pk}/regenerate/", **EVENTS))
    assert events[-1][0] == "done"
    assert [(m.role, m.content, m.status) for m in conversation.messages.all()] == [
        ("user", "Please answer", "complete"),
        ("assistant", "Now it works", "complete"),
    ]
    assert fake_openai.requests[1]["messages"][-1] == {"role": "user", "content": "Please answer"}


def test_regenerate_replaces_the_last_answer(owner_client, conversation, fake_openai):
    fake_openai.then(stream("First answer"), stream("Second answer"))
    events_of(send(owner_client, conversation, "Question"))
    events_of(owner_client.post(f"/chat/{conversation.pk}/regenerate/", **EVENTS))
    assert [m.content for m in conversation.messages.all()] == ["Question", "Second answer"]


def test_stop_ends_the_answer_and_the_upstream_request(owner_client, conversation, fake_openai):
    fake_openai.then(stream(*[f"word{index} " for index in range(200)], delay=0.02))
    response = send(owner_client, conversation, "Write a long essay")
    stream_iter = iter(response.streaming_content)
    seen = ""
    while "word5 " not in seen:
        seen += next(stream_iter).decode()
    answer = conversation.messages.get(role="assistant")
    assert owner_client.post(f"/chat/messages/{answer.pk}/stop/").status_code == 204
    rest = b"".join(stream_iter).decode()
    assert '"status": "incomplete"' in rest
    answer.refresh_from_db()
    assert answer.status == "incomplete"
    assert answer.content.startswith("word0 word1 ") and "word199" not in answer.content
    for _ in range(50):
        if fake_openai.disconnected:
            break
        time.sleep(0.05)
    assert fake_openai.disconnected == 1


def test_closing_the_page_mid_answer_saves_it_as_cut_short(user, conversation, fake_openai):
    fake_openai.then(stream(*[f"w{index} " for index in range(100)], delay=0.01))
    turn = message_submit(conversation=conversation, content="Long one")
    events = reply_events(reply=turn.reply, user=user)
    for _ in range(5):
        next(events)
    events.close()  # what the chat view does when the WSGI server closes a response whose browser went away
    answer = conversation.messages.get(role="assistant")
    assert answer.status == "incomplete" and answer.content.startswith("w0 ")


def test_long_messages_are_refused_and_nothing_is_sent(owner_client, conversation, fake_openai, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 20
    response = send(owner_client, conversation, "x" * 21)
    assert response.status_code == 400
    assert "at most 20 characters" in response.json()["error"]
    assert not conversation.messages.exists() and not fake_openai.requests


def test_messages_per_minute_are_limited_with_a_clear_message(owner_client, conversation, fake_openai, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    for text in ("one", "two"):
        events_of(send(owner_client, conversation, text))
    response = send(owner_client, conversation, "three")
    assert response.status_code == 429
    assert "2 messages a minute" in response.json()["error"] and "still in the box" in response.json()["error"]
    assert conversation.messages.filter(role="user").count() == 2


def test_the_model_can_list_the_users_own_predictions_and_never_anyone_elses(
    owner_client, conversation, fake_openai, user, other_user
):
    mine = make_prediction(user, "my-own-photo.jpg")
    make_prediction(other_user, "someone-elses.jpg")
    fake_openai.then(tool_call("list_my_predictions", '{"limit": 5}'), stream("You have one prediction."))
    events = events_of(send(owner_client, conversation, "What have I uploaded?"))
    assert ("tool", {"name": "list_my_predictions"}) in events
    assert events[-1][1]["status"] == "complete"
    assert fake_openai.requests[0]["tools"][0]["function"]["name"] == "list_my_predictions"
    tool_message = fake_openai.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1"
    listed = json.loads(tool_message["content"])["predictions"]
    assert [item["file"] for item in listed] == ["my-own-photo.jpg"] and listed[0]["id"] == mine.pk
    answer = conversation.messages.last()
    assert answer.content == "You have one prediction."
    assert answer.tool_calls == [{"name": "list_my_predictions", "arguments": '{"limit": 5}'}]


def test_a_server_without_tool_calling_still_answers(owner_client, conversation, fake_openai):
    fake_openai.then(refuse_tools_then(stream("Plain answer")))
    assert events_of(send(owner_client, conversation, "hi"))[-1][1]["html"] == "<p>Plain answer</p>\n"
    assert "tools" not in fake_openai.requests[-1]


def test_a_prediction_does_not_offer_the_chat_when_the_chat_is_not_configured(owner_client, user, settings):
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "", ""
    prediction = make_prediction(user, "garden.jpg")
    assert "Ask about this prediction" not in owner_client.get(prediction.get_absolute_url()).content.decode()


def test_ask_about_this_prediction_carries_its_facts_but_not_the_image(owner_client, user, fake_openai):
    prediction = make_prediction(user, "garden.jpg")
    page = owner_client.get(prediction.get_absolute_url()).content.decode()
    assert "Ask about this prediction" in page
    response = owner_client.post(f"/chat/about-prediction/{prediction.pk}/")
    conversation = Conversation.objects.get(owner=user)
    assert response["Location"] == conversation.get_absolute_url()
    assert conversation.prediction == prediction
    events_of(send(owner_client, conversation, "Why this answer?"))
    system = fake_openai.requests[0]["messages"][0]["content"]
    assert "garden.jpg" in system and prediction.label in system and prediction.model_version in system
    assert f"{prediction.confidence:.1%}" in system
    assert "base64" not in json.dumps(fake_openai.requests[0])


def test_a_conversation_about_a_prediction_keeps_its_title_and_links_back_to_it(owner_client, user, fake_openai):
    prediction = make_prediction(user, "garden.jpg")
    conversation_url = owner_client.post(f"/chat/about-prediction/{prediction.pk}/")["Location"]
    conversation = Conversation.objects.get(owner=user)
    events_of(send(owner_client, conversation, "Why did it say this?"))
    conversation.refresh_from_db()
    assert conversation.title == "About garden.jpg"
    page = owner_client.get(conversation_url).content.decode()
    assert "<h1>About garden.jpg</h1>" in page
    assert f'<a href="{prediction.get_absolute_url()}">Back to the prediction for garden.jpg</a>' in page


def test_a_conversation_whose_prediction_was_deleted_shows_without_the_link(owner_client, user, fake_openai):
    prediction = make_prediction(user, "garden.jpg")
    conversation_url = owner_client.post(f"/chat/about-prediction/{prediction.pk}/")["Location"]
    events_of(send(owner_client, Conversation.objects.get(owner=user), "Why did it say this?"))
    owner_client.post(f"/predictions/{prediction.pk}/delete/")
    assert not Prediction.objects.exists()
    response = owner_client.get(conversation_url)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Why did it say this?" in page and "<h1>About garden.jpg</h1>" in page
    assert "Back to the prediction" not in page and f"/predictions/{prediction.pk}/" not in page


def test_another_users_conversation_is_404_everywhere(client, other_user, conversation, user):
    message = Message.objects.create(conversation=conversation, role="user", content="private")
    client.force_login(other_user)
    assert client.get(f"/chat/{conversation.pk}/").status_code == 404
    for path in ("send/", "regenerate/", "rename/", "delete/"):
        assert client.post(f"/chat/{conversation.pk}/{path}", {"content": "x", "title": "x"}).status_code == 404
    assert client.post(f"/chat/messages/{message.pk}/stop/").status_code == 404
    assert "private" not in client.get("/chat/").content.decode()
    prediction = make_prediction(user)
    assert client.post(f"/chat/about-prediction/{prediction.pk}/").status_code == 404
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_conversations_are_listed_newest_first_renamed_and_deleted(owner_client, user, fake_openai):
    older = conversation_create(owner=user)
    newer = conversation_create(owner=user)
    events_of(send(owner_client, older, "older one"))  # a message makes it the most recent
    page = owner_client.get("/chat/").content.decode()
    listed = page[page.index('id="conversation-list"') :]
    assert listed.index("older one") < listed.index("New conversation</a>")
    owner_client.post(f"/chat/{newer.pk}/rename/", {"title": "  My   notes "})
    newer.refresh_from_db()
    assert newer.title == "My notes"
    events_of(send(owner_client, newer, "a first message does not rename a renamed chat"))
    newer.refresh_from_db()
    assert newer.title == "My notes"
    owner_client.post(f"/chat/{older.pk}/delete/")
    assert list(Conversation.objects.filter(owner=user)) == [newer]


def test_without_javascript_the_form_still_sends_and_shows_the_answer(owner_client, conversation, fake_openai):
    fake_openai.then(stream("Answer without script"))
    response = owner_client.post(f"/chat/{conversation.pk}/send/", {"content": "hello"}, follow=True)
    assert "Answer without script" in response.content.decode()


def test_the_chat_page_has_a_message_box_and_send_button(owner_client, conversation):
    page = owner_client.get(f"/chat/{conversation.pk}/").content.decode()
    assert '<label for="id_content">Message</label>' in page
    assert '<button type="submit" id="send">Send</button>' in page


def test_staff_read_conversations_with_message_counts_and_token_usage(client, staff_user, conversation, owner_client):
    events_of(send(owner_client, conversation, "count me"))
    client.force_login(staff_user)
    page = client.get("/admin/chat/conversation/").content.decode()
    assert "count me" in page
    assert "12 + 5" in page
    assert client.get(f"/admin/chat/conversation/{conversation.pk}/change/").status_code == 200


def test_chat_opens_ready_to_type_and_the_first_message_creates_the_conversation(owner_client, user, fake_openai):
    page = owner_client.get("/chat/").content.decode()
    assert '<form method="post" action="/chat/send/" id="chat-form"' in page and "autofocus" in page
    assert not Conversation.objects.exists()

    fake_openai.then(stream("Hi there"))
    events = events_of(owner_client.post("/chat/send/", {"content": "Hello from the start"}, **EVENTS))
    conversation = Conversation.objects.get(owner=user)
    accepted = events[0][1]
    assert events[0][0] == "accepted" and events[-1][0] == "done"
    assert accepted["conversation"] == {
        "id": conversation.pk,
        "title": "Hello from the start",
        "model": "test-model",
        "url": f"/chat/{conversation.pk}/",
        "rename_url": f"/chat/{conversation.pk}/rename/",
        "delete_url": f"/chat/{conversation.pk}/delete/",
        "send_url": f"/chat/{conversation.pk}/send/",
        "regenerate_url": f"/chat/{conversation.pk}/regenerate/",
    }
    assert [(m.role, m.content) for m in conversation.messages.all()] == [
        ("user", "Hello from the start"),
        ("assistant", "Hi there"),
    ]


def test_without_javascript_the_first_message_creates_the_conversation_and_shows_it(owner_client, fake_openai):
    fake_openai.then(stream("Answered"))
    response = owner_client.post("/chat/send/", {"content": "no script here"})
    conversation = Conversation.objects.get()
    assert response.status_code == 302 and response["Location"] == conversation.get_absolute_url()
    assert "Answered" in owner_client.get(response["Location"]).content.decode()


def test_a_refused_first_message_creates_nothing_and_stays_in_the_box(owner_client, settings, fake_openai):
    settings.CHAT_MAX_MESSAGE_CHARS = 10
    refused = owner_client.post("/chat/send/", {"content": "far too long for the limit"}, **EVENTS)
    assert refused.status_code == 400 and "at most 10 characters" in refused.json()["error"]
    without_script = owner_client.post("/chat/send/", {"content": "far too long for the limit"})
    page = without_script.content.decode()
    assert without_script.status_code == 400 and "at most 10 characters; this one has 26." in page
    assert ">far too long for the limit</textarea>" in page
    assert not Conversation.objects.exists() and fake_openai.requests == []


def test_a_refused_message_without_javascript_keeps_the_text(owner_client, conversation, settings, fake_openai):
    settings.CHAT_MESSAGES_PER_MINUTE = 1
    owner_client.post(f"/chat/{conversation.pk}/send/", {"content": "the one a minute"})
    response = owner_client.post(f"/chat/{conversation.pk}/send/", {"content": "keep me"})
    assert response.status_code == 429
    assert ">keep me</textarea>" in response.content.decode() and "your text is still in the box" in (
        response.content.decode()
    )


def test_a_ukrainian_user_gets_a_ukrainian_system_prompt_and_errors(owner_client, fake_openai):
    fake_openai.then(status(500, "boom"))
    events = events_of(owner_client.post("/chat/send/", {"content": "Привіт"}, HTTP_ACCEPT_LANGUAGE="uk", **EVENTS))
    system = fake_openai.requests[0]["messages"][0]["content"]
    assert "Відповідай українською" in system and "кіт (cat)" in system
    assert events[-1][0] == "error" and "внутрішня помилка (500)" in events[-1][1]["message"]
