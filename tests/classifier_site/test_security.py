"""Security headers, error pages without stack traces, and production settings that pass Django's deploy checks."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_pages_carry_a_content_security_policy_without_inline_scripts(client):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", ["/", "/predict/", "/chat/", "/accounts/login/", "/accounts/signup/", "/model/"])
def test_no_page_has_an_inline_script_or_style(owner_client, path):
    page = owner_client.get(path).content.decode()
    assert "<script>" not in page and "style=" not in page and "<style" not in page
    assert " on" + "click=" not in page


def test_not_found_is_the_sites_own_page(client, settings):
    settings.DEBUG = False
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()


def test_a_host_outside_the_allowed_hosts_gets_400(client):
    response = client.get("/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert "Traceback" not in response.content.decode()


def test_server_errors_show_a_page_without_a_stack_trace(client, settings, monkeypatch):
    from classifier_site.info import views

    def broken(request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "served_headline", broken)
    client.raise_request_exception = False
    response = client.get("/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page and "secret internals" not in page and "Traceback" not in page


def production_environment(**extra):
    return (
        os.environ
        | {
            "DJANGO_SETTINGS_MODULE": "classifier_site.settings.production",
            "DJANGO_SECRET_KEY": "x" * 20 + "-production-test-key-" + "y" * 30,
            "DJANGO_ALLOWED_HOSTS": "classifier.example.org",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://classifier.example.org",
            "DATABASE_URL": "sqlite:////tmp/classifier-production-check.sqlite3",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "smtp.example.org",
        }
        | extra
    )


def deploy_checks(environment) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )


def test_production_settings_pass_the_deploy_checks_with_no_warnings():
    result = deploy_checks(production_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_checks_want_the_email_backend_chosen_explicitly():
    unset = {name: value for name, value in production_environment().items() if name != "EMAIL_BACKEND"}
    result = deploy_checks(unset)
    assert result.returncode != 0
    assert "classifier.E001" in result.stderr and "password-reset e-mails" in result.stderr
    console = deploy_checks(unset | {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"})
    assert console.returncode == 0, console.stderr  # links in the log, when someone really wants them


# The pages name static files through collectstatic's manifest, which deploy/build.sh writes after `make test` has
# run in a fresh checkout: in these production shells they are named from the app folders instead.
STATIC_FILES_FROM_THE_APP_FOLDERS = (
    "from django.conf import settings; from django.test import override_settings; "
    "override_settings(STORAGES=settings.STORAGES | {'staticfiles': "
    "{'BACKEND': 'django.contrib.staticfiles.storage.StaticFilesStorage'}}).enable(); "
)


def production_shell(code: str, environment) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", STATIC_FILES_FROM_THE_APP_FOLDERS + code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )


def test_in_production_a_server_error_logs_its_traceback_to_stderr_and_a_404_logs_nothing():
    code = (
        "from unittest import mock; from django.test import Client; "
        "mock.patch('classifier_site.info.views.served_headline', "
        "side_effect=RuntimeError('secret internals')).start(); "
        "client = Client(raise_request_exception=False, headers={'host': 'classifier.example.org'}); "
        "print(client.get('/', secure=True).status_code, client.get('/nothing-here', secure=True).status_code)"
    )
    result = production_shell(code, production_environment())
    assert result.stdout.split() == ["500", "404"], result.stderr
    assert "Traceback" in result.stderr and "RuntimeError: secret internals" in result.stderr
    assert "Not Found" not in result.stderr


@pytest.mark.parametrize(
    ("switches", "header"),
    [
        ({}, "max-age=31536000; includeSubDomains; preload"),
        ({"DJANGO_HSTS_PRELOAD": "0"}, "max-age=31536000; includeSubDomains"),
        ({"DJANGO_HSTS_INCLUDE_SUBDOMAINS": "0", "DJANGO_HSTS_PRELOAD": "0"}, "max-age=31536000"),
    ],
)
def test_an_operator_chooses_whether_hsts_covers_subdomains_and_asks_for_preloading(switches, header):
    code = (
        "from django.test import Client; client = Client(headers={'host': 'classifier.example.org'}); "
        "print(client.get('/accounts/login/', secure=True)['Strict-Transport-Security'])"
    )
    result = production_shell(code, production_environment(**switches))
    assert result.stdout.strip() == header, result.stderr


def test_the_deploy_checks_name_what_turning_hsts_subdomains_and_preload_off_gives_up():
    """docs/deploying.md, step 5, says when to turn both off and that these two warnings follow."""
    result = deploy_checks(production_environment(DJANGO_HSTS_INCLUDE_SUBDOMAINS="0", DJANGO_HSTS_PRELOAD="0"))
    assert result.returncode != 0
    reported = set(re.findall(r"\(security\.\w+\)", result.stderr))
    assert reported == {"(security.W005)", "(security.W021)"}, result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=production_environment(DJANGO_SECRET_KEY=""),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_production_settings_without_a_key_refuse_before_writing_one():
    """The base settings make and keep a key in var/secret_key when none is given; production must stop first."""
    code = (
        "import sys\n"
        "try:\n    import classifier_site.settings.production\n"
        "except Exception as error:\n    print(type(error).__name__)\n"
        "print('base settings read' if 'classifier_site.settings.base' in sys.modules else 'base settings not read')"
    )
    environment = production_environment(DJANGO_SECRET_KEY="")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert result.stdout.split() == ["ImproperlyConfigured", "base", "settings", "not", "read"], result.stderr


def test_one_setting_moves_uploads_to_s3_compatible_storage():
    code = (
        'from django.core.files.storage import storages; s = storages["default"]; '
        "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.default_acl)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=os.environ
        | {
            "AWS_STORAGE_BUCKET_NAME": "uploads",
            "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "DJANGO_SETTINGS_MODULE": "classifier_site.settings.base",
        },
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["S3Storage", "uploads", "http://127.0.0.1:9000", "private"], result.stderr


def test_a_form_without_its_csrf_token_gets_the_sites_own_403_page(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/accounts/tokens/", {"name": "x"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


def test_a_request_for_a_host_the_site_does_not_serve_is_refused_and_the_log_names_the_setting(client, caplog):
    response = client.get("/", HTTP_HOST="192.168.1.20:8000")
    assert response.status_code == 400
    assert "Traceback" not in response.content.decode()
    lines = [record.getMessage() for record in caplog.records if record.name == "classifier_site.views"]
    assert any("'192.168.1.20:8000'" in line and "DJANGO_ALLOWED_HOSTS" in line for line in lines), lines
