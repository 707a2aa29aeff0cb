"""Pages: Predict, History, one prediction and its owner's feedback, its image files, and the API token page."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.utils.translation import gettext
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods, require_POST

from classifier import presenters, selectors, services
from classifier.api import bearer_user
from classifier.class_names import SHOWN_LABELS
from classifier.images import png_bytes, square_from_image
from classifier.models import Prediction
from classifier.serving import ClassifierUnavailable
from classifier_site.info.headline import served_headline
from mlcore.explain import heat_map_image
from mlcore.labels import CLASSES

PAGE_SIZE = 20
# Photos are private: a browser may keep them but must ask again before showing them (no-cache), and the ETag makes
# that a 304 without the bytes. Cached for an hour instead, a photo stayed viewable in a shared browser after its
# owner logged out.
private_photo = cache_control(private=True, no_cache=True)
UPLOAD_REJECTIONS = "upload_rejections"  # the session's key for the files an upload refused, until its results show


@login_required
@require_http_methods(["GET", "POST"])
def predict(request):
    if request.method == "GET":
        return _predict_page(request)
    files = request.FILES.getlist("images")
    oversize = getattr(request, "oversize_uploads", [])
    if not files and not oversize:
        return _predict_page(request, errors=[gettext("Choose one or more images to classify.")], status=400)
    try:
        result = services.prediction_create_many(owner=request.user, files=files, oversize_names=oversize)
    except ClassifierUnavailable:
        return _predict_page(request, model=None, status=503)
    errors = [rejection.message for rejection in result.rejections]
    if not result.predictions:  # nothing changed: the form again, with why, under the status that says it
        response = _predict_page(request, errors=errors, status=result.status)
        if result.status == 429:
            response["Retry-After"] = str(result.retry_after)
        return response
    # Post/redirect/get: the results have an address of their own, so a reload shows them and uploads nothing again.
    if len(result.predictions) == 1 and not errors:
        return redirect(result.predictions[0])
    request.session[UPLOAD_REJECTIONS] = errors  # shown once, on the results page
    ids = ",".join(str(prediction.pk) for prediction in result.predictions)
    return redirect(f"{reverse('predict_results')}?ids={ids}")


@login_required
def predict_results(request):
    """The results of one upload of several photos: the photos asked for that are the user's, in their order."""
    predictions = selectors.predictions_by_ids_for_user(user=request.user, ids=request.GET.get("ids", ""))
    if not predictions:
        return redirect("predict")
    return _predict_page(request, predictions=predictions, errors=request.session.pop(UPLOAD_REJECTIONS, []))


def _predict_page(request, status=200, **context):
    context.setdefault("model", served_headline())
    context["max_upload_mb"] = settings.MAX_UPLOAD_BYTES // (1024 * 1024)
    context["max_megapixels"] = f"{settings.MAX_IMAGE_PIXELS / 1e6:g}"
    return render(request, "classifier/predict.html", context, status=status)


@login_required
def prediction_list(request):
    label = request.GET.get("label") or None
    predictions = selectors.prediction_list_for_user(user=request.user, label=label)
    page = Paginator(predictions, PAGE_SIZE).get_page(request.GET.get("page"))
    shown = label if label in SHOWN_LABELS else None
    context = {
        "page": page,
        "label": shown,
        "label_query": f"&label={shown}" if shown else "",  # the Newer and Older links keep the filter
        "classes": CLASSES,
    }
    return render(request, "classifier/prediction_list.html", context)


@login_required
def prediction_detail(request, pk):
    return _detail_page(request, _own_prediction(request, pk))


@login_required
@require_POST
def prediction_feedback(request, pk):
    """The owner says the answer is wrong (a class, or "none"); an empty label withdraws it."""
    prediction = _own_prediction(request, pk)
    try:
        services.prediction_feedback(prediction=prediction, label=request.POST.get("label", ""))
    except ValueError as error:
        return _detail_page(request, prediction, errors=[str(error)], status=400)
    if prediction.feedback_label:
        messages.success(request, gettext("Thank you: your answer is saved, and staff will see it."))
    else:
        messages.success(request, gettext("Your answer is withdrawn."))
    return redirect(f"{prediction.get_absolute_url()}#feedback-title")  # back where the person was, not the top


@login_required
@require_http_methods(["GET", "POST"])
def prediction_delete(request, pk):
    prediction = _own_prediction(request, pk)
    if request.method == "GET":
        return render(request, "classifier/prediction_confirm_delete.html", {"prediction": prediction})
    services.prediction_delete(prediction=prediction)
    messages.success(request, gettext("Deleted %(name)s.") % {"name": prediction.original_name})
    return redirect("prediction_list")


