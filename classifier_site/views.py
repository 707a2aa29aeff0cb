"""The site's 400 and 500 handlers: JSON under /api/, the site's pages elsewhere, never a stack trace."""

import sys

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext
from django.views import defaults

from classifier.storage import StorageUnavailable


def bad_request(request, exception):
    """The 400 handler, for what Django refuses before a view runs (too many files or fields, a body it cannot
    parse): JSON in English under /api/, as every API answer is; the site's page elsewhere."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, TooManyFilesSent):
        message = f"Too many files in one request: at most {settings.MAX_UPLOAD_FILES}."
    elif isinstance(exception, TooManyFieldsSent):
        message = "Too many fields in one request."
    else:
        message = "The request could not be read: send images as multipart/form-data fields named 'image'."
    return JsonResponse({"error": message}, status=400)


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
