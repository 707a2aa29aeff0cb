#!/usr/bin/env bash
# Installs the pinned runtime dependencies (requirements.txt) into $PYTHON; the Dockerfile and CI both run it.
# Extra arguments go to pip, e.g. `deploy/install.sh --dry-run` to see what would change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"

"$PYTHON" -m pip install --requirement requirements.txt "$@"
