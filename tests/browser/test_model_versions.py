"""A reviewer switches the served model in the admin's Model versions list and back, in a real browser."""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from classifier.services import model_version_register
from tests.browser.test_end_to_end import log_in

pytestmark = pytest.mark.usefixtures("fresh_active_version")

expect.set_options(timeout=20_000)


def run_action(page: Page, version: str, action: str) -> None:
    page.goto("/admin/classifier/modelversion/")
    page.get_by_role("row").filter(has_text=version).get_by_role("checkbox").check()
    page.get_by_role("combobox", name=re.compile(r"^Action")).select_option(label=action)
    page.get_by_role("button", name="Go").click()


def expect_served(page: Page, version: str, others: str) -> None:
    """The list marks `version` served now (and nothing else), and the home page names it."""
    expect(page.get_by_role("row").filter(has_text=version)).to_contain_text("served now")
    expect(page.get_by_role("row").filter(has_text=others)).not_to_contain_text("served now")
    page.goto("/")
    expect(page.get_by_text(version, exact=True)).to_be_visible()


def test_staff_activate_the_previous_model_then_go_back_to_the_shipped_one(page, staff_user, settings):
    shipped = json.loads((settings.MODEL_DIR / "metadata.json").read_text())["name"]
    previous = model_version_register(path=settings.MODEL_DIR / "experts" / "cifar10-efficientnet-lite0").name
    log_in(page, "/admin/", staff_user.username)
    page.goto("/admin/classifier/modelversion/")
    expect(page.get_by_role("row").filter(has_text=shipped)).to_contain_text("served now, shipped with the site")

    run_action(page, previous, "Activate (serve this version from now on)")
    expect(page.get_by_text(f"Model version {previous} is active: new predictions use it.")).to_be_visible()
    expect_served(page, previous, others=shipped)

    run_action(page, shipped, "Activate (serve this version from now on)")
    expect(page.get_by_text(f"Model version {shipped} is active: new predictions use it.")).to_be_visible()
    expect_served(page, shipped, others=previous)

    run_action(page, previous, "Activate (serve this version from now on)")
    run_action(page, previous, "Deactivate (serve the shipped default)")
    message = f"No version is active: the site serves the shipped default, {shipped}, to new predictions."
    expect(page.get_by_text(message)).to_be_visible()
    expect_served(page, shipped, others=previous)
