import csv

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from classifier import presenters, services
from classifier.class_names import SHOWN_LABELS, class_name, shown_name
from classifier.formats import percent
from classifier.limits import rate_limit_uses
from classifier.models import ApiToken, ModelVersion, Prediction
from classifier.password_forms import AdminPasswordChangeForm
from mlcore.bundle import BundleError
from mlcore.labels import CLASSES

MODEL_OUTPUTS = (
    "image_preview",
    "model_input_preview",
    "original_name",
    "content_type",
    "size_bytes",
    "width",
    "height",
    "sha256",
    "answer",
    "why_none",
    "confidence_percent",
    "probability_bars",
    "expert_answers",
    "model_version",
    "inference_ms",
    "owner",
    "created_at",
    "feedback_label",
    "feedback_at",
    "review",
    "reviewed_by",
    "reviewed_at",
)
CSV_COLUMNS = (
    "id",
    "created_at",
    "owner",
    "original_name",
    "content_type",
    "size_bytes",
    "width",
    "height",
    "sha256",
    "label",
    "none_of_the_classes",
    "confidence",
    "model_version",
    "inference_ms",
    "feedback_label",
    "feedback_at",
    "review_status",
    "reviewed_label",
    "reviewed_by",
    "reviewed_at",
)
# The column keeps the API's name for what staff settled on, which is not always the stored field: confirming
# leaves `reviewed_label` empty.
CSV_ATTRIBUTES = {"reviewed_label": "settled_label"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ConfidenceBandFilter(admin.SimpleListFilter):
    title = _("confidence")
    parameter_name = "confidence"
    BANDS = {
        "low": (0.0, 0.5, _("under 50%")),
        "medium": (0.5, 0.9, _("50% to 90%")),
        "high": (0.9, 1.01, _("90% and over")),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (_, _, label) in self.BANDS.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.BANDS:
            return queryset
        low, high, _ = self.BANDS[self.value()]
        return queryset.filter(confidence__gte=low, confidence__lt=high)


class FeedbackFilter(admin.SimpleListFilter):
    title = _("feedback")
    parameter_name = "feedback"

    def lookups(self, request, model_admin):
        return [("disputed", _("disputed (owner says wrong)")), ("none", _("no feedback"))]

    def queryset(self, request, queryset):
        if self.value() == "disputed":
            return queryset.disputed()
        if self.value() == "none":
            return queryset.filter(feedback_label="")
        return queryset


def review_predictions(modeladmin, request, predictions, label=None):
    """Confirms what the site showed (`label` None) or corrects it to `label`, and says so. The list's actions and
    the buttons on a prediction's page both come here."""
    for prediction in predictions:
        if label is None:
            services.prediction_confirm(prediction=prediction, reviewer=request.user)
        else:
            services.prediction_correct(prediction=prediction, reviewer=request.user, label=label)
    count = len(predictions)
    if label is None:
        message = ngettext("Confirmed %(count)d prediction.", "Confirmed %(count)d predictions.", count)
    else:
        message = ngettext(
            "Corrected %(count)d prediction to %(class)s.", "Corrected %(count)d predictions to %(class)s.", count
        )
    modeladmin.message_user(request, message % {"count": count, "class": shown_name(label)}, messages.SUCCESS)


@admin.action(permissions=["change"], description=_("Confirm what the site showed"))
def confirm_predictions(modeladmin, request, queryset):
    review_predictions(modeladmin, request, queryset)


def correct_to(label):
    # The description is lazy: in the language of the page showing it.
    @admin.action(permissions=["change"], description=lazy(correct_to_description, str)(label))
    def action(modeladmin, request, queryset):
        review_predictions(modeladmin, request, queryset, label)

    action.__name__ = f"correct_to_{label}"
    return action


def correct_to_description(label):
    return gettext("Correct to %(class)s") % {"class": shown_name(label)}


@admin.action(permissions=["view"], description=_("Export the ticked rows as CSV"))
def export_csv(modeladmin, request, queryset):
    return predictions_csv(request, queryset)


def predictions_csv(request, predictions) -> HttpResponse:
    """`predictions` as a CSV file to download: English labels, as the API gives them, each photo's address, and
    every probability."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="predictions.csv"'
    writer = csv.writer(response)
    writer.writerow([*CSV_COLUMNS, "image_url", *(f"p_{name}" for name in CLASSES)])
    for prediction in predictions.select_related("owner", "reviewed_by").defer("model_input"):
        row = [getattr(prediction, CSV_ATTRIBUTES.get(column, column)) for column in CSV_COLUMNS]
        row.append(request.build_absolute_uri(reverse("prediction_image", args=[prediction.pk])))
        writer.writerow([csv_cell(value) for value in row] + [prediction.probabilities.get(name) for name in CLASSES])
    return response


def csv_cell(value):
    """A value as a spreadsheet should show it. Uploaders choose file names and sign-up chooses usernames, and a
    spreadsheet runs text starting with = + - @ (or a tab or carriage return before one) as a formula: such text
    gets a leading apostrophe, as OWASP's "CSV Injection" advises. Numbers, dates and empty cells stay as they are."""
    if isinstance(value, models.Model):
        value = str(value)  # the owner and the reviewer: their usernames
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    # Few, narrow columns: the list fits a 1280-pixel window beside the menu and the filters. The model version
    # is a filter and on each prediction's page and in the CSV.
    list_display = ("photo_thumbnail", "original_name", "answer", "review", "uploaded")
    list_display_links = ("photo_thumbnail", "original_name")
    list_filter = (
        "label",
        FeedbackFilter,
        "review_status",
        "none_of_the_classes",
        "model_version",
        ConfidenceBandFilter,
        "created_at",
    )
    search_fields = ("owner__username", "original_name")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    fields = MODEL_OUTPUTS
    readonly_fields = MODEL_OUTPUTS
    actions = [confirm_predictions, *(correct_to(label) for label in SHOWN_LABELS), export_csv]

    class Media:
        css = {"all": ["css/admin.css"]}

    def get_queryset(self, request):
        return super().get_queryset(request).defer("model_input")

    def has_add_permission(self, request):
        return False  # predictions come from uploads, through the same service as the site and the API

    def get_urls(self):
        return [
            path("csv/", self.admin_site.admin_view(self.csv_view), name="classifier_prediction_csv"),
            path(
                "<path:object_id>/review/",
                self.admin_site.admin_view(require_POST(self.review_view)),
                name="classifier_prediction_review",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        choices = [(label, shown_name(label)) for label in SHOWN_LABELS]
        return super().change_view(
            request, object_id, form_url, {"correct_to_choices": choices, **(extra_context or {})}
        )

    def csv_view(self, request):
        """The CSV of every row the list shows with the same filters, search and order, ticked or not."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(
                gettext("The list cannot be filtered that way; open the list and filter it again.")
            )
        return predictions_csv(request, changelist.get_queryset(request))

    def review_view(self, request, object_id):
        """The Confirm and Correct buttons of a prediction's page: the same review as the list's actions."""
        prediction = self.get_object(request, unquote(object_id))
        if prediction is None:
            raise Http404
        if not self.has_change_permission(request, prediction):
            raise PermissionDenied
        decision, label = request.POST.get("decision"), request.POST.get("correct_to")
        if decision == "confirm":
            review_predictions(self, request, [prediction])
        elif decision == "correct" and label in SHOWN_LABELS:
            review_predictions(self, request, [prediction], label)
        else:
            return HttpResponseBadRequest(
                gettext("Choose Confirm, or Correct with one of the classes or none of the ten.")
            )
        return redirect("admin:classifier_prediction_change", prediction.pk)

    @admin.display(description=_("image"))
    def photo_thumbnail(self, prediction):
        url = reverse("prediction_image", args=[prediction.pk])
        return format_html('<img src="{}?size=thumbnail" alt="" class="prediction-thumbnail">', url)

    @admin.display(description=_("answer"), ordering="confidence")
    def answer(self, prediction):
        """What the site showed, as the History page shows it: the class and its confidence, or "Not one of the
        ten classes" alone."""
        if prediction.none_of_the_classes:
            return prediction.verdict
        return f"{class_name(prediction.label)} {percent(prediction.confidence)}"

    @admin.display(description=_("confidence"), ordering="confidence")
    def confidence_percent(self, prediction):
        return percent(prediction.confidence)

    @admin.display(description=_("review"), ordering="review_status")
    def review(self, prediction):
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in presenters.review_lines(prediction)))

    @admin.display(description=_("uploaded"), ordering="created_at")
    def uploaded(self, prediction):
        when = date_format(localtime(prediction.created_at), "SHORT_DATETIME_FORMAT")
        return format_html("{}<br>{}", when, prediction.owner)

    @admin.display(description=_("image"))
    def image_preview(self, prediction):
        url = reverse("prediction_image", args=[prediction.pk])
        return format_html('<a href="{0}"><img src="{0}?size=display" alt="" class="prediction-preview"></a>', url)

    @admin.display(description=_("what the networks saw"))
    def model_input_preview(self, prediction):
        url = reverse("prediction_model_input", args=[prediction.pk])
        return format_html('<img src="{}" alt="" class="prediction-model-input">', url)

    @admin.display(description=_("why none of the ten"))
    def why_none(self, prediction):
        return format_html_join("", "<p>{}</p>", ((reason,) for reason in prediction.none_reasons)) or "-"

    @admin.display(description=_("what each network said"))
    def expert_answers(self, prediction):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
            (
                (row["title"], row["label"], row["probability"], row["other"] or "", row["weight"])
                for row in prediction.expert_rows
            ),
        )
        head = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            gettext("network"),
            gettext("answer"),
            gettext("other things"),
            gettext("weight"),
        )
        return format_html("<table>{}{}</table>", head, rows) if prediction.expert_rows else "-"

    @admin.display(description=_("probabilities"))
    def probability_bars(self, prediction):
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><meter min="0" max="1" value="{}"></meter></td><td>{}</td></tr>',
            (
                (class_name(item["label"]), item["probability"], percent(item["probability"]))
                for item in prediction.top_k
            ),
        )
        return format_html("<table>{}</table>", rows)


