"""Check the mocap retargeting by number and by eye.

    python tools/mocap_check.py [--png out/mocap_check.png] [--frames 13_30:200,02_05:300] [--clips 05_02,...]

Prints, per checked segment, the angle between the retargeted anny segment (forward kinematics
of the cached poses) and the BVH segment over the kept frames of every clip (median / p95 / max;
"T-pose" is the angle for the Daz T-pose reference, the rest offset left by the design), and
writes a PNG: per row one frame, the BVH skeleton and the posed anny mesh with its bone heads,
seen from the front and from the body's left (yaw removed), with the floor as a grey line.
Left limbs red, right limbs blue.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.synth import deepmimic, mocap  # noqa: E402
from models.synth.skeleton import anny_skeleton  # noqa: E402

DEFAULT_FRAMES = "02_05:396,13_30:389,14_30:94,05_02:150,01_08:560,10_01:140,07_01:60,13_26:300"
BVH_LINES = [("hip", "abdomen"), ("abdomen", "chest"), ("chest", "neck"), ("neck", "head"), ("head", "eyes")] + [
    pair for s in "lr" for pair in (("chest", f"{s}Shldr"), (f"{s}Shldr", f"{s}ForeArm"), (f"{s}ForeArm", f"{s}Hand"),
                                    (f"{s}Hand", f"{s}Mid1"), (f"{s}Index1", f"{s}Pinky1"), ("hip", f"{s}Thigh"),
                                    (f"{s}Thigh", f"{s}Shin"), (f"{s}Shin", f"{s}Foot"), (f"{s}Foot", f"{s}Toe"))]


def anny_lines() -> list[tuple[str, str]]:
    """The same segments on anny (from mocap.segments) plus the spine bones."""
    return [(a, b) for (_, _, a, b) in mocap.segments().values()]


def root_rotation(data: mocap.MocapSet, frames: np.ndarray) -> np.ndarray:
    """The cached world orientation as anny's root rotation in anny axes (T, 3, 3)."""
    world = mocap.Rotation.from_rotvec(data.global_orient[frames].astype(np.float64)).as_matrix()
    return mocap.ANNY_TO_WORLD.T @ world @ mocap.ANNY_TO_WORLD


def error_table(data: mocap.MocapSet, root: Path, clips: list[str] | None) -> None:
    skeleton = anny_skeleton()
    reference = mocap.read_bvh(root / "skeleton/daz_tpose_reference.bvh")
    pose, root_rot = mocap.Retargeter(reference, skeleton)(reference)
    tpose = mocap.direction_errors(reference, pose, root_rot, skeleton)
    errors: dict[str, list[np.ndarray]] = {}
    names = list(data.clip_names) if not clips else clips
    for name in names:
        c = list(data.clip_names).index(name)
        frames = data.clip_start[c] + np.arange(int((data.clip == c).sum()))
        keep = data.valid[frames]
        if not keep.any():
            continue
        motion = mocap.read_clip(mocap.clip_path(root, name), reference)[1]
        err = mocap.direction_errors(motion, data.full_pose(frames), root_rotation(data, frames), skeleton)
        for seg, e in err.items():
            errors.setdefault(seg, []).append(e[keep])
    total = sum(len(e) for e in next(iter(errors.values())))
    print(f"bone-direction error, degrees, over {total} kept frames of {len(names)} clips")
    print(f"{'segment':14s} {'T-pose':>7s} {'median':>7s} {'p95':>7s} {'max':>7s}")
    for seg, parts in errors.items():
        e = np.concatenate(parts)
        print(f"{seg:14s} {tpose[seg][0]:7.1f} {np.median(e):7.1f} {np.percentile(e, 95):7.1f} {e.max():7.1f}")


def _view(points: np.ndarray, yaw_rot: np.ndarray, side: bool) -> np.ndarray:
    """(..., 3) world points (pelvis at 0) -> (..., 2) plot coordinates (up = +)."""
    p = points @ yaw_rot  # undo the yaw: R_y(yaw)^T p
    return np.stack([-p[..., 2] if side else p[..., 0], -p[..., 1]], -1)


