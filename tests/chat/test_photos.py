"""Photos in the chat: stored through Predict's upload service, sent upstream as images only to a vision model,
with the classifier's answer always; refusals, limits and privacy."""

import base64
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

from chat.models import Conversation, Message
from chat.services import conversation_create, message_submit, reply_events
from classifier.models import Prediction
from tests.chat.fake_openai import status
from tests.chat.test_chat import EVENTS, events_of
from tests.classifier.factories import make_prediction

pytestmark = pytest.mark.django_db


def phone_photo(size=(2000, 1500)) -> bytes:
    """A large JPEG with a camera's metadata and a location in it."""
    image = Image.new("RGB", size, (30, 120, 200))
    exif = image.getexif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def photo(name="giraffe.jpg", data=None):
    return SimpleUploadedFile(name, data or phone_photo(), content_type="image/jpeg")


def start_with_photo(client, content="What is this?", *photos):
    return client.post("/chat/send/", {"content": content, "photos": list(photos) or [photo()]}, **EVENTS)


def image_parts(request):
    return [
        part
        for message in request["messages"]
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]


def decoded(part) -> Image.Image:
    url = part["image_url"]["url"]
    header, data = url.split(",", 1)
    assert header in ("data:image/jpeg;base64", "data:image/png;base64")
    return Image.open(io.BytesIO(base64.b64decode(data)))


@pytest.fixture
def vision(settings, fake_openai):
    settings.CHAT_VISION_MODELS = ["test-model"]
    return fake_openai


def test_a_photo_for_a_vision_model_goes_upstream_as_a_small_copy_without_metadata(owner_client, user, vision):
    events = events_of(start_with_photo(owner_client))
    assert [kind for kind, _ in events][:2] == ["accepted", "start"] and events[-1][0] == "done"
    prediction = Prediction.objects.get(owner=user)
    assert prediction.original_name == "giraffe.jpg"
    message = Message.objects.get(role="user")
    assert list(message.photos.all()) == [prediction]
    assert f"/predictions/{prediction.pk}" in events[0][1]["user_message"]["photos"]
    [part] = image_parts(vision.requests[0])
    image = decoded(part)
    assert max(image.size) <= 1024 and image.size == (1024, 768)
    assert not image.getexif() and "exif" not in image.info
    text = json.dumps(vision.requests[0]["messages"][-1])
    assert "What is this?" in text and "giraffe.jpg" in text and "classified as" in text


def test_a_model_that_cannot_see_images_gets_the_classifiers_answer_alone_and_the_page_says_so(
    owner_client, user, fake_openai
):
    events = events_of(start_with_photo(owner_client))
    assert events[-1][0] == "done"
    request = fake_openai.requests[0]
    assert image_parts(request) == []
    last = request["messages"][-1]["content"]
    assert isinstance(last, str) and last.startswith("What is this?") and "giraffe.jpg" in last
    conversation = Conversation.objects.get(owner=user)
    page = owner_client.get(conversation.get_absolute_url()).content.decode()
    assert 'id="no-vision" hidden' not in page and "cannot see images" in page
    assert f'href="{Prediction.objects.get().get_absolute_url()}"' in page


def test_the_page_does_not_warn_when_the_model_sees_images(owner_client, vision):
    assert 'id="no-vision" hidden' in owner_client.get("/chat/").content.decode()


def test_a_photo_alone_is_a_message(owner_client, user, vision):
    events = events_of(start_with_photo(owner_client, ""))
    assert events[-1][0] == "done"
    assert Conversation.objects.get(owner=user).title == "giraffe.jpg"
    assert len(image_parts(vision.requests[0])) == 1


def test_a_bad_file_gets_predicts_message_and_nothing_goes_upstream(owner_client, user, vision):
    bad = SimpleUploadedFile("notes.jpg", b"this is not an image", content_type="image/jpeg")
    response = start_with_photo(owner_client, "What is this?", bad)
    assert response.status_code == 400
    assert vision.requests == [] and not Message.objects.exists() and not Conversation.objects.exists()
    predict = owner_client.post("/predict/", {"images": [SimpleUploadedFile("notes.jpg", b"this is not an image")]})
    [on_predict] = predict.context["errors"]
    assert on_predict.startswith("notes.jpg: ") and on_predict in response.json()["error"]


