"""CMU mocap retargeted to anny (models.synth.mocap); skipped without ../shared/data/mocap."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from models.synth import mocap
from models.synth.poses import CATEGORIES
from models.synth.skeleton import forward_kinematics


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def root():
    path = mocap.mocap_dir()
    if not (path / "index.csv").is_file():
        pytest.skip(f"no mocap data at {path}")
    return path


@pytest.fixture(scope="module")
def data(root) -> mocap.MocapSet:
    return mocap.load_mocap(root)  # builds the cache once (a few minutes) when it is missing


@pytest.fixture(scope="module")
def skeleton(anny_body):
    from models.synth.skeleton import skeleton_from_model

    return skeleton_from_model(anny_body)


@pytest.fixture(scope="module")
def reference(root) -> mocap.BvhMotion:
    return mocap.read_bvh(root / "skeleton/daz_tpose_reference.bvh")


def test_missing_data_raises(tmp_path, monkeypatch):
    monkeypatch.setenv(mocap.MOCAP_DIR_ENV, str(tmp_path))
    assert mocap.mocap_dir() == tmp_path
    with pytest.raises(FileNotFoundError):
        mocap.load_mocap()


def test_bvh_reading_and_forward_kinematics(root, reference):
    """bvhio's rotations = scipy's intrinsic Euler angles of the raw channels; our FK = bvhio's;
    the T-pose heights are PROVENANCE.md's."""
    import bvhio

    path = root / "bvh/02_01.bvh"
    motion = mocap.read_bvh(path)
    values = np.loadtxt(re.split(r"Frame Time:.*\n", path.read_text())[1].splitlines())
    assert values.shape == (len(motion.rotations), 132)
    np.testing.assert_allclose(motion.root_position, values[:, :3], atol=1e-4)
    root_rot = Rotation.from_euler("ZYX", values[:, 3:6], degrees=True).as_matrix()
    np.testing.assert_allclose(motion.rotations[:, 0], root_rot, atol=1e-5)
    chest = motion.index("chest")  # joints 1.. have 3 channels each, in hierarchy order
    chest_rot = Rotation.from_euler("ZXY", values[:, 3 + 3 * chest:6 + 3 * chest], degrees=True).as_matrix()
    np.testing.assert_allclose(motion.rotations[:, chest], chest_rot, atol=1e-5)

    world, heads = mocap.bvh_forward(motion)
    hierarchy = bvhio.readAsHierarchy(str(path))
    for frame in (0, 50):
        hierarchy.loadPose(frame)
        for joint, _, _ in hierarchy.layout():
            np.testing.assert_allclose(heads[frame, motion.index(joint.Name)], tuple(joint.PositionWorld), atol=1e-3)

    _, ref_heads = mocap.bvh_forward(reference)
    height = {n: ref_heads[0, reference.index(n), 1] for n in ("hip", "head", "lFoot", "rFoot")}
    assert height["hip"] == pytest.approx(85.2, abs=0.05) and height["head"] == pytest.approx(146.8, abs=0.05)
    assert height["lFoot"] == pytest.approx(5.7, abs=0.05) and height["rFoot"] == pytest.approx(5.9, abs=0.05)


def test_tpose_maps_to_rest_alignment(reference, skeleton):
    """The Daz T-pose gives: no body rotation, the trunk at anny's rest, arms lifted to a straight-
    elbowed T (anny's A-pose arm turned ~47 degrees up), legs within a few degrees of rest."""
    retarget = mocap.Retargeter(reference, skeleton)
    pose, root = retarget(reference)
    np.testing.assert_allclose(root[0], np.eye(3), atol=1e-6)
    deg = np.degrees(np.linalg.norm(pose[0], axis=-1))
    for bone in ("spine03", "spine02", "spine01", "neck01", "neck02", "neck03", "head"):
        assert deg[skeleton.pose_index(bone)] < 1e-3, bone
    for side in "LR":
        assert 40 < deg[skeleton.pose_index(f"upperarm01.{side}")] < 55
        for bone in ("upperleg01", "lowerleg01", "foot"):
            assert deg[skeleton.pose_index(f"{bone}.{side}")] < 10, bone
    joints = forward_kinematics(torch.as_tensor(pose, dtype=torch.float32), skeleton)[0].double().numpy()
    joints = joints @ mocap.ANNY_TO_WORLD  # back to anny axes (x left, y back, z up)
    at = lambda name: joints[skeleton.index(name)]  # noqa: E731
    for side, sign in (("L", 1.0), ("R", -1.0)):
        upper = mocap._unit(at(f"lowerarm01.{side}") - at(f"upperarm01.{side}"))
        fore = mocap._unit(at(f"wrist.{side}") - at(f"lowerarm01.{side}"))
        assert sign * upper[0] > 0.99  # horizontal, outwards: the T
        assert np.degrees(np.arccos(upper @ fore)) < 0.5  # a Daz zero elbow is a straight anny elbow
        shin = mocap._unit(at(f"foot.{side}") - at(f"lowerleg01.{side}"))
        assert shin[2] < -0.98  # legs down
    for bone in ("spine02", "neck01", "head"):  # the trunk exactly at rest
        np.testing.assert_allclose(at(bone), skeleton.rest[skeleton.index(bone)], atol=1e-5)


