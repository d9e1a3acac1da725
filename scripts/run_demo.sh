#!/usr/bin/env bash
# Set up (idempotent) and run the live application: the camera if there is one, else the
# embedded synthetic source. Extra arguments go to run_live.py. With no arguments on a machine
# without a display, it runs headless for 300 frames and writes what a window would have shown
# to out/ (the overlay video, an animated glTF of the mesh and the per-frame arrays). Headless,
# nobody watches in real time, so every frame is processed (--every-frame): the recorded video
# shows each of the 300 frames once instead of repeating the last one over frames dropped as stale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
no_display() {  # run_live.py's own check, from a module light enough to import first
  .venv/bin/python -c "import sys; from realtime.display import display_problem; sys.exit(not display_problem())"
}
if [ $# -eq 0 ] && no_display; then
  mkdir -p out
  echo "[demo] no display: running headless for 300 frames; outputs go to out/demo.mp4, out/demo.glb, out/demo.npz"
  exec .venv/bin/python run_live.py --no-display --every-frame --max-frames 300 \
    --record out/demo.mp4 --export-glb out/demo.glb --export out/demo.npz
fi
exec .venv/bin/python run_live.py "$@"
