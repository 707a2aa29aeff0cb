"""Staff review predictions in the admin with a real browser: the list fits a 1280-pixel window in English and
Ukrainian, and the CSV of a filtered list downloads from its link, without ticking a row."""

import csv
import io

import pytest

from classifier.models import Prediction
from classifier.services import prediction_confirm, prediction_correct, prediction_feedback
from tests.browser.conftest import signed_in_context
from tests.classifier.factories import make_prediction
from tests.conftest import cifar_test_images

CHANGELIST = "/admin/classifier/prediction/"
# How far the page, and the results table in its own scrolling box, are wider than what shows of them.
OVERFLOW = """() => [document.documentElement, document.querySelector("#changelist .results")]
    .map((box) => box.scrollWidth - box.clientWidth)"""
LONG_NAME = "IMG_20240817_183512_HDR_portrait_mode_from_the_back_garden_camera_roll_export.jpeg"


@pytest.fixture
def reviewed(user, other_user, staff_user):
    """Predictions of every kind a row can show: a long file name, "none of the ten" shown, confirmed, corrected
    to a class and to none of the ten, and an owner who disagrees."""
    photos = iter(cifar_test_images().items())
    shown, confirmed, to_class, to_none = (make_prediction(user, *next(photos)) for _ in range(4))
    long_named = make_prediction(other_user, LONG_NAME, next(photos)[1])
    Prediction.objects.filter(pk=shown.pk).update(none_of_the_classes=True)
    prediction_confirm(prediction=confirmed, reviewer=staff_user)
    prediction_correct(prediction=to_class, reviewer=staff_user, label="truck" if to_class.label != "truck" else "ship")
    prediction_correct(prediction=to_none, reviewer=staff_user, label="none")
    prediction_feedback(prediction=long_named, label="none")
    return {"long_named": long_named}


@pytest.mark.parametrize("locale", ["en-GB", "uk-UA"])
def test_the_prediction_list_fits_a_1280_pixel_window(new_context, live_server, staff_user, reviewed, locale):
    page = signed_in_context(new_context, live_server, staff_user, locale).new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(CHANGELIST)
    assert page.locator("#result_list tbody tr").count() == 5
    page_excess, table_excess = page.evaluate(OVERFLOW)
    assert page_excess <= 0, f"the page is {page_excess} pixels wider than a 1280-pixel window"
    assert table_excess <= 0, f"the list's table scrolls sideways by {table_excess} pixels"


def test_the_csv_of_a_filtered_list_downloads_without_ticking_a_row(new_context, live_server, staff_user, reviewed):
    page = signed_in_context(new_context, live_server, staff_user, "en-GB").new_page()
    page.goto(f"{CHANGELIST}?q=bob")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV of this list").click()
    download = download_info.value
    assert download.suggested_filename == "predictions.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert [row["original_name"] for row in rows] == [LONG_NAME]
    assert rows[0]["feedback_label"] == "none"
    assert rows[0]["image_url"] == f"{live_server.url}/predictions/{reviewed['long_named'].pk}/image"
