"""Sign-up, and the pages that set a new password."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.utils.translation import ngettext

from classifier import password_forms
from classifier.limits import RateLimited
from classifier_site.accounts.forms import SignupForm
from classifier_site.accounts.services import account_create
from classifier_site.client_address import client_address


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
