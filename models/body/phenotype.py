"""anny's 6 phenotypes (gender, age, muscle, weight, height, proportions) of the person a track
follows, read off the bodies the network recovers.

- :func:`body_proportions`: one recovered body's pose-invariant proportions: 16 COCO-17 segment
  lengths (shoulder and hip widths, arms, legs, torso sides, face) and the distances between
  :data:`NUM_PAIRS` pairs of coarse vertices (chosen among pairs closer than 35 cm at rest for
  the largest ratio of their spread over shapes to their change with the pose), all divided by
  the 12 limb and torso segments' total: scale-free, so the camera's unknown scale cannot tell.
- :class:`PhenotypeEstimator`: a track's mean proportions -> the 6 values in [0, 1]: ridge
  regression, gender through a logistic (anny: 0 male, 1 female).
- :class:`ShapeTrack`: one person's shape along a track, from the running mean of the frames'
  proportions, so that the person keeps one shape; ``reset()`` at a cut.

Fitted (``tools/build_phenotype.py``) on the network's own output, as a stream runs it, for
synthetic people of known shape on simulated detections, each pooled over 16 random poses: a
single frame's proportions are too noisy to tell much. Stored in
``models/assets/anny_phenotype.npz``. What it is worth (``bench/shape.py``): right on synthetic
people in random poses, near chance on synthetic people moving as in a video and at chance on real
motion, so the product shows a default body unless asked (``models.body_shape``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.body.coarse import ASSETS_DIR
from models.skeletons import COCO17

PHENOTYPE_PATH = ASSETS_DIR / "anny_phenotype.npz"
NUM_PAIRS = 800
SCALE_SEGMENTS = 12  # the first 12 segments below (limbs, widths, torso sides) give the body's scale
# COCO-17 segments whose lengths the estimator reads (pose-invariant up to the joints' own slack),
# by name (``models.skeletons.COCO17``); the stored asset keeps their indices.
JOINT_PAIR_NAMES = (
    ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),  # shoulder width, hip width
    ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),  # upper arms
    ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"),  # forearms
    ("left_hip", "left_knee"), ("right_hip", "right_knee"),  # thighs
    ("left_knee", "left_ankle"), ("right_knee", "right_ankle"),  # shins
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),  # torso sides
    ("left_eye", "right_eye"), ("left_ear", "right_ear"),  # eyes, ears
    ("nose", "left_shoulder"), ("nose", "right_shoulder"),  # nose to shoulders
)
JOINT_PAIRS = tuple((COCO17.index(a), COCO17.index(b)) for a, b in JOINT_PAIR_NAMES)


def body_proportions(coarse: torch.Tensor, joints: torch.Tensor, pairs: torch.Tensor,
                     joint_pairs: torch.Tensor) -> torch.Tensor:
    """Proportions (B, Q + P) of bodies (coarse (B, Vc, 3), COCO-17 joints (B, 17, 3), any frame and
    scale): segment lengths, then coarse-vertex pair distances, over the first 12 segments' total."""
    segments = (joints[:, joint_pairs[:, 0]] - joints[:, joint_pairs[:, 1]]).norm(dim=-1)
    spans = (coarse[:, pairs[:, 0]] - coarse[:, pairs[:, 1]]).norm(dim=-1)
    scale = segments[:, :SCALE_SEGMENTS].sum(1, keepdim=True).clamp_min(1e-6)
    return torch.cat([segments, spans], 1) / scale


class PhenotypeEstimator(torch.nn.Module):
    """``features (B, F) -> (B, 6)`` phenotypes in [0, 1] (``shape_names`` order); :meth:`features`
    gives one body's (see the module docstring)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        t = lambda key, dtype=torch.float32: torch.as_tensor(np.asarray(arrays[key]), dtype=dtype)  # noqa: E731
        self.register_buffer("pairs", t("pairs", torch.long), persistent=False)  # (P, 2) coarse vertex ids
        self.register_buffer("joint_pairs", t("joint_pairs", torch.long), persistent=False)  # (Q, 2)
        self.register_buffer("mean", t("mean"), persistent=False)  # (F,) feature standardisation
        self.register_buffer("scale", t("scale"), persistent=False)
        self.register_buffer("weight", t("weight"), persistent=False)  # (F, 6)
        self.register_buffer("bias", t("bias"), persistent=False)  # (6,)
        self.register_buffer("logistic", t("logistic", torch.bool), persistent=False)  # (6,) through a sigmoid
        self.shape_names = [str(name) for name in arrays["shape_names"]]

    def features(self, coarse: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        return body_proportions(coarse.float(), joints.float(), self.pairs, self.joint_pairs)

    @torch.no_grad()
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        y = ((features.float() - self.mean) / self.scale) @ self.weight + self.bias
        return torch.where(self.logistic, torch.sigmoid(y), y).clamp(0.0, 1.0)

    def estimate(self, coarse: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """Each body's phenotypes (B, 6) on its own (one frame: noisy; see :class:`ShapeTrack`)."""
        return self(self.features(coarse, joints))


def save_phenotype_estimator(arrays: dict[str, np.ndarray], path: Path = PHENOTYPE_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_phenotype_estimator(path: Path | None = None, device: str | torch.device = "cpu") -> PhenotypeEstimator:
    """The stored estimator (``python tools/build_phenotype.py`` makes it)."""
    path = Path(path or PHENOTYPE_PATH)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build it with python tools/build_phenotype.py")
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    return PhenotypeEstimator(arrays).to(device)


class ShapeTrack:
    """One person's shape along a track: ``update(coarse, joints)`` folds one frame's recovered body
    in and returns the track's shape (6,).

    The frames' proportions are averaged (exactly over the first ``horizon`` frames, then an
    exponential mean of that horizon) and, while few frames are in, drawn toward the population's
    mean as if ``prior_frames`` average frames had been seen: the shape starts at the population's
    (an adult of neither sex) and settles on the person's as the track goes on. A frame whose
    proportions are not finite is skipped. ``reset()`` at a cut or when the person is lost: the
    next frame starts a new shape.
    """

    def __init__(self, estimator: PhenotypeEstimator, horizon: int = 300, prior_frames: float = 4.0) -> None:
        self.estimator, self.horizon, self.prior_frames = estimator, horizon, prior_frames
        self._population_mean = estimator.mean.double().cpu()  # the training people's mean proportions
        self.population = estimator(estimator.mean[None])[0].numpy().astype(np.float32)  # what they give
        self.reset()

    def reset(self) -> None:
        """A new track: no frame in, the shape is the population's."""
        self.count = 0
        self._mean: torch.Tensor | None = None
        self.shape: np.ndarray = self.population.copy()  # handed out with frames: never the kept one

    def update(self, coarse: torch.Tensor, joints: torch.Tensor) -> np.ndarray:
        """Fold in one frame's body (coarse (Vc, 3) or (1, Vc, 3), joints (17, 3) or (1, 17, 3)); the
        track's shape (6,) float32."""
        x = self.estimator.features(coarse.reshape(1, -1, 3), joints.reshape(1, -1, 3))[0].double().cpu()
        if bool(torch.isfinite(x).all()):
            self.count += 1
            self._mean = x if self._mean is None else self._mean + (x - self._mean) / min(self.count, self.horizon)
            n = min(self.count, self.horizon)
            pooled = (n * self._mean + self.prior_frames * self._population_mean) / (n + self.prior_frames)
            self.shape = self.estimator(pooled[None])[0].numpy().astype(np.float32)
        return self.shape
