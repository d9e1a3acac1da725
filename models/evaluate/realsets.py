"""Real evaluation sets in one generic format, and the converter for the shared Human3.6M frames.

Format: a folder DIR with the images and one ``gt.npz`` holding ``imgname`` (N, paths relative to
DIR), ``S`` (N, 17, 3) 3D joints in the camera frame (metres, Human3.6M-17 order), ``f`` (N, 2)
focal lengths and ``c`` (N, 2) principal point in pixels. Any set in this format can be judged with
``python -m models.evaluate --real DIR``.

``python tools/convert_realset.py h36m SRC OUT`` converts ``../shared/data/real/h36m`` (mmpose's test
frames: ``test_h36m_body3d.npz`` + ``cameras.pkl``) into it.

``python tools/convert_realset.py synthetic-lift SRC OUT`` writes a synthetic set (``python -m models.synth``)
as a lifting set in ``h36m_lift``'s format (``gt.npz``: ``S``, exact ``kp2d``, ``f``, ``c``,
``img_wh``, ``subject`` "anny", ``action`` the pose's category), so that ``python -m models.evaluate
--lift OUT`` judges lifting on our own bodies exactly as on Human3.6M's: the control that tells the
network's own error from what real people add.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.safe_pickle import load_npz, load_pickle


@dataclass
class RealSet:
    root: Path
    imgname: list[str]
    joints: np.ndarray  # (N, 17, 3) H36M-17, camera frame, metres
    focal: np.ndarray  # (N, 2)
    principal: np.ndarray  # (N, 2)

    def image_path(self, i: int) -> Path:
        return self.root / self.imgname[i]


def load_real_set(root: str | Path) -> RealSet:
    """Read DIR/gt.npz; a missing or malformed file raises ValueError with one clear line."""
    root = Path(root)
    gt = root / "gt.npz"
    if not gt.is_file():
        raise ValueError(f"{root} is not a real evaluation set: {gt} is missing")
    data = np.load(gt, allow_pickle=False)
    missing = {"imgname", "S", "f", "c"} - set(data.files)
    if missing:
        raise ValueError(f"{gt} lacks {sorted(missing)} (needs imgname, S, f, c)")
    joints = data["S"][..., :3].astype(np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (17, 3):
        raise ValueError(f"{gt}: S must be (N, 17, 3) Human3.6M-17 joints, got {data['S'].shape}")
    return RealSet(root, [str(n) for n in data["imgname"]], joints,
                   data["f"].astype(np.float32), data["c"].astype(np.float32))


def convert_h36m(src: str | Path, out: str | Path) -> RealSet:
    """Convert mmpose's Human3.6M test frames (camera-frame S, cameras.pkl) to the generic format."""
    src, out = Path(src), Path(out)
    data = load_npz(src / "test_h36m_body3d.npz")  # neither file may run code: arrays only
    cameras = load_pickle(src / "cameras.pkl")
    names, focal, principal = [], [], []
    for name in data["imgname"]:
        name = str(name)
        subject = name.split("/")[0]
        camera_id = Path(name).stem.split(".")[-1].split("_")[0]
        cam = cameras[(subject, camera_id)]
        focal.append(np.asarray(cam["f"]).reshape(2))
        principal.append(np.asarray(cam["c"]).reshape(2))
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / name, out / name)
        names.append(name)
    np.savez(out / "gt.npz", imgname=np.array(names), S=data["S"][..., :3].astype(np.float32),
             f=np.array(focal, np.float32), c=np.array(principal, np.float32))
    return load_real_set(out)


def lift_set_from_synthetic(src: str | Path, out: str | Path) -> int:
    """Write synthetic set SRC's bodies as a lifting set OUT/gt.npz (``h36m_lift``'s format): their
    Human3.6M-17 joints and those joints' exact projections. Returns the number of poses."""
    import torch

    from models.camera import project
    from models.synth.dataset import load_dataset, load_index

    data, names = load_dataset(src), load_index(src)["categories"]
    joints = np.asarray(data["joints_h36m17"], np.float64)
    focal, principal = np.asarray(data["focal"], np.float64), np.asarray(data["principal"], np.float64)
    kp2d = project(torch.as_tensor(joints), torch.as_tensor(focal), torch.as_tensor(principal)).numpy()
    n = len(joints)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "gt.npz", S=joints, kp2d=kp2d, f=focal, c=principal,
             img_wh=np.asarray(data["image_size"], np.int64), subject=np.full(n, "anny"),
             action=np.array([names[c] for c in np.asarray(data["category"])]),
             camera=np.full(n, "synthetic"), frame=np.arange(n))
    return n
