"""The chat in a real browser, against a real OpenAI-compatible server on 127.0.0.1."""

import re

from playwright.sync_api import expect

from chat.models import Conversation, Message
from classifier.models import Prediction
from tests.browser.test_end_to_end import give_files, log_in
from tests.chat.fake_openai import stream
from tests.chat.test_photos import decoded, image_parts, phone_photo
from tests.classifier.factories import make_prediction


def open_chat(page, user) -> None:
    """Logged in on the chat page with its script running: an Enter pressed before the script is there only adds a
    line to the box (seen once on a loaded machine)."""
    log_in(page, "/accounts/login/?next=/chat/", user.username)
    page.wait_for_url(re.compile(r"/chat/$"))
    page.wait_for_load_state("load")


def test_a_streamed_answer_stop_and_a_reload_that_keeps_everything(page, user, fake_openai):
    open_chat(page, user)
    fake_openai.then(
        stream("Cats", " are", " **small**", " felines."),
        stream(*[f"word{index} " for index in range(400)], delay=0.03),
    )

    page.get_by_label("Message").fill("Tell me about cats")
    page.get_by_label("Message").press("Enter")
    answers = page.locator(".message.assistant")
    expect(answers.first).to_contain_text("Cats are small felines.")
    expect(answers.first.locator("strong")).to_have_text("small")
    expect(page.get_by_label("Message")).to_have_value("")

    page.get_by_label("Message").fill("Now write a very long essay")
    page.get_by_role("button", name="Send").click()
    expect(answers.nth(1)).to_contain_text("word3")
    page.get_by_role("button", name="Stop").click()
    expect(answers.nth(1).locator(".note")).to_contain_text("Cut short")
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()

    page.reload()
    expect(page.get_by_role("heading", name="Tell me about cats")).to_be_visible()
    expect(page.locator(".message.user")).to_have_text([re.compile("Tell me about cats"), re.compile("long essay")])
    expect(answers.nth(0)).to_contain_text("Cats are small felines.")
    expect(answers.nth(1)).to_contain_text("word0 word1")
    expect(answers.nth(1).locator(".note")).to_have_text("Cut short")
    stopped = Message.objects.filter(role="assistant").last()
    assert stopped.status == "incomplete" and "word399" not in stopped.content


def test_shift_enter_starts_a_new_line_instead_of_sending(page, user, fake_openai):
    open_chat(page, user)
    box = page.get_by_label("Message")
    box.fill("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("first line\nsecond line")
    assert fake_openai.requests == []


def test_a_failure_is_shown_in_the_conversation_with_a_way_to_retry(page, user, fake_openai):
    from tests.chat.fake_openai import status

    open_chat(page, user)
    fake_openai.then(status(500, "boom"), stream("Second time lucky"))
    page.get_by_label("Message").fill("Hello?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.assistant .note")).to_contain_text("internal error (500)")
    page.get_by_role("button", name="Regenerate").click()
    expect(page.locator(".message.assistant")).to_have_count(1)
    expect(page.locator(".message.assistant")).to_contain_text("Second time lucky")


def test_new_conversation_opens_an_empty_box_and_keeps_the_old_one(page, user, fake_openai):
    open_chat(page, user)
    page.get_by_label("Message").fill("First chat")
    page.get_by_label("Message").press("Enter")
    expect(page.locator(".message.assistant")).to_contain_text("You said: First chat")
    page.get_by_role("link", name="New conversation").click()
    expect(page).to_have_url(re.compile(r"/chat/$"))
    expect(page.get_by_label("Message")).to_have_value("")
    expect(page.get_by_label("Message")).to_be_focused()
    expect(page.locator(".message")).to_have_count(0)
    expect(
        page.get_by_role("complementary", name="Conversations").get_by_role("link", name="First chat")
    ).to_be_visible()


