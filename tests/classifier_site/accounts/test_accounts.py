"""Sign up, log in and out, change and reset a password, and the lock-out after repeated failures."""

import re

import pytest
from django.core import mail
from django.test import Client

from classifier.password_forms import AdminPasswordChangeForm
from classifier.services import api_token_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def test_sign_up_logs_the_new_user_in_and_opens_predict(client, django_user_model):
    response = client.post(
        "/accounts/signup/",
        {"username": "carol", "email": "carol@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == "/predict/"
    assert django_user_model.objects.get(username="carol").email == "carol@example.com"
    assert client.get("/predict/").status_code == 200


def test_sign_up_explains_what_is_wrong(client, user):
    response = client.post("/accounts/signup/", {"username": "alice", "password1": "a", "password2": "b"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "already exists" in page and "didn’t match" in page


def test_log_in_and_out(client, user):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/predict/"
    assert "alice" in client.get("/").content.decode()
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/predict/").status_code == 302


def test_log_in_returns_to_the_page_asked_for(client, user):
    response = client.post(
        "/accounts/login/?next=/predictions/", {"username": "alice", "password": PASSWORD, "next": "/predictions/"}
    )
    assert response["Location"] == "/predictions/"


def test_repeated_failed_logins_are_locked_out_even_with_the_right_password(client, user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert client.get("/predict/").status_code == 302


def test_change_password(client, user):
    client.force_login(user)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "another long secret", "new_password2": "another long secret"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another long secret")


def test_reset_a_forgotten_password_by_email(client, make_user):
    user = make_user("dave", email="dave@example.com")
    client.post("/accounts/password_reset/", {"email": "dave@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": "brand new secret", "new_password2": "brand new secret"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand new secret")
    assert "invalid" in client.get(link, follow=True).content.decode()


NEW_PASSWORD = "correct horse battery staple"


def api_status(client, key) -> int:
    return client.get("/api/v1/predictions", HTTP_AUTHORIZATION=f"Bearer {key}").status_code


@pytest.fixture
def two_tokens(user):
    return [api_token_create(user=user, name=name)[1] for name in ("laptop", "backup script")]


def test_changing_the_password_revokes_the_users_api_tokens_and_says_so(client, user, other_user, two_tokens):
    _, others = api_token_create(user=other_user)
    assert [api_status(Client(), key) for key in two_tokens] == [200, 200]
    client.force_login(user)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/accounts/password_change/done/"
    assert "2 API tokens of yours were revoked along with the old password" in response.content.decode()
    assert [api_status(Client(), key) for key in two_tokens] == [401, 401]
    assert api_status(Client(), others) == 200, "only the user's own tokens"


def test_resetting_the_password_revokes_the_users_api_tokens_and_says_so(client, user, two_tokens):
    user.email = "alice@example.com"
    user.save(update_fields=["email"])
    client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/accounts/reset/done/"
    assert "2 API tokens of yours were revoked along with the old password" in response.content.decode()
    assert [api_status(Client(), key) for key in two_tokens] == [401, 401]


def test_a_new_password_without_api_tokens_mentions_none(client, user):
    client.force_login(user)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Your password has been changed" in response.content.decode()
    assert "API token" not in response.content.decode().split("<main", 1)[1]


def test_the_admins_password_form_revokes_the_users_api_tokens(user, two_tokens):
    form = AdminPasswordChangeForm(user, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert form.is_valid(), form.errors
    form.save()
    assert form.revoked_tokens == 2
    assert [api_status(Client(), key) for key in two_tokens] == [401, 401]


def test_logging_in_with_a_hash_django_upgrades_keeps_the_api_tokens(client, user, two_tokens, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",  # the test settings' hasher: the user's hash is MD5
    ]
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$"), "the hash was upgraded on log-in"
    assert [api_status(Client(), key) for key in two_tokens] == [200, 200]
