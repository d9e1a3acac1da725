"""HMDiff: the recovery entry point that the real-time pipeline calls, and checkpoint I/O."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from models.body.mirror import REFLECT_X, mirror_points, vertex_twins
from models.body_shape import BLEND, DEFAULT_SHAPE
from models.skeletons import COCO17_TWINS
from models.hmdiff.dat import AlignmentGradient, DATConfig, fit_translation
from models.hmdiff.denoiser import Denoiser, DenoiserConfig
from models.hmdiff.sampler import Sampler
from models.hmdiff.schedule import NoiseSchedule
from models.hmdiff.state import StateLayout
from models.prior import Prior

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "hmdiff_anny.pt"
CHECKPOINT_FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or does not match this code."""


@dataclass
class HMDiffConfig:
    denoiser: DenoiserConfig
    layout: StateLayout
    body_model: str = "anny"
    num_train_steps: int = 1000
    warm_step: int = 600  # warm start re-noises the previous h_0 to this step (see BENCHMARKS.md)
    dat: DATConfig = field(default_factory=DATConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "HMDiffConfig":
        return HMDiffConfig(
            denoiser=DenoiserConfig(**d["denoiser"]), layout=StateLayout(**d["layout"]),
            body_model=d["body_model"], num_train_steps=d["num_train_steps"], warm_step=d["warm_step"],
            dat=DATConfig(**d["dat"]),
        )


@dataclass
class Recovery:
    """One frame's result (batched), in the camera frame, metres."""

    vertices: torch.Tensor  # (B, V, 3) full mesh (the given or default shape, posed: HMDiff.full_mesh), mean over hypotheses
    joints: torch.Tensor  # (B, 17, 3) COCO-17
    coarse: torch.Tensor  # (B, Vc, 3)
    spread: torch.Tensor  # (B, V) per-vertex std over hypotheses (zeros for one)
    transl: torch.Tensor  # (B, 3) pelvis in the camera frame
    h0: torch.Tensor  # (B, N, 3) normalised clean state: the next frame's warm start
    hypotheses_vertices: torch.Tensor | None  # (B, M, V, 3) when M > 1
    steps_used: int
    dat_steps: int


class HMDiff(nn.Module):
    """Mesh diffusion with Distribution Alignment over the coarse anny mesh plus COCO-17 joints."""

    def __init__(self, config: HMDiffConfig) -> None:
        super().__init__()
        from models.body.coarse import load_coarse_mesh

        self.config = config
        self.net = Denoiser(config.denoiser)
        self.schedule = NoiseSchedule(config.num_train_steps)
        self.sampler = Sampler(self.net, self.schedule, config.layout)
        self.coarse_mesh = load_coarse_mesh(config.body_model, config.layout.num_coarse)
        from models.body.shaped import ShapedUpsampler

        # The full mesh: anny's rest body of a given shape (default: DEFAULT_SHAPE, a median adult) moved by
        # the recovered coarse vertices' per-bone motions (models/body/shaped.py): one steady body
        # along a track instead of the coarse vertices' own, frame-varying, local blend.
        self.shaped = ShapedUpsampler(self.coarse_mesh)
        self.backend = "eager"
        self._twins: torch.Tensor | None = None  # the mesh's vertex mirror twins, loaded when first needed
        self._coarse_twins: torch.Tensor | None = None  # (Vc, Vc): the coarse set's mirror images (unmirror)

    @property
    def layout(self) -> StateLayout:
        return self.config.layout

    def use_backend(self, name: str = "auto") -> str:
        """Run the denoiser's inference calls on backend ``name`` (see ``backends.py``).

        Returns the backend in use: ``name``, the one ``auto`` picked, or ``eager`` after a
        fallback (logged in one line).
        """
        from models.hmdiff.backends import select_backend

        device = next(self.net.parameters()).device
        self.backend, self.sampler.infer = select_backend(self.net, name, device)
        return self.backend

    def condition(self, prior) -> torch.Tensor:
        """Condition tokens from a prior (see models/prior.py)."""
        return self.net.encode_condition(
            prior.keypoints_norm, prior.confidence, prior.heatmaps, prior.bbox_info(), prior.world, prior.world_weights
        )

    @torch.no_grad()
    def recover(
        self, prior, steps: int = 5, hypotheses: int = 1, warm_start: torch.Tensor | None = None,
        dat: bool | DATConfig = True, eta: float = 0.0, generator: torch.Generator | None = None,
        timings: dict[str, float] | None = None, mirror: bool = False, shape=None,
    ) -> Recovery:
        """Recover the mesh for a batch of priors.

        ``warm_start``: the previous frame's ``Recovery.h0``; it is re-noised to
        ``config.warm_step`` and only the DDIM steps below it run (``steps`` of them).
        ``timings``: a dict that receives the ms of ``condition``, ``denoiser`` (the network calls),
        ``DAT and DDIM`` (the rest of the steps) and ``mesh`` (upsampling and placement).
        ``mirror``: test-time mirroring (photos): half of the ``hypotheses`` (an even number, no warm
        start) see the mirrored image's prior (:meth:`Prior.mirrored`) and their meshes are mirrored
        back before all are averaged, which cancels the network's left/right biases; ``h0`` is then
        the mean of the unmirrored half.
        ``shape``: the body's anny phenotypes (gender, age, muscle, weight, height, proportions; 0
        male, 1 female), one (6,) for every body or one row per body (B, 6); None: the default body
        (``models.body_shape.DEFAULT_SHAPE``, a median adult of neither sex). The full mesh is that
        body posed like the recovered coarse vertices (:meth:`full_mesh`); ``BLEND``: the coarse
        vertices' own local blend (the evaluation's).
        """
        if mirror and (warm_start is not None or hypotheses < 2 or hypotheses % 2):
            raise ValueError(f"mirroring needs an even number of hypotheses and no warm start (got {hypotheses})")
        device = self.net.embed_in.weight.device
        if prior.keypoints.device != device:
            prior = prior.to(device)
        dat_cfg = dat if isinstance(dat, DATConfig) else replace(self.config.dat, enabled=dat)
        self.sampler.timings = timings
        batch, samples = prior, hypotheses
        if mirror:
            batch, samples = Prior.cat([prior, prior.mirrored(COCO17_TWINS)]), hypotheses // 2
        try:
            with self.sampler.timed("condition"):
                cond = self.condition(batch)
            with self.sampler.timed("DAT and DDIM"):
                result = self.sampler.sample(
                    cond, batch, steps=steps, hypotheses=samples, warm_start=warm_start,
                    warm_step=self.config.warm_step, dat=dat_cfg, eta=eta, generator=generator,
                )
            with self.sampler.timed("mesh"):
                recovery = self.assemble(result.h0, batch, samples, result.steps_used, result.dat_steps,
                                         result.camera, shape=self.batch_shape(shape, len(prior), mirror))
                if mirror:
                    recovery = self.unmirror(recovery, len(prior))
        finally:
            self.sampler.timings = None
        if timings is not None:
            timings["DAT and DDIM"] -= timings.get("denoiser", 0.0)
        return recovery

    @staticmethod
    def batch_shape(shape, b: int, mirror: bool = False) -> torch.Tensor | str | None:
        """``recover``'s ``shape`` as (1, 6) or (B, 6) float32 rows for a batch of ``b`` priors (2b
        when mirrored: the mirror images keep their bodies' shapes); None and :data:`BLEND` stay."""
        if shape is None or (isinstance(shape, str) and shape == BLEND):
            return shape
        shape = torch.as_tensor(shape, dtype=torch.float32)
        shape = shape.reshape(1, -1) if shape.dim() == 1 else shape
        if shape.dim() != 2 or shape.shape[1] != 6 or shape.shape[0] not in (1, b):
            raise ValueError(f"shape must be (6,), (1, 6) or ({b}, 6), got {tuple(shape.shape)}")
        if not bool(((shape >= 0) & (shape <= 1)).all()):
            raise ValueError("shape values must lie in [0, 1]")
        return torch.cat([shape, shape]) if mirror and shape.shape[0] > 1 else shape

    def full_mesh(self, coarse: torch.Tensor, shape: torch.Tensor | str | None = None, hypotheses: int = 1) -> torch.Tensor:
        """Full vertices (B·M, V, 3) of coarse vertices (B·M, Vc, 3): the body of ``shape`` ((1, 6) or
        (B, 6) rows, :meth:`batch_shape`; None: the default body, ``DEFAULT_SHAPE``) posed like them; :data:`BLEND`:
        their own local blend (``CoarseMesh.upsample``)."""
        if isinstance(shape, str) and shape == BLEND:
            return self.coarse_mesh.upsample(coarse)
        if shape is None:
            shape = coarse.new_tensor([DEFAULT_SHAPE])
        shape = shape.to(coarse.device)
        if shape.shape[0] > 1:
            shape = shape.repeat_interleave(hypotheses, 0)
        return self.shaped(coarse, shape)

    def assemble(self, h0: torch.Tensor, prior, hypotheses: int, steps_used: int, dat_steps: int,
                 camera: AlignmentGradient | None = None, shape: torch.Tensor | str | None = None) -> Recovery:
        """Turn clean states (B·M, N, 3) into full meshes placed in the camera (``camera``: the
        prior's camera fit, when DAT built one; else it is fitted here); ``shape`` as in :meth:`full_mesh`."""
        b = h0.shape[0] // hypotheses
        coarse_rel, joints_rel = self.layout.unpack(h0)
        if camera is not None:
            transl = camera.translation(joints_rel)
        else:
            transl = fit_translation(joints_rel, prior, hypotheses)
        full = self.full_mesh(coarse_rel, shape, hypotheses) + transl[:, None]
        if hypotheses == 1:  # nothing to average (a live frame): no copies
            mean = lambda x: x  # noqa: E731
            each, spread = None, full.new_zeros(b, full.shape[1])
        else:
            mean = lambda x: x.reshape(b, hypotheses, *x.shape[1:]).mean(1)  # noqa: E731
            each = full.reshape(b, hypotheses, *full.shape[1:])
            spread = hypothesis_spread(each)
        return Recovery(
            vertices=mean(full), joints=mean(joints_rel + transl[:, None]), coarse=mean(coarse_rel + transl[:, None]),
            spread=spread, transl=mean(transl), h0=mean(h0), hypotheses_vertices=each,
            steps_used=steps_used, dat_steps=dat_steps,
        )

    def unmirror(self, both: Recovery, b: int) -> Recovery:
        """One recovery of ``b`` bodies from a batch of 2b (the bodies, then their mirror images):
        the mirrored half's meshes mirrored back and averaged with the others."""
        if self._twins is None:
            self._twins = vertex_twins(self.config.body_model).to(both.vertices.device)
            # The coarse set's mirror images through the blend: (Vc, Vc) rows of the upsampler at the twins
            # of the coarse vertices (the coarse set has few twins of its own).
            self._coarse_twins = self.coarse_mesh.upsampler_dense()[self._twins[self.coarse_mesh.indices]].to(
                both.vertices.device)
        each = both.hypotheses_vertices if both.hypotheses_vertices is not None else both.vertices[:, None]
        full = torch.cat([each[:b], mirror_points(each[b:], self._twins)], dim=1)
        vertices = full.mean(1)
        reflect = REFLECT_X.to(both.transl)
        # The coarse vertices as recovered, whatever body the full mesh shows: the mirrored half's put back
        # through the local blend (as mirror_points(upsample(coarse), twins)[:, indices], 20x cheaper).
        coarse = (both.coarse[:b] + (self._coarse_twins @ both.coarse[b:]) * reflect) / 2
        return Recovery(
            vertices=vertices, joints=(both.joints[:b] + mirror_points(both.joints[b:], COCO17_TWINS)) / 2,
            coarse=coarse, spread=hypothesis_spread(full),
            transl=(both.transl[:b] + both.transl[b:] * reflect) / 2, h0=both.h0[:b],
            hypotheses_vertices=full, steps_used=both.steps_used, dat_steps=both.dat_steps,
        )

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        payload = {"format": CHECKPOINT_FORMAT, "config": self.config.to_dict(),
                   "state_dict": self.net.state_dict(), "extra": extra or {}}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, path)


