"""Staff review predictions in the admin: list, filters, search, detail, confirm, correct, CSV export."""

import csv
import io
import re

import pytest
from django.test import Client

from classifier.models import Prediction
from classifier.services import api_token_create, model_version_register, prediction_confirm, prediction_correct
from tests.classifier.factories import make_prediction

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/classifier/prediction/"


@pytest.fixture
def predictions(user, other_user):
    return [make_prediction(user, "alice-1.jpg"), make_prediction(user, "alice-2.jpg"), make_prediction(other_user)]


def column(page: str, name: str) -> list[str]:
    """The text of one column of the admin's list, row by row from the top, each cell's lines joined by " | "."""
    cells = re.findall(rf'<t[dh] class="field-{name}"[^>]*>(.*?)</t[dh]>', page, re.S)
    return [" | ".join(line.strip() for line in re.sub(r"<(?!br)[^>]+>", "", cell).split("<br>")) for cell in cells]


def shown_as(prediction, *, label: str, none_of_the_ten: bool = False, **fields) -> Prediction:
    """`prediction` as if the site had shown `label` (or "none of the ten classes", closest `label`)."""
    Prediction.objects.filter(pk=prediction.pk).update(label=label, none_of_the_classes=none_of_the_ten, **fields)
    prediction.refresh_from_db()
    return prediction


def listed(client, query: str = "") -> dict:
    """The list's rows: {file name: {column: text}}."""
    page = client.get(f"{CHANGELIST}{query}").content.decode()
    names = column(page, "original_name")
    columns = {name: column(page, name) for name in ("answer", "review", "uploaded")}
    return {name: {key: cells[row] for key, cells in columns.items()} for row, name in enumerate(names)}


def test_the_list_shows_what_the_site_showed_what_staff_decided_and_what_the_owner_says(
    staff_client, staff_user, predictions
):
    shown_as(predictions[0], label="cat", confidence=0.968, feedback_label="dog")
    prediction_confirm(prediction=shown_as(predictions[1], label="cat", none_of_the_ten=True), reviewer=staff_user)
    prediction_correct(prediction=shown_as(predictions[2], label="cat"), reviewer=staff_user, label="truck")
    rows = listed(staff_client)
    assert rows["alice-1.jpg"]["answer"] == "cat 96.8%"
    assert rows["alice-1.jpg"]["review"] == "Not reviewed | Owner says: dog"
    assert rows["alice-2.jpg"]["answer"] == "Not one of the ten classes"  # not its closest class
    assert rows["alice-2.jpg"]["review"] == "Confirmed"
    assert rows["photo.jpg"]["review"] == "Corrected to truck"  # not the model's class
    assert rows["photo.jpg"]["uploaded"].endswith("| bob") and rows["alice-1.jpg"]["uploaded"].endswith("| alice")
    page = staff_client.get(CHANGELIST).content.decode()
    assert f"/predictions/{predictions[0].pk}/image?size=thumbnail" in page


def test_a_predictions_page_says_in_words_whether_the_site_showed_none_of_the_ten(staff_client, predictions):
    shown_as(predictions[0], label="cat", none_of_the_ten=True)
    shown_as(predictions[1], label="cat", confidence=0.968)
    for prediction, answer in ((predictions[0], "Not one of the ten classes"), (predictions[1], "cat 96.8%")):
        page = staff_client.get(f"{CHANGELIST}{prediction.pk}/change/").content.decode()
        assert f'<div class="readonly">{answer}</div>' in page
        assert "icon-yes.svg" not in page and "icon-no.svg" not in page  # no bare mark for "none of the ten"


def test_filters_and_search(staff_client, predictions):
    for query in ("label=cat", "review_status=pending", "confidence=low", "confidence=high", "model_version=x"):
        assert staff_client.get(f"{CHANGELIST}?{query}").status_code == 200
    searched = staff_client.get(f"{CHANGELIST}?q=bob").context["cl"].result_list
    assert [p.owner.username for p in searched] == ["bob"]
    by_name = staff_client.get(f"{CHANGELIST}?q=alice-2").context["cl"].result_list
    assert [p.original_name for p in by_name] == ["alice-2.jpg"]


