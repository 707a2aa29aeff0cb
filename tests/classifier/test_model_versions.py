"""Model versions in the admin: the served bundle is always listed, any version (the shipped default too) can be
activated, the active one can be deactivated in favour of the shipped default, and what is served cannot be
deleted. Every switch shows at once in predictions, the home page and the Model data page."""

import json

import pytest

from classifier.models import ModelVersion
from classifier.services import model_version_register
from classifier.serving import get_classifier
from tests.classifier.factories import make_prediction

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_active_version")]

CHANGELIST = "/admin/classifier/modelversion/"


@pytest.fixture
def shipped(settings):
    return json.loads((settings.MODEL_DIR / "metadata.json").read_text())["name"]


@pytest.fixture
def default(staff_client, shipped):
    """The shipped default's row, as opening the list registers it."""
    staff_client.get(CHANGELIST)
    return ModelVersion.objects.get(name=shipped)


@pytest.fixture
def previous(settings):
    """The previous model, registered as `make run` registers it."""
    return model_version_register(path=settings.MODEL_DIR / "experts" / "cifar10-efficientnet-lite0")


def run_action(client, action, *versions):
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [v.pk for v in versions]}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def serving_column(client) -> dict:
    """{name: what the list's "serving" column says}."""
    changelist = client.get(CHANGELIST).context["cl"]
    return {version.name: changelist.model_admin.serving(version) for version in changelist.result_list}


def served_everywhere(client, user) -> set:
    """The version named by the served model, a new prediction, the home page and the Model data page."""
    home, model_data = client.get("/").content.decode(), client.get("/model/").content.decode()
    names = {get_classifier().version, make_prediction(user).model_version}
    for version in ModelVersion.objects.all():
        if f"<dd>{version.name}</dd>" in home:
            names.add(version.name)
        if f'<option value="{version.name}" selected>{version.name} (served now)</option>' in model_data:
            names.add(version.name)
    return names


def test_a_fresh_database_lists_the_served_bundle_as_served_and_shipped(staff_client, shipped):
    assert not ModelVersion.objects.exists()
    assert serving_column(staff_client) == {shipped: "served now, shipped with the site"}
    assert serving_column(staff_client) == {shipped: "served now, shipped with the site"}  # registered once
    assert ModelVersion.objects.get().name == shipped


def test_activating_the_previous_model_then_the_shipped_one_brings_it_back(
    staff_client, user, shipped, default, previous
):
    assert served_everywhere(staff_client, user) == {shipped}

    page = run_action(staff_client, "activate_version", previous)
    assert f"Model version {previous.name} is active: new predictions use it." in page
    assert serving_column(staff_client) == {shipped: "shipped with the site", previous.name: "served now"}
    assert served_everywhere(staff_client, user) == {previous.name}

    page = run_action(staff_client, "activate_version", default)
    assert f"Model version {shipped} is active: new predictions use it." in page
    assert serving_column(staff_client) == {shipped: "served now, shipped with the site", previous.name: "-"}
    assert served_everywhere(staff_client, user) == {shipped}


def test_deactivating_serves_the_shipped_default_again(staff_client, user, shipped, previous):
    run_action(staff_client, "activate_version", previous)
    page = run_action(staff_client, "deactivate_version", previous)
    assert f"No version is active: the site serves the shipped default, {shipped}, to new predictions." in page
    assert not ModelVersion.objects.filter(is_active=True).exists()
    assert serving_column(staff_client) == {shipped: "served now, shipped with the site", previous.name: "-"}
    assert served_everywhere(staff_client, user) == {shipped}


def test_deactivating_versions_that_are_not_active_changes_nothing(staff_client, user, default, previous):
    run_action(staff_client, "activate_version", previous)
    page = run_action(staff_client, "deactivate_version", default)
    assert "None of the selected versions is active: nothing changed." in page
    assert served_everywhere(staff_client, user) == {previous.name}


def test_the_served_version_and_the_shipped_default_cannot_be_deleted(staff_client, user, shipped, default, previous):
    run_action(staff_client, "activate_version", previous)
    page = run_action(staff_client, "delete_selected", previous, default)
    for name in (previous.name, shipped):
        assert f"Model version {name} is not deleted: the site serves it now or when no version is active." in page
    assert "Are you sure you want to delete" not in page
    for version in (previous, default):
        assert staff_client.get(f"{CHANGELIST}{version.pk}/delete/").status_code == 403
        assert f"{version.pk}/delete/" not in staff_client.get(f"{CHANGELIST}{version.pk}/change/").content.decode()
    assert ModelVersion.objects.count() == 2
    assert served_everywhere(staff_client, user) == {previous.name}


def test_a_version_that_is_not_served_is_deleted_as_usual(staff_client, shipped, default, previous):
    page = run_action(staff_client, "delete_selected", previous, default)
    assert f"Model version {shipped} is not deleted" in page and "Are you sure you want to delete" in page
    staff_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [previous.pk], "post": "yes"})
    assert list(ModelVersion.objects.all()) == [default]
