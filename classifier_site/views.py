"""Pages about the site rather than one app: sign-up and a new password, and the 400 and 500 handlers."""

import sys
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views import defaults

from classifier import password_forms
from classifier.limits import RateLimited, rate_limit_take
from classifier.storage import StorageUnavailable
from classifier_site.client_address import client_address


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        label=gettext_lazy("Email"),
        required=False,
        help_text=gettext_lazy("Optional; needed only to reset a forgotten password."),
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = account_create(form=form, address=client_address(request))
        except RateLimited as refusal:
            form.add_error(None, _too_many_signups())
            response = render(request, "registration/signup.html", {"form": form}, status=429)
            response["Retry-After"] = str(refusal.retry_after)
            return response
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("predict")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


def account_create(*, form: SignupForm, address: str):
    """The new user, counted against SIGNUPS_PER_HOUR for the client's address in the same transaction (RateLimited
    beyond it): sign-up is open to anyone, so one address cannot make accounts without end."""
    with transaction.atomic():
        rate_limit_take(scope="signups", key=address, limit=settings.SIGNUPS_PER_HOUR, window=timedelta(hours=1))
        return form.save()


def _too_many_signups() -> str:
    return ngettext(
        "At most %(limit)d account can be made from one address in an hour. Please try again later.",
        "At most %(limit)d accounts can be made from one address in an hour. Please try again later.",
        settings.SIGNUPS_PER_HOUR,
    ) % {"limit": settings.SIGNUPS_PER_HOUR}


class SaysApiTokensRevoked:
    """For Django's views that set a new password through a form of password_forms: the page after says how many
    API tokens went with the old password, so that nobody wonders why their scripts now get 401."""

    def form_valid(self, form):
        response = super().form_valid(form)
        if form.revoked_tokens:
            message = ngettext(
                "%(count)d API token of yours was revoked along with the old password: make a new one on the API "
                "tokens page.",
                "%(count)d API tokens of yours were revoked along with the old password: make new ones on the API "
                "tokens page.",
                form.revoked_tokens,
            )
            messages.info(self.request, message % {"count": form.revoked_tokens})
        return response


class PasswordChangeView(SaysApiTokensRevoked, auth_views.PasswordChangeView):
    form_class = password_forms.PasswordChangeForm


class PasswordResetConfirmView(SaysApiTokensRevoked, auth_views.PasswordResetConfirmView):
    form_class = password_forms.SetPasswordForm


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