# Measured over all 31,507 kept frames (tools/mocap_check.py): limb segments match the BVH to
# < 0.1 degree (forearm and hand at the designed 17.2 degree straight-elbow offset); the axial
# segments keep anny's spine curvature: lumbar <= 11.8, upper thorax <= 21.9, neck <= 21.4.
ERROR_BOUNDS = {"upperarm": (0.0, 0.5), "forearm": (17.2, 0.5), "hand": (17.2, 0.5), "thigh": (0.0, 0.5),
                "shin": (0.0, 0.5), "foot": (0.0, 0.5), "palm": (12.9, 0.5)}
AXIAL_MAX = {"lumbar": 12.5, "thorax": 5.5, "upper_thorax": 22.5, "neck": 22.0, "head": 18.5}


def _check_errors(errors: dict[str, np.ndarray]) -> None:
    for name, err in errors.items():
        base = name.split(".")[0]
        if base in ERROR_BOUNDS:
            offset, tol = ERROR_BOUNDS[base]
            assert np.abs(err - offset).max() < tol, (name, float(np.abs(err - offset).max()))
        elif base in AXIAL_MAX:
            assert err.max() < AXIAL_MAX[base], (name, float(err.max()))


@pytest.mark.parametrize("clip", ["02_05", "13_30", "05_02"])
def test_bone_direction_error(root, data, skeleton, clip):
    """The cached poses (float32, through anny's FK) point the bones where the BVH does."""
    c = list(data.clip_names).index(clip)
    frames = np.flatnonzero((data.clip == c) & data.valid)
    motion = mocap.read_bvh(root / "bvh" / f"{clip}.bvh")
    keep = frames - data.clip_start[c]
    motion.rotations, motion.root_position = motion.rotations[keep], motion.root_position[keep]
    world = Rotation.from_rotvec(data.global_orient[frames].astype(np.float64)).as_matrix()
    root_rot = mocap.ANNY_TO_WORLD.T @ world @ mocap.ANNY_TO_WORLD
    _check_errors(mocap.direction_errors(motion, data.full_pose(frames), root_rot, skeleton))


def test_bone_direction_error_live(root, reference, skeleton):
    """The same through the retargeter itself (not the cache), on a short clip."""
    motion = mocap.read_bvh(root / "bvh/02_01.bvh")
    pose, root_rot = mocap.Retargeter(reference, skeleton)(motion)
    _check_errors(mocap.direction_errors(motion, pose, root_rot, skeleton))


def test_mirror(data, skeleton):
    """Mirror twice = identity; the mirrored pose's joints are the reflection (x -> -x) of the
    original's with left and right swapped; the naive sign (-x, y, z) is wrong."""
    rng = np.random.default_rng(0)
    frames = rng.choice(np.flatnonzero(data.valid), 64, replace=False)
    pose = data.full_pose(frames).astype(np.float64)
    perm = mocap.mirror_permutation(data.pose_names)
    np.testing.assert_array_equal(mocap.mirror_pose(mocap.mirror_pose(pose, perm), perm), pose)
    joint_perm = np.concatenate([[0], perm + 1])  # bones incl. the root
    fk = lambda p: forward_kinematics(torch.as_tensor(p, dtype=torch.float32), skeleton).double().numpy()  # noqa: E731
    expected = fk(pose)[:, joint_perm] * np.array([-1.0, 1.0, 1.0])  # canonical x is the left-right axis
    assert np.abs(fk(mocap.mirror_pose(pose, perm)) - expected).max() < 3e-3  # metres; anny is symmetric to 0.3 mm
    naive = pose[:, perm] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(fk(naive) - expected).max() > 0.05


