#!/usr/bin/env bash
# Starts the site for production: migrations when RUN_MIGRATIONS=1, then gunicorn with gunicorn.conf.py
# (workers, threads and timeouts from WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_TIMEOUT). The container's CMD.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-classifier_site.settings.production}"
# In a container the site must listen on every interface; HOST=127.0.0.1 keeps it on the machine.
export HOST="${HOST:-0.0.0.0}" PORT="${PORT:-8000}"

# Opt-in, because several replicas starting together must not all migrate at once: turn it on for one
# (a single-container deployment, compose.yaml) or run `manage.py migrate` as a release step instead.
if [[ "${RUN_MIGRATIONS:-0}" == "1" ]]; then
    "$PYTHON" manage.py migrate --noinput
fi

# exec: gunicorn becomes this process, so the SIGTERM of `docker stop` reaches it and it shuts down gracefully.
exec "$PYTHON" -m gunicorn --config gunicorn.conf.py classifier_site.wsgi
