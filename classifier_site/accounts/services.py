from datetime import timedelta

from django.conf import settings
from django.db import transaction

from classifier.limits import rate_limit_take
from classifier_site.accounts.forms import SignupForm


def account_create(*, form: SignupForm, address: str):
    """The new user, counted against SIGNUPS_PER_HOUR for the client's address in the same transaction (RateLimited
    beyond it): sign-up is open to anyone, so one address cannot make accounts without end."""
    with transaction.atomic():
        rate_limit_take(scope="signups", key=address, limit=settings.SIGNUPS_PER_HOUR, window=timedelta(hours=1))
        return form.save()
