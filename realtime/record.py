"""The per-frame record that travels through the pipeline's stages."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.landmarks import Landmarks
from realtime.sources import Frame


@dataclass
class MeshResult:
    """One recovered mesh, numpy, camera frame, metres."""

    vertices: np.ndarray  # (V, 3) float32
    joints: np.ndarray  # (17, 3) float32, COCO-17
    spread: np.ndarray  # (V,) float32 per-vertex std over hypotheses (zeros for one)
    steps_used: int  # DDIM steps actually run
    dat_steps: int  # steps with distribution-alignment guidance
    warm: bool  # started from the previous frame's state
    shape: np.ndarray | None = None  # (6,) the body's anny phenotypes (given, the default body or the track's estimate)


@dataclass(eq=False)
class FrameRecord:
    """A frame and everything the stages add to it, with per-stage timings.

    ``stage_ms[name]`` is the time spent inside stage ``name``; ``done_at[name]`` the
    ``time.perf_counter()`` when it finished, so queue waits are ``done_at`` differences.
    """

    frame: Frame
    stage_ms: dict[str, float] = field(default_factory=dict)
    done_at: dict[str, float] = field(default_factory=dict)
    cut: bool = False  # scene cut before this frame
    landmarks: Landmarks | None = None
    keypoints: np.ndarray | None = None  # (17, 2) COCO-17 pixels of the processed frame
    confidence: np.ndarray | None = None  # (17,)
    focal: np.ndarray | None = None  # (2,) pixels of the processed frame
    principal: np.ndarray | None = None  # (2,)
    prior: Any = None  # models.prior.Prior, batch of one
    mesh: MeshResult | None = None
    overlay: np.ndarray | None = None  # BGR image drawn by the render stage

    @property
    def person(self) -> bool:
        """Whether a person was detected in this frame."""
        return self.landmarks is not None
