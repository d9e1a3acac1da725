"""``load_body_model(name)``: a body model by name (the one place that knows every implementation)."""
from __future__ import annotations

import functools
from pathlib import Path

import torch

from models.body.base import BodyModel, BodyModelError


def load_body_model(
    name: str = "anny", model_path: str | Path | None = None, device: str | torch.device = "cpu"
) -> BodyModel:
    """Load a body model by name: ``anny`` (default, shipped) or ``smpl``/``smplx`` (user file)."""
    if name == "anny":
        from models.body.anny_body import AnnyBody

        return AnnyBody().to(device)
    if name in ("smpl", "smplx"):
        from models.body.smpl_body import SmplBody

        return SmplBody(name, model_path).to(device)
    raise BodyModelError(f"unknown body model {name!r}: expected 'anny', 'smpl' or 'smplx'")


@functools.lru_cache(maxsize=4)
def shared_body_model(name: str = "anny", model_path: str | Path | None = None) -> BodyModel:
    """:func:`load_body_model` on the CPU, loaded once per process and shared: read it, never move
    or change it (the run's faces, the skeleton fit)."""
    return load_body_model(name, model_path)
