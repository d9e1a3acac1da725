"""anny's 6 phenotypes (gender, age, muscle, weight, height, proportions) from a recovered body, and
their pooling along a track.

:class:`PhenotypeEstimator`: pose-invariant lengths of a posed body (camera frame or any other,
metres) -> ridge regression -> the 6 values in [0, 1] (``model.shape_names`` order). The lengths:
16 COCO-17 segment lengths (shoulder and hip widths, arms, legs, torso sides, face) and the
distances between :data:`NUM_PAIRS` pairs of coarse vertices, chosen among pairs closer than
35 cm at rest for the largest ratio of their spread over shapes to their change with the pose
(``tools/build_phenotype.py``). Fitted on 2,048 random posed and shaped anny bodies (the compact
LBS export, with vertex and joint noise of 0 to 3 cm), stored in ``models/assets/anny_phenotype.npz``
(``--people`` also fits on HMDiff's own output for synthetic people of known shape: measured no
better on recovered bodies and worse on exact ones, so not shipped).

What it can and cannot see (``bench/shape.py``): from exact coarse vertices gender comes within a
few hundredths; the recovery's coarse vertices, predicted from keypoints alone, carry little of
the build (the network predicts what the keypoints imply), so on them the estimate is little
better than the population mean except for height. :class:`ShapeTrack` pools the per-frame
estimates so that one person keeps one shape.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.body.coarse import ASSETS_DIR
from models.skeletons import COCO17

PHENOTYPE_PATH = ASSETS_DIR / "anny_phenotype.npz"
NUM_PAIRS = 800
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


def body_lengths(coarse: torch.Tensor, joints: torch.Tensor, pairs: torch.Tensor,
                 joint_pairs: torch.Tensor) -> torch.Tensor:
    """The estimator's features (B, Q + P): COCO-17 segment lengths, then coarse-vertex pair distances."""
    segments = (joints[:, joint_pairs[:, 0]] - joints[:, joint_pairs[:, 1]]).norm(dim=-1)
    spans = (coarse[:, pairs[:, 0]] - coarse[:, pairs[:, 1]]).norm(dim=-1)
    return torch.cat([segments, spans], 1)


class PhenotypeEstimator(torch.nn.Module):
    """``(coarse (B, Vc, 3), joints (B, 17, 3)) -> (B, 6)`` phenotypes in [0, 1] (see the module docstring)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        t = lambda key, dtype=torch.float32: torch.as_tensor(np.asarray(arrays[key]), dtype=dtype)  # noqa: E731
        self.register_buffer("pairs", t("pairs", torch.long), persistent=False)  # (P, 2) coarse vertex ids
        self.register_buffer("joint_pairs", t("joint_pairs", torch.long), persistent=False)  # (Q, 2)
        self.register_buffer("mean", t("mean"), persistent=False)  # (F,) feature standardisation
        self.register_buffer("scale", t("scale"), persistent=False)
        self.register_buffer("weight", t("weight"), persistent=False)  # (F, 6)
        self.register_buffer("bias", t("bias"), persistent=False)  # (6,)
        self.shape_names = [str(name) for name in arrays["shape_names"]]

    def features(self, coarse: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        return body_lengths(coarse, joints, self.pairs, self.joint_pairs)

    @torch.no_grad()
    def forward(self, coarse: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        z = (self.features(coarse.float(), joints.float()) - self.mean) / self.scale
        return (z @ self.weight + self.bias).clamp(0.0, 1.0)


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
    """One person's shape along a track: the running mean of the per-frame estimates.

    ``update(estimate)`` folds one frame's (6,) estimate in with weight ``1 / min(n, horizon)``
    (an exact mean over the first ``horizon`` frames, then an exponential mean of that horizon), so
    the pooled shape converges and moves by at most ``|estimate - shape| / n`` per frame. An
    estimate farther than ``outlier`` from the pooled shape in any value (a bad frame) counts
    with a tenth of the weight once ``warmup`` frames are in. ``reset()`` at a cut or when the
    person is lost: the next frame starts a new shape.
    """

    def __init__(self, horizon: int = 300, outlier: float = 0.35, warmup: int = 10) -> None:
        self.horizon, self.outlier, self.warmup = horizon, outlier, warmup
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.shape: np.ndarray | None = None

    def update(self, estimate: np.ndarray | torch.Tensor) -> np.ndarray:
        """Fold in one frame's estimate (6,) (or (1, 6)); returns the pooled shape (6,) float32."""
        x = np.asarray(estimate.detach().cpu() if isinstance(estimate, torch.Tensor) else estimate,
                       dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(x)):
            return self.shape.astype(np.float32) if self.shape is not None else x.astype(np.float32)
        self.count += 1
        if self.shape is None:
            self.shape = x
        else:
            rate = 1.0 / min(self.count, self.horizon)
            if self.count > self.warmup and np.abs(x - self.shape).max() > self.outlier:
                rate *= 0.1
            self.shape = self.shape + rate * (x - self.shape)
        return self.shape.astype(np.float32)
