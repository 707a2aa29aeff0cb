"""Sign up, log in and out, change and reset a password, and the lock-out after repeated failures."""

import re

import pytest
from django.core import mail

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
