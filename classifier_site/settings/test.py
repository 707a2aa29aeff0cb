"""Settings for the test suite: fast hashing, an in-memory e-mail outbox."""

import os
import tempfile

from classifier_site.settings.base import *  # noqa: F403
from classifier_site.settings.base import DATABASES, STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
EMAIL_BACKEND_EXPLICIT = True

# Static files are served from the app folders in tests; there is no collectstatic output to scan.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
STORAGES = STORAGES | {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

# A file database, so the tests run SQLite as the site does (WAL, immediate transactions, busy timeout); one per
# test process, so that two runs never share it.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    test_name = os.path.join(tempfile.gettempdir(), f"classifier-test-{os.getpid()}.sqlite3")
    DATABASES["default"]["TEST"] = {"NAME": test_name}
