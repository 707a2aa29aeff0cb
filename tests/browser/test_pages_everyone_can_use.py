"""Every main page, signed in and signed out, in English and in Ukrainian: axe-core finds nothing serious or
critical, nothing the page asks for answers 4xx or 5xx, the page is no wider than the window (1280 pixels, the same
at 200% zoom, and a 375-pixel phone) and it is in the language the browser asked for.

axe-core comes from npm (package.json; `make browser` runs npm ci) and is added to each page as an init script,
which the Content-Security-Policy does not block; no CDN is involved."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat.models import Message
from chat.services import conversation_create
from classifier.services import prediction_feedback
from tests.browser.conftest import signed_in_context
from tests.classifier.factories import make_prediction
from tests.conftest import cifar_test_images, image_bytes

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"a 1280-pixel window": 1280, "1280 pixels at 200% zoom": 640, "a 375-pixel phone": 375}
LANGUAGES = {"en": ("en-GB", "History"), "uk": ("uk-UA", "Історія")}
RUN_AXE = """async () => {
    const result = await axe.run(document, {resultTypes: ["violations"]});
    return result.violations
        .filter((violation) => ["serious", "critical"].includes(violation.impact))
        .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at `
            + violation.nodes.slice(0, 3).map((node) => node.target.join(" ")).join("; "));
}"""
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# The innermost elements that stick out on the right, to say what makes a page too wide.
STICKING_OUT = """() => {
    const width = document.documentElement.clientWidth;
    return [...document.body.querySelectorAll("*")]
        .filter((element) => element.getBoundingClientRect().right > width + 0.5)
        .filter((element) => ![...element.children].some((child) => child.getBoundingClientRect().right > width + 0.5))
        .slice(0, 3)
        .map((element) => element.tagName.toLowerCase() + (element.className ? "." + element.className : ""));
}"""


@pytest.fixture
def site(user, fake_openai):
    """What a signed-in user has made: a prediction of a real photo, which they said is none of the ten (so History
    shows its longest mark, "awaiting review"), and a conversation with that photo and an answer."""
    name, data = next(iter(cifar_test_images().items()))
    prediction = prediction_feedback(prediction=make_prediction(user, name, data), label="none")
    conversation = conversation_create(owner=user)
    question = Message.objects.create(conversation=conversation, role="user", content="What is **CIFAR-10**?")
    question.photos.add(prediction)  # a message with a photo: its thumbnail, linking to the prediction
    Message.objects.create(conversation=conversation, role="assistant", content="Ten classes of `32x32` photos.")
    return {"prediction": prediction, "conversation": conversation}


def signed_out_pages(site):
    return ["/", "/model/", "/accounts/login/", "/accounts/signup/", "/accounts/password_reset/"]


def signed_in_pages(site):
    prediction, conversation = site["prediction"], site["conversation"]
    return [
        "/",
        "/predict/",
        "/predictions/",
        prediction.get_absolute_url(),
        f"/predictions/{prediction.pk}/delete/",
        "/model/",
        "/chat/",
        conversation.get_absolute_url(),
        "/accounts/tokens/",
        "/accounts/password_change/",
    ]


def problems_of(page, path: str, language: str, nav_word: str) -> list[str]:
    """Everything wrong with one page, each as a line for the report."""
    failed, console = [], []
    page.on("response", lambda response: response.status >= 400 and failed.append(f"{response.status} {response.url}"))
    page.on("console", lambda message: message.type == "error" and console.append(message.text))
    page.set_viewport_size({"width": 1280, "height": 900})
    response = page.goto(path)
    page.wait_for_load_state("networkidle")
    found = [f"{path}: the page answered {response.status}"] if response.status != 200 else []
    if page.locator("html").get_attribute("lang") != language:
        found.append(f"{path}: <html lang> is not {language}")
    if not page.get_by_role("navigation").get_by_role("link", name=nav_word, exact=True).is_visible():
        found.append(f"{path}: no {nav_word!r} in the menu")
    found += [f"{path}: axe: {violation}" for violation in page.evaluate(RUN_AXE)]
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        excess = page.evaluate(OVERFLOW)
        if excess > 0:
            culprits = ", ".join(page.evaluate(STICKING_OUT))
            found.append(f"{path}: {excess} pixels wider than {label} ({culprits})")
    found += [f"{path}: asked for {what}" for what in failed]
    found += [f"{path}: the console says {text}" for text in console]
    return found


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("signed_in", [False, True], ids=["signed out", "signed in"])
def test_every_main_page_passes_axe_fits_the_window_and_loads_every_file(
    new_context, live_server, site, user, language, signed_in
):
    assert AXE.is_file(), f"{AXE} is missing: run `make browser` (npm ci) first"
    locale, nav_word = LANGUAGES[language]
    if signed_in:
        context = signed_in_context(new_context, live_server, user, locale)
    else:
        context = new_context()
        context.set_extra_http_headers({"Accept-Language": f"{locale},{language};q=0.9"})
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    problems = []
    for path in (signed_in_pages if signed_in else signed_out_pages)(site):
        problems += problems_of(page, path, language, nav_word)
    assert not problems, "\n".join(problems)


def test_the_same_page_reads_differently_in_each_language(new_context, live_server, site, user):
    headings = {}
    for language, (locale, _) in LANGUAGES.items():
        page = signed_in_context(new_context, live_server, user, locale).new_page()
        for path in ("/predict/", "/predictions/", site["prediction"].get_absolute_url(), "/model/", "/chat/"):
            page.goto(path)
            headings[language, path] = page.get_by_role("heading", level=1).inner_text()
    for path in {path for _, path in headings}:
        assert headings["en", path] != headings["uk", path], f"{path} has the same heading in both languages"


def test_a_page_that_names_no_icon_gets_the_sites_icon_not_a_404(new_context, live_server, staff_user):
    """Browsers ask for /favicon.ico on pages without an icon link (the admin, a photo opened by itself), and
    say so in the console when it is missing."""
    page = signed_in_context(new_context, live_server, staff_user, "en-GB").new_page()
    console = []
    page.on("console", lambda message: message.type == "error" and console.append(message.text))
    page.goto("/admin/")
    page.wait_for_load_state("networkidle")
    assert console == []
    icon = page.request.get("/favicon.ico")
    assert icon.ok and icon.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.parametrize("width", [1280, 375])
def test_on_a_predictions_page_the_photo_comes_first_and_the_heat_map_switch_under_it(
    new_context, live_server, user, width
):
    prediction = make_prediction(user, "garden.jpg", image_bytes("JPEG", size=(640, 480)))
    page = signed_in_context(new_context, live_server, user, "en-GB").new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(prediction.get_absolute_url())
    photo = page.get_by_role("img", name="garden.jpg")
    expect(photo).to_be_visible()
    page.wait_for_load_state("networkidle")
    photo_box = photo.bounding_box()
    switch_box = page.get_by_text("Show heat map").bounding_box()
    content_left = page.locator(".prediction").bounding_box()["x"]
    assert photo_box["x"] == pytest.approx(content_left, abs=1), "the photo is pushed away from the left edge"
    assert switch_box["y"] >= photo_box["y"] + photo_box["height"], "the switch is not under the photo"
    assert photo_box["x"] - 1 <= switch_box["x"] < photo_box["x"] + photo_box["width"]
