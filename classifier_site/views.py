"""Public pages that are about the site rather than one app."""

from django.shortcuts import render

from classifier.ml import model_summary
from mlcore.labels import CLASSES


def home(request):
    return render(request, "home.html", {"classes": CLASSES, "model": model_summary()})
