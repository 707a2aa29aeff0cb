"""The JSON API, version 1: bearer-token authentication, JSON errors, the same services as the pages.

It speaks English whatever the request's Accept-Language says: class names, verdicts and errors are words that
scripts rely on.
"""

import json
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.core.paginator import EmptyPage, Paginator
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt

from classifier import selectors, services
from classifier.class_names import SHOWN_LABELS
from classifier.openapi import openapi_description
from classifier.serving import ClassifierUnavailable

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class RequestRefused(ValueError):
    """A query parameter or body outside what the OpenAPI description allows; answered with this message and
    `status`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def error(message: str, status: int, **headers) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def bearer_user(request):
    """The user whose API token is in the Authorization header, or None."""
    scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return selectors.api_token_authenticate(key=key.strip())


def api_view(methods):
    """Token authentication and allowed methods for an API view. Session cookies are not accepted, which is
    why these views can be exempt from CSRF checks."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            with translation.override("en"):
                return authenticated(request, *args, **kwargs)

        def authenticated(request, *args, **kwargs):
            if request.method not in methods:
                return error(f"{request.method} is not allowed here.", 405, Allow=", ".join(methods))
            user = bearer_user(request)
            if user is None:
                return error(
                    "Authentication required: send 'Authorization: Bearer <token>' with a valid API token.",
                    401,
                    WWW_Authenticate='Bearer realm="api"',
                )
            request.user = user
            try:
                _each_once(request)
                _explained(request)
                return view(request, *args, **kwargs)
            except RequestRefused as refusal:
                return error(str(refusal), refusal.status)

        return wrapped

    return decorator


@api_view(["GET", "POST"])
def predictions(request):
    if request.method == "POST":
        return _create(request)
    page_size = _whole_number(request, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    number = _whole_number(request, "page", 1)
    label = request.GET.get("label")
    if label is not None:
        _check_label(label)
    paginator = Paginator(selectors.prediction_list_for_user(user=request.user, label=label), page_size)
    try:
        page = paginator.page(number)
    except EmptyPage:
        return error(f"There is no page {request.GET.get('page')}; there are {paginator.num_pages}.", 404)
    return JsonResponse(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": _page_url(request, page.next_page_number()) if page.has_next() else None,
            "previous": _page_url(request, page.previous_page_number()) if page.has_previous() else None,
            # Heat maps already made only: making each costs 40-120 ms, so a page of 100 would grow one request's
            # work with page_size. Each item's heat_map_url makes its own.
            "predictions": [prediction_json(request, prediction, make_heat_map=False) for prediction in page],
        }
    )


@api_view(["GET", "DELETE"])
def prediction(request, pk):
    found = selectors.prediction_get_for_owner(user=request.user, pk=pk)
    if found is None:
        return error("No such prediction.", 404)
    if request.method == "DELETE":
        services.prediction_delete(prediction=found)
        return HttpResponse(status=204)
    return JsonResponse(prediction_json(request, found))


@api_view(["POST", "DELETE"])
def prediction_feedback(request, pk):
    """The owner says what the photo really shows, as the page's "Is this wrong?" does; DELETE withdraws it."""
    found = selectors.prediction_get_for_owner(user=request.user, pk=pk)
    if found is None:
        return error("No such prediction.", 404)
    label = _feedback_label(request) if request.method == "POST" else ""  # the page withdraws with an empty label
    try:
        services.prediction_feedback(prediction=found, label=label)
    except services.FeedbackAgreesWithModel as refusal:
        return error(str(refusal), 409)
    return JsonResponse(prediction_json(request, found))


def _check_label(label) -> None:
    if label not in SHOWN_LABELS:
        raise RequestRefused(f"label must be one of: {', '.join(SHOWN_LABELS)}.")


def _feedback_label(request) -> str:
    """The label of a feedback body, `{"label": "cat"}`, refused unless it is exactly that shape."""
    if request.content_type != "application/json":
        raise RequestRefused('Send the body as JSON with Content-Type: application/json, as {"label": "cat"}.', 415)
    try:
        body = json.loads(request.body)
    except RequestDataTooBig:
        raise RequestRefused('The body is too large: a feedback body is {"label": "cat"}.', 413) from None
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise RequestRefused('The body is not JSON: send {"label": "cat"}.') from None
    if not isinstance(body, dict) or set(body) != {"label"}:
        raise RequestRefused('The body must be a JSON object with one field, label: {"label": "cat"}.')
    _check_label(body["label"])
    return body["label"]


