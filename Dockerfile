# The site's production image: gunicorn serving Django with the model shipped in models/cifar10/; the same image
# runs `manage.py train`, hence TensorFlow in requirements.txt (the web process never imports it).
# Every build and start step is a script in deploy/ that CI also runs outside Docker (deploy/smoke.sh).
#   docker build -t classifier-site .
#   docker run -p 8000:8000 -e DJANGO_SECRET_KEY=... -e DJANGO_ALLOWED_HOSTS=... classifier-site
FROM python:3.11-slim

# No apt layer: every wheel bundles its native libraries, and the rest (libstdc++, libgcc_s, zlib) is in the base
# image; LiteRT needs no libgomp.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    DJANGO_SETTINGS_MODULE=classifier_site.settings.production \
    MEDIA_ROOT=/data/media \
    PORT=8000

WORKDIR /app

# Dependencies before the code, so that a code change rebuilds only the layers below.
COPY requirements.txt ./
COPY deploy/install.sh deploy/
RUN deploy/install.sh

COPY . .
# Only the SQLite fallback folder (var/) and the uploads must be writable; the code, the model and the collected
# static files stay root's. A named volume mounted on /data/media starts with this owner.
RUN deploy/build.sh \
    && useradd --system --user-group --create-home --uid 10001 app \
    && mkdir -p /data/media \
    && chown app:app /app/var /data/media
USER app

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "deploy/healthcheck.py"]
CMD ["deploy/start.sh"]
