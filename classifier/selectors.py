"""Reads: which predictions and tokens a user may see."""

from django.db.models import QuerySet

from classifier.models import ApiToken, Prediction
from mlcore.labels import CLASSES


def prediction_list_for_user(*, user, label: str | None = None) -> QuerySet:
    """The user's own predictions, newest first, optionally of one predicted class."""
    predictions = Prediction.objects.owned_by(user).defer("model_input")
    if label in CLASSES:
        predictions = predictions.filter(label=label)
    return predictions


def prediction_get_for_owner(*, user, pk) -> Prediction | None:
    return Prediction.objects.owned_by(user).filter(pk=pk).first()


def prediction_get_viewable(*, user, pk) -> Prediction | None:
    """A prediction whose image `user` may see: their own, or any with the permission to view predictions (the
    admin's thumbnails need it; being staff alone is not enough)."""
    may_view_all = user.has_perm("classifier.view_prediction")
    predictions = Prediction.objects.all() if may_view_all else Prediction.objects.owned_by(user)
    return predictions.filter(pk=pk).first()


def api_token_list_for_user(*, user) -> QuerySet:
    return ApiToken.objects.filter(user=user)
