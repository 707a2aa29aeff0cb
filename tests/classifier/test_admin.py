"""Staff review predictions in the admin: list, filters, search, detail, confirm, correct, CSV export."""

import csv
import io

import pytest

from classifier.models import Prediction
from classifier.services import api_token_create, model_version_register, prediction_confirm
from tests.classifier.factories import make_prediction

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/classifier/prediction/"


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def predictions(user, other_user):
    return [make_prediction(user, "alice-1.jpg"), make_prediction(user, "alice-2.jpg"), make_prediction(other_user)]


def test_the_list_shows_thumbnail_label_confidence_owner_version_and_date(staff_client, predictions):
    page = staff_client.get(CHANGELIST).content.decode()
    first = predictions[0]
    assert f"/predictions/{first.pk}/image?size=thumbnail" in page
    assert first.label in page and f"{first.confidence:.1%}" in page
    assert "alice" in page and "bob" in page and first.model_version in page


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
