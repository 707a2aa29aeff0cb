from django.conf import settings
from django.http import JsonResponse
from django.template.response import TemplateResponse


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
    limit_mb = settings.MAX_UPLOAD_BYTES // (1024 * 1024)
    message = (
        f"The upload is too large: at most {settings.MAX_UPLOAD_FILES} files of {limit_mb} MB each can be sent at once."
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message}, status=413)
    response = TemplateResponse(request, "error.html", {"title": "Upload too large", "message": message}, status=413)
    return response.render()