def _whole_number(request, name: str, default: int, most: int | None = None) -> int:
    text = request.GET.get(name)
    if text is None:
        return default
    value = int(text) if text.isascii() and text.isdigit() else 0
    if value < 1 or (most is not None and value > most):
        raise RequestRefused(f"{name} must be a whole number {f'from 1 to {most}' if most else 'from 1 up'}.")
    return value


def _each_once(request) -> None:
    """Every query parameter the description names takes one value; `?page=1&page=2` is refused, not guessed at."""
    for name, values in request.GET.lists():
        if len(values) > 1:
            raise RequestRefused(f"{name} is given {len(values)} times; give it once.")


def _explained(request) -> bool:
    """Whether the caller asked for heat maps (?explain=1); 0 or 1 only, as the description says."""
    value = request.GET.get("explain")
    if value not in (None, "0", "1"):
        raise RequestRefused("explain must be 0 or 1.")
    return value == "1"


def openapi(request):
    return JsonResponse(openapi_description(request.build_absolute_uri("/api/v1")))


@csrf_exempt
def not_found(request, path=""):
    return error("No such API endpoint; see /api/v1/openapi.json.", 404)


def _create(request):
    files = request.FILES.getlist("image")
    oversize = getattr(request, "oversize_uploads", [])
    if not files and not oversize:
        if "image" in request.POST:  # a part without a filename, which multipart parsing reads as text
            return error(
                "Send each image as a file: its 'image' part needs a filename, as curl -F image=@photo.jpg sends.", 400
            )
        return error("Send one or more images as multipart/form-data fields named 'image'.", 400)
    try:
        result = services.prediction_create_many(owner=request.user, files=files, oversize_names=oversize)
    except ClassifierUnavailable:
        return error("The classifier is unavailable: its model could not be loaded.", 503)
    errors = [{"file": rejection.file_name, "error": rejection.reason} for rejection in result.rejections]
    if not result.predictions:
        summary = "; ".join(rejection.message for rejection in result.rejections)
        response = JsonResponse({"error": f"No image was stored. {summary}", "errors": errors}, status=result.status)
        if result.status == 429:
            response["Retry-After"] = str(result.retry_after)
        return response
    body = {"predictions": [prediction_json(request, item) for item in result.predictions], "errors": errors}
    return JsonResponse(body, status=201)


def prediction_json(request, prediction, *, make_heat_map: bool = True) -> dict:
    """The prediction as the API answers it; with ?explain=1 its heat map, made now unless `make_heat_map` is False
    (then only one made before, else cells null)."""
    body = {
        "id": prediction.pk,
        "label": prediction.label,
        "confidence": prediction.confidence,
        "none_of_the_classes": prediction.none_of_the_classes,
        "verdict": prediction.verdict,
        "none_because": prediction.none_because,
        "rule_case": prediction.rule_case,
        "experts": [_expert_json(expert) for expert in prediction.experts],
        "top_k": prediction.top_k,
        "model_version": prediction.model_version,
        "image_url": request.build_absolute_uri(reverse("prediction_image", args=[prediction.pk])),
        "heat_map_url": request.build_absolute_uri(reverse("api_prediction", args=[prediction.pk]) + "?explain=1"),
        "created_at": prediction.created_at.isoformat(),
        "original_name": prediction.original_name,
        "content_type": prediction.content_type,
        "size_bytes": prediction.size_bytes,
        "width": prediction.width,
        "height": prediction.height,
        "sha256": prediction.sha256,
        "inference_ms": prediction.inference_ms,
        "review_status": prediction.review_status,
        "reviewed_label": prediction.settled_label,
        "feedback_label": prediction.feedback_label or None,
    }
    if _explained(request):
        body["heat_map"] = heat_map_json(request, prediction, make=make_heat_map)
    return body


def _expert_json(expert: dict) -> dict:
    keys = ("name", "network", "trained_on", "weight", "probabilities", "other", "unlike_training", "square")
    return {key: expert.get(key) for key in keys}


def heat_map_json(request, prediction, *, make: bool = True) -> dict | None:
    """Which regions drove the label: cells over the centre square the network saw, and an overlay image URL.
    Without `make`, cells are null for a heat map not made yet. None when the model version is gone."""
    if make:
        cells = services.prediction_heat_map(prediction=prediction)
        if cells is None:
            return None
        cells = cells.tolist()
    else:
        cells = prediction.heat_map
    return {
        "cells": cells,
        "covers": "the centre square of the photo, which is what the networks saw",
        "image_url": request.build_absolute_uri(reverse("prediction_heat_map", args=[prediction.pk])),
    }


def _page_url(request, number):
    query = request.GET.copy()
    query["page"] = number
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
