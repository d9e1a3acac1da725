"""anny's reduced rig fitted to meshes (models/body/pose_fit.py)."""
from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from models.body.joints import regressor
from models.body.pose_fit import FIT_BONES, PoseFitError, PoseFrame, SkeletonFitter, exp_so3, fit_sequence
from models.synth.poses import sample_poses

SHAPE = np.array([0.3, 0.6, 0.5, 0.4, 0.7, 0.5])
ORIENT = torch.tensor([[0.1, 2.8, 0.2]])  # turned away from the camera: far from the rest orientation
TRANSL = torch.tensor([[0.1, 0.2, 3.0]])


@pytest.fixture(scope="module")
def body(anny_body):
    return anny_body


@pytest.fixture(scope="module")
def fitter(body):
    return SkeletonFitter(body)


@pytest.fixture(scope="module")
def poses(fitter):
    """Sampled poses (every bone, small ones included) and the same restricted to the rig."""
    full = sample_poses(3, np.random.default_rng(1)).pose
    rig = torch.zeros_like(full)
    idx = torch.as_tensor(fitter._anny_index[1:]) - 1
    rig[:, idx] = full[:, idx]
    return full, rig


def posed(body, pose, shape=SHAPE):
    with torch.no_grad():
        out = body(pose=pose[None], shape=torch.as_tensor(shape, dtype=torch.float32)[None], global_orient=ORIENT,
                   transl=TRANSL)
    return out.vertices[0].numpy(), out.joints[0].numpy()


def frame_of(fitter, pose):
    idx = torch.as_tensor(fitter._anny_index[1:]) - 1
    return PoseFrame(local=roma.rotvec_to_rotmat(pose[idx].double()).numpy(),
                     body=roma.rotvec_to_rotmat(ORIENT[0].double()).numpy(), transl=TRANSL[0].double().numpy())


def test_rig_is_the_body_minus_fingers_toes_and_twists(fitter):
    assert fitter.names[0] == "root" and set(fitter.names[1:]) == set(FIT_BONES)
    assert all(fitter.parents[i] < i for i in range(1, len(fitter.parents)))
    assert fitter.names[fitter.parents[fitter.names.index("upperleg01.L")]] == "root"  # pelvis.L merged
    assert fitter.names[fitter.parents[fitter.names.index("lowerarm01.R")]] == "upperarm01.R"  # upperarm02 merged
    np.testing.assert_allclose(fitter.vertex_weights.sum(1), 1.0, atol=1e-5)


def test_reduced_rig_reproduces_anny_exactly(body, fitter, poses):
    """Posing only the rig's bones, the rig's skinning is anny's forward (vertices and bone heads)."""
    fitter.set_shape(SHAPE)
    for pose in poses[1]:
        vertices, joints = posed(body, pose)
        frame = frame_of(fitter, pose)
        assert np.abs(fitter.skin_full(frame) - vertices).max() < 1e-5  # 0.01 mm
        assert np.abs(fitter.heads(frame) - joints[fitter._anny_index]).max() < 1e-5
        pose_back, orient, transl = fitter.pose_vector(frame)
        again, _ = posed(body, pose_back)
        assert np.abs(again - vertices).max() < 1e-5


def test_jacobian_matches_finite_differences(fitter):
    rng = np.random.default_rng(0)
    num = len(fitter.parents) - 1
    local, body_rot = exp_so3(0.3 * rng.normal(size=(num, 3))), exp_so3(np.array([0.2, 2.5, 0.1]))
    transl = np.array([0.1, 0.2, 3.0])
    target, weights = np.zeros((fitter.num_points, 3)), np.ones(fitter.num_points)
    res, jac = fitter._residual(local, body_rot, transl, fitter._points, target, weights, jacobian=True)
    numeric = np.zeros_like(jac)
    for k in range(jac.shape[1]):
        d = np.zeros(jac.shape[1])
        d[k] = 1e-7
        rot = exp_so3(d[: 3 * (num + 1)].reshape(num + 1, 3))
        numeric[:, k] = (fitter._residual(local @ rot[:num], body_rot @ rot[num], transl + d[-3:], fitter._points,
                                          target, weights)[0] - res) / 1e-7
    assert np.abs(numeric - jac).max() < 1e-5 * np.abs(jac).max()


def test_fit_recovers_pose_and_shape_of_a_known_body(body, fitter, poses):
    """From the neutral shape and a cold start: the shape, and the mesh within a few mm (the rig
    cannot move fingers and toes, which the sampled poses curl a little)."""
    full, _ = poses
    vertices, _ = posed(body, full[0])
    joints = (regressor(body, "coco17").numpy() @ vertices)
    fitter.set_shape(np.full(6, 0.5))
    shape, frame = fitter.fit_shape(vertices, joints)
    assert np.abs(shape - SHAPE).max() < 0.05
    error = np.linalg.norm(fitter.skin_full(frame) - vertices, axis=1)
    assert frame.error_mm < 5.0 and error.mean() * 1e3 < 8.0, (frame.error_mm, error.mean())
    # the next frame, warm-started from this one: a few iterations reach the same accuracy
    nxt, _ = posed(body, 0.7 * full[0] + 0.3 * full[1])
    warm = fitter.fit(nxt, regressor(body, "coco17").numpy() @ nxt, warm=frame)
    assert warm.error_mm < 8.0 and warm.iterations <= fitter.settings.iterations


def test_fit_sequence_holds_shape_and_restarts_after_a_gap(body, fitter, poses):
    fitter.set_shape(SHAPE)
    a, _ = posed(body, poses[1][0])
    b, _ = posed(body, poses[1][1])
    fits = fit_sequence(fitter, [a, None, b, b], shape=SHAPE)
    assert fits[1] is None and all(f is not None for f in (fits[0], fits[2], fits[3]))
    assert fits[2].iterations > fitter.settings.iterations  # cold after the gap
    assert max(f.error_mm for f in (fits[0], fits[2], fits[3])) < 1.0  # rig-only poses: exact up to convergence


def test_bad_input_is_one_line(body, fitter):
    with pytest.raises(PoseFitError, match=r"^expected finite vertices"):
        fitter.fit(np.full((body.num_vertices, 3), np.nan))
    with pytest.raises(PoseFitError, match=r"^expected finite vertices"):
        fitter.fit(np.zeros((10, 3)))
    with pytest.raises(PoseFitError, match=r"^expected finite COCO-17 joints"):
        fitter.fit(np.zeros((body.num_vertices, 3)), np.zeros((5, 3)))
    with pytest.raises(PoseFitError, match="unknown anny bones: nope"):
        SkeletonFitter(body, bones=("nope",))