def test_a_conversation_started_on_the_chat_page_is_renamed_and_deleted_without_a_reload(page, user, fake_openai):
    open_chat(page, user)
    conversations = page.get_by_role("complementary", name="Conversations")
    page.get_by_label("Message").fill("Plan a trip")
    page.get_by_label("Message").press("Enter")
    expect(page.locator(".message.assistant")).to_have_class(re.compile(r"\bcomplete\b"))
    page.get_by_label("Title").fill("Trip notes")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Trip notes")
    expect(conversations.get_by_role("link", name="Trip notes")).to_have_attribute("aria-current", "page")
    assert Conversation.objects.get(owner=user).title == "Trip notes"

    conversations.get_by_role("link", name="New conversation").click()
    page.wait_for_load_state("load")
    page.get_by_label("Message").fill("Throw this one away")
    page.get_by_label("Message").press("Enter")
    expect(page.locator(".message.assistant")).to_have_class(re.compile(r"\bcomplete\b"))
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Conversation deleted.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/chat/$"))
    expect(conversations.get_by_role("listitem")).to_have_text(["Trip notes"])
    assert list(Conversation.objects.values_list("title", flat=True)) == ["Trip notes"]


def test_a_conversation_about_a_prediction_keeps_its_title_and_leads_back_to_it(page, user, fake_openai):
    prediction = make_prediction(user, "garden.jpg")
    log_in(page, f"/accounts/login/?next={prediction.get_absolute_url()}", user.username)
    page.get_by_role("button", name="Ask about this prediction").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("About garden.jpg")
    page.wait_for_load_state("load")
    page.get_by_label("Message").fill("Why this answer?")
    page.get_by_label("Message").press("Enter")
    expect(page.locator(".message.assistant")).to_have_class(re.compile(r"\bcomplete\b"))

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("About garden.jpg")
    conversations = page.get_by_role("complementary", name="Conversations")
    expect(conversations.get_by_role("link", name="About garden.jpg")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="Back to the prediction for garden.jpg").click()
    expect(page).to_have_url(re.compile(rf"{prediction.get_absolute_url()}$"))
    expect(page.get_by_role("button", name="Ask about this prediction")).to_be_visible()


def test_a_pasted_photo_is_stored_shown_and_seen_by_a_vision_model(page, user, fake_openai, settings, tmp_path):
    settings.CHAT_VISION_MODELS = ["test-model"]
    path = tmp_path / "giraffe.jpg"
    path.write_bytes(phone_photo())
    open_chat(page, user)
    expect(page.locator("#no-vision")).to_be_hidden()
    give_files(page, "paste", path)
    expect(page.locator("#chosen-files")).to_contain_text("giraffe.jpg")
    page.get_by_label("Message").fill("What animal is this?")
    page.get_by_label("Message").press("Enter")

    expect(page.locator(".message.assistant")).to_contain_text("You said: What animal is this?")
    prediction = Prediction.objects.get(owner=user)
    thumbnail = page.locator(".message.user").get_by_role("link", name="giraffe.jpg")
    expect(thumbnail).to_have_attribute("href", prediction.get_absolute_url())
    expect(thumbnail.get_by_role("img")).to_have_js_property("complete", True)
    assert thumbnail.get_by_role("img").evaluate("img => img.naturalWidth") > 0
    expect(page.locator("#chosen-files")).to_be_empty()
    [part] = image_parts(fake_openai.requests[0])
    image = decoded(part)
    assert max(image.size) <= 1024 and not image.getexif()

    page.reload()  # the photo stays in the conversation
    expect(page.locator(".message.user").get_by_role("link", name="giraffe.jpg")).to_be_visible()


def test_a_model_that_cannot_see_images_is_said_so_and_gets_no_image(page, user, fake_openai, photos):
    open_chat(page, user)
    expect(page.locator("#no-vision")).to_contain_text("cannot see images")
    page.get_by_label("Message").focus()
    page.keyboard.press("Tab")  # the photo chooser comes right after the box, for the keyboard too
    expect(page.get_by_label("Photos")).to_be_focused()
    page.get_by_label("Photos").set_input_files(photos["cat"])
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.assistant")).to_contain_text("You said:")
    expect(page.locator(".message.user").get_by_role("link", name="cat-0000.jpg")).to_be_visible()
    assert image_parts(fake_openai.requests[0]) == []
    assert "cat-0000.jpg" in fake_openai.requests[0]["messages"][-1]["content"]


def test_a_bad_file_in_the_chat_gets_predicts_message_and_nothing_is_sent(page, user, fake_openai, tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_bytes(b"this is not an image")
    open_chat(page, user)
    page.get_by_label("Message").fill("What is this?")
    page.get_by_label("Photos").set_input_files(path)
    page.get_by_label("Message").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("notes.jpg: ")
    expect(page.get_by_label("Message")).to_have_value("What is this?")
    assert fake_openai.requests == [] and not Message.objects.exists()