def hypothesis_spread(each: torch.Tensor) -> torch.Tensor:
    """Per-vertex spread (B, V) of hypotheses (B, M, V, 3): the norm of the per-axis standard deviations
    (unbiased), written out: ``Tensor.std`` over the hypothesis axis is ~1000x slower on the CPU here."""
    deviation = each - each.mean(dim=1, keepdim=True)
    return (deviation.square().sum(dim=(1, 3)) / (each.shape[1] - 1)).sqrt()


def load_hmdiff(path: str | Path | None = None, device: str | torch.device = "cpu") -> HMDiff:
    """Load a checkpoint (default: the shipped weights); raise CheckpointError with one clear line."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"HMDiff weights not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable HMDiff checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an HMDiff checkpoint of format {CHECKPOINT_FORMAT}")
    from models.hmdiff.checks import config_problem, one_line, tensors_problem

    try:
        config = HMDiffConfig.from_dict(payload["config"])
        problem = config_problem(config) or tensors_problem(payload["state_dict"])
        if problem is None:
            model = HMDiff(config)
            model.net.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise CheckpointError(f"{path} does not match this version of the model ({one_line(err)})") from None
    if problem is not None:
        raise CheckpointError(f"{path} is not a usable HMDiff checkpoint: {problem}")
    model.extra = payload.get("extra", {})
    return model.to(device).eval()
