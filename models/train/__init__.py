"""Training HMDiff on the synthetic world: ``python -m models.train`` (``hmdiff-train``).

- ``cli``: the arguments (and ``--recipe``: ``recipe`` runs a recipe's steps in order, resuming);
- ``trainer``: the training loop and the networks it starts from; ``presets``: network and batch
  sizes; ``losses``: the objective, learning-rate schedule and validation; ``ddp``: torchrun;
- ``data``: batches from a set on disk (``python -m models.synth``); ``stream``: batches generated
  on the fly.
"""
