"""WSGI entry point for gunicorn. Each worker loads the model here, before its first request."""

import os

# numpy's OpenBLAS starts a thread per core at import and lets it spin after every matrix product: in a web worker,
# which answers each request on one thread, that thread burnt as much CPU as the requests themselves (bench/RESULTS.md,
# "Uploads under load"). Must be set before numpy is first imported; an operator's own value is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings.base")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from classifier.serving import warm_up  # noqa: E402  (needs the settings configured above)

warm_up()
