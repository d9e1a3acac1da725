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