def _draw_mesh(ax, vertices: np.ndarray, faces: np.ndarray, yaw_rot: np.ndarray, side: bool) -> None:
    from matplotlib.collections import PolyCollection

    v = vertices @ yaw_rot
    depth_axis = 0 if side else 2  # camera on the body's left (+x) or in front (-z)
    tri = v[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    toward = np.array([1.0, 0.0, 0.0]) if side else np.array([0.0, 0.0, -1.0])
    shade = np.clip(normal @ toward, 0, 1)
    depth = tri[..., depth_axis].mean(1) * (-1 if side else 1)
    order = np.argsort(-depth)  # far first
    xy = _view(vertices, yaw_rot, side)[faces][order]
    colors = np.clip(0.25 + 0.65 * shade[order], 0, 1)[:, None] * np.array([[0.9, 0.85, 0.8]])
    ax.add_collection(PolyCollection(xy, facecolors=colors, edgecolors="none", alpha=0.9))


def _color(a: str, b: str) -> str:
    left = any(s in a + b for s in (".L", "lS", "lF", "lH", "lT", "lM", "lI", "lP", "left"))
    right = any(s in a + b for s in (".R", "rS", "rF", "rH", "rT", "rM", "rI", "rP", "right"))
    return "red" if left else "blue" if right else "black"


def figure(data: mocap.MocapSet, root: Path, picks: list[tuple[str, int]], out: Path,
           box: tuple[float, float, float, float] = (-1.0, 1.0, -1.2, 1.0), dpi: int = 80) -> None:
    """Draw the picked frames (see the module docstring); ``box`` = x0, x1, y0, y1 in metres."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from models.body import load_body_model

    model = load_body_model("anny")
    skeleton = anny_skeleton()
    reference = mocap.read_bvh(root / "skeleton/daz_tpose_reference.bvh")
    faces = model.faces.numpy()
    fig, axes = plt.subplots(len(picks), 4, figsize=(12, 3.4 * len(picks)))
    axes = np.atleast_2d(axes)
    for row, (name, frame) in enumerate(picks):
        c = list(data.clip_names).index(name)
        i = int(data.clip_start[c] + frame)
        if name.startswith("dm_"):  # DeepMimic's own skeleton, not the Daz figure it drives
            points = deepmimic.source_points(mocap.clip_path(root, name), reference)
            source_lines, pelvis = deepmimic.LINES, points["root"]
        else:
            points = mocap.bvh_points(motion := mocap.read_bvh(root / "bvh" / f"{name}.bvh"), *mocap.bvh_forward(motion))
            source_lines, pelvis = BVH_LINES, points["hip"]
        bvh = {k: (mocap.BVH_TO_WORLD @ (v[frame] - pelvis[frame])) / 100.0 for k, v in points.items()}
        orient = torch.as_tensor(data.global_orient[i:i + 1])
        with torch.no_grad():
            out_body = model(pose=torch.as_tensor(data.full_pose(np.array([i]))), global_orient=orient)
        verts, joints = out_body.vertices[0].double().numpy(), out_body.joints[0].double().numpy()
        anny = mocap.anny_points(joints, skeleton)
        yaw, _ = mocap.yaw_free(mocap.Rotation.from_rotvec(data.global_orient[i].astype(np.float64)).as_matrix())
        yaw_rot = mocap.Rotation.from_euler("y", float(yaw)).as_matrix()
        for col, (kind, side) in enumerate((("bvh", False), ("anny", False), ("bvh", True), ("anny", True))):
            ax = axes[row, col]
            if kind == "anny":
                _draw_mesh(ax, verts, faces, yaw_rot, side)
                pts, lines = anny, anny_lines()
            else:
                pts, lines = bvh, source_lines
            for a, b in lines:
                xy = _view(np.stack([pts[a], pts[b]]), yaw_rot, side)
                ax.plot(xy[:, 0], xy[:, 1], "-", color=_color(a, b), lw=2)
            floor = float(data.transl[i, 1]) if kind == "anny" else -pelvis[frame, 1] / 100.0
            ax.axhline(floor, color="0.5", lw=1)  # the floor (y = 0 in the world)
            ax.set_xlim(*box[:2])
            ax.set_ylim(*box[2:])
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            view = "left side" if side else "front"
            flag = "" if data.valid[i] else " (dropped)"
            ax.set_title(f"{name}:{frame} {kind} {view}{flag}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    print(f"wrote {out}")


def samples_figure(data: mocap.MocapSet, out: Path, seed: int = 0, dpi: int = 80) -> None:
    """Row 1: four kept frames, each next to its left/right mirror (front view, yaw removed).
    Row 2: eight frames of one sample_mocap_sequence (world frame: yaw, travel and floor)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from models.body import load_body_model

    model = load_body_model("anny")
    faces = model.faces.numpy()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(2, 8, figsize=(16, 4.6))
    frames = rng.choice(np.flatnonzero(data.valid), 4, replace=False)
    perm = mocap.mirror_permutation(data.pose_names)
    for k, i in enumerate(frames):
        pose = data.full_pose(np.array([i]))
        body = data.body_orient[i:i + 1]
        for j, (p, b) in enumerate(((pose, body), (mocap.mirror_pose(pose, perm), body * mocap.MIRROR_SIGN))):
            with torch.no_grad():
                verts = model(pose=torch.as_tensor(p, dtype=torch.float32),
                              global_orient=torch.as_tensor(b, dtype=torch.float32)).vertices[0].double().numpy()
            ax = axes[0, 2 * k + j]
            _draw_mesh(ax, verts, faces, np.eye(3), False)
            ax.set_title(f"{data.clip_names[data.clip[i]]}:{i - data.clip_start[data.clip[i]]}{' mirrored' if j else ''}",
                         fontsize=8)
    motion = mocap.sample_mocap_sequence(120, 30.0, rng)
    with torch.no_grad():
        verts = model(pose=motion.pose, global_orient=motion.global_orient, transl=motion.transl).vertices.double().numpy()
    for col, t in enumerate(np.linspace(0, 119, 8).astype(int)):
        ax = axes[1, col]
        _draw_mesh(ax, verts[t], faces, np.eye(3), False)
        ax.axhline(0.0, color="0.5", lw=1)
        name = mocap.MOCAP_CATEGORIES[motion.category[t]]
        ax.set_title(f"t={t / 30:.1f}s {name[6:][:14]}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xlim(-1.2, 1.2)
        ax.set_ylim(-0.1, 2.0) if ax in axes[1] else ax.set_ylim(-1.2, 1.0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--png", type=Path, default=Path("out/mocap_check.png"))
    parser.add_argument("--frames", default=DEFAULT_FRAMES, help="clip:frame,... drawn in the PNG")
    parser.add_argument("--clips", default="", help="clips for the table (default: all)")
    parser.add_argument("--no-table", action="store_true")
    parser.add_argument("--dpi", type=int, default=80)
    parser.add_argument("--samples", type=Path, default=None, help="also draw mirrored frames and a sampled sequence")
    parser.add_argument("--box", default="-1,1,-1.2,1", help="x0,x1,y0,y1 of each panel, metres (pelvis at 0)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    root = mocap.mocap_dir()
    try:
        data = mocap.load_mocap(root)
    except FileNotFoundError as exc:
        print(exc)
        return 1
    if not args.no_table:
        error_table(data, root, [c for c in args.clips.split(",") if c] or None)
    if args.frames:
        picks = [(p.split(":")[0], int(p.split(":")[1])) for p in args.frames.split(",")]
        figure(data, root, picks, args.png, tuple(float(v) for v in args.box.split(",")), args.dpi)
    if args.samples:
        samples_figure(data, args.samples, dpi=args.dpi)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
