"""A real browser for the end-to-end tests: Debian's Chromium, driven by Playwright's sync API.

Playwright's own browser download is never used: the tests drive /usr/bin/chromium, which `make test` installs from
Debian when it is missing. Without it the tests fail (they do not skip), so a missing browser cannot pass unnoticed.
"""

import contextlib
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from tests.conftest import cifar_test_images

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# The network is closed: keep Chromium from phoning home (updates, sync, QUIC probes) and from needing a GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000  # generous: the machine may be busy; every wait is on a locator or a navigation, never a sleep


@pytest.fixture(scope="package")
def playwright():
    """Playwright, for the tests in this folder only.

    While it runs, its sync API keeps an asyncio event loop running in the main thread, so Django refuses database
    access from the test thread (fixtures, flushing, assertions) as "async unsafe"; nothing here is really
    asynchronous, so that check is switched off for as long as Playwright runs. Scoped to this package rather than
    the session so that neither the running loop nor the switched-off check outlives the browser tests.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as driver:
            yield driver


@pytest.fixture(scope="package")
def browser(playwright):
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the browser tests need it. Install it with `make test` "
            "(apt-get install chromium), or point the CHROMIUM environment variable at a Chromium binary.",
            pytrace=False,
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser, live_server, transactional_db):
    """Opens fresh browser contexts (separate cookies, like separate people) on the live server; closes them all.

    Depends on the database so that the browsers close, and stop requesting pages, before it is flushed."""
    contexts = []

    def new():
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        for page in context.pages:
            # Let the last page finish loading its images first: a request still in flight when the database is
            # flushed would be answered for a user or a prediction that is already gone.
            with contextlib.suppress(PlaywrightError):
                page.wait_for_load_state()
        context.close()


@pytest.fixture
def page(new_context):
    return new_context().new_page()


@pytest.fixture
def photos(tmp_path):
    """Real CIFAR-10 test photos written to files, as a person would pick them: {class name: path}."""
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = {}
    for name, data in cifar_test_images().items():
        path = folder / name
        path.write_bytes(data)
        paths[name.split("-", 1)[0]] = path
    return paths


def signed_in_context(new_context, live_server, user, locale: str):
    """A browser that asks for `locale` first, signed in as `user` with a session made on the server."""
    client = Client()
    client.force_login(user)
    context = new_context()
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    context.set_extra_http_headers({"Accept-Language": f"{locale},{locale[:2]};q=0.9"})
    return context
