"""End to end in a real browser: what a visitor and a reviewer see and do, against a live server.

The photos are real CIFAR-10 test images; the predicted classes come from the shipped model, so the tests read the
label the site chose (from the database) rather than assuming it.
"""

import base64
import re

import pytest
from playwright.sync_api import Page, expect

from classifier.models import Prediction
from mlcore.labels import CLASSES
from tests.classifier.factories import make_prediction

PASSWORD = "correct horse battery"

expect.set_options(timeout=20_000)


def sign_up(page: Page, username: str, password: str) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label(re.compile(r"^Password:?$")).fill(password)
    page.get_by_label("Password confirmation").fill(password)
    page.get_by_role("button", name="Sign up").click()


def log_in(page: Page, path: str, username: str, password: str = PASSWORD) -> None:
    """Through the login form at `path` (the site's or the admin's), which has one password field."""
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_new_user_classifies_two_photos_and_staff_corrects_one(page, new_context, photos, staff_user):
    chosen = [photos["cat"], photos["ship"]]
    names = [path.name for path in chosen]

    # Sign up: the new account is logged in and lands on Predict.
    sign_up(page, "carol", "a long and unusual passphrase 42")
    expect(page).to_have_url(re.compile(r"/predict/$"))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    # Upload two photos at once: one results page with a card for each.
    page.get_by_label("Images").set_input_files(chosen)
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_role("heading", name="2 images classified")).to_be_visible()
    # The results have an address of their own: reloading them shows them again and uploads nothing.
    expect(page).to_have_url(re.compile(r"/predict/results/\?ids=\d+,\d+$"))
    page.reload()
    expect(page.get_by_role("heading", name="2 images classified")).to_be_visible()
    predictions = {p.original_name: p for p in Prediction.objects.filter(owner__username="carol")}
    assert sorted(predictions) == sorted(names)
    for name in names:
        card = page.get_by_role("listitem").filter(has=page.get_by_text(name, exact=True))
        expect(card).to_contain_text(predictions[name].label)
        expect(card.get_by_role("table", name="Probability of each class")).to_be_visible()

    # History lists both; filtering by one class keeps exactly the photos given that class.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible()
    for name in names:
        expect(page.get_by_text(name, exact=True)).to_be_visible()
    label = predictions[names[0]].label
    page.get_by_label("Class").select_option(label)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"[?&]label={label}\b"))
    for name in names:
        shown_as_label = predictions[name].label == label and not predictions[name].none_of_the_classes
        expected = 1 if shown_as_label else 0
        expect(page.get_by_text(name, exact=True)).to_have_count(expected)

    # One prediction's page: the label as its heading, the probabilities, the photo and what each network saw.
    corrected = predictions[names[0]]
    page.get_by_text(names[0], exact=True).click()
    expect(page).to_have_url(re.compile(rf"/predictions/{corrected.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(corrected.label)
    table = page.get_by_role("table", name="Probability of each class")
    expect(table.get_by_role("row").first.get_by_role("rowheader")).to_have_text(corrected.label)
    expect(page.get_by_role("img", name=names[0])).to_have_js_property("naturalWidth", 32)
    # a 32x32 image is a thumbnail: the two CIFAR networks answer, each from its own square
    efficientnet = "the square the CIFAR-10 network (EfficientNet-Lite0) saw"
    expect(page.get_by_role("img", name=efficientnet)).to_have_js_property("naturalWidth", 128)
    airbench = "the square the CIFAR-10 network (airbench94) saw"
    expect(page.get_by_role("img", name=airbench)).to_have_js_property("naturalWidth", 32)
    expect(page.get_by_text("The CIFAR-10 network (airbench94) saw 32×32 pixels")).to_be_visible()
    expect(page.get_by_text("Model version")).to_be_visible()

    # A reviewer, in a browser of their own, corrects that prediction with the admin action.
    new_label = next(name for name in CLASSES if name != corrected.label)
    admin = new_context().new_page()
    log_in(admin, "/admin/", staff_user.username)
    expect(admin.get_by_role("heading", name="Site administration")).to_be_visible()
    admin.goto("/admin/classifier/prediction/")
    admin.get_by_role("row").filter(has_text=names[0]).get_by_role("checkbox").check()
    admin.get_by_role("combobox", name=re.compile(r"^Action")).select_option(label=f"Correct to {new_label}")
    admin.get_by_role("button", name="Go").click()
    expect(admin.get_by_text(f"Corrected 1 prediction to {new_label}.")).to_be_visible()

    corrected.refresh_from_db()
    assert corrected.review_status == Prediction.ReviewStatus.CORRECTED
    assert corrected.reviewed_label == new_label
    assert corrected.reviewed_by == staff_user
    assert corrected.reviewed_at is not None
    untouched = Prediction.objects.get(pk=predictions[names[1]].pk)
    assert untouched.review_status == Prediction.ReviewStatus.PENDING

    # The owner sees the review on the prediction's page, then logs out.
    page.reload()
    expect(page.get_by_text(f"Corrected: {new_label}")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name="Log in")).to_be_visible()


# Builds File objects in the page from base64 and hands them over as a real drop or paste would.
DISPATCH_FILES = """([kind, files]) => {
    const transfer = new DataTransfer();
    for (const {name, type, data} of files) {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name, {type}));
    }
    const event = kind === "drop"
        ? new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true})
        : new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true});
    document.getElementById("drop-zone").dispatchEvent(event);
    return event.defaultPrevented;
}"""


def give_files(page: Page, kind: str, *paths) -> None:
    page.wait_for_load_state()  # the drop and paste handlers come from a deferred script: wait until it has run
    files = [{"name": p.name, "type": "image/jpeg", "data": base64.b64encode(p.read_bytes()).decode()} for p in paths]
    assert page.evaluate(DISPATCH_FILES, [kind, files]), f"the page did not handle the {kind}"


@pytest.mark.parametrize("kind", ["drop", "paste"])
def test_a_dropped_or_pasted_photo_goes_into_the_upload(page, user, photos, kind):
    log_in(page, "/accounts/login/?next=/predict/", user.username)
    expect(page).to_have_url(re.compile(r"/predict/$"))

    give_files(page, kind, photos["horse"])
    chosen = page.locator("#chosen-files")
    expect(chosen).to_contain_text("horse-0000.jpg")
    assert page.get_by_label("Images").evaluate("input => input.files.length") == 1

    page.get_by_role("button", name="Predict").click()
    expect(page).to_have_url(re.compile(r"/predictions/\d+/$"))
    prediction = Prediction.objects.get(owner=user)
    assert page.url.endswith(f"/predictions/{prediction.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(prediction.label)
    assert prediction.original_name == "horse-0000.jpg"


def test_dropped_photos_add_to_those_already_chosen(page, user, photos):
    log_in(page, "/accounts/login/?next=/predict/", user.username)
    page.get_by_label("Images").set_input_files(photos["dog"])
    give_files(page, "drop", photos["frog"])
    give_files(page, "paste", photos["truck"])
    chosen = page.locator("#chosen-files").get_by_role("listitem")
    expect(chosen).to_have_count(3)
    for index, name in enumerate(["dog-0000.jpg", "frog-0000.jpg", "truck-0000.jpg"]):
        expect(chosen.nth(index)).to_contain_text(name)

    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_role("heading", name="3 images classified")).to_be_visible()
    assert sorted(Prediction.objects.filter(owner=user).values_list("original_name", flat=True)) == [
        "dog-0000.jpg",
        "frog-0000.jpg",
        "truck-0000.jpg",
    ]


def test_history_finds_again_a_photo_the_site_called_none_of_the_ten(page, user):
    shown_as_class = make_prediction(user, "a-class.jpg")
    not_one = make_prediction(user, "espresso.jpg")
    Prediction.objects.filter(pk=shown_as_class.pk).update(none_of_the_classes=False)
    Prediction.objects.filter(pk=not_one.pk).update(label=shown_as_class.label, none_of_the_classes=True)
    log_in(page, "/accounts/login/?next=/predictions/", user.username)
    page.get_by_label("Class").select_option(label="none of the ten classes")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"\?label=none$"))
    cards = page.locator(".cards .card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("espresso.jpg")
