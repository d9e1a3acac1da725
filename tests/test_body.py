"""anny body model, coarse mesh and upsampler, joint regressors and MediaPipe mappings."""
from __future__ import annotations

import roma
import torch

from models.body.coarse import load_coarse_mesh
from models.body.joints import (
    ANNY_H36M, COCO17, H36M17, LSP14, MEDIAPIPE_H36M, MEDIAPIPE_H36M_ANATOMICAL, MEDIAPIPE_TO_COCO17,
    mediapipe_to_coco17, mediapipe_to_h36m17, mediapipe_to_lsp14, regressor,
)
from models.body.segments import (
    H36M_SUBJECT_MEDIANS, H36M_SUBJECTS, apply_offsets, body_frame, definition_floor, limb_length_ratios, segment_ratios,
    subject_medians,
)
from models.body.linear_fit import random_anny_bodies

TEST_SEED = 4321  # the stored fits use seeds 0 and 1


def _pose(model, **bones: tuple[float, float, float]) -> torch.Tensor:
    pose = torch.zeros(1, model.num_pose_joints, 3)
    for name, rotvec in bones.items():
        pose[0, model.pose_joint_names.index(name.replace("_", "."))] = torch.tensor(rotvec)
    return pose


def _joint(model, out, name: str) -> torch.Tensor:
    return out.joints[:, model.joint_names.index(name)]


