"""English and Ukrainian: the language a browser asks for, the switcher, words on the pages, and catalogues that
cover every text the site shows."""

import csv
import gettext as python_gettext
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from classifier.models import Prediction
from tests.classifier.factories import make_prediction
from tests.classifier_site.info.test_model_data_experts import text_of

pytestmark = pytest.mark.django_db

UKRAINIAN = {"HTTP_ACCEPT_LANGUAGE": "uk-UA,uk;q=0.9,en;q=0.5"}
ROOT = Path(settings.BASE_DIR)
CATALOGUES = ROOT / "locale" / "uk" / "LC_MESSAGES"
# Everything makemessages reads for the site's own texts (the Makefile's `messages` target ignores the rest).
SOURCES = ["manage.py", "classifier_site", "classifier", "chat", "mlcore", "templates", "static/js", "locale"]


@pytest.fixture
def ukrainian_client(client, user):
    client.force_login(user)
    client.defaults.update(UKRAINIAN)
    return client


def test_a_browser_that_asks_for_ukrainian_gets_ukrainian_pages(client):
    page = client.get("/", **UKRAINIAN).content.decode()
    assert '<html lang="uk">' in page
    assert "Що на вашому фото?" in page and "What is in your photo?" not in page
    for name in ("літак", "автомобіль", "птах", "кіт", "олень", "собака", "жаба", "кінь", "корабель", "вантажівка"):
        assert f"<span>{name}</span>" in page
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB,en").content.decode()
    assert '<html lang="en">' in english and "What is in your photo?" in english and "<span>cat</span>" in english


def test_the_switcher_changes_the_language_and_remembers_it(client):
    page = client.get("/model/").content.decode()
    assert 'action="/i18n/setlang/"' in page and '<option value="uk" lang="uk">Українська</option>' in page
    response = client.post("/i18n/setlang/", {"language": "uk", "next": "/model/"})
    assert response.status_code == 302 and response["Location"] == "/model/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "uk"
    again = client.get("/model/", HTTP_ACCEPT_LANGUAGE="en").content.decode()  # the choice beats the browser's
    assert "<h1>Дані моделі</h1>" in again and '<option value="uk" lang="uk" selected>' in again


def test_an_unknown_language_is_ignored_not_an_error(client):
    response = client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
    assert response.status_code == 302 and settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert "What is in your photo?" in client.get("/").content.decode()


# Words no Ukrainian sentence has: one of them standing alone in a Ukrainian page is English text left untranslated.
ENGLISH_WORDS = {"the", "of", "and", "with", "its", "on", "from", "images", "photos", "split", "noise", "trained"}


def english_words(page: str) -> set:
    """The ENGLISH_WORDS in what a reader sees of a page's main part, leaving out code, charts and the names of
    another data set's classes (ImageNet's own, "black-and-tan coonhound"), and words inside names and paths."""
    main = page[page.index("<main") : page.index("</main>")]
    for kept_as_it_is in (r"<code>.*?</code>", r"<svg.*?</svg>", r'<table class="figures-table class-map">.*?</table>'):
        main = re.sub(kept_as_it_is, " ", main, flags=re.S)
    return {word.lower() for word in re.findall(r"(?<![\w/.-])[A-Za-z]+(?![\w/.-])", text_of(main))} & ENGLISH_WORDS


@pytest.mark.usefixtures("fresh_active_version")
@pytest.mark.parametrize("bundle", ["", "experts/cifar10-efficientnet-lite0", "experts/cifar10-airbench"])
def test_the_model_data_page_of_each_shipped_bundle_has_no_english_words_in_ukrainian(client, settings, bundle):
    settings.MODEL_DIR = settings.SHIPPED_MODEL_DIR / bundle
    page = client.get("/model/", **UKRAINIAN).content.decode()
    assert '<html lang="uk">' in page
    assert not english_words(page)


def test_a_prediction_page_names_the_class_numbers_and_date_the_ukrainian_way(ukrainian_client, user):
    prediction = make_prediction(user, "garden.jpg")
    page = ukrainian_client.get(prediction.get_absolute_url()).content.decode()
    shown = {"airplane": "літак", "automobile": "автомобіль", "bird": "птах", "cat": "кіт", "deer": "олень"}
    shown |= {"dog": "собака", "frog": "жаба", "horse": "кінь", "ship": "корабель", "truck": "вантажівка"}
    assert f'<th scope="row">{shown[prediction.label]}</th>' in page
    percent = f"{100 * prediction.confidence:.1f}".replace(".", ",") + "\u00a0%"
    assert f'<td class="percent">{percent}</td>' in page
    months = ("січня", "лютого", "березня", "квітня", "травня", "червня", "липня", "серпня", "вересня", "жовтня")
    months += ("листопада", "грудня")
    assert any(f" {month} {prediction.created_at.year} р." in page for month in months)
    assert "Тут помилка?" in page and "Показати теплову карту" in page


