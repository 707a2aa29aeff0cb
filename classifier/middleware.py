from django.conf import settings
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.utils import translation
from django.utils.translation import gettext


class RequestSizeLimitMiddleware:
    """Refuses a request whose declared body is larger than any allowed upload, before reading the body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.MAX_REQUEST_BYTES:
            return request_too_large(request)
        return self.get_response(request)


def request_too_large(request):
    """413 in the visitor's language (this runs before LocaleMiddleware); the API answers in English."""
    language = "en" if request.path.startswith("/api/") else translation.get_language_from_request(request)
    with translation.override(language):
        message = gettext(
            "The upload is too large: at most %(files)d files of %(megabytes)d MB each can be sent at once."
        ) % {"files": settings.MAX_UPLOAD_FILES, "megabytes": settings.MAX_UPLOAD_BYTES // (1024 * 1024)}
        if request.path.startswith("/api/"):
            return JsonResponse({"error": message}, status=413)
        context = {"title": gettext("Upload too large"), "message": message}
        return TemplateResponse(request, "error.html", context, status=413).render()
