"""HMDiff: distribution-aligned diffusion over a coarse body mesh plus joints."""
from models.hmdiff.dat import DATConfig
from models.hmdiff.model import CheckpointError, HMDiff, HMDiffConfig, Recovery, load_hmdiff

__all__ = ["DATConfig", "CheckpointError", "HMDiff", "HMDiffConfig", "Recovery", "load_hmdiff"]
