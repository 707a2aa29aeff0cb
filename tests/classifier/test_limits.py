"""What keeps one person from spoiling the site for everyone: the client's address behind proxies, lock-outs that
only lock out the one guessing, passwords that resist guessing, and limits per user and per address."""

import ipaddress
import re
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import RequestFactory

from chat.models import Message
from chat.services import conversation_create
from classifier.limits import RateLimited, rate_limit_take
from classifier.models import Prediction
from classifier.services import api_token_create
from classifier_site.client_address import client_address
from tests.chat.fake_openai import stream
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
EVENTS = {"HTTP_ACCEPT": "text/event-stream"}


@pytest.fixture
def behind_the_proxy(settings):
    """The site behind one reverse proxy on 127.0.0.1, the address the test client's requests come from."""
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1")]


# --- the client's address ----------------------------------------------------------------------------------


def address_of(forwarded_for=None, remote="127.0.0.1"):
    headers = {"REMOTE_ADDR": remote} | ({"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {})
    return client_address(RequestFactory().get("/", **headers))


def test_without_trusted_proxies_x_forwarded_for_is_ignored():
    assert address_of("203.0.113.5") == "127.0.0.1"


def test_behind_a_trusted_proxy_the_client_is_the_address_it_appended(behind_the_proxy):
    assert address_of("203.0.113.5") == "203.0.113.5"
    # What the client wrote itself stands to the left of what the proxy appended, and is never believed.
    assert address_of("198.51.100.7, 203.0.113.5") == "203.0.113.5"
    assert address_of("not an address, 203.0.113.5") == "203.0.113.5"
    assert address_of(None) == "127.0.0.1"


def test_a_request_from_elsewhere_cannot_choose_its_address(behind_the_proxy):
    assert address_of("198.51.100.7", remote="192.0.2.9") == "192.0.2.9"


def test_a_chain_of_trusted_proxies_is_skipped_from_the_right(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("10.0.0.0/8")]
    assert address_of("192.0.2.1, 198.51.100.7, 10.1.2.3") == "198.51.100.7"
    assert address_of("garbage") == "127.0.0.1"


def log_in(client, address, password, *, forwarded_for=None):
    return client.post(
        "/accounts/login/",
        {"username": "alice", "password": password},
        HTTP_X_FORWARDED_FOR=forwarded_for or address,
    )


def test_wrong_passwords_lock_out_the_one_guessing_and_not_the_user(client, user, settings, behind_the_proxy):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        log_in(client, "203.0.113.5", "wrong password")
    assert log_in(client, "203.0.113.5", PASSWORD).status_code == 429
    # Sending someone else's address first changes nothing: the proxy appended the real one.
    assert log_in(client, "203.0.113.5", PASSWORD, forwarded_for="198.51.100.7, 203.0.113.5").status_code == 429
    assert log_in(client, "198.51.100.7", PASSWORD).status_code == 302


# --- passwords ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("a", "too short"),
        ("password123", "too common"),
        ("5831927640", "entirely numeric"),
        ("alice-smith-1", "too similar"),
    ],
)
def test_sign_up_refuses_a_weak_password(client, django_user_model, password, reason):
    fields = {"username": "alice-smith", "password1": password, "password2": password}
    response = client.post("/accounts/signup/", fields)
    assert response.status_code == 400 and reason in response.content.decode()
    assert not django_user_model.objects.exists()


def test_weak_password_messages_are_translated(client):
    fields = {"username": "olena", "password1": "a", "password2": "a"}
    response = client.post("/accounts/signup/", fields, HTTP_ACCEPT_LANGUAGE="uk")
    assert "Пароль занадто короткий" in response.content.decode()


def test_password_change_refuses_a_weak_password(client, user):
    client.force_login(user)
    fields = {"old_password": PASSWORD, "new_password1": "password123", "new_password2": "password123"}
    response = client.post("/accounts/password_change/", fields)
    assert response.status_code == 200 and "too common" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_password_reset_refuses_a_weak_password(client, make_user):
    user = make_user("dave", email="dave@example.com")
    client.post("/accounts/password_reset/", {"email": "dave@example.com"})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body)[1]
    form = client.get(link, follow=True).redirect_chain[-1][0]
    response = client.post(form, {"new_password1": "5831927640", "new_password2": "5831927640"})
    assert response.status_code == 200 and "entirely numeric" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --- the limits' mechanism ---------------------------------------------------------------------------------