def test_the_confidence_band_filter_splits_by_confidence(staff_client, predictions):
    Prediction.objects.filter(pk=predictions[0].pk).update(confidence=0.3)
    Prediction.objects.filter(pk=predictions[1].pk).update(confidence=0.95)
    low = staff_client.get(f"{CHANGELIST}?confidence=low").context["cl"].result_list
    high = staff_client.get(f"{CHANGELIST}?confidence=high").context["cl"].result_list
    assert predictions[0] in low and predictions[1] not in low
    assert predictions[1] in high and predictions[0] not in high


def test_the_detail_view_shows_the_image_large_and_the_probabilities_read_only(staff_client, predictions):
    prediction = predictions[0]
    page = staff_client.get(f"{CHANGELIST}{prediction.pk}/change/").content.decode()
    # the display copy, linked to the original photo
    assert (
        f'<a href="/predictions/{prediction.pk}/image"><img src="/predictions/{prediction.pk}/image?size=display"'
        in page
    )
    assert page.count("<meter") == 10
    assert f">{prediction.confidence:.1%}</div>" in page and f">{prediction.confidence}<" not in page  # not 0.968…
    assert 'name="label"' not in page  # model outputs cannot be edited
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403


def test_confirming_stores_status_reviewer_and_time(staff_client, staff_user, predictions):
    staff_client.post(CHANGELIST, {"action": "confirm_predictions", "_selected_action": [predictions[0].pk]})
    prediction = Prediction.objects.get(pk=predictions[0].pk)
    assert prediction.review_status == "confirmed"
    assert prediction.reviewed_by == staff_user and prediction.reviewed_at is not None
    assert Prediction.objects.pending_review().count() == 2


def test_correcting_to_another_class_keeps_the_models_answer(staff_client, staff_user, predictions):
    original = predictions[1].label
    new_label = "truck" if original != "truck" else "ship"
    staff_client.post(CHANGELIST, {"action": f"correct_to_{new_label}", "_selected_action": [predictions[1].pk]})
    prediction = Prediction.objects.get(pk=predictions[1].pk)
    assert prediction.review_status == "corrected"
    assert prediction.reviewed_label == new_label and prediction.label == original
    assert prediction.reviewed_by == staff_user


def test_correcting_to_none_of_the_ten_reads_so_in_the_list_history_and_api(staff_client, user, predictions):
    prediction = shown_as(predictions[0], label="cat")
    owner_client = Client()
    owner_client.force_login(user)
    staff_client.post(CHANGELIST, {"action": "correct_to_none", "_selected_action": [prediction.pk]})
    prediction.refresh_from_db()
    assert (prediction.review_status, prediction.reviewed_label, prediction.label) == ("corrected", "none", "cat")
    assert listed(staff_client)["alice-1.jpg"]["review"] == "Corrected to none of the ten classes"
    history = owner_client.get("/predictions/").content.decode()
    assert re.search(r"Corrected:\s+none of the ten classes", history)
    _, key = api_token_create(user=user)
    answer = Client().get(f"/api/v1/predictions/{prediction.pk}", headers={"Authorization": f"Bearer {key}"}).json()
    assert answer["reviewed_label"] == "none"


def test_correcting_a_none_of_the_ten_answer_to_its_closest_class_is_a_correction(staff_client, predictions):
    """The site showed "none of the ten", so the closest class is news; none of the ten confirms it."""
    to_closest = shown_as(predictions[0], label="cat", none_of_the_ten=True)
    to_none = shown_as(predictions[1], label="cat", none_of_the_ten=True)
    staff_client.post(CHANGELIST, {"action": "correct_to_cat", "_selected_action": [to_closest.pk]})
    staff_client.post(CHANGELIST, {"action": "correct_to_none", "_selected_action": [to_none.pk]})
    to_closest.refresh_from_db()
    to_none.refresh_from_db()
    assert (to_closest.review_status, to_closest.settled_label) == ("corrected", "cat")
    assert (to_none.review_status, to_none.settled_label) == ("confirmed", "none")


def review_url(prediction) -> str:
    return f"{CHANGELIST}{prediction.pk}/review/"


