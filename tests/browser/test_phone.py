"""The site on a phone: the Predict page and the chat offer the camera, a photo taken with it uploads like any other
file, and the result fits the screen."""

import io
import re

from django.conf import settings
from django.test import Client
from PIL import ExifTags, Image
from playwright.sync_api import expect

from classifier.models import Prediction
from classifier.services import DISPLAY_SIZE
from tests.conftest import cifar_test_images

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def camera_photo() -> bytes:
    """What a phone camera writes: a large JPEG held sideways (EXIF orientation 6) with its GPS position."""
    cat = Image.open(io.BytesIO(cifar_test_images()["cat-0000.jpg"])).resize((1600, 1200), Image.Resampling.LANCZOS)
    exif = cat.getexif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (50.0, 27.0, 0.0), 3: "E", 4: (30.0, 31.0, 0.0)})
    buffer = io.BytesIO()
    cat.save(buffer, "JPEG", exif=exif, quality=88)
    return buffer.getvalue()


def test_a_photo_taken_with_the_phones_camera_uploads_and_the_result_fits_the_screen(
    browser, live_server, transactional_db, user
):
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, **PHONE)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    page = context.new_page()
    try:
        page.goto("/predict/")
        chooser_input = page.get_by_label("Images")
        # image/* and nothing else: phones then offer "Take photo" beside the photo library.
        expect(chooser_input).to_have_attribute("accept", "image/*")
        with page.expect_file_chooser() as chooser:
            chooser_input.tap()
        assert chooser.value.is_multiple()
        chooser.value.set_files({"name": "IMG_20260412_101530.jpg", "mimeType": "image/jpeg", "buffer": camera_photo()})
        page.get_by_role("button", name="Predict", exact=True).tap()
        expect(page).to_have_url(re.compile(r"/predictions/\d+/$"))

        prediction = Prediction.objects.get(owner=user)
        assert prediction.original_name == "IMG_20260412_101530.jpg"
        assert (prediction.width, prediction.height) == (1200, 1600)  # upright, as the phone held it
        stored = Image.open(prediction.image.path)
        assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        expect(page.get_by_role("heading", level=1)).to_contain_text(prediction.label)
        photo = page.get_by_role("img", name="IMG_20260412_101530.jpg")
        expect(photo).to_be_visible()
        # not the 1600-pixel original: the display copy, upright and at most DISPLAY_SIZE on its longer side
        expect(photo).to_have_js_property("naturalWidth", 960)
        expect(photo).to_have_js_property("naturalHeight", DISPLAY_SIZE)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert photo.bounding_box()["width"] <= 375
    finally:
        context.close()


def test_a_photo_taken_with_the_phones_camera_goes_into_a_chat_message_that_fits_the_screen(
    browser, live_server, transactional_db, user, fake_openai
):
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, **PHONE)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    page = context.new_page()
    try:
        page.goto("/chat/")
        page.wait_for_load_state("load")
        chooser_input = page.get_by_label("Photos")
        expect(chooser_input).to_have_attribute("accept", "image/*")  # phones offer the camera for image/*
        with page.expect_file_chooser() as chooser:
            chooser_input.tap()
        chooser.value.set_files({"name": "IMG_20260412_101530.jpg", "mimeType": "image/jpeg", "buffer": camera_photo()})
        page.get_by_label("Message").fill("What is this?")
        page.get_by_role("button", name="Send", exact=True).tap()
        thumbnail = page.locator(".message.user").get_by_role("img", name="IMG_20260412_101530.jpg")
        expect(thumbnail).to_be_visible()
        expect(page.locator(".message.assistant")).to_contain_text("You said: What is this?")
        assert Prediction.objects.get(owner=user).original_name == "IMG_20260412_101530.jpg"
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()
