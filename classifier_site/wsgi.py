"""WSGI entry point for gunicorn. Each worker loads the model here, before its first request."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings.base")
application = get_wsgi_application()

from classifier.ml import warm_up  # noqa: E402  (needs the settings configured above)

warm_up()