def test_pose_sampler(data):
    batch = mocap.sample_mocap_poses(256, np.random.default_rng(3))
    again = mocap.sample_mocap_poses(256, np.random.default_rng(3))
    other = mocap.sample_mocap_poses(256, np.random.default_rng(4))
    assert batch.pose.shape == (256, len(data.pose_names), 3) and batch.pose.dtype == torch.float32
    assert batch.body_orient.shape == (256, 3) and batch.body_orient.dtype == torch.float32
    assert batch.category.dtype == np.int64 and batch.dofs.shape == (256, 0) and batch.dofs.dtype == np.float32
    assert torch.equal(batch.pose, again.pose) and torch.equal(batch.body_orient, again.body_orient)
    assert np.array_equal(batch.category, again.category) and not torch.equal(batch.pose, other.pose)
    assert mocap.MOCAP_CATEGORIES[:len(CATEGORIES)] == CATEGORIES
    assert batch.category.min() >= len(CATEGORIES) and batch.category.max() < len(mocap.MOCAP_CATEGORIES)
    yaw, _ = mocap.yaw_free(Rotation.from_rotvec(batch.body_orient.double().numpy()).as_matrix())
    assert np.abs(yaw).max() < 1e-4  # the camera sampler adds the yaw
    upright = Rotation.from_rotvec(batch.body_orient.double().numpy()).apply([0.0, -1.0, 0.0])[:, 1]
    assert np.median(upright) < -0.95  # mostly upright (head towards -y)
    rest_like = np.abs(batch.pose.numpy()).max(axis=(0, 2)) == 0
    assert not rest_like.any()  # every bone moves (driven bones or small-bone noise)


def test_arm_swap_changes_the_arms_only_and_keeps_the_body_whole(data, skeleton):
    from models.synth.poses import plausible

    plain = mocap.sample_mocap_poses(256, np.random.default_rng(5))
    mixed = mocap.sample_mocap_poses(256, np.random.default_rng(5), arm_swap=1.0)
    arms = np.array([name.split(".")[0] in mocap.ARM_BONES for name in data.pose_names])
    assert torch.equal(plain.pose[:, ~arms], mixed.pose[:, ~arms]) and torch.equal(plain.body_orient, mixed.body_orient)
    swapped = (plain.pose[:, arms] != mixed.pose[:, arms]).flatten(1).any(1)
    assert swapped.float().mean() > 0.7  # all but the mixes that put a hand through the body
    joints = forward_kinematics(mixed.pose[swapped], skeleton).numpy()
    assert plausible(joints, skeleton).all()
    half = mocap.sample_mocap_poses(256, np.random.default_rng(5), arm_swap=0.5)
    assert 0.25 < (plain.pose[:, arms] != half.pose[:, arms]).flatten(1).any(1).float().mean() < 0.6


def test_sequence_sampler(data):
    rng = np.random.default_rng(7)
    motion = mocap.sample_mocap_sequence(60, 25.0, rng)
    same = mocap.sample_mocap_sequence(60, 25.0, np.random.default_rng(7))
    assert motion.kind == "mocap" and motion.pose.shape == (60, len(data.pose_names), 3)
    assert motion.global_orient.shape == (60, 3) and motion.transl.shape == (60, 3)
    assert motion.dofs.shape == (60, 0) and motion.category.shape == (60,) and motion.category.dtype == np.int64
    assert torch.equal(motion.pose, same.pose) and torch.equal(motion.transl, same.transl)
    assert torch.allclose(motion.transl[0, [0, 2]], torch.zeros(2), atol=1e-6)
    assert (motion.transl[:, 1] < 0).all()  # pelvis above the floor (y down)
    for _ in range(20):  # smooth: no flip survives the quality filter and the resampling
        m = mocap.sample_mocap_sequence(90, 30.0, rng)
        steps = Rotation.from_rotvec(m.pose[1:].reshape(-1, 3).double().numpy()).inv() * \
            Rotation.from_rotvec(m.pose[:-1].reshape(-1, 3).double().numpy())
        assert np.degrees(steps.magnitude()).max() < mocap.FLIP_STEP_DEG * 1.25 + 1
        assert (m.transl[1:] - m.transl[:-1]).norm(dim=1).max() < 0.5  # m per frame
    with pytest.raises(ValueError):
        mocap.sample_mocap_sequence(100000, 30.0, rng)


