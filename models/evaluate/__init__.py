"""Evaluation of HMDiff: ``python -m models.evaluate`` (``hmdiff-eval``).

``cli`` parses the arguments and runs the sections, one module each (``synthetic``, ``rendered``,
``lift``, ``real``, ``warmstart``); ``judge`` holds what they share (variants, recovery, the
judge of meshes); ``realsets`` reads the real sets' generic format.
"""
