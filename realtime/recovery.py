"""The diffusion stage: a pipeline adapter over :class:`models.stream.StreamRecovery`."""
from __future__ import annotations

from dataclasses import replace

from models.stream import StreamRecovery, StreamSettings
from realtime.options import DEFAULTS, LiveOptions
from realtime.record import FrameRecord, MeshResult


class RecoverStage:
    """Pipeline stage: ``prior`` → ``mesh`` through the stream's recovery (an ``HMDiff`` inside a
    :class:`models.stream.StreamRecovery`: track logic, warm or cold start, fixed noise, smoothing).

    ``settings`` default to ``LiveOptions``' stream settings (:attr:`LiveOptions.stream`); keyword
    changes (``RecoverStage(model, steps=4)``) apply on top. The parts of a recovery are timed into
    ``record.stage_ms`` as ``diffusion/<part>`` (see ``HMDiff.recover``; ``output``: copies to numpy
    and smoothing).
    """

    def __init__(self, model: object, settings: StreamSettings | None = None, **changes: object) -> None:
        settings = settings if settings is not None else DEFAULTS.stream
        self.model = model
        self.stream = StreamRecovery(model, replace(settings, **changes))

    @property
    def settings(self) -> StreamSettings:
        return self.stream.settings

    @classmethod
    def from_options(cls, model: object, options: LiveOptions) -> "RecoverStage":
        return cls(model, options.stream)

    def reset(self) -> None:
        """Forget the track (the next frame starts cold)."""
        self.stream.reset()

    def __call__(self, record: FrameRecord) -> None:
        timings: dict[str, float] = {}
        frame = self.stream(record.prior, record.keypoints, record.confidence, cut=record.cut,
                            t=record.frame.media_time, timings=timings)
        if frame is None:  # no person: no mesh
            return
        record.mesh = MeshResult(vertices=frame.vertices, joints=frame.joints, spread=frame.spread,
                                 steps_used=frame.steps_used, dat_steps=frame.dat_steps, warm=frame.warm,
                                 shape=frame.shape)
        record.stage_ms.update({f"diffusion/{name}": ms for name, ms in timings.items()})