def test_forward_shapes_and_dtype(anny_body):
    out = anny_body(pose=torch.zeros(2, anny_body.num_pose_joints, 3), shape=anny_body.neutral_shape(2))
    assert out.vertices.shape == (2, 13718, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (2, len(anny_body.joint_names), 3) and out.joints.dtype == torch.float32
    assert anny_body.faces.dtype == torch.int64 and int(anny_body.faces.max()) < anny_body.num_vertices


def test_canonical_frame_and_units(anny_body):
    out = anny_body()
    vertices = out.vertices[0]
    height = float(vertices[:, 1].max() - vertices[:, 1].min())
    assert 1.4 < height < 2.0
    assert torch.allclose(out.joints[0, 0], torch.zeros(3), atol=1e-6)  # pelvis (root) at the origin
    head, foot = _joint(anny_body, out, "head")[0], _joint(anny_body, out, "foot.L")[0]
    assert head[1] < -0.4 and foot[1] > 0.6  # head up (-y), feet down (+y)
    coco = regressor(anny_body, "coco17") @ vertices
    nose, left_ear = coco[COCO17.index("nose")], coco[COCO17.index("left_ear")]
    assert nose[2] < left_ear[2] - 0.05  # face towards -z
    assert _joint(anny_body, out, "upperarm01.L")[0, 0] > 0.1 and left_ear[0] > 0.03  # left on +x


def test_batching_matches_single(anny_body):
    poses = torch.cat([_pose(anny_body, lowerleg01_L=(1.0, 0, 0)), _pose(anny_body, head=(0, 0, 0.5))])
    shapes = torch.tensor([[0.5] * 6, [0.2, 0.8, 0.5, 0.3, 0.9, 0.1]])
    batched = anny_body(pose=poses, shape=shapes).vertices
    for i in range(2):
        single = anny_body(pose=poses[i : i + 1], shape=shapes[i : i + 1]).vertices
        assert torch.allclose(batched[i], single[0], atol=1e-5)


def test_knee_flexes_backwards_and_gradient_flows(anny_body):
    pose = _pose(anny_body, lowerleg01_L=(1.0, 0, 0)).requires_grad_()
    out = anny_body(pose=pose)
    ankle, knee = _joint(anny_body, out, "foot.L")[0], _joint(anny_body, out, "lowerleg01.L")[0]
    assert ankle[2] > knee[2] + 0.2  # +x on the knee moves the foot backwards (+z)
    out.vertices.sum().backward()
    knee_grad = pose.grad[0, anny_body.pose_joint_names.index("lowerleg01.L")]
    assert torch.isfinite(pose.grad).all() and knee_grad.abs().sum() > 0


def test_global_orient_and_transl(anny_body):
    pose = _pose(anny_body, upperarm01_L=(0.3, -0.5, 0.2))
    orient, transl = torch.tensor([[0.2, -1.0, 0.4]]), torch.tensor([[0.1, -0.2, 3.0]])
    base = anny_body(pose=pose)
    moved = anny_body(pose=pose, global_orient=orient, transl=transl)
    rot = roma.rotvec_to_rotmat(orient)[0]
    assert torch.allclose(moved.vertices[0], base.vertices[0] @ rot.T + transl, atol=1e-5)
    assert torch.allclose(moved.joints[0, 0], transl[0], atol=1e-6)  # the pelvis lands on transl


def test_coarse_mesh_structure():
    mesh = load_coarse_mesh("anny", 256)
    assert mesh.indices.shape == (256,) and mesh.indices.dtype == torch.int64
    assert len(set(mesh.indices.tolist())) == 256 and int(mesh.indices.max()) < 13718
    assert mesh.faces.ndim == 2 and mesh.faces.shape[1] == 3 and int(mesh.faces.max()) < 256
    dense = mesh.upsampler_dense()
    assert dense.shape == (13718, 256) and torch.allclose(dense.sum(1), torch.ones(13718), atol=1e-4)
    coarse = torch.randn(2, 256, 3)
    assert torch.allclose(mesh.upsample(coarse), dense @ coarse, atol=1e-5)


def test_upsampler_is_rigid_equivariant_and_differentiable():
    mesh = load_coarse_mesh()
    coarse = torch.randn(1, 256, 3, requires_grad=True)
    rot, shift = roma.random_rotmat(), torch.tensor([0.3, -1.0, 2.0])
    moved = mesh.upsample(coarse @ rot.T + shift)
    assert torch.allclose(moved, mesh.upsample(coarse) @ rot.T + shift, atol=1e-4)
    moved.square().sum().backward()
    assert coarse.grad.shape == coarse.shape and coarse.grad.abs().sum() > 0


def test_upsampling_error_on_held_out_bodies(anny_body):
    # Measured on 256 held-out bodies (bench/upsampler.py): mean 1.1 mm, p95 3.4 mm, max 29 mm.
    mesh = load_coarse_mesh()
    vertices = next(random_anny_bodies(anny_body, 32, TEST_SEED, batch=32)).vertices
    errors = 1000 * (mesh.upsample(mesh.downsample(vertices)) - vertices).norm(dim=-1)
    assert errors.mean() < 2.0 and errors.max() < 60.0


def test_regressors_shapes_and_rows(anny_body):
    for name, names in (("coco17", COCO17), ("h36m17", H36M17), ("lsp14", LSP14)):
        matrix = regressor(anny_body, name)
        assert matrix.shape == (len(names), 13718) and matrix.dtype == torch.float32
        assert torch.allclose(matrix.sum(1), torch.ones(len(names)), atol=1e-4)


def test_regressed_joints_land_where_expected(anny_body):
    vertices = anny_body().vertices[0]
    coco = dict(zip(COCO17, regressor(anny_body, "coco17") @ vertices))
    for side in ("left", "right"):
        assert coco[f"{side}_ankle"][1] > coco[f"{side}_knee"][1] + 0.2 > coco[f"{side}_hip"][1] + 0.4
    h36m = dict(zip(H36M17, regressor(anny_body, "h36m17") @ vertices))
    assert torch.allclose(h36m["pelvis"], (h36m["l_hip"] + h36m["r_hip"]) / 2, atol=1e-5)
    assert torch.allclose(h36m["spine"], (h36m["pelvis"] + h36m["thorax"]) / 2, atol=1e-5)
    assert 0.03 < -h36m["pelvis"][1] < 0.1 and h36m["pelvis"][[0, 2]].norm() < 0.03  # raised on the pelvis
    heights = [h36m[n][1] for n in ("pelvis", "spine", "thorax", "neck_nose", "head")]
    assert all(a > b for a, b in zip(heights, heights[1:]))  # rising up the body
    assert h36m["l_hip"][0] > 0.05 > -0.05 > h36m["r_hip"][0]
    lsp = dict(zip(LSP14, regressor(anny_body, "lsp14") @ vertices))
    assert torch.allclose(lsp["head_top"][1], vertices[:, 1].min())
    assert h36m["thorax"][1] > lsp["neck"][1] > h36m["head"][1]


def test_h36m_tracks_anny_bones_on_held_out_poses(anny_body):
    out = next(random_anny_bodies(anny_body, 32, TEST_SEED + 1, batch=32))
    joints = regressor(anny_body, "h36m17") @ out.vertices
    spine, neck = _joint(anny_body, out, "spine01"), _joint(anny_body, out, "neck01")
    elbow, shoulder = _joint(anny_body, out, "lowerarm01.R"), _joint(anny_body, out, "upperarm01.R")
    expected = {"l_knee": _joint(anny_body, out, "lowerleg01.L"), "r_elbow": elbow + ANNY_H36M.elbow * (shoulder - elbow),
                "thorax": spine + ANNY_H36M.thorax * (neck - spine)}
    for joint, target in expected.items():
        error = (joints[:, H36M17.index(joint)] - target).norm(dim=-1)
        assert error.mean() < 0.006 and error.max() < 0.03  # measured ~2 mm mean


def test_h36m_segment_ratios_fall_in_the_subjects_range(anny_body):
    """anny's Human3.6M-17 joints, rest pose, median over 200 sampled shapes, against each subject's
    median ratio (the old regressor gave shoulder width 0.430, pelvis-thorax 0.682, thorax-head
    0.242, thigh/shin 0.877: all outside)."""
    import numpy as np

    from models.synth.shapes import sample_shapes

    shapes = torch.as_tensor(sample_shapes(200, np.random.default_rng(0)))
    with torch.no_grad():
        joints = (regressor(anny_body, "h36m17") @ anny_body(shape=shapes).vertices).double().numpy()
    ratios = segment_ratios(joints)
    for key, subjects in H36M_SUBJECT_MEDIANS.items():
        median = float(np.median(ratios[key]))
        assert min(subjects) <= median <= max(subjects), (key, median, subjects)


def test_subject_medians_are_those_of_h36m_lift(shared_dir):
    import numpy as np

    data = np.load(shared_dir / "data" / "real" / "h36m_lift" / "gt.npz")
    measured = subject_medians(data["S"], data["subject"])
    for key, subjects in H36M_SUBJECT_MEDIANS.items():
        assert np.allclose([measured[key][s] for s in H36M_SUBJECTS], subjects, atol=6e-4), key


def test_definition_floor(shared_dir):
    """Offsets of the old anny definition cost ~48 mm on Human3.6M's own poses; none cost nothing."""
    import numpy as np

    poses = np.load(shared_dir / "data" / "real" / "h36m_lift" / "gt.npz")["S"][::20]
    assert np.allclose(apply_offsets(poses, {}), poses)
    old = {"hip_width": -0.024, "thigh_shin": -0.147, "pelvis_thorax": 0.140, "shoulder_width": 0.139, "thorax_head": 0.045}
    assert 40 < definition_floor(poses, old)["limb12"] < 55
    assert definition_floor(poses, {"shoulder_width": 0.01})["limb12"] < 3
    old_arms = {"upper_arm": 0.042, "forearm": -0.019}  # anny's bone heads as elbows and wrists: ~16 mm
    assert 12 < definition_floor(poses, old_arms)["limb12"] < 20


def test_limb_length_ratios(shared_dir):
    """Scaling a skeleton scales every bone; lengthening one shin changes only the shin's ratio, by
    half (the left and right bones are averaged); Human3.6M's own bones are rigid."""
    import numpy as np

    data = np.load(shared_dir / "data" / "real" / "h36m_lift" / "gt.npz")
    poses = data["S"][::500]
    scaled = limb_length_ratios(1.1 * poses, poses)
    assert set(scaled) == {"thigh", "shin", "upper_arm", "forearm"}
    assert all(np.allclose(r, 1.1) for r in scaled.values())
    longer = poses.copy()
    knee, ankle = poses[:, 5], poses[:, 6]  # left knee, left ankle (Human3.6M-17)
    longer[:, 6] = knee + 1.2 * (ankle - knee)
    ratios = limb_length_ratios(longer, poses)
    assert np.allclose(ratios["shin"], 1.1) and np.allclose(ratios["thigh"], 1.0) and np.allclose(ratios["forearm"], 1.0)
    s1 = data["S"][data["subject"] == "S1"]
    assert all(np.allclose(r, 1.0, atol=1e-4) for r in limb_length_ratios(s1, s1[:1].repeat(len(s1), 0)).values())


def test_body_frame_follows_the_body():
    """A person facing the camera (camera axes: x right, y down, z away) has x toward the left hip
    (the image's right), y up and z forward, toward the camera; turning the skeleton turns its frame
    with it, and the frame does not depend on where the body stands or on its limbs."""
    import numpy as np
    from scipy.spatial.transform import Rotation

    facing = np.zeros((1, 17, 3))
    facing[0, 1], facing[0, 4] = [-0.13, 0.0, 3.0], [0.13, 0.0, 3.0]  # right hip, left hip
    facing[0, 0], facing[0, 8] = [0.0, 0.0, 3.0], [0.05, -0.5, 3.0]  # pelvis, thorax (a little off-axis)
    frame = body_frame(facing)[0]
    assert np.allclose(frame[0], [1, 0, 0]) and np.allclose(frame[1], [0, -1, 0]) and np.allclose(frame[2], [0, 0, -1])
    turn = Rotation.random(5, random_state=TEST_SEED).as_matrix()
    moved = np.einsum("nij,nkj->nki", turn, facing.repeat(5, 0)) + np.random.default_rng(TEST_SEED).normal(size=(5, 1, 3))
    moved[:, 13] += 1.0  # a wrist anywhere
    assert np.allclose(body_frame(moved), np.einsum("ij,njk->nik", frame, turn.transpose(0, 2, 1)))


def test_mediapipe_mappings():
    landmarks = torch.randn(2, 5, 33, 4)
    assert mediapipe_to_coco17(landmarks).shape == (2, 5, 17, 4)
    assert torch.equal(mediapipe_to_coco17(landmarks)[..., 0, :], landmarks[..., 0, :])
    assert MEDIAPIPE_TO_COCO17[COCO17.index("left_ankle")] == 27
    h36m, lsp = mediapipe_to_h36m17(landmarks), mediapipe_to_lsp14(landmarks)
    assert h36m.shape == (2, 5, 17, 4) and lsp.shape == (2, 5, 14, 4)
    hips, shoulders = landmarks[..., [23, 24], :].mean(-2), landmarks[..., [11, 12], :].mean(-2)
    assert torch.allclose(h36m[..., 0, :], hips + MEDIAPIPE_H36M.hip_up * (shoulders - hips), atol=1e-5)
    anatomical = mediapipe_to_h36m17(landmarks, MEDIAPIPE_H36M_ANATOMICAL)
    assert torch.allclose(anatomical[..., 0, :], hips, atol=1e-6)
    assert torch.allclose(anatomical[..., H36M17.index("thorax"), :], shoulders, atol=1e-6)
    assert torch.allclose(lsp[..., LSP14.index("r_ankle"), :], landmarks[..., 28, :])
    constant = torch.ones(33, 3) * torch.tensor([1.0, 2.0, 3.0])  # rows sum to one
    assert torch.allclose(mediapipe_to_h36m17(constant), torch.tensor([1.0, 2.0, 3.0]).expand(17, 3))
    assert torch.allclose(mediapipe_to_lsp14(constant), torch.tensor([1.0, 2.0, 3.0]).expand(14, 3))


def test_vertex_twins_mirror_a_posed_body(anny_body):
    """A posed body mirrored through x = 0 (vertices taking their twins' places) is the body of the
    mirrored pose: the stored twins match a fresh build and are their own inverse."""
    import numpy as np

    from models.body.mirror import build_vertex_twins, mirror_points, vertex_twins
    from models.synth.mocap import mirror_permutation, mirror_pose

    twins = vertex_twins("anny")
    assert torch.equal(twins, torch.from_numpy(build_vertex_twins(anny_body).astype(np.int64)))
    assert torch.equal(twins[twins], torch.arange(anny_body.num_vertices))
    gen = torch.Generator().manual_seed(5)
    pose = torch.randn(2, anny_body.num_pose_joints, 3, generator=gen) * 0.3
    mirrored_pose = torch.as_tensor(mirror_pose(pose.numpy(), mirror_permutation(anny_body.pose_joint_names)))
    with torch.no_grad():
        body, mirrored = anny_body(pose).vertices, anny_body(mirrored_pose).vertices
    assert (mirror_points(body, twins) - mirrored).norm(dim=-1).max() < 2e-3
    assert (body - mirrored).norm(dim=-1).max() > 0.05  # the pose is not symmetric
