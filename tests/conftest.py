"""Shared fixtures: the repo's anny cache, the optional ../shared data, a session body model."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.body.anny_body import configure_anny_cache

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"

configure_anny_cache()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repo; tests that need it skip cleanly when it is absent."""
    if not (SHARED_DIR / "data").is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DIR


@pytest.fixture(scope="session")
def anny_body():
    """One anny body model for the whole session (loading takes ~0.5 s once cached)."""
    from models.body import load_body_model

    return load_body_model("anny")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module (much faster than two on a busy 2-core machine); restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def untrained_weights(tmp_path_factory) -> Path:
    """A tiny, untrained HMDiff checkpoint: the real code path, fast, meaningless meshes."""
    from models.hmdiff import HMDiff, HMDiffConfig
    from models.hmdiff.denoiser import DenoiserConfig
    from models.hmdiff.state import StateLayout

    layout = StateLayout(num_coarse=256, num_joints=17, data_scale=0.35, order=list(range(256)))
    config = HMDiffConfig(denoiser=DenoiserConfig(num_points=273, dim=32, depth=1, heads=2), layout=layout)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    HMDiff(config).save(path)
    return path


@pytest.fixture(scope="module")
def tiny_model(untrained_weights, one_torch_thread):
    """The tiny untrained HMDiff, loaded once per module, torch on one thread."""
    from models.hmdiff import load_hmdiff

    return load_hmdiff(untrained_weights)


@pytest.fixture(scope="module")
def standing_prior():
    """A person standing 3 m ahead, as one stream frame: (prior (a batch of one), COCO-17 pixels of a
    640x480 camera, confidences)."""
    import numpy as np

    from models.prior import build_prior
    from realtime.live import WARMUP_COCO17_M, WARMUP_DEPTH_M

    focal, principal = np.float32([500, 500]), np.float32([319.5, 239.5])
    camera = WARMUP_COCO17_M + np.float32([0, 0, WARMUP_DEPTH_M])
    keypoints = camera[:, :2] / camera[:, 2:] * focal + principal
    t = lambda a: torch.as_tensor(np.asarray(a, np.float32))[None]  # noqa: E731
    prior = build_prior(t(keypoints), t(np.ones(17)), t(focal), t(principal), t([640, 480]))
    return prior, keypoints, np.ones(17, np.float32)