def test_a_rate_limit_refuses_the_use_beyond_it_and_says_when_to_retry():
    for _ in range(3):
        rate_limit_take(scope="test", key="a", limit=3, window=timedelta(minutes=10))
    with pytest.raises(RateLimited) as refusal:
        rate_limit_take(scope="test", key="a", limit=3, window=timedelta(minutes=10))
    assert 590 <= refusal.value.retry_after <= 600
    rate_limit_take(scope="test", key="b", limit=3, window=timedelta(minutes=10))  # another key: its own count
    rate_limit_take(scope="other", key="a", limit=3, window=timedelta(minutes=10))  # another limit too


def test_a_limit_of_zero_is_no_limit():
    for _ in range(5):
        rate_limit_take(scope="test", key="a", limit=0, window=timedelta(minutes=1))


@pytest.mark.django_db(transaction=True)
def test_parallel_uses_cannot_all_take_the_last_places():
    """Ten threads, each with its own database connection, race for five places."""
    outcomes = []
    start = threading.Barrier(10)

    def use():
        start.wait()
        try:
            rate_limit_take(scope="race", key="a", limit=5, window=timedelta(minutes=1))
            outcomes.append("taken")
        except RateLimited:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 5 + ["taken"] * 5


# --- uploads -----------------------------------------------------------------------------------------------


def bearer(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_token_create(user=user)[1]}"
    return client


def api_upload(client, name="photo.jpg", data=None):
    return client.post("/api/v1/predictions", {"image": SimpleUploadedFile(name, data or image_bytes())})


def test_uploads_beyond_the_hourly_limit_are_429_with_retry_after(client, user, other_user, settings):
    settings.UPLOADS_PER_HOUR = 2
    api = bearer(client, user)
    assert [api_upload(api, f"{n}.jpg").status_code for n in range(2)] == [201, 201]
    refused = api_upload(api, "third.jpg")
    assert refused.status_code == 429 and 3500 <= int(refused["Retry-After"]) <= 3600
    assert "third.jpg: you can upload 2 images an hour" in refused.json()["error"]
    assert not Prediction.objects.filter(original_name="third.jpg").exists()
    assert api_upload(bearer(client, other_user), "bobs.jpg").status_code == 201  # a limit per user


def test_deleting_photos_does_not_give_back_uploads_an_hour(client, user, settings):
    settings.UPLOADS_PER_HOUR = 1
    api = bearer(client, user)
    first = api_upload(api).json()["predictions"][0]["id"]
    assert api.delete(f"/api/v1/predictions/{first}").status_code == 204
    assert api_upload(api).status_code == 429


def test_the_files_of_a_batch_within_the_limit_are_stored(owner_client, user, settings):
    settings.UPLOADS_PER_HOUR = 2
    files = [SimpleUploadedFile(f"{n}.jpg", image_bytes()) for n in range(3)]
    response = owner_client.post("/predict/", {"images": files}, follow=True)
    assert response.status_code == 200
    assert sorted(Prediction.objects.values_list("original_name", flat=True)) == ["0.jpg", "1.jpg"]
    assert "2.jpg: you can upload 2 images an hour" in response.content.decode()


def test_the_page_says_the_upload_rate_is_reached_in_the_users_language(owner_client, settings):
    settings.UPLOADS_PER_HOUR = 1
    owner_client.post("/predict/", {"images": SimpleUploadedFile("a.jpg", image_bytes())})
    response = owner_client.post(
        "/predict/", {"images": SimpleUploadedFile("b.jpg", image_bytes())}, HTTP_ACCEPT_LANGUAGE="uk"
    )
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "b.jpg: можна завантажити 1 зображення на годину" in response.content.decode()


def test_photos_beyond_the_quota_are_refused_and_deleting_frees_room(client, user, other_user, settings):
    photo = image_bytes("PNG", size=(120, 120))
    settings.UPLOAD_QUOTA_BYTES = 2 * len(photo) + 10
    api = bearer(client, user)
    kept = [api_upload(api, f"{n}.png", photo).json()["predictions"][0]["id"] for n in range(2)]
    refused = api_upload(api, "third.png", photo)
    assert refused.status_code == 413 and "delete some of them" in refused.json()["error"]
    assert [item["original_name"] for item in api.get("/api/v1/predictions").json()["predictions"]] == [
        "1.png",
        "0.png",
    ]
    assert api.delete(f"/api/v1/predictions/{kept[0]}").status_code == 204
    assert api_upload(api, "third.png", photo).status_code == 201
    assert api_upload(bearer(client, other_user), "bobs.png", photo).status_code == 201


