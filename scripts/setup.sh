#!/usr/bin/env bash
# Set up everything the product needs on a fresh Debian/Ubuntu machine (idempotent).
# - Debian packages that Open3D needs (installed when run as root, else listed).
# - A virtualenv in .venv with torch 2.13.0 (CPU) installed FIRST, then the pinned set.
# - anny's model cache (~800 MB, ~80 s once) in .cache/anny of this repo, or $ANNY_CACHE_DIR;
#   its marker $ANNY_CACHE_DIR/.built is written only when the build succeeded.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="libusb-1.0-0 libvulkan1 mesa-vulkan-drivers libegl1 libgl1 libglib2.0-0"
missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian packages: $missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "[setup] please install these Debian packages first (Open3D needs them):" >&2
    echo "        sudo apt-get install $missing" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  echo "[setup] installing Python packages into .venv (torch first, CPU build)"
  .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi

export ANNY_CACHE_DIR=${ANNY_CACHE_DIR:-$PWD/.cache/anny}
export WARP_CACHE_PATH=${WARP_CACHE_PATH:-$PWD/.cache/warp}
if [ ! -f "$ANNY_CACHE_DIR/.built" ]; then
  echo "[setup] building anny's model cache in $ANNY_CACHE_DIR (once, about 80 s)"
  mkdir -p "$ANNY_CACHE_DIR"
  log=$(mktemp)
  status=0
  .venv/bin/python -c "from models.body import load_body_model; load_body_model('anny')" >"$log" 2>&1 || status=$?
  grep -v -i warp "$log" || true  # warp's banner is noise; everything else is shown
  rm -f "$log"
  if [ "$status" != 0 ]; then
    echo "[setup] error: building anny's model cache in $ANNY_CACHE_DIR failed (exit $status, output above)" >&2
    exit 1
  fi
  touch "$ANNY_CACHE_DIR/.built"
fi
