"""Our own system checks, beside Django's: `manage.py check --deploy` runs them."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def email_backend_check(app_configs, **kwargs):
    """Password-reset e-mails carry a link that signs in as the user. Without EMAIL_BACKEND they are printed to the
    console, which in production is the server's log: whoever reads the log could take over any account."""
    if settings.EMAIL_BACKEND_EXPLICIT:
        return []
    return [
        Error(
            "EMAIL_BACKEND is not set, so password-reset e-mails and their links go to the console (the server's log).",
            hint=(
                "Set EMAIL_BACKEND (e.g. django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST, EMAIL_PORT, "
                "EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS), or set the console backend explicitly if "
                "you really want links in the log."
            ),
            id="classifier.E001",
        )
    ]


@register(Tags.security)
def email_encryption_check(app_configs, **kwargs):
    """Django's SMTP backend refuses to start with both, so no e-mail would ever leave; the password-reset page would
    still say one was sent (the failure goes only to the log)."""
    if not (settings.EMAIL_USE_TLS and settings.EMAIL_USE_SSL):
        return []
    return [
        Error(
            "EMAIL_USE_TLS and EMAIL_USE_SSL are both on, so no e-mail can be sent.",
            hint="Turn one off: EMAIL_USE_TLS for STARTTLS (usually port 587), EMAIL_USE_SSL for port 465.",
            id="classifier.E002",
        )
    ]
