#!/usr/bin/env bash
# Set up (idempotent) and run the live application: the camera if there is one, else the
# embedded synthetic source. Extra arguments go to run_live.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python run_live.py "$@"
