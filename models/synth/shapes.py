"""Body shapes: anny's 6 phenotypes (gender, age, muscle, weight, height, proportions) in [0, 1].

Mostly adults (85 % aged 18-80, 10 % teenagers 12-18, 5 % children 6-12). Age is drawn in years
and mapped to anny's age value with anny's own morphological-age anchors; height, given age and
sex, follows anny's WHO-calibrated Beta distributions (``anny/data/shape_calibration``); measured
adult statures: men median 1.75 m (5-95 %: 1.64-1.88), women 1.60 m (1.48-1.72). Gender is
mostly near either end (anny: 0 = male, 1 = female) with 10 % in between; weight and muscle are
broad Betas around the middle (anny's calibrated ones are U-shaped and would make most adults
very thin or very heavy); proportions are uniform, as in anny's calibration.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

SHAPE_NAMES = ["gender", "age", "muscle", "weight", "height", "proportions"]
AGE_GROUPS = ((0.85, 18.0, 80.0), (0.10, 12.0, 18.0), (0.05, 6.0, 12.0))  # (probability, years)


@lru_cache(maxsize=1)
def _calibration() -> dict[str, dict[str, np.ndarray]]:
    """anny's shape calibration: age anchors and height Beta parameters per sex."""
    from anny.paths import get_anny_root_dir

    out = {}
    for sex in ("boys", "girls"):
        state = torch.load(get_anny_root_dir() / "data" / "shape_calibration" / f"{sex}.pth", weights_only=True)
        ages, height = state["morphological_age_mapping"], state["conditional_height_distribution"]
        out[sex] = {
            "anny_age": ages["anny_age_anchors"].numpy(), "years": ages["morphological_age_anchors"].numpy(),
            "h_age": height["age_anchors"].numpy(), "h_alpha": height["alpha_anchors"].numpy(),
            "h_beta": height["beta_anchors"].numpy(),
        }
    return out


def years_to_anny_age(years: np.ndarray) -> np.ndarray:
    """Morphological age in years to anny's age phenotype (piecewise linear, anny's anchors)."""
    cal = _calibration()["boys"]
    return np.interp(years, cal["years"], cal["anny_age"])


def sample_shapes(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 6) float32 phenotypes in SHAPE_NAMES order."""
    cal = _calibration()
    group = rng.choice(len(AGE_GROUPS), size=n, p=[g[0] for g in AGE_GROUPS])
    lo, hi = np.array([g[1] for g in AGE_GROUPS])[group], np.array([g[2] for g in AGE_GROUPS])[group]
    age = years_to_anny_age(rng.uniform(lo, hi))
    mode = rng.random(n)
    gender = np.where(mode < 0.45, rng.uniform(0.0, 0.15, n),
                      np.where(mode < 0.9, rng.uniform(0.85, 1.0, n), rng.uniform(0.0, 1.0, n)))
    height = np.empty(n)
    for sex, mask in (("boys", gender <= 0.5), ("girls", gender > 0.5)):
        c = cal[sex]
        alpha = np.interp(age[mask], c["h_age"], c["h_alpha"])
        beta = np.interp(age[mask], c["h_age"], c["h_beta"])
        height[mask] = rng.beta(alpha, beta)
    muscle = rng.beta(2.5, 2.5, n)
    weight = rng.beta(2.2, 2.8, n)
    proportions = rng.uniform(0.0, 1.0, n)
    return np.stack([gender, age, muscle, weight, height, proportions], axis=1).astype(np.float32)
