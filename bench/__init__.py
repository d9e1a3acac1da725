"""Benchmarks, each a program: ``python -m bench.recover``, ``bench.kernels``, ``bench.upsampler``,
``bench.training_stream``, ``bench.soak`` (the live benchmark is ``run_live.py --benchmark``)."""