@admin.action(permissions=["change"], description=_("Revoke"))
def revoke_tokens(modeladmin, request, queryset):
    for token in queryset:
        services.api_token_revoke(token=token)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = [revoke_tokens]

    def has_add_permission(self, request):
        return False  # tokens are shown once when made: on the API tokens page or with `manage.py api_token`


@admin.action(permissions=["change"], description=_("Activate (serve this version from now on)"))
def activate_version(modeladmin, request, queryset):
    if queryset.count() != 1:
        modeladmin.message_user(request, gettext("Select exactly one version to activate."), messages.ERROR)
        return
    version = queryset.get()
    try:
        services.model_version_activate(version=version)
    except (BundleError, OSError, ValueError) as error:
        message = gettext("Model version %(name)s cannot be served: %(error)s") % {"name": version.name, "error": error}
        modeladmin.message_user(request, message, messages.ERROR)
        return
    message = gettext("Model version %(name)s is active: new predictions use it.") % {"name": version.name}
    modeladmin.message_user(request, message, messages.SUCCESS)


@admin.action(permissions=["change"], description=_("Deactivate (serve the shipped default)"))
def deactivate_version(modeladmin, request, queryset):
    if not queryset.filter(is_active=True).exists():
        message = gettext("None of the selected versions is active: nothing changed.")
        modeladmin.message_user(request, message, messages.WARNING)
        return
    try:
        default = services.model_version_deactivate()
    except (BundleError, OSError, ValueError) as error:
        message = gettext("The shipped default cannot be served: %(error)s") % {"error": error}
        modeladmin.message_user(request, message, messages.ERROR)
        return
    message = gettext("No version is active: the site serves the shipped default, %(name)s, to new predictions.")
    modeladmin.message_user(request, message % {"name": default.name}, messages.SUCCESS)