@private_photo
def prediction_image(request, pk):
    """The stored upload, for its owner and staff only (session or API token), with the content type the
    server decided; `?size=thumbnail`: its small JPEG, made once and kept; `?size=display`: what its page shows, a
    JPEG at most 1280 pixels on the longer side, made once and kept (the photo itself when it is no larger)."""
    prediction = _viewable_prediction(request, pk)
    size = request.GET.get("size")
    variant = size if size in ("thumbnail", "display") else "original"
    if not_modified := _not_modified(request, prediction, variant):
        return not_modified
    if variant == "thumbnail":
        data, content_type = services.prediction_thumbnail_bytes(prediction=prediction), "image/jpeg"
    elif variant == "display":
        data, content_type = services.prediction_display_image(prediction=prediction)
    else:
        data, content_type = selectors.prediction_image_bytes(prediction=prediction), prediction.content_type
    if data is None:
        raise Http404("The file of this photo is missing from storage.")
    return _image_response(prediction, variant, data, content_type)


@private_photo
def prediction_model_input(request, pk):
    """The squares the networks kept of the photo, side by side; with `?expert=NAME`, the one that network saw, at
    its input size."""
    prediction = _viewable_prediction(request, pk)
    name = request.GET.get("expert")
    variant = f"squares-{name}"
    if not_modified := _not_modified(request, prediction, variant):
        return not_modified
    if name is None:
        pixels = square_from_image(bytes(prediction.model_input))
    else:
        pixels = selectors.prediction_seen_square(prediction=prediction, expert=name)
    if pixels is None:
        raise Http404(gettext("This prediction has no expert of that name."))
    return _image_response(prediction, variant, png_bytes(pixels), "image/png")


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    new_key = None
    if request.method == "POST":
        _, new_key = services.api_token_create(user=request.user, name=request.POST.get("name", "").strip())
    tokens = selectors.api_token_list_for_user(user=request.user)
    return render(request, "classifier/api_tokens.html", {"tokens": tokens, "new_key": new_key})


@login_required
@require_POST
def api_token_revoke(request, pk):
    token = selectors.api_token_list_for_user(user=request.user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    services.api_token_revoke(token=token)
    messages.success(request, gettext("Revoked the token %(prefix)s…") % {"prefix": token.prefix})
    return redirect("api_tokens")


def _own_prediction(request, pk):
    prediction = selectors.prediction_get_for_owner(user=request.user, pk=pk)
    if prediction is None:
        raise Http404("No such prediction.")
    return prediction


def _detail_page(request, prediction, errors=(), status=200):
    choices = Prediction._meta.get_field("feedback_label").choices
    context = {
        "prediction": prediction,
        "feedback_choices": [(value, name) for value, name in choices if value != prediction.label],
        "errors": errors,
        "heat_map_alt": presenters.heat_map_alt(prediction),
        "experts": presenters.expert_answers(prediction),
        "said_sentence": presenters.feedback_said(prediction.feedback_label),
    }
    return render(request, "classifier/prediction_detail.html", context, status=status)


@private_photo
def prediction_heat_map(request, pk):
    """The heat map as a transparent overlay with the photo's aspect, made on demand from the stored model input."""
    prediction = _viewable_prediction(request, pk)
    if not_modified := _not_modified(request, prediction, "heat-map"):
        return not_modified
    cells = services.prediction_heat_map(prediction=prediction)
    if cells is None:
        raise Http404(gettext("The model version that made this prediction is no longer available."))
    overlay = heat_map_image(cells, (prediction.width, prediction.height))
    return _image_response(prediction, "heat-map", png_bytes(overlay), "image/png")


def _viewable_prediction(request, pk):
    user = request.user if request.user.is_authenticated else bearer_user(request)
    if user is None:
        raise PermissionDenied(gettext("Sign in to see uploaded images."))
    prediction = selectors.prediction_get_viewable(user=user, pk=pk)
    if prediction is None:
        raise Http404("No such prediction.")
    return prediction


def _etag(prediction, variant: str) -> str:
    """The validator of one image of a prediction: each is made from the stored photo, which never changes."""
    return f'"{prediction.pk}-{prediction.sha256[:16]}-{variant}"'


def _not_modified(request, prediction, variant: str) -> HttpResponse | None:
    """304 when the browser's copy is current (If-None-Match), checked before anything is read from storage."""
    return get_conditional_response(request, etag=_etag(prediction, variant))


def _image_response(prediction, variant: str, data: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    response["ETag"] = _etag(prediction, variant)
    return response
