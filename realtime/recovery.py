"""The diffusion stage: HMDiff recovery with temporal warm start and optional smoothing."""
from __future__ import annotations

import time

import numpy as np

from realtime.options import DEFAULTS, LiveOptions
from realtime.record import FrameRecord, MeshResult
from realtime.temporal import OneEuroFilter, is_jump


class RecoverStage:
    """Pipeline stage: ``prior`` → ``mesh`` through ``model.recover`` (an ``HMDiff``).

    The previous frame's clean state ``h0`` is the warm start unless the person was lost, the
    scene cut, or the keypoints jumped (:func:`realtime.temporal.is_jump`); then it starts cold
    with ``steps`` DDIM steps, while a warm frame runs only ``warm_steps``. ``mirror`` (photos): a cold
    frame's samples are half mirrored (``HMDiff.recover``).
    With ``smooth`` the output vertices and joints go through a One Euro filter that restarts on
    the same events. The parts of a recovery are timed into ``record.stage_ms`` as
    ``diffusion/<part>`` (see ``HMDiff.recover``; ``output``: copies to numpy and smoothing).
    """

    def __init__(
        self,
        model: object,
        steps: int = DEFAULTS.steps,
        hypotheses: int = DEFAULTS.hypotheses,
        dat: bool = DEFAULTS.dat,
        warm_start: bool = DEFAULTS.warm_start,
        smooth: bool = DEFAULTS.smooth,
        jump_threshold: float = DEFAULTS.jump_threshold,
        warm_steps: int = DEFAULTS.warm_steps,
        min_keypoint_confidence: float = DEFAULTS.min_keypoint_confidence,
        mirror: bool = False,
    ) -> None:
        self.model, self.steps, self.hypotheses, self.dat = model, steps, hypotheses, dat
        self.warm_steps, self.mirror = warm_steps, mirror
        self.warm_start, self.jump_threshold = warm_start, jump_threshold
        self.min_keypoint_confidence = min_keypoint_confidence
        self.filters = (OneEuroFilter(), OneEuroFilter()) if smooth else None
        self._h0 = None
        self._keypoints: np.ndarray | None = None

    @classmethod
    def from_options(cls, model: object, options: LiveOptions) -> "RecoverStage":
        return cls(model, steps=options.steps, hypotheses=options.frame_hypotheses, dat=options.dat,
                   warm_start=options.warm_start, smooth=options.smooth, jump_threshold=options.jump_threshold,
                   warm_steps=options.warm_steps, min_keypoint_confidence=options.min_keypoint_confidence,
                   mirror=options.frame_mirror)

    def reset(self) -> None:
        """Forget the track (the next frame starts cold)."""
        self._h0, self._keypoints = None, None

    def _continues(self, record: FrameRecord) -> bool:
        """Whether this frame continues the previous one (same person, no cut, no jump)."""
        return (
            self._keypoints is not None
            and not record.cut
            and not is_jump(self._keypoints, record.keypoints, record.confidence, self.jump_threshold,
                            self.min_keypoint_confidence)
        )

    def __call__(self, record: FrameRecord) -> None:
        if record.prior is None:  # no person: forget the track, never invent a mesh
            self._h0, self._keypoints = None, None
            return
        continues = self._continues(record)
        warm = self.warm_start and continues
        timings: dict[str, float] = {}
        out = self.model.recover(
            record.prior, steps=self.warm_steps if warm else self.steps, hypotheses=self.hypotheses,
            warm_start=self._h0 if warm else None, dat=self.dat, timings=timings, mirror=self.mirror and not warm,
        )
        t0 = time.perf_counter()
        self._h0, self._keypoints = out.h0, record.keypoints
        vertices = out.vertices[0].detach().cpu().numpy().astype(np.float32)
        joints = out.joints[0].detach().cpu().numpy().astype(np.float32)
        if self.filters is not None:
            if not continues:
                for f in self.filters:
                    f.reset()
            t = record.frame.media_time
            vertices, joints = self.filters[0](t, vertices), self.filters[1](t, joints)
        record.mesh = MeshResult(
            vertices=vertices,
            joints=joints,
            spread=out.spread[0].detach().cpu().numpy().astype(np.float32),
            steps_used=int(out.steps_used),
            dat_steps=int(out.dat_steps),
            warm=warm,
        )
        timings["output"] = (time.perf_counter() - t0) * 1e3
        record.stage_ms.update({f"diffusion/{name}": ms for name, ms in timings.items()})