def test_the_admin_shows_each_users_use_of_the_limits(client, user, staff_user, settings):
    settings.UPLOADS_PER_HOUR = 600
    settings.UPLOAD_QUOTA_BYTES = 2000 * 2**20
    api_upload(bearer(client, user))
    client.defaults.pop("HTTP_AUTHORIZATION")
    client.force_login(staff_user)
    page = client.get("/admin/auth/user/").content.decode()
    assert "uploads in the last hour" in page.lower() and "1 / 600" in page and "0.0 of 2000 MB" in page


# --- sign-up -----------------------------------------------------------------------------------------------


def sign_up(client, username, address):
    fields = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/accounts/signup/", fields, HTTP_X_FORWARDED_FOR=address)


def test_sign_ups_from_one_address_are_limited(client, django_user_model, settings, behind_the_proxy):
    settings.SIGNUPS_PER_HOUR = 2
    assert [sign_up(client, name, "203.0.113.5").status_code for name in ("ann", "ben")] == [302, 302]
    refused = sign_up(client, "cat", "203.0.113.5")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "At most 2 accounts can be made from one address in an hour" in refused.content.decode()
    assert not django_user_model.objects.filter(username="cat").exists()
    assert sign_up(client, "cat", "198.51.100.7").status_code == 302


# --- chat --------------------------------------------------------------------------------------------------


def send(client, conversation, content):
    return client.post(f"/chat/{conversation.pk}/send/", {"content": content}, **EVENTS)


def drain(response):
    return b"".join(response.streaming_content).decode()


def test_regenerating_an_answer_counts_as_a_message(owner_client, user, fake_openai, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    conversation = conversation_create(owner=user)
    fake_openai.then(stream("one"), stream("one again"))
    drain(send(owner_client, conversation, "first"))
    drain(owner_client.post(f"/chat/{conversation.pk}/regenerate/", **EVENTS))
    refused = owner_client.post(f"/chat/{conversation.pk}/regenerate/", **EVENTS)
    assert refused.status_code == 429 and "2 messages a minute" in refused.json()["error"]
    assert int(refused["Retry-After"]) > 0
    assert send(owner_client, conversation, "second").status_code == 429
    assert len(fake_openai.requests) == 2


def test_a_second_answer_while_one_streams_is_refused_at_once(owner_client, user, fake_openai):
    streaming = conversation_create(owner=user)
    Message.objects.create(conversation=streaming, role="assistant", status="streaming")
    other = conversation_create(owner=user)
    refused = send(owner_client, other, "are you there?")
    assert refused.status_code == 429 and "still being written" in refused.json()["error"]
    assert not other.messages.exists() and fake_openai.requests == []


def test_an_answer_left_streaming_by_a_dead_server_stops_blocking(owner_client, user, fake_openai, settings):
    conversation = conversation_create(owner=user)
    dead = Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    alive_for = settings.CHAT_REPLY_MAX_SECONDS + settings.OPENAI_TIMEOUT
    Message.objects.filter(pk=dead.pk).update(created_at=dead.created_at - timedelta(seconds=alive_for + 1))
    fake_openai.then(stream("here"))
    assert send(owner_client, conversation, "hello?").status_code == 200


def test_an_answer_is_cut_short_after_the_longest_time_allowed(owner_client, user, fake_openai, settings):
    settings.CHAT_REPLY_MAX_SECONDS = 0
    conversation = conversation_create(owner=user)
    fake_openai.then(stream(*[f"w{n} " for n in range(20)], delay=0.01))
    text = drain(send(owner_client, conversation, "write a lot"))
    assert "event: error" in text and "took longer than 0 seconds" in text
    answer = conversation.messages.get(role="assistant")
    assert answer.status == "incomplete" and answer.content.startswith("w0")


def test_only_the_latest_messages_go_upstream(owner_client, user, fake_openai, settings):
    settings.CHAT_CONTEXT_MESSAGES = 3
    conversation = conversation_create(owner=user)
    for n in range(5):
        Message.objects.create(conversation=conversation, role="user", content=f"question {n}")
        Message.objects.create(conversation=conversation, role="assistant", content=f"answer {n}")
    fake_openai.then(stream("ok"))
    drain(send(owner_client, conversation, "the newest"))
    sent = fake_openai.requests[0]["messages"]
    assert [message["content"] for message in sent[1:]] == ["question 4", "answer 4", "the newest"]
    assert sent[0]["role"] == "system"
