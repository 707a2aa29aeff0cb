#!/usr/bin/env bash
# The scale-out check (docs/deploying.md, "More than one machine"): two production app servers (deploy/start.sh) on one
# PostgreSQL and one S3-compatible bucket, behind nginx with deploy/nginx.conf's rules; deploy/scale_check.py
# drives them as people and API clients would, then stops one server under load. Needs DATABASE_URL to name a
# PostgreSQL server (source .ci/postgres.sh first) and deploy/build.sh's static files. Installs nginx from
# Debian's packages when it is missing; the S3 server (moto) comes from requirements-dev.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"

if [[ "${DATABASE_URL:-}" != postgres* ]]; then
    echo "scale-check: DATABASE_URL must name a PostgreSQL server (source .ci/postgres.sh first)" >&2
    exit 1
fi
if [[ ! -x /usr/sbin/nginx ]]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx
fi
exec "$PYTHON" deploy/scale_check.py
