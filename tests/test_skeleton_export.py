"""BVH and skinned glTF exports of a run (realtime/skeleton_export.py), read back by other readers:
bvhio (BVH), pygltflib + a glTF skinning sampler written here (glb), trimesh, and Blender's own
importers when a Blender Python module is installed (HMDIFF_BLENDER_PYTHON, default /tmp/bpyenv)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from models.body.joints import regressor
from models.synth.poses import sample_poses
from realtime import skeleton_export
from realtime.outputs import Outputs, finish, parts_folder
from realtime.record import FrameRecord, MeshResult
from realtime.skeleton_export import CAMERA_TO_SCENE
from realtime.sources import Frame

REPO = Path(__file__).resolve().parents[1]
FPS = 24.0
FRAMES = 10
ABSENT = 6  # a frame without a person
SHAPE = torch.tensor([[0.35, 0.6, 0.5, 0.45, 0.65, 0.5]])
BODY_SHAPE = tuple(SHAPE[0].tolist())  # the run's body shape (its meshes carry it), which the rig takes
BLENDER_PYTHON = Path(os.environ.get("HMDIFF_BLENDER_PYTHON", "/tmp/bpyenv/bin/python"))


@pytest.fixture(scope="module")
def run(anny_body):
    """A 10-frame 'recovered' run: anny bodies (every bone posed, so not exactly the rig's) walking
    from one sampled pose to another, 3 m in front of the camera, turning; frame 6 has no person."""
    a, b = sample_poses(2, np.random.default_rng(5)).pose
    reg = regressor(anny_body, "coco17")
    meshes, joints, heads = [], [], []
    for k in range(FRAMES):
        s = k / (FRAMES - 1)
        with torch.no_grad():
            out = anny_body(pose=((1 - s) * a + s * b)[None], shape=SHAPE,
                            global_orient=torch.tensor([[0.1, 0.4 + 0.3 * s, 0.05]]),
                            transl=torch.tensor([[0.1 + 0.2 * s, 0.3, 3.0]]))
        meshes.append(out.vertices[0].numpy())
        joints.append((reg @ out.vertices[0]).numpy())
        heads.append(out.joints[0].numpy())
    return np.array(meshes), np.array(joints), np.array(heads)


def records(run, person=True, shape=BODY_SHAPE):
    meshes, joints, _ = run
    image = np.zeros((360, 640, 3), np.uint8)
    for k in range(FRAMES):
        record = FrameRecord(Frame(k, k / FPS, k / FPS, image, 1.0, 1.0), focal=np.array([500.0, 500.0], np.float32),
                             principal=np.array([319.5, 179.5], np.float32))
        if person and k != ABSENT:
            record.landmarks = object()
            record.mesh = MeshResult(meshes[k].astype(np.float32), joints[k].astype(np.float32),
                                     np.zeros(len(meshes[k]), np.float32), 2, 1, k > 0,
                                     None if shape is None else np.float32(shape))
        yield record


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("skeleton")
    outputs = Outputs(np.zeros((1, 3), np.int64), run[0].shape[1], FPS, export_bvh=folder / "run.bvh",
                      export_glb=folder / "run.glb", skinned_glb=True)
    for record in records(run):
        outputs.write(record)
    outputs.close()
    track, stats = skeleton_export.last_fit()
    return folder, track, stats


def scene(points: np.ndarray) -> np.ndarray:
    return points @ CAMERA_TO_SCENE.T


def test_files_written_and_parts_removed(exported):
    folder, track, stats = exported
    assert sorted(p.name for p in folder.iterdir()) == ["run.bvh", "run.glb"]
    assert stats["frames"] == FRAMES - 1 and stats["error_mm"] < 8.0
    assert track.person.tolist() == [k != ABSENT for k in range(FRAMES)]
    assert np.allclose(track.shape, BODY_SHAPE) and np.allclose(stats["shape"], BODY_SHAPE, atol=1e-3)  # kept, not fitted


def test_rig_takes_the_meshes_shape_or_fits_one(run, tmp_path):
    """The rig at the body shape the meshes carry (the viewer's: given, the default body or the
    track's estimate), the last frame's when it changes along the run (an estimate settling);
    fitted only when the meshes carry none (a parts folder of an older version)."""
    meshes, joints, _ = run
    person = np.array([k != ABSENT for k in range(FRAMES)])
    times, index = np.arange(FRAMES) / FPS, np.arange(FRAMES)
    male = (0.0, 0.79, 0.5, 0.5, 0.36, 0.5)
    track, stats = skeleton_export.fit_run(meshes, joints, person, times, index, shape=np.array(male))
    assert np.allclose(track.shape, male) and stats["shape"] == list(male)
    fitted, _ = skeleton_export.fit_run(meshes, joints, person, times, index, shape=None)
    assert np.abs(fitted.shape - SHAPE[0].numpy()).max() < 0.2 and not np.allclose(fitted.shape, male)
    outputs = Outputs(np.zeros((1, 3), np.int64), meshes.shape[1], FPS, export_bvh=tmp_path / "run.bvh")
    for k, record in enumerate(records(run)):
        if record.mesh is not None and k < FRAMES - 2:
            record.mesh.shape = np.float32(male)  # the last two frames carry BODY_SHAPE
        outputs.write(record)
    outputs.close()
    track, _ = skeleton_export.last_fit()
    assert np.allclose(track.shape, BODY_SHAPE, atol=1e-6)


def test_bvh_reads_back_and_its_kinematics_match_the_fit(exported, run, anny_body):
    bvhio = pytest.importorskip("bvhio")
    folder, track, _ = exported
    container = bvhio.readAsBvh(str(folder / "run.bvh"))
    assert container.FrameCount == FRAMES and container.FrameTime == pytest.approx(1 / FPS, rel=1e-6)
    root = bvhio.readAsHierarchy(str(folder / "run.bvh"))
    joints = {joint.Name: joint for joint, _, _ in root.layout()}
    assert set(joints) == set(track.names)
    _, heads = track.world()
    true_heads = run[2]
    rig_in_anny = [anny_body.joint_names.index(name) for name in track.names]
    for k in (0, 3, ABSENT, FRAMES - 1):
        root.loadPose(k)
        read = np.array([np.array(joints[name].PositionWorld) / 100.0 for name in track.names])
        assert np.abs(read - heads[k]).max() < 1e-4, k  # the file's FK is the fitted skeleton (0.1 mm)
        shown = k if k != ABSENT else ABSENT - 1  # a frame without a person holds the last pose
        error = np.linalg.norm(read - scene(true_heads[shown][rig_in_anny]), axis=1)
        assert error.mean() < 0.012 and error.max() < 0.04, (k, error.mean(), error.max())


# -- a glTF reader independent of the writer: pygltflib for the file, the spec for the maths --


def _accessor(gltf, blob: bytes, index: int) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = {5126: "<f4", 5125: "<u4", 5123: "<u2", 5121: "u1"}[acc.componentType]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    return np.frombuffer(blob, dtype, acc.count * width, start).reshape(acc.count, width)


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _sample(times: np.ndarray, values: np.ndarray, t: float, how: str, path: str) -> np.ndarray:
    if t <= times[0]:
        return values[0]
    if t >= times[-1]:
        return values[-1]
    i = int(np.searchsorted(times, t, side="right")) - 1
    if how == "STEP":
        return values[i]
    s = (t - times[i]) / (times[i + 1] - times[i])
    a, b = values[i].astype(np.float64), values[i + 1].astype(np.float64)
    if path != "rotation":
        return (1 - s) * a + s * b
    if np.dot(a, b) < 0:
        b = -b
    angle = np.arccos(np.clip(np.dot(a, b), -1, 1))
    if angle < 1e-6:
        return a
    return (np.sin((1 - s) * angle) * a + np.sin(s * angle) * b) / np.sin(angle)


def gltf_skinned(path: Path, t: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The skinned mesh's vertices (V, 3) and every node's world position at time ``t``."""
    import pygltflib

    gltf = pygltflib.GLTF2().load(str(path))
    blob = gltf.binary_blob()
    trs = {i: {"translation": np.array(n.translation or [0, 0, 0], float), "rotation": np.array(n.rotation or [0, 0, 0, 1], float),
               "scale": np.array(n.scale or [1, 1, 1], float)} for i, n in enumerate(gltf.nodes)}
    for channel in gltf.animations[0].channels:
        sampler = gltf.animations[0].samplers[channel.sampler]
        times = _accessor(gltf, blob, sampler.input)[:, 0]
        values = _accessor(gltf, blob, sampler.output)
        trs[channel.target.node][channel.target.path] = _sample(times, values, t, sampler.interpolation, channel.target.path)
    parent = {c: i for i, n in enumerate(gltf.nodes) for c in (n.children or [])}
    world: dict[int, np.ndarray] = {}

    def matrix(i: int) -> np.ndarray:
        if i not in world:
            local = np.eye(4)
            local[:3, :3] = _quat_matrix(trs[i]["rotation"]) * trs[i]["scale"]
            local[:3, 3] = trs[i]["translation"]
            world[i] = (matrix(parent[i]) if i in parent else np.eye(4)) @ local
        return world[i]

    skin = gltf.skins[0]
    ibm = _accessor(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    joint_mats = np.array([matrix(j) @ ibm[k] for k, j in enumerate(skin.joints)])
    prim = gltf.meshes[0].primitives[0]
    positions = _accessor(gltf, blob, prim.attributes.POSITION).astype(np.float64)
    out = np.zeros_like(positions)
    for k in range(2):
        joints = _accessor(gltf, blob, getattr(prim.attributes, f"JOINTS_{k}")).astype(np.int64)
        weights = _accessor(gltf, blob, getattr(prim.attributes, f"WEIGHTS_{k}")).astype(np.float64)
        for slot in range(4):
            m = joint_mats[joints[:, slot]]
            out += weights[:, slot, None] * (np.einsum("vab,vb->va", m[:, :3, :3], positions) + m[:, :3, 3])
    nodes = {gltf.nodes[j].name: matrix(j)[:3, 3] for j in skin.joints}
    return out, nodes


def test_glb_animation_reproduces_the_recovered_meshes(exported, run):
    pytest.importorskip("pygltflib")
    folder, track, _ = exported
    _, heads = track.world()
    for k in (0, 4, FRAMES - 1):
        vertices, nodes = gltf_skinned(folder / "run.glb", k / FPS)
        error = np.linalg.norm(vertices - scene(run[0][k]), axis=1)
        assert error.mean() < 0.010 and np.median(error) < 0.005, (k, error.mean())  # the fit's error (curled fingers: not in the rig)
        assert np.abs(vertices - track.vertices(k)).max() < 1e-4  # what the track says, to float32
        read = np.array([nodes[name] for name in track.names])
        assert np.abs(read - heads[k]).max() < 1e-5
    hidden, _ = gltf_skinned(folder / "run.glb", ABSENT / FPS)  # no person: the body collapses (scale 0)
    assert np.ptp(hidden, axis=0).max() < 1e-6
    halfway, _ = gltf_skinned(folder / "run.glb", 1.5 / FPS)  # between frames: between their meshes
    ends = [gltf_skinned(folder / "run.glb", t / FPS)[0] for t in (1, 2)]
    # rotations are slerped per joint, so the halfway mesh is near, not at, the mean of the ends:
    # within a tenth of how far the vertices move between the two frames
    step = np.linalg.norm(ends[1] - ends[0], axis=1).max()
    assert 0 < np.linalg.norm(halfway - (ends[0] + ends[1]) / 2, axis=1).max() < 0.1 * step


def test_glb_loads_in_trimesh_as_one_skinned_body(exported, anny_body):
    trimesh = pytest.importorskip("trimesh")
    folder, _, _ = exported
    loaded = trimesh.load(folder / "run.glb")
    geometry = list(loaded.geometry.values())
    assert len(geometry) == 1 and len(geometry[0].vertices) == anny_body.num_vertices


def test_smoothing_calms_jittered_rotations(run, tmp_path):
    """The same run with per-frame jitter on the meshes: --smooth-skeleton's rotations move less frame to frame."""
    rng = np.random.default_rng(0)
    jitter = (run[0] + rng.normal(0, 0.004, (FRAMES, 1, 3)) * np.linspace(0, 1, run[0].shape[1])[None, :, None],
              run[1], run[2])
    angles = {}
    for smooth in (False, True):
        folder = tmp_path / str(smooth)
        folder.mkdir()
        outputs = Outputs(np.zeros((1, 3), np.int64), run[0].shape[1], FPS, export_bvh=folder / "run.bvh",
                          smooth_skeleton=smooth)
        for record in records(jitter):
            outputs.write(record)
        outputs.close()
        motion = np.loadtxt(folder / "run.bvh", skiprows=(folder / "run.bvh").read_text().splitlines().index("MOTION") + 3)
        angles[smooth] = np.abs(np.diff(motion[:ABSENT, 3:], axis=0)).mean()
    assert angles[True] < 0.8 * angles[False], angles


def test_no_person_in_any_frame_writes_nothing(run, tmp_path, caplog):
    outputs = Outputs(np.zeros((1, 3), np.int64), run[0].shape[1], FPS, export_bvh=tmp_path / "run.bvh",
                      export_glb=tmp_path / "run.glb", skinned_glb=True)
    for record in records(run, person=False):
        outputs.write(record)
    outputs.close()
    assert list(tmp_path.iterdir()) == []
    assert "no person in any frame: run.bvh not written" in caplog.text


def test_a_killed_run_is_finished_from_its_parts(run, tmp_path):
    outputs = Outputs(np.zeros((1, 3), np.int64), run[0].shape[1], FPS, export_bvh=tmp_path / "run.bvh")
    for record in records(run):
        outputs.write(record)
    outputs.writers[0]._parts.flush()  # what a killed run leaves: the parts on disk, no close()
    target, frames = finish(parts_folder(tmp_path / "run.bvh"))
    assert target == tmp_path / "run.bvh" and frames == FRAMES and "Frames: 10" in target.read_text()
    assert not parts_folder(target).exists()


@pytest.mark.skipif(not BLENDER_PYTHON.is_file(), reason=f"no Blender Python module at {BLENDER_PYTHON}")
def test_blender_imports_bvh_and_glb_at_the_fitted_joints(exported, tmp_path):
    """Blender's own BVH and glTF importers (bpy 4.2): bone heads at the fitted joints, skinned
    mesh at the track's mesh, at a few frames."""
    folder, track, _ = exported
    frames = [0, 4, FRAMES - 1]
    result = subprocess.run([str(BLENDER_PYTHON), str(REPO / "scripts" / "blender_check.py"), str(folder / "run.bvh"),
                             str(folder / "run.glb"), "--fps", str(FPS), "--frames", *map(str, frames),
                             "--out", str(tmp_path / "heads.json")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    read = json.loads((tmp_path / "heads.json").read_text())
    _, heads = track.world()
    for k in frames:
        for importer in ("bvh", "glb"):
            got = np.array([read[importer][str(k)][name] for name in track.names])
            assert np.abs(got - heads[k]).max() < 1e-3, (importer, k, np.abs(got - heads[k]).max())
        mesh = track.vertices(k)
        picked = np.array(read["glb_mesh"][str(k)])
        nearest = np.linalg.norm(picked[:, None] - mesh[None], axis=2).min(1)
        assert nearest.max() < 1e-3, (k, nearest.max())


def run_live(*args: str) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run([sys.executable, "run_live.py", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, text", [
    (["--export-bvh", "run.txt"], "--export-bvh must end in .bvh"),
    (["--export-bvh", "run.bvh", "--body-model", "smpl"], "--export-bvh needs the anny body model"),
])
@pytest.mark.slow
def test_export_bvh_arguments_are_one_line(args, text):
    result = run_live("--no-display", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and text in result.stderr, result.stderr


@pytest.mark.slow
def test_run_live_exports_bvh_and_skinned_glb_from_a_real_video(shared_dir, tmp_path):
    """The shipped weights on 6 frames of taiji.mp4: BVH at the video's rate, one skinned body."""
    trimesh = pytest.importorskip("trimesh")
    result = run_live("--video", str(shared_dir / "data" / "videos" / "taiji.mp4"), "--every-frame", "--no-display",
                      "--max-frames", "6", "--export-bvh", str(tmp_path / "run.bvh"),
                      "--export-glb", str(tmp_path / "run.glb"), "--smooth-skeleton")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skeleton fit: 6 frames" in result.stderr
    text = (tmp_path / "run.bvh").read_text()
    assert "Frames: 6" in text and "Frame Time: 0.04170" in text  # taiji.mp4 is 23.98 fps
    assert len(trimesh.load(tmp_path / "run.glb").geometry) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.bvh", "run.glb"]