def test_split_by_subject(data):
    train, test = data.split_mask("train"), data.split_mask("test")
    assert not (train & test).any() and ((train | test) == data.valid).all()
    train_subjects = set(data.clip_subject[data.clip[train]])
    test_subjects = set(data.clip_subject[data.clip[test]])
    assert test_subjects == set(mocap.TEST_SUBJECTS) and not train_subjects & test_subjects
    assert 0.10 <= test.sum() / data.valid.sum() <= 0.15
    for split in ("train", "test"):
        seg = data.segments(split)
        assert seg.size and (data.clip[seg[:, 0]] == data.clip[seg[:, 1] - 1]).all()
        assert sum(b - a for a, b in seg) == data.split_mask(split).sum()


def test_quality_filter(data):
    names = list(data.clip_names)
    valid = lambda clip: data.valid[data.clip == names.index(clip)]  # noqa: E731
    for clip in mocap.DROPPED_CLIPS:
        assert not valid(clip).any()
    assert valid("02_01").all() and valid("13_01").all()  # clean clips keep every frame
    assert 0.5 < valid("05_20").mean() < 1.0  # a flagged clip keeps its good frames
    assert 0.85 < data.valid.mean() < 0.95


def test_cache_reload(root, data):
    mocap._LOADED.clear()
    again = mocap.load_mocap(root)
    assert again is not data and np.array_equal(again.pose, data.pose) and again.pose_names == data.pose_names
    assert len(list(mocap.CACHE_DIR.glob(f"mocap_{mocap.cache_key(root)}.npz"))) == 1


def test_sequences_can_leave_out_categories():
    exclude = ("mocap_sit_down_stand_up", "mocap_walk")
    banned = {mocap.MOCAP_CATEGORIES.index(name) for name in exclude}
    rng = np.random.default_rng(3)
    seen = {int(mocap.sample_mocap_sequence(30, 30.0, rng, split="all", exclude=exclude).category[0]) for _ in range(40)}
    assert seen and not seen & banned
    everything = {int(mocap.sample_mocap_sequence(30, 30.0, rng, split="all").category[0]) for _ in range(200)}
    assert everything & banned  # without the exclusion they do come up (the test can fail)


DEEPMIMIC_SEGMENTS = {"thigh": ("Thigh", "Shin", "hip", "knee"), "shin": ("Shin", "Foot", "knee", "ankle"),
                      "upperarm": ("Shldr", "ForeArm", "shoulder", "elbow"),
                      "forearm": ("ForeArm", "Hand", "elbow", "wrist")}


@pytest.mark.parametrize("clip", ["roll", "cartwheel", "getup_facedown"])
def test_deepmimic_drives_the_daz_figure(root, reference, skeleton, clip):
    """A DeepMimic clip, resampled to 30 fps, moves each Daz limb segment as its own: the angle
    between the two stays the T-pose's constant rest offset; through the retargeter, anny's bones
    then follow the Daz figure as for a CMU clip."""
    from models.synth import deepmimic

    path = deepmimic.clip_file(root, f"dm_{clip}")
    character, local, position = deepmimic.load_clip(path)
    duration = deepmimic.read_frames(path, character)[2]
    assert len(local) == int(duration * mocap.FPS + 1e-6) + 1
    daz = deepmimic.to_daz(character, local, position, reference)
    points = mocap.bvh_points(daz, *mocap.bvh_forward(daz))
    source = deepmimic.joint_positions(character, local, position) @ deepmimic.DEEPMIMIC_TO_BVH.T
    for a, b, c, d in DEEPMIMIC_SEGMENTS.values():
        for s, side in (("l", "left"), ("r", "right")):
            u = points[s + b] - points[s + a]
            v = source[:, character.index(f"{side}_{d}")] - source[:, character.index(f"{side}_{c}")]
            cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
            angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
            assert angle.max() - angle.min() < 0.1 and angle.max() < 18.0, (b, side, angle.min(), angle.max())
    pose, root_rot = mocap.Retargeter(reference, skeleton)(daz)
    _check_errors(mocap.direction_errors(daz, pose, root_rot, skeleton))


def test_deepmimic_clips_are_in_the_training_split(data):
    names = list(data.clip_names)
    clips = [n for n in names if n.startswith("dm_")]
    assert len(clips) == 15
    for name in clips:
        c = names.index(name)
        frames = data.clip == c
        assert data.clip_subject[c] == 0 and data.valid[frames].mean() > 0.9
        assert data.split_mask("train")[frames].any() and not data.split_mask("test")[frames].any()
    floor = mocap.MOCAP_CATEGORIES.index("mocap_floor_crawl_roll_getup")
    assert {names[c] for c in np.flatnonzero(data.clip_category == floor)} == {
        "dm_crawl", "dm_roll", "dm_getup_facedown", "dm_getup_faceup"}
