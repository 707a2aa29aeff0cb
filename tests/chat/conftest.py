import pytest

from tests.chat.fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai(settings):
    """The chat talks to a real OpenAI-compatible server on 127.0.0.1, through the real openai client."""
    server = FakeOpenAI().start()
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_MODEL = "test-model"
    settings.OPENAI_TIMEOUT = 2.0
    settings.OPENAI_MAX_RETRIES = 0
    yield server
    server.stop()
