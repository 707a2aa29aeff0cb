#!/usr/bin/env bash
# Collects the static files with the production settings (hashed, compressed names for WhiteNoise) into
# STATIC_ROOT (default var/staticfiles). The Dockerfile and CI both run it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"

# The production settings refuse to load without a secret key. collectstatic signs nothing, so this placeholder
# is given to this one command only and never reaches the image's environment.
DJANGO_SETTINGS_MODULE=classifier_site.settings.production \
DJANGO_SECRET_KEY="collectstatic-only-placeholder-that-never-signs-anything-0123456789" \
    "$PYTHON" manage.py collectstatic --noinput --verbosity 1
