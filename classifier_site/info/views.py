"""The pages about the site and its model: home, Model data (with its example images), the icon and the health
check."""

import logging

from django.db import DatabaseError, connection
from django.http import FileResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control, never_cache

from classifier.serving import ClassifierUnavailable, get_classifier
from classifier_site.info.headline import served_headline
from classifier_site.info.page import model_page
from classifier_site.info.versions import example_image_path
from mlcore.labels import CLASSES

logger = logging.getLogger(__name__)


def home(request):
    return render(request, "info/home.html", {"classes": CLASSES, "model": served_headline()})


def model_data(request):
    context = model_page(version=request.GET.get("version"), compare=request.GET.get("compare"))
    return render(request, "info/model_data.html", context)


@cache_control(public=True, max_age=3600)
def model_example(request, version, file_name):
    """An example test image from a bundle's examples/ folder (the most confused pairs)."""
    path = example_image_path(version=version, file_name=file_name)
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@cache_control(public=True, max_age=86400)
def favicon(request):
    """Browsers ask for /favicon.ico on pages that name no icon of their own (the admin, a photo opened by itself,
    the API's JSON); they get the site's icon instead of a 404."""
    return redirect(static("img/favicon.svg"))


@never_cache
def healthz(request):
    """200 with the model version when the model is loaded and the database answers; otherwise 503 naming what is
    down ("model", "database") and nothing more. Anyone may ask, so the details (the bundle's path, the database's
    error) go to the log."""
    details = {}
    try:
        version = get_classifier().version
    except ClassifierUnavailable as error:
        details["model"] = str(error)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        details["database"] = str(error).strip() or type(error).__name__
    if details:
        logger.error("/healthz answers 503: %s", "; ".join(f"{name}: {detail}" for name, detail in details.items()))
        return JsonResponse({"status": "error", "problems": list(details)}, status=503)
    return JsonResponse({"status": "ok", "model_version": version})