def test_a_photo_over_the_upload_rate_is_refused_as_on_predict(owner_client, settings, vision):
    settings.UPLOADS_PER_HOUR = 1
    events_of(start_with_photo(owner_client))
    response = start_with_photo(owner_client)
    assert response.status_code == 429 and "an hour" in response.json()["error"]
    assert len(vision.requests) == 1


def test_too_many_photos_in_one_message_are_refused(owner_client, settings, vision):
    settings.CHAT_PHOTOS_PER_MESSAGE = 1
    response = start_with_photo(owner_client, "Two", photo("a.jpg"), photo("b.jpg"))
    assert response.status_code == 400 and "at most 1 photo" in response.json()["error"]
    assert not Prediction.objects.exists() and vision.requests == []


def test_messages_with_photos_count_against_the_chat_limit_and_store_nothing_when_over_it(
    owner_client, settings, vision
):
    settings.CHAT_MESSAGES_PER_MINUTE = 1
    events_of(start_with_photo(owner_client))
    response = start_with_photo(owner_client)
    assert response.status_code == 429 and "a minute" in response.json()["error"]
    assert Prediction.objects.count() == 1 and len(vision.requests) == 1


def test_an_upstream_refusal_of_images_is_a_clear_message_and_text_still_works(owner_client, user, settings, vision):
    refusal = status(400, "image input is not supported by this model")
    vision.then(refusal, refusal)  # with the tools offered, and again without them
    events = events_of(start_with_photo(owner_client))
    kind, data = events[-1]
    assert kind == "error" and data["status"] == "failed"
    assert "refused the photo" in data["message"] and "CHAT_VISION_MODELS" in data["message"]
    settings.CHAT_VISION_MODELS = []
    conversation = Conversation.objects.get(owner=user)
    response = owner_client.post(f"/chat/{conversation.pk}/regenerate/", **EVENTS)
    assert events_of(response)[-1][0] == "done"
    assert image_parts(vision.requests[-1]) == []


def test_ask_what_it_is_opens_a_conversation_whose_first_request_holds_the_photo(owner_client, user, vision):
    prediction = make_prediction(user, "giraffe.jpg", phone_photo())
    Prediction.objects.filter(pk=prediction.pk).update(none_of_the_classes=True)
    page = owner_client.get(prediction.get_absolute_url()).content.decode()
    assert "Ask the assistant what it is" in page
    response = owner_client.post(f"/chat/about-prediction/{prediction.pk}/", {"ask": "what"})
    conversation = Conversation.objects.get(owner=user)
    assert response["Location"] == f"{conversation.get_absolute_url()}?ask=what"
    page = owner_client.get(response["Location"]).content.decode()
    assert "What does this photo show?</textarea>" in page
    events_of(owner_client.post(f"/chat/{conversation.pk}/send/", {"content": "What does this photo show?"}, **EVENTS))
    [part] = image_parts(vision.requests[0])
    assert max(decoded(part).size) <= 1024


def test_only_a_none_of_the_ten_prediction_offers_ask_what_it_is(owner_client, user, fake_openai):
    prediction = make_prediction(user)
    Prediction.objects.filter(pk=prediction.pk).update(none_of_the_classes=False)
    page = owner_client.get(prediction.get_absolute_url()).content.decode()
    assert "Ask about this prediction" in page and "Ask the assistant what it is" not in page


def test_another_user_gets_404_for_the_photo_and_the_conversation(owner_client, client, other_user, user, vision):
    events_of(start_with_photo(owner_client))
    conversation = Conversation.objects.get(owner=user)
    prediction = Prediction.objects.get(owner=user)
    client.force_login(other_user)
    for url in (
        prediction.get_absolute_url(),
        f"/predictions/{prediction.pk}/image?size=thumbnail",
        conversation.get_absolute_url(),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/chat/about-prediction/{prediction.pk}/", {"ask": "what"}).status_code == 404
    assert client.post(f"/chat/{conversation.pk}/send/", {"content": "hi"}, **EVENTS).status_code == 404
    assert len(vision.requests) == 1


def test_anothers_photo_never_goes_upstream_in_a_conversation(user, other_user, vision):
    theirs = make_prediction(other_user, "theirs.jpg")
    conversation = conversation_create(owner=user)
    turn = message_submit(conversation=conversation, content="hello")
    turn.question.photos.add(theirs)  # as if it got there by any other way
    list(reply_events(reply=turn.reply, user=user))
    assert image_parts(vision.requests[0]) == [] and "theirs.jpg" not in json.dumps(vision.requests[0])
