"""The synthetic world: pose / shape / camera / motion samplers, corruption and the dataset CLI."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from models.body.joints import regressor
from models.skeletons import COCO17
from models.synth.anatomy import DOF_INDEX, DOF_NAMES, LOWER, UPPER, PoseSpace, within_limits
from models.camera import project
from models.synth.camera import IMAGE_SIZES, principal_margin, sample_cameras, view_rotation
from models.synth.corruption import LEFT, RIGHT, CorruptionConfig, corrupt, self_occlusion
from models.synth.motion import sample_sequence
from models.synth.poses import CATEGORIES, CATEGORY_WEIGHTS, STILL_CATEGORIES, plausible, sample_poses
from models.synth.shapes import sample_shapes
from models.synth.skeleton import forward_kinematics, skeleton_from_model

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def space(anny_body) -> PoseSpace:
    return PoseSpace(skeleton_from_model(anny_body))


@pytest.fixture(scope="module")
def poses(space):
    return sample_poses(1500, np.random.default_rng(0), space)


def _dofs(**values: float) -> np.ndarray:
    d = np.zeros((1, len(DOF_NAMES)))
    for key, val in values.items():
        d[0, DOF_INDEX[key]] = val
    return d


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm()


def _joint(space: PoseSpace, dofs: np.ndarray, name: str) -> torch.Tensor:
    return forward_kinematics(space.to_pose(dofs)[0], space.skeleton)[0, space.skeleton.index(name)]


def test_forward_kinematics_matches_anny(anny_body, space):
    pose = torch.randn(4, anny_body.num_pose_joints, 3, generator=torch.Generator().manual_seed(0)) * 0.3
    with torch.no_grad():
        joints = anny_body(pose).joints
    assert torch.allclose(forward_kinematics(pose, space.skeleton), joints, atol=1e-4)


def test_anny_axis_signs_and_anatomical_directions(space):
    """+x on lowerleg01.L bends the knee (ankle back, +z canonical); DOFs move limbs as named."""
    pose = torch.zeros(1, space.num_pose, 3)
    pose[0, space.skeleton.pose_index("lowerleg01.L"), 0] = math.radians(30)
    ankle = forward_kinematics(pose, space.skeleton)[0, space.skeleton.index("foot.L")]
    rest = forward_kinematics(torch.zeros_like(pose), space.skeleton)[0, space.skeleton.index("foot.L")]
    assert ankle[2] - rest[2] > 0.15
    for s, tag, lateral in (("l", "L", 1.0), ("r", "R", -1.0)):
        arm = lambda d: _unit(_joint(space, d, f"lowerarm01.{tag}") - _joint(space, d, f"upperarm01.{tag}"))  # noqa: E731
        fore = lambda d: _unit(_joint(space, d, f"wrist.{tag}") - _joint(space, d, f"lowerarm01.{tag}"))  # noqa: E731
        assert torch.allclose(arm(_dofs()), torch.tensor([0.0, 1.0, 0.0]), atol=1e-3)  # anatomical: down
        flexed = _dofs(**{f"sh_plane_{s}": 90, f"sh_elev_{s}": 90})
        abducted = _dofs(**{f"sh_plane_{s}": 0, f"sh_elev_{s}": 90})
        assert torch.allclose(arm(flexed), torch.tensor([0.0, 0, -1]), atol=1e-3)
        assert torch.allclose(arm(abducted), torch.tensor([lateral, 0, 0]), atol=1e-3)
        assert torch.allclose(arm(_dofs(**{f"sh_elev_{s}": 180})), torch.tensor([0.0, -1, 0]), atol=1e-3)
        assert torch.allclose(fore(_dofs(**{f"elbow_flex_{s}": 90})), torch.tensor([0.0, 0, -1]), atol=1e-3)
        internal = fore(_dofs(**{f"elbow_flex_{s}": 90, f"sh_rot_{s}": 70}))
        assert internal[0] * lateral < -0.9  # internal rotation swings the forearm across the body
        thigh = _unit(_joint(space, _dofs(**{f"hip_flex_{s}": 90}), f"lowerleg01.{tag}")
                      - _joint(space, _dofs(), f"upperleg01.{tag}"))
        assert thigh[2] < -0.95  # hip flexion: the knee comes forward (-z)
        abducted = _joint(space, _dofs(**{f"hip_abd_{s}": 40}), f"foot.{tag}")[0] - _joint(space, _dofs(), f"foot.{tag}")[0]
        assert abducted * lateral > 0.2


def test_pose_categories_limits_and_plausibility(poses, space):
    freq = np.bincount(poses.category, minlength=len(CATEGORIES)) / len(poses.category)
    weights = np.array([CATEGORY_WEIGHTS[c] for c in CATEGORIES])
    np.testing.assert_allclose(freq, weights / weights.sum(), atol=0.025)
    assert poses.pose.shape == (1500, space.num_pose, 3) and poses.pose.dtype == torch.float32
    assert within_limits(poses.dofs.astype(np.float64), tol=1e-3).all()
    joints = forward_kinematics(poses.pose, space.skeleton)
    idx = space.skeleton.index
    for side in "LR":  # geometric knee / elbow flexion, measured on the skeleton
        thigh = joints[:, idx(f"lowerleg01.{side}")] - joints[:, idx(f"upperleg01.{side}")]
        shin = joints[:, idx(f"foot.{side}")] - joints[:, idx(f"lowerleg01.{side}")]
        knee = torch.rad2deg(torch.acos(torch.cosine_similarity(thigh, shin, dim=1).clamp(-1, 1)))
        assert knee.min() > -1 and knee.max() < 140 + 6  # + the small-bone noise (lowerleg02, ...)
        upper = joints[:, idx(f"lowerarm01.{side}")] - joints[:, idx(f"upperarm01.{side}")]
        fore = joints[:, idx(f"wrist.{side}")] - joints[:, idx(f"lowerarm01.{side}")]
        elbow = torch.rad2deg(torch.acos(torch.cosine_similarity(upper, fore, dim=1).clamp(-1, 1)))
        assert elbow.max() < 145 + 6
    assert plausible(joints.numpy(), space.skeleton).mean() > 0.99


def test_pose_distribution_symmetric_and_varied(poses):
    d, cat = poses.dofs, poses.category
    col = lambda name: d[:, DOF_INDEX[name]]  # noqa: E731
    for dof in ("hip_flex", "knee_flex", "sh_elev", "sh_plane", "elbow_flex", "hip_abd"):
        left, right = col(f"{dof}_l"), col(f"{dof}_r")
        assert abs(left.mean() - right.mean()) < 0.08 * (UPPER[DOF_INDEX[f"{dof}_l"]] - LOWER[DOF_INDEX[f"{dof}_l"]])
        assert abs(left.std() - right.std()) < 0.15 * left.std()
    for dof in ("spine_rot", "spine_bend", "neck_rot"):
        assert abs(col(dof).mean()) < 3.0
    assert (np.abs(col("knee_flex_l") - col("knee_flex_r")) > 20).mean() > 0.2  # asymmetric poses exist
    mean = lambda name, c: col(name)[cat == CATEGORIES.index(c)].mean()  # noqa: E731
    assert mean("hip_flex_l", "sitting") > 60 > 15 > mean("hip_flex_l", "standing")
    assert mean("sh_elev_l", "arms_overhead") > 110 and mean("knee_flex_l", "crouching") > 80
    bending = cat == CATEGORIES.index("bending")
    assert mean("sh_elev_l", "t_pose") > 60 and (np.abs(col("spine_flex")) + np.abs(col("spine_bend")))[bending].mean() > 25
    assert np.abs(col("spine_rot")[cat == CATEGORIES.index("twisting")]).mean() > 20
    assert (d.std(0)[[DOF_INDEX[n] for n in ("hip_flex_l", "knee_flex_l", "sh_elev_l", "elbow_flex_l")]] > 20).all()


def test_reclining_poses_lie_or_lean_back(poses, space):
    """Reclining: the trunk far from upright (on the floor); lying, most feet near the floor."""
    reclining = poses.category == CATEGORIES.index("reclining")
    joints = forward_kinematics(poses.pose[reclining], space.skeleton)
    world = joints @ roma.rotvec_to_rotmat(poses.body_orient[reclining]).transpose(1, 2)  # y down
    idx = space.skeleton.index
    trunk = world[:, idx("neck01")] - world[:, idx("spine05")]
    tilt = torch.rad2deg(torch.acos((-trunk[:, 1] / trunk.norm(dim=1)).clamp(-1, 1)))
    assert reclining.sum() > 60 and (tilt > 20).float().mean() > 0.9 and (tilt > 60).float().mean() > 0.4
    others = poses.dofs[~reclining]
    assert np.abs(others[:, DOF_INDEX["body_roll"]]).max() <= 30 and others[:, DOF_INDEX["body_pitch"]].min() >= -30
    lying = tilt > 75  # most feet near the floor with the pelvis, not raised in the air
    for s in "LR":
        assert ((world[lying, idx(f"foot.{s}"), 1] - world[lying, idx("spine05"), 1]).abs() < 0.4).float().mean() > 0.7


def test_pose_sampler_deterministic(space):
    a = sample_poses(20, np.random.default_rng(5), space)
    b = sample_poses(20, np.random.default_rng(5), space)
    c = sample_poses(20, np.random.default_rng(6), space)
    assert torch.equal(a.pose, b.pose) and np.array_equal(a.category, b.category)
    assert not torch.equal(a.pose, c.pose)


def test_shapes_mostly_adults_of_realistic_height(anny_body):
    shapes = sample_shapes(300, np.random.default_rng(0))
    assert shapes.shape == (300, 6) and shapes.min() >= 0 and shapes.max() <= 1
    adult = shapes[:, 1] >= 0.77  # anny's age value of 18 years
    assert 0.78 < adult.mean() < 0.92
    np.testing.assert_array_equal(shapes, sample_shapes(300, np.random.default_rng(0)))
    with torch.no_grad():
        verts = anny_body(shape=torch.as_tensor(shapes[:64])).vertices
    height = (verts[..., 1].amax(1) - verts[..., 1].amin(1)).numpy()
    men, women = adult[:64] & (shapes[:64, 0] < 0.5), adult[:64] & (shapes[:64, 0] > 0.5)
    assert 1.65 < np.median(height[men]) < 1.85 and 1.52 < np.median(height[women]) < 1.70
    assert height.min() > 1.0 and height.max() < 2.1


@pytest.fixture(scope="module")
def scene(anny_body, space):
    """128 posed bodies placed by the camera sampler, with COCO-17 joints in the camera frame."""
    rng = np.random.default_rng(1)
    poses = sample_poses(128, rng, space)
    with torch.no_grad():
        verts = anny_body(poses.pose, torch.as_tensor(sample_shapes(128, rng))).vertices
    cams = sample_cameras(verts[:, ::20], poses.body_orient, rng)
    rot = roma.rotvec_to_rotmat(torch.as_tensor(cams.global_orient))
    cam_verts = verts @ rot.transpose(1, 2) + torch.as_tensor(cams.transl)[:, None]
    joints = torch.einsum("jv,bvc->bjc", regressor(anny_body, "coco17"), cam_verts)
    return cams, joints, poses


def test_cameras_fov_framing_and_viewpoints(scene):
    cams, joints, poses = scene
    hfov = np.degrees(2 * np.arctan(cams.image_size[:, 0] / 2 / cams.focal[:, 0]))
    assert hfov.min() >= 40 - 1e-3 and hfov.max() <= 80 + 1e-3
    assert {tuple(s) for s in cams.image_size} <= set(IMAGE_SIZES)
    offset = cams.principal - (cams.image_size - 1) / 2
    margin = np.array([principal_margin(w, h) for w, h in cams.image_size])
    assert np.allclose(offset, np.round(offset)) and (np.abs(offset) <= margin[:, None]).all()
    uv = project(joints, torch.as_tensor(cams.focal), torch.as_tensor(cams.principal)).numpy()
    inside = ((uv >= 0) & (uv <= cams.image_size[:, None] - 1)).all(-1)
    assert (joints[..., 2] > 0.3).all()
    assert inside[~cams.truncated].all() and 0.03 < cams.truncated.mean() < 0.2
    assert inside.all(1).mean() > 0.8 and inside[cams.truncated].mean() > 0.3  # truncation_prob 0.1, n 128
    height = (uv[..., 1].max(1) - uv[..., 1].min(1)) / cams.image_size[:, 1]
    assert np.median(height[~cams.truncated]) > 0.3
    assert len(np.unique(np.floor((cams.yaw + 180) / 45))) == 8 and np.abs(cams.pitch).max() <= 30


def test_view_rotation_conventions(anny_body):
    """yaw 0: facing the camera (nose nearer than the ears), head up; yaw 180: seen from behind;
    pitch > 0: the camera looks down on the person (the head is nearer than the feet)."""
    reg = regressor(anny_body, "coco17")

    def joints(yaw: float, pitch: float) -> torch.Tensor:
        orient = roma.rotmat_to_rotvec(view_rotation(np.array([yaw]), np.array([pitch]), np.zeros(1)))
        with torch.no_grad():
            return reg @ anny_body(None, None, orient, torch.tensor([[0.0, 0.0, 4.0]])).vertices[0]

    front, back, above = joints(0, 0), joints(180, 0), joints(0, 30)
    assert front[0, 2] < front[3:5, 2].mean() - 0.05 and front[0, 1] < front[15:17, 1].mean() - 1.0
    assert front[COCO17.index("left_shoulder"), 0] > front[COCO17.index("right_shoulder"), 0]  # left on +x
    assert back[0, 2] > back[3:5, 2].mean() + 0.05
    assert above[0, 2] < above[15:17, 2].mean() - 0.5


@pytest.mark.parametrize("kind", ["walk", "run", "keyframes"])
def test_sequences_smooth_and_bounded(space, kind):
    fps = 30.0
    motion = sample_sequence(60, fps, np.random.default_rng(3), space, kind=kind)
    assert motion.kind == kind and motion.pose.shape == (60, space.num_pose, 3)
    rot = roma.rotvec_to_rotmat(motion.pose)
    speed = roma.rotmat_to_rotvec(rot[1:].transpose(-1, -2) @ rot[:-1]).norm(dim=-1).rad2deg() * fps  # deg/s
    limit = {"walk": 500.0, "run": 1000.0, "keyframes": 400.0}[kind]
    assert speed.max() < limit
    accel = (speed[1:] - speed[:-1]).abs() * fps
    assert accel.max() < {"walk": 1.5e4, "run": 4e4, "keyframes": 1e4}[kind]
    orient = roma.rotvec_to_rotmat(motion.global_orient)
    assert (roma.rotmat_to_rotvec(orient[1:].transpose(-1, -2) @ orient[:-1]).norm(dim=-1).rad2deg() * fps).max() < 60
    velocity = (motion.transl[1:] - motion.transl[:-1]).norm(dim=-1) * fps
    assert velocity.max() < {"walk": 2.5, "run": 6.0, "keyframes": 2.0}[kind]
    if kind != "keyframes":
        assert velocity.mean() > 0.5  # the body travels
    assert within_limits(motion.dofs.astype(np.float64), tol=1e-3).all()
    assert (motion.transl[:, 1] < -0.3).all()  # pelvis above the floor (y down)
    if kind == "keyframes":  # still poses (lying down) only as single frames, never keyframed
        assert not set(motion.category.tolist()) & {CATEGORIES.index(c) for c in STILL_CATEGORIES}


def _body_joints(anny_body, yaw_deg: float, depth: float, n: int = 1) -> torch.Tensor:
    """COCO-17 joints of the neutral standing body turned by ``yaw_deg``, ``depth`` m away."""
    pose = torch.zeros(1, anny_body.num_pose_joints, 3)
    orient = torch.tensor([[0.0, math.radians(yaw_deg), 0.0]])
    with torch.no_grad():
        verts = anny_body(pose, None, orient, torch.tensor([[0.0, 0.0, depth]])).vertices
    return (regressor(anny_body, "coco17") @ verts[0]).expand(n, 17, 3).clone()


CLEAN = CorruptionConfig(box_prob=0, miss_prob=0, miss_prob_occluded=0, swap_prob=0, outlier_prob=0)


def _setup(joints: torch.Tensor, size=(640.0, 480.0), f: float = 600.0):
    n = joints.shape[0]
    focal, principal = torch.full((n, 2), f), torch.tensor([[(size[0] - 1) / 2, (size[1] - 1) / 2]]).expand(n, 2)
    return project(joints, focal, principal), focal, torch.tensor([size]).expand(n, 2)


def test_corruption_noise_grows_with_distance_and_motion(anny_body):
    errors = {}
    for depth in (2.0, 8.0):
        joints = _body_joints(anny_body, 0.0, depth, 2000)
        kp, focal, size = _setup(joints)
        out = corrupt(kp, joints, focal, size, torch.Generator().manual_seed(0), cfg=CLEAN)
        errors[depth] = (out.keypoints - kp).norm(dim=-1).median() * depth / 600.0  # metres at the body
    assert errors[8.0] > 1.2 * errors[2.0]
    joints = _body_joints(anny_body, 0.0, 4.0, 2000)
    kp, focal, size = _setup(joints)
    still = corrupt(kp, joints, focal, size, torch.Generator().manual_seed(0), cfg=CLEAN)
    moving = corrupt(kp, joints, focal, size, torch.Generator().manual_seed(0), torch.full((2000, 17, 2), 30.0), cfg=CLEAN)
    assert (moving.keypoints - kp).norm(dim=-1).median() > 1.5 * (still.keypoints - kp).norm(dim=-1).median()


def test_corruption_self_occlusion_by_viewpoint(anny_body):
    front, back, side = (self_occlusion(_body_joints(anny_body, yaw, 3.0), CorruptionConfig())[0] for yaw in (0, 180, 90))
    assert not front.any()
    assert back[:3].all() and not back[5:].any()  # the face is hidden from behind, the limbs are not
    # turned by +90 degrees about y (down), the person's left side faces the camera: the far side hides
    far = [COCO17.index(f"right_{j}") for j in ("eye", "ear", "shoulder", "elbow", "hip", "knee", "ankle")]
    near = [COCO17.index(f"left_{j}") for j in ("eye", "ear", "shoulder", "elbow", "hip", "knee", "ankle")]
    assert side[far].all() and not side[near].any()


def test_corruption_missed_truncated_swapped_and_flag(anny_body):
    n = 20000
    joints = _body_joints(anny_body, 0.0, 3.0, n)
    kp, focal, size = _setup(joints)
    kp = kp + torch.linspace(-300, 300, n)[:, None, None] * torch.tensor([1.0, 0.0])  # slide across the border
    cfg = CorruptionConfig()
    out = corrupt(kp, joints, focal, size, torch.Generator().manual_seed(1), cfg=cfg)
    assert out.keypoints.shape == (n, 17, 2) and out.confidence.shape == (n, 17)
    assert out.confidence.min() >= 0 and out.confidence.max() <= 1
    assert (out.confidence[out.missed] == 0).all()
    assert (out.confidence[~out.missed & ~out.truncated] > 0).all()
    outside = ((kp < 0) | (kp > size[:, None] - 1)).any(-1)
    assert torch.equal(out.truncated, outside) and outside.any()
    assert (out.confidence[out.truncated] <= cfg.truncated_conf[1]).all()
    assert (out.keypoints >= 0).all() and (out.keypoints <= size[:, None] - 1).all()
    assert abs(out.swapped.float().mean() - cfg.swap_prob) < 0.006
    bad = (out.self_occluded | out.box_occluded | out.missed | out.truncated)[:, 5:].sum(1)
    assert torch.equal(out.occluded, bad >= cfg.occluded_min_joints) and 0.05 < out.occluded.float().mean() < 0.95
    again = corrupt(kp, joints, focal, size, torch.Generator().manual_seed(1), cfg=cfg)
    assert torch.equal(again.keypoints, out.keypoints)


def test_corruption_swaps_exchange_left_and_right(anny_body):
    joints = _body_joints(anny_body, 0.0, 3.0, 400)
    kp, focal, size = _setup(joints)
    cfg = CorruptionConfig(relative=0, floor_px=0, box_prob=0, miss_prob=0, miss_prob_occluded=0, swap_prob=0.5,
                           outlier_prob=0)
    out = corrupt(kp, joints, focal, size, torch.Generator().manual_seed(2), cfg=cfg)
    assert 0.4 < out.swapped.float().mean() < 0.6
    moved = (out.keypoints - kp).norm(dim=-1) > 1e-3
    assert not moved[~out.swapped].any() and moved[out.swapped].any(1).all()
    swapped = out.keypoints[out.swapped]
    changed = moved[out.swapped][:, LEFT]
    assert torch.allclose(swapped[:, LEFT][changed], kp[out.swapped][:, RIGHT][changed])


def test_corruption_exact_samples_keep_their_keypoints_and_visibility(anny_body):
    n = 4000
    joints = _body_joints(anny_body, 90.0, 3.0, n)  # side view: self-occluded joints
    kp, focal, size = _setup(joints)
    velocity = torch.full((n, 17, 2), 30.0)
    default = corrupt(kp, joints, focal, size, torch.Generator().manual_seed(4), velocity)
    none = corrupt(kp, joints, focal, size, torch.Generator().manual_seed(4), velocity, cfg=CorruptionConfig(exact_prob=0.0))
    assert torch.equal(none.keypoints, default.keypoints) and torch.equal(none.confidence, default.confidence)
    out = corrupt(kp, joints, focal, size, torch.Generator().manual_seed(4), velocity, cfg=CorruptionConfig(exact_prob=0.3))
    exact = (out.keypoints - kp).abs().amax((1, 2)) == 0
    assert 0.25 < exact.float().mean() < 0.35 and not out.swapped[exact].any()
    assert ((out.keypoints - kp).norm(dim=-1)[~exact] > 0).all()  # the others: detector noise on every joint
    # visibility as for the other samples: occluded joints get low confidences, some are missed
    conf = out.confidence[exact][out.self_occluded[exact] & ~out.missed[exact]]
    assert conf.mean() < 0.6 and out.missed[exact].any() and out.occluded[exact].any()


def test_dataset_deterministic_and_consistent(tmp_path, anny_body):
    from models.synth.dataset import DatasetSpec, load_dataset, write_dataset

    spec = DatasetSpec(num=6, seed=4, split="test")
    a, b = write_dataset(tmp_path / "a", spec, progress=False), write_dataset(tmp_path / "b", spec, progress=False)
    c = write_dataset(tmp_path / "c", DatasetSpec(num=6, seed=5, split="test"), progress=False)
    assert (a / "shard_00000.npz").read_bytes() == (b / "shard_00000.npz").read_bytes()
    assert (a / "index.json").read_bytes() == (b / "index.json").read_bytes()
    assert (a / "shard_00000.npz").read_bytes() != (c / "shard_00000.npz").read_bytes()
    data = load_dataset(a)
    assert data["coarse_vertices_rel"].dtype == np.float16 and data["coarse_vertices"].shape == (6, 256, 3)
    assert data["keypoints_corrupt"].shape == (6, 17, 2) and data["occluded"].dtype == bool
    t = lambda k: torch.as_tensor(data[k])  # noqa: E731
    with torch.no_grad():
        verts = anny_body(t("pose"), t("shape"), t("global_orient"), t("transl")).vertices
    from models.body.coarse import load_coarse_mesh

    coarse = verts[:, load_coarse_mesh("anny", model=anny_body).indices]
    assert (coarse - t("coarse_vertices")).abs().max() < 2e-3  # float16 root-relative storage
    joints = torch.einsum("jv,bvc->bjc", regressor(anny_body, "coco17"), verts)
    assert (joints - t("joints_coco17")).abs().max() < 1e-4
    assert (project(joints, t("focal"), t("principal")) - t("keypoints_2d")).abs().max() < 0.05
    assert set(load_dataset(a, ["pose", "focal"])) == {"pose", "focal"}


@pytest.mark.slow
def test_sequence_dataset_and_cli(tmp_path):
    from models.synth.dataset import load_dataset

    cmd = [sys.executable, "-m", "models.synth", "--out", str(tmp_path / "seq"), "--num", "2", "--seed", "1",
           "--kind", "sequence", "--seq-len", "8", "--split", "test", "--threads", "1"]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data = load_dataset(tmp_path / "seq")
    assert data["pose"].shape[:2] == (2, 8) and data["focal"].shape == (2, 2)
    assert data["keypoints_corrupt"].shape == (2, 8, 17, 2) and data["motion_kind"].shape == (2,)
