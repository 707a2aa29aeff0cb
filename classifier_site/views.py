"""Pages about the site rather than one app: home, model data, sign-up and the health check."""

from django import forms
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from classifier.ml import ClassifierUnavailable, get_classifier, model_summary
from mlcore.labels import CLASSES


def home(request):
    return render(request, "home.html", {"classes": CLASSES, "model": model_summary()})


def model_data(request):
    return render(request, "model_data.html", {"model": model_summary()})


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; needed only to reset a forgotten password.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("predict")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


@never_cache
def healthz(request):
    """200 with the model version when the model is loaded and the database answers; 503 otherwise."""
    problems = {}
    version = None
    try:
        version = get_classifier().version
    except ClassifierUnavailable as error:
        problems["model"] = str(error)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        problems["database"] = str(error).strip() or type(error).__name__
    body = {"status": "error" if problems else "ok", "model_version": version} | (
        {"problems": problems} if problems else {}
    )
    return JsonResponse(body, status=503 if problems else 200)