def test_history_counts_predictions_with_ukrainian_plurals(ukrainian_client, user):
    for index in range(3):
        make_prediction(user, f"photo-{index}.jpg")
    assert "Сторінка 1 з 1 (3 передбачення)" in ukrainian_client.get("/predictions/").content.decode()
    for index in range(3, 5):
        make_prediction(user, f"photo-{index}.jpg")
    assert "Сторінка 1 з 1 (5 передбачень)" in ukrainian_client.get("/predictions/").content.decode()


def test_upload_errors_are_in_the_users_language(ukrainian_client):
    response = ukrainian_client.post("/predict/", {"images": io.BytesIO(b"not an image")})
    assert response.status_code == 400
    assert "це не зображення JPEG, PNG, WebP, GIF, BMP" in response.content.decode()


def test_the_api_and_csv_exports_keep_english_whatever_the_browser_asks(client, user, staff_user):
    prediction = make_prediction(user, "cat.jpg")
    prediction.none_of_the_classes = True
    prediction.save()
    from classifier.services import api_token_create

    _, key = api_token_create(user=user)
    body = client.get(f"/api/v1/predictions/{prediction.pk}", HTTP_AUTHORIZATION=f"Bearer {key}", **UKRAINIAN).json()
    assert body["label"] == prediction.label and body["top_k"][0]["label"] in Prediction.objects.get().probabilities
    assert body["verdict"] == "Not one of the ten classes"
    refused = client.get("/api/v1/predictions?page=x", HTTP_AUTHORIZATION=f"Bearer {key}", **UKRAINIAN)
    assert refused.json() == {"error": "page must be a whole number from 1 up."}

    client.force_login(staff_user)
    export = client.post(
        "/admin/classifier/prediction/",
        {"action": "export_csv", "_selected_action": [prediction.pk]},
        **UKRAINIAN,
    )
    row = next(csv.DictReader(io.StringIO(export.content.decode())))
    assert row["label"] == prediction.label and f"p_{prediction.label}" in row


def test_the_admin_labels_our_models_in_ukrainian(client, staff_user, user):
    make_prediction(user)
    client.force_login(staff_user)
    page = client.get("/admin/", **UKRAINIAN).content.decode()
    assert "Класифікатор" in page and "Передбачення" in page and "Розмови" in page and "Версії моделі" in page
    changelist = client.get("/admin/classifier/prediction/", **UKRAINIAN).content.decode()
    assert "Виправити на «кіт»" in changelist and "Підтвердити те, що показав сайт" in changelist


def test_the_password_reset_email_is_in_the_users_language(client, make_user, mailoutbox):
    make_user("olena", email="olena@example.com")
    client.post("/accounts/password_reset/", {"email": "olena@example.com"}, **UKRAINIAN)
    assert len(mailoutbox) == 1
    assert "olena" in mailoutbox[0].body and "пароль" in mailoutbox[0].body.lower()


def test_the_scripts_catalogue_is_a_script_in_the_pages_language(client):
    response = client.get("/jsi18n/", **UKRAINIAN)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    catalogue = response.content.decode()
    assert '"Looking at your predictions\\u2026": "\\u041f\\u0435\\u0440' in catalogue  # "Переглядаю…", as JSON


# --- the catalogues ----------------------------------------------------------------------------------------


def untranslated_entries(po_file: Path) -> str:
    """The entries of a .po file that are empty or fuzzy, as msgattrib prints them (empty when all are done)."""
    entries = []
    for option in ("--untranslated", "--only-fuzzy"):
        found = subprocess.run(
            ["msgattrib", option, "--no-obsolete", "--no-wrap", str(po_file)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        entries += [block for block in found.split("\n\n") if block.strip() and 'msgid ""\nmsgstr ""' not in block]
    return "\n\n".join(entries)


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_text_the_site_shows_has_a_ukrainian_translation(tmp_path, domain):
    """makemessages on a copy of the sources: a new or changed text comes out empty or fuzzy and fails here."""
    if shutil.which("msgattrib") is None:
        pytest.fail("GNU gettext is missing: install it with `make gettext` (apt-get install gettext).")
    for source in SOURCES:
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, tmp_path / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / source, tmp_path / source)
    environment = os.environ | {"DJANGO_SETTINGS_MODULE": "classifier_site.settings.test", "PYTHONPATH": ""}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--locale", "uk", "--domain", domain, "--no-obsolete"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        check=True,
    )
    missing = untranslated_entries(tmp_path / "locale" / "uk" / "LC_MESSAGES" / f"{domain}.po")
    assert not missing, f"Texts without a Ukrainian translation (run `make messages` and translate them):\n{missing}"


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_the_committed_compiled_catalogue_matches_its_po_file(tmp_path, domain):
    compiled = tmp_path / f"{domain}.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(CATALOGUES / f"{domain}.po")], check=True)
    with open(compiled, "rb") as fresh, open(CATALOGUES / f"{domain}.mo", "rb") as committed:
        expected = python_gettext.GNUTranslations(fresh)._catalog
        assert python_gettext.GNUTranslations(committed)._catalog == expected, "run `make messages` to compile"