@admin.action(permissions=["delete"], description=admin_actions.delete_selected.short_description)
def delete_selected(modeladmin, request, queryset):
    """Django's bulk delete (whose name this takes on this list), less the active version and the shipped default:
    deleting the one served would switch the site to another bundle unasked, and the shipped default would only come
    back."""
    kept = list(queryset.undeletable())
    for version in kept:
        message = gettext(
            "Model version %(name)s is not deleted: the site serves it now or when no version is active. "
            "Activate another version first."
        )
        modeladmin.message_user(request, message % {"name": version.name}, messages.WARNING)
    deletable = queryset.exclude(pk__in=[version.pk for version in kept])
    return admin_actions.delete_selected(modeladmin, request, deletable) if deletable.exists() else None


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "serving", "test_accuracy_percent", "parameters", "registered_at", "activated_at")
    readonly_fields = ("name", "path", "is_active", "registered_at", "activated_at", "metadata")
    actions = [activate_version, deactivate_version, delete_selected]

    def changelist_view(self, request, extra_context=None):
        try:
            # Registered here rather than by a migration: MODEL_DIR is read at run time, by each app server.
            services.model_version_for_default_bundle()
        except (BundleError, OSError, ValueError) as error:
            message = gettext("The shipped default is not listed: %(error)s") % {"error": error}
            self.message_user(request, message, messages.WARNING)
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request):
        return super().get_queryset(request).with_serving()

    def has_add_permission(self, request):
        return False  # bundles are registered with `manage.py register_model PATH`

    def has_delete_permission(self, request, obj=None):
        undeletable = obj is not None and ModelVersion.objects.undeletable().filter(pk=obj.pk).exists()
        return super().has_delete_permission(request, obj) and not undeletable

    @admin.display(description=_("serving"))
    def serving(self, version):
        states = [
            *([gettext("served now")] if version.is_served else []),
            *([gettext("shipped with the site")] if version.is_shipped else []),
        ]
        return ", ".join(states) or "-"

    @admin.display(description=_("test accuracy"))
    def test_accuracy_percent(self, version):
        return percent(version.test_accuracy, 2) if version.test_accuracy is not None else gettext("not measured")

    @admin.display(description=_("parameters"))
    def parameters(self, version):
        return version.metadata.get("parameters")