def test_a_predictions_page_confirms_and_corrects_with_the_same_review_as_the_list(
    staff_client, staff_user, predictions
):
    confirmed, to_none, to_truck = (shown_as(prediction, label="cat") for prediction in predictions)
    page = staff_client.get(f"{CHANGELIST}{confirmed.pk}/change/").content.decode()
    assert f'action="{review_url(confirmed)}"' in page and '<option value="none">none of the ten classes' in page
    response = staff_client.post(review_url(confirmed), {"decision": "confirm"}, follow=True)
    assert response.redirect_chain == [(f"{CHANGELIST}{confirmed.pk}/change/", 302)]
    assert "Confirmed 1 prediction." in response.content.decode()
    staff_client.post(review_url(to_none), {"decision": "correct", "correct_to": "none"})
    response = staff_client.post(review_url(to_truck), {"decision": "correct", "correct_to": "truck"}, follow=True)
    assert "Corrected 1 prediction to truck." in response.content.decode()
    decided = {p.pk: (p.review_status, p.settled_label, p.reviewed_by) for p in Prediction.objects.all()}
    assert decided == {
        confirmed.pk: ("confirmed", "cat", staff_user),
        to_none.pk: ("corrected", "none", staff_user),
        to_truck.pk: ("corrected", "truck", staff_user),
    }


def test_a_predictions_review_buttons_refuse_what_they_do_not_offer(staff_client, predictions):
    prediction = predictions[0]
    for wrong in ({"decision": "correct", "correct_to": "teapot"}, {"decision": "correct"}, {"decision": "delete"}):
        response = staff_client.post(review_url(prediction), wrong)
        assert response.status_code == 400 and "Choose Confirm" in response.content.decode()
    assert staff_client.get(review_url(prediction)).status_code == 405
    assert staff_client.post(f"{CHANGELIST}999999/review/", {"decision": "confirm"}).status_code == 404
    assert Prediction.objects.pending_review().count() == 3


