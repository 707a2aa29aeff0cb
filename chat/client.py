"""The OpenAI client, configured from settings and made once per process; and what its errors mean to a user."""

from functools import lru_cache

import httpx2
import openai
from django.conf import settings
from django.utils.translation import gettext, ngettext


def chat_configured() -> bool:
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def available_models() -> list[str]:
    """The default model first, then the others a user may pick."""
    return [settings.OPENAI_MODEL, *(name for name in settings.OPENAI_MODELS if name != settings.OPENAI_MODEL)]


def sees_images(model: str) -> bool:
    """Whether the chat server's `model` takes images (CHAT_VISION_MODELS): only then does a photo go upstream."""
    return model in settings.CHAT_VISION_MODELS


def get_client() -> openai.OpenAI:
    return _client(
        settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_TIMEOUT, settings.OPENAI_MAX_RETRIES
    )


@lru_cache(maxsize=4)
def _client(api_key: str, base_url: str, timeout: float, max_retries: int) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=api_key or "no-key",  # local servers (Ollama, llama.cpp, vLLM) accept any key
        base_url=base_url or None,
        timeout=openai.Timeout(timeout, connect=min(5.0, timeout)),
        max_retries=max_retries,
    )


class UpstreamFailure(Exception):
    """A failed call to the chat server, described for the person waiting for the answer."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# The openai client raises its own errors for failed requests, but a stream cut mid-way surfaces as a raw
# transport error of the HTTP library underneath.
UPSTREAM_ERRORS = (openai.OpenAIError, httpx2.HTTPError)


def describe_failure(error: Exception, *, streamed_anything: bool) -> UpstreamFailure:
    """What went wrong, in words for the person waiting (in the active language)."""
    seconds = {"seconds": f"{settings.OPENAI_TIMEOUT:g}"}
    if isinstance(error, openai.AuthenticationError):
        return UpstreamFailure(
            gettext("The chat server refused the API key (401). An administrator must check OPENAI_API_KEY.")
        )
    if isinstance(error, openai.RateLimitError):
        retry_after = _retry_after(error.response)
        if retry_after:
            message = ngettext(
                "The chat server is busy (429, too many requests). Try again in %(seconds)d second.",
                "The chat server is busy (429, too many requests). Try again in %(seconds)d seconds.",
                retry_after,
            ) % {"seconds": retry_after}
        else:
            message = gettext("The chat server is busy (429, too many requests). Try again in a little while.")
        return UpstreamFailure(message, retry_after)
    if streamed_anything and isinstance(error, openai.APITimeoutError):
        return UpstreamFailure(
            gettext("The answer was cut off: the chat server sent nothing for %(seconds)s seconds. Try again.")
            % seconds
        )
    if streamed_anything and isinstance(error, (openai.APIConnectionError, httpx2.HTTPError)):
        return UpstreamFailure(gettext("The answer was cut off: the connection to the chat server broke. Try again."))
    if isinstance(error, openai.APITimeoutError):
        return UpstreamFailure(
            gettext("The chat server did not answer within %(seconds)s seconds. Try again in a moment.") % seconds
        )
    if isinstance(error, openai.APIConnectionError):
        return UpstreamFailure(gettext("The chat server cannot be reached right now. Try again in a moment."))
    if isinstance(error, openai.APIStatusError):
        status = {"status": error.status_code}
        if error.status_code >= 500:
            return UpstreamFailure(gettext("The chat server had an internal error (%(status)d). Try again.") % status)
        return UpstreamFailure(
            gettext("The chat server refused the request (%(status)d): %(detail)s")
            % {**status, "detail": _detail(error)}
        )
    return UpstreamFailure(gettext("The chat server's answer could not be read. Try again."))


def _retry_after(response) -> int | None:
    try:
        return max(1, round(float(response.headers.get("retry-after", ""))))
    except (TypeError, ValueError):
        return None


def _detail(error) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    return str(body.get("message") or error.message)[:300]
