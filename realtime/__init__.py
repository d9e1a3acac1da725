"""Live pipeline: sources, detection, prior, diffusion, rendering, outputs and benchmark.

See docs/ARCHITECTURE.md; ``run_live.py`` is the command-line entry point.
"""