def csv_rows(response) -> dict:
    """{file name: row} of a CSV export."""
    assert response["Content-Type"].startswith("text/csv")
    return {row["original_name"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}


def test_the_list_downloads_as_csv_with_its_filters_without_ticking_a_row(staff_client, staff_user, predictions):
    confirmed = shown_as(predictions[0], label="cat", feedback_label="dog")
    confirmed_none = shown_as(predictions[1], label="cat", none_of_the_ten=True)
    corrected = shown_as(predictions[2], label="cat")
    prediction_confirm(prediction=confirmed, reviewer=staff_user)
    prediction_confirm(prediction=confirmed_none, reviewer=staff_user)
    prediction_correct(prediction=corrected, reviewer=staff_user, label="truck")
    page = staff_client.get(f"{CHANGELIST}?q=alice").content.decode()
    assert f'href="{CHANGELIST}csv/?q=alice">Download CSV of this list</a>' in page
    rows = csv_rows(staff_client.get(f"{CHANGELIST}csv/?q=alice"))
    assert sorted(rows) == ["alice-1.jpg", "alice-2.jpg"]  # bob's is filtered out
    assert rows["alice-1.jpg"]["reviewed_label"] == "cat" and rows["alice-2.jpg"]["reviewed_label"] == "none"
    assert (
        rows["alice-1.jpg"]["none_of_the_classes"] == "False" and rows["alice-2.jpg"]["none_of_the_classes"] == "True"
    )
    assert rows["alice-1.jpg"]["feedback_label"] == "dog" and rows["alice-2.jpg"]["feedback_label"] == ""
    assert rows["alice-1.jpg"]["image_url"] == f"http://testserver/predictions/{confirmed.pk}/image"
    everyone = csv_rows(staff_client.get(f"{CHANGELIST}csv/?review_status__exact=corrected"))
    assert list(everyone) == ["photo.jpg"] and everyone["photo.jpg"]["reviewed_label"] == "truck"


def test_a_list_filter_the_csv_cannot_apply_is_a_400(staff_client, predictions):
    response = staff_client.get(f"{CHANGELIST}csv/?created_at__gte=yesterday")
    assert response.status_code == 400 and "cannot be filtered that way" in response.content.decode()


def test_csv_export_of_the_selected_rows(staff_client, predictions):
    selected = [predictions[0].pk, predictions[2].pk]
    response = staff_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": selected})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(int(row["id"]) for row in rows) == sorted(selected)
    assert {"owner", "label", "confidence", "model_version", "p_cat", "review_status"} <= set(rows[0])
    assert sum(
        float(rows[0][f"p_{name}"])
        for name in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    ) == pytest.approx(1, abs=1e-3)


def test_csv_export_of_all_filtered_rows(staff_client, predictions):
    response = staff_client.post(
        f"{CHANGELIST}?q=alice", {"action": "export_csv", "select_across": "1", "_selected_action": [predictions[0].pk]}
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(row["original_name"] for row in rows) == ["alice-1.jpg", "alice-2.jpg"]


FORMULAS = ['=HYPERLINK("example.invalid","x").jpg', "@SUM(1+1).jpg", "-2+3.jpg", "+cmd.jpg"]


def test_csv_export_writes_text_a_spreadsheet_would_run_as_a_formula_with_a_leading_apostrophe(
    staff_client, user, make_user
):
    evil = make_user("=evil")
    uploads = [make_prediction(user, name) for name in FORMULAS]
    prediction_confirm(prediction=uploads[0], reviewer=evil)
    uploads.append(make_prediction(evil, "cat.jpg"))
    response = staff_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": [p.pk for p in uploads]})
    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@")] == []
    exported = [dict(zip(header, row, strict=True)) for row in rows]
    assert sorted(row["original_name"] for row in exported) == sorted(["cat.jpg", *(f"'{name}" for name in FORMULAS)])
    assert {row["owner"] for row in exported} == {"alice", "'=evil"}
    assert {row["reviewed_by"] for row in exported} == {"", "'=evil"}
    assert all(float(row["confidence"]) > 0 for row in exported)  # numbers stay numbers


def test_non_staff_users_cannot_open_the_admin(owner_client):
    response = owner_client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.fixture
def view_only_client(client, make_user):
    """A staff member who may look at predictions, tokens and model versions, and change none of them."""
    from django.contrib.auth.models import Permission

    viewer = make_user("vera", is_staff=True)
    codenames = ["view_prediction", "view_apitoken", "view_modelversion"]
    viewer.user_permissions.set(Permission.objects.filter(content_type__app_label="classifier", codename__in=codenames))
    client.force_login(viewer)
    return client


def offered_actions(client, changelist) -> set:
    form = client.get(changelist).context["action_form"]  # None when no action is offered
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


def test_view_only_staff_can_export_but_neither_see_nor_run_the_review_actions(view_only_client, predictions):
    assert offered_actions(view_only_client, CHANGELIST) == {"export_csv"}
    for action in ("confirm_predictions", "correct_to_truck", "correct_to_ship"):
        view_only_client.post(CHANGELIST, {"action": action, "_selected_action": [p.pk for p in predictions]})
    assert Prediction.objects.pending_review().count() == 3
    assert not Prediction.objects.filter(reviewed_by__isnull=False).exists()
    response = view_only_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": [predictions[0].pk]})
    assert [row["id"] for row in csv.DictReader(io.StringIO(response.content.decode()))] == [str(predictions[0].pk)]


def test_view_only_staff_download_the_list_but_get_no_review_buttons_and_a_403(view_only_client, predictions):
    prediction = predictions[0]
    page = view_only_client.get(f"{CHANGELIST}{prediction.pk}/change/").content.decode()
    assert "/review/" not in page and "Confirm what the site showed" not in page
    for decision in ({"decision": "confirm"}, {"decision": "correct", "correct_to": "none"}):
        assert view_only_client.post(review_url(prediction), decision).status_code == 403
    assert Prediction.objects.pending_review().count() == 3
    assert len(csv_rows(view_only_client.get(f"{CHANGELIST}csv/"))) == 3


def test_view_only_staff_can_neither_revoke_tokens_nor_activate_a_model_version(view_only_client, user, settings):
    token, key = api_token_create(user=user)
    version = model_version_register(path=settings.SHIPPED_MODEL_DIR)
    for changelist, action, selected in (
        ("/admin/classifier/apitoken/", "revoke_tokens", token.pk),
        ("/admin/classifier/modelversion/", "activate_version", version.pk),
    ):
        assert offered_actions(view_only_client, changelist) == set()
        view_only_client.post(changelist, {"action": action, "_selected_action": [selected]})
    token.refresh_from_db()
    version.refresh_from_db()
    assert token.revoked_at is None and not version.is_active


def test_the_page_of_a_none_of_the_ten_answer_is_titled_with_that_answer_not_the_closest_class(
    staff_client, predictions
):
    prediction = predictions[0]
    Prediction.objects.filter(pk=prediction.pk).update(none_of_the_classes=True)
    page = staff_client.get(f"{CHANGELIST}{prediction.pk}/change/").content.decode()
    assert f"<h2>{prediction.original_name}: none of the ten classes</h2>" in page
