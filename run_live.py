"""Real-time human mesh recovery: a camera, video, image folder or the synthetic world → 3D mesh.

    python run_live.py                       # camera 0 if there is one, else the synthetic source
    python run_live.py --video clip.mp4 --no-display --every-frame --export run.npz
    python run_live.py --benchmark --video clip.mp4 --max-frames 200

The program is :mod:`realtime.app` (also installed as ``hmdiff-live``); ``--help`` lists the arguments.
"""
import sys

try:
    from realtime.app import main  # light: it handles the stop signals first thing
except KeyboardInterrupt:  # Ctrl+C in the first instants
    print("interrupted", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
