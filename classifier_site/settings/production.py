"""Production: HTTPS behind a proxy, secure cookies, HSTS; refuses to start without a real secret key.

DJANGO_SETTINGS_MODULE=classifier_site.settings.production
"""

import os

from django.core.exceptions import ImproperlyConfigured

# Refused before the base settings are read: without a key of its own they would write one into var/secret_key.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY to a random string of at least 50 characters.")

from classifier_site.settings.base import *  # noqa: E402, F403
from classifier_site.settings.base import env_bool, env_list  # noqa: E402

DEBUG = False

# TLS ends at the proxy (nginx, a load balancer), which says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container's health check speaks plain HTTP
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600)))
# Both are hard to take back: browsers remember them for DJANGO_HSTS_SECONDS, and a domain on the browsers' preload
# list stays HTTPS-only for months after it asks to leave. On by default because `check --deploy` warns without
# them (security.W005, W021); docs/deploying.md, "HTTPS and HSTS", says when to turn them off.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")  # e.g. https://classifier.example.org

# Warnings and errors, a 500's traceback included, go to stderr, which gunicorn and the container keep. Django's
# default sends them only to ADMINS by e-mail, and there are none: a 500 left no trace at all.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {"django.request": {"level": "ERROR"}},  # 5xx; not every 404 and 429 a visitor causes
}
