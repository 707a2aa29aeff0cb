from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Signing up, and Django's password views with forms that revoke API tokens along with the old password."""

    name = "classifier_site.accounts"
    label = "accounts"