class UsageUserAdmin(UserAdmin):
    """Django's user admin, with what each user takes of the per-user limits (docs/deploying.md, "Security")."""

    list_display = (*UserAdmin.list_display, "photos_kept", "storage_used", "uploads_last_hour")
    change_password_form = AdminPasswordChangeForm  # a new password revokes the user's API tokens

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(photo_count=Count("predictions"), photo_bytes=Sum("predictions__size_bytes"))
        )

    @admin.display(description=_("photos kept"), ordering="photo_count")
    def photos_kept(self, user):
        return user.photo_count

    @admin.display(description=_("storage used"), ordering="photo_bytes")
    def storage_used(self, user):
        used = (user.photo_bytes or 0) / 2**20
        quota = settings.UPLOAD_QUOTA_BYTES / 2**20
        if not quota:
            return f"{used:.1f} MB"
        return gettext("%(used)s of %(quota)s MB") % {"used": f"{used:.1f}", "quota": f"{quota:g}"}

    @admin.display(description=_("uploads in the last hour"))
    def uploads_last_hour(self, user):
        used = rate_limit_uses(scope="uploads", key=f"user:{user.pk}", window=services.UPLOADS_WINDOW)
        return f"{used} / {settings.UPLOADS_PER_HOUR}" if settings.UPLOADS_PER_HOUR > 0 else str(used)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UsageUserAdmin)
