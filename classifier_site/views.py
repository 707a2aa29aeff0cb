"""The site's 400 and 500 handlers: JSON under /api/, the site's pages elsewhere, never a stack trace."""

import logging
import sys

from django.conf import settings
from django.core.exceptions import DisallowedHost, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext
from django.views import defaults

from classifier.storage import StorageUnavailable

logger = logging.getLogger(__name__)


def bad_request(request, exception):
    """The 400 handler, for what Django refuses before a view runs (a host it does not serve, too many files or
    fields, a body it cannot parse): JSON in English under /api/, as every API answer is; the site's page elsewhere."""
    if isinstance(exception, DisallowedHost):
        _log_refused_host(request)
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, TooManyFilesSent):
        message = f"Too many files in one request: at most {settings.MAX_UPLOAD_FILES}."
    elif isinstance(exception, TooManyFieldsSent):
        message = "Too many fields in one request."
    else:
        message = "The request could not be read: send images as multipart/form-data fields named 'image'."
    return JsonResponse({"error": message}, status=400)


def _log_refused_host(request):
    # Django says nothing of it unless DEBUG is on: an operator who opens the site by a new address sees a bare
    # "Bad request" and needs to know which setting to change.
    host = request.META.get("HTTP_HOST", "")
    logger.warning(
        "Refused a request for host %r: it is not in DJANGO_ALLOWED_HOSTS (now %s); add it there, comma-separated.",
        host[:200],
        ",".join(settings.ALLOWED_HOSTS) or "empty",
    )


def server_error(request):
    """The 500 handler: a database or file storage that does not answer is a 503 that passes by itself, anything
    else a 500; never a stack trace. JSON (in English, like the rest of the API) under /api/."""
    error = sys.exc_info()[1]
    database_down = isinstance(error, (OperationalError, InterfaceError))
    storage_down = isinstance(error, StorageUnavailable)
    passing = database_down or storage_down
    api = request.path.startswith("/api/")
    with translation.override("en" if api else translation.get_language()):
        if database_down:
            message = gettext("The site cannot reach its database right now. Please try again in a moment.")
        elif storage_down:
            message = gettext("The site cannot read its stored files right now. Please try again in a moment.")
        else:
            message = gettext(
                "The site hit an error it did not expect. It has been logged; please try again in a moment."
            )
    status = 503 if passing else 500
    if api:
        response = JsonResponse({"error": message}, status=status)
    else:
        response = HttpResponse(render_to_string("500.html", {"message": message}), status=status)
    if passing:
        response["Retry-After"] = "5"
    return response
