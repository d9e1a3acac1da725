"""Shared fixtures: the repo's anny cache, the optional ../shared data, a session body model."""
from __future__ import annotations

from pathlib import Path

import pytest

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
