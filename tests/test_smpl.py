"""The SMPL path, for real: a synthetic SMPL-format pickle loaded through ``load_body_model``.

The file has the keys and layouts smplx's SMPL loader reads (v_template, f, shapedirs, posedirs,
J_regressor as a scipy sparse matrix, weights, kintree_table) with SMPL's 6890 vertices (smplx
selects extra joints by SMPL vertex ids) and 24 joints. Each joint's J_regressor row averages a
ring of 8 vertices centred on it, so joint positions are known exactly.
"""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import roma
import scipy.sparse
import torch
from smplx.vertex_ids import vertex_ids

from models.body import BodyModelError, load_body_model
from models.body.joints import H36M17, LSP14, SMPL_H36M, regressor
from models.skeletons import COCO17

NUM_VERTICES = 6890
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
# SMPL's own frame: y up, facing +z, the person's left on +x; metres, a T-pose.
JOINTS = np.array([
    [0.0, 0.0, 0.0], [0.06, -0.09, 0.0], [-0.06, -0.09, 0.0], [0.0, 0.11, 0.0],
    [0.1, -0.47, 0.0], [-0.1, -0.47, 0.0], [0.0, 0.25, 0.0], [0.08, -0.87, -0.03],
    [-0.08, -0.87, -0.03], [0.0, 0.3, 0.0], [0.1, -0.93, 0.1], [-0.1, -0.93, 0.1],
    [0.0, 0.5, 0.0], [0.08, 0.42, 0.0], [-0.08, 0.42, 0.0], [0.0, 0.6, 0.03],
    [0.18, 0.45, 0.0], [-0.18, 0.45, 0.0], [0.44, 0.45, 0.0], [-0.44, 0.45, 0.0],
    [0.7, 0.45, 0.0], [-0.7, 0.45, 0.0], [0.79, 0.45, 0.0], [-0.79, 0.45, 0.0],
])
HEAD_CENTRE, HEAD_RADIUS = np.array([0.0, 0.68, 0.03]), 0.1
FACE = {"nose": [0.0, 0.66, 0.13], "leye": [0.03, 0.7, 0.12], "reye": [-0.03, 0.7, 0.12],
        "lear": [0.09, 0.67, 0.02], "rear": [-0.09, 0.67, 0.02]}
RING = 8


def _ring(centre: np.ndarray, radius: float, count: int) -> np.ndarray:
    angles = 2 * math.pi * np.arange(count) / count
    return centre + radius * np.stack([np.cos(angles), np.zeros(count), np.sin(angles)], axis=1)


def write_smpl_file(path: Path) -> None:
    """A synthetic SMPL model pickle: capsule-like limbs, a head sphere, face points."""
    rng = np.random.default_rng(0)
    vertices = np.zeros((NUM_VERTICES, 3))
    skin = np.zeros(NUM_VERTICES, dtype=int)
    regressor_rows = np.zeros((24, NUM_VERTICES))
    ring_start = NUM_VERTICES - 24 * RING
    for joint in range(24):  # rings centred on the joints, riding with the parent bone
        ids = np.arange(ring_start + joint * RING, ring_start + (joint + 1) * RING)
        vertices[ids] = _ring(JOINTS[joint], 0.03, RING)
        skin[ids] = max(PARENTS[joint], 0)
        regressor_rows[joint, ids] = 1.0 / RING
    head = 2000
    free = np.arange(ring_start)
    direction = rng.normal(size=(head, 3))
    vertices[free[:head]] = HEAD_CENTRE + HEAD_RADIUS * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    skin[free[:head]] = 15
    bones = np.arange(1, 24)
    limb = free[head:]
    bone = bones[rng.integers(0, len(bones), len(limb))]
    along = rng.uniform(0.1, 0.9, len(limb))[:, None]
    parent = np.array(PARENTS)[bone]
    vertices[limb] = (1 - along) * JOINTS[parent] + along * JOINTS[bone] + rng.normal(0, 0.02, (len(limb), 3))
    skin[limb] = parent
    for name, position in FACE.items():
        vertices[vertex_ids["smplh"][name]] = position
        skin[vertex_ids["smplh"][name]] = 15
    shapedirs = np.zeros((NUM_VERTICES, 3, 10))
    shapedirs[:, :, 0] = 0.1 * vertices  # beta0 = 1 scales the body by 10 %
    data = {
        "v_template": vertices,
        "f": np.arange(NUM_VERTICES - NUM_VERTICES % 3, dtype=np.uint32).reshape(-1, 3),
        "shapedirs": shapedirs,
        "posedirs": np.zeros((NUM_VERTICES, 3, 207), dtype=np.float32),
        "J_regressor": scipy.sparse.csc_matrix(regressor_rows),
        "weights": np.eye(24)[skin],
        "kintree_table": np.stack([np.array(PARENTS) % 2**32, np.arange(24)]).astype(np.int64),
    }
    with open(path, "wb") as file:
        pickle.dump(data, file)


@pytest.fixture(scope="session")
def smpl_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("smpl") / "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl"
    write_smpl_file(path)
    return path


@pytest.fixture(scope="session")
def smpl_body(smpl_path):
    return load_body_model("smpl", model_path=smpl_path)


def _canonical(points: np.ndarray) -> torch.Tensor:
    """SMPL frame (pelvis-relative) to the canonical frame: y and z flip."""
    return torch.tensor((points - JOINTS[0]) * np.array([1.0, -1.0, -1.0]), dtype=torch.float32)


def test_forward_shapes_and_dtype(smpl_body):
    out = smpl_body(pose=torch.zeros(3, 23, 3), shape=torch.zeros(3, 10))
    assert smpl_body.num_vertices == NUM_VERTICES and smpl_body.num_pose_joints == 23
    assert out.vertices.shape == (3, NUM_VERTICES, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (3, len(smpl_body.joint_names), 3) and len(smpl_body.joint_names) >= 24
    assert smpl_body.faces.dtype == torch.int64


def test_canonical_frame(smpl_body):
    out = smpl_body()
    assert torch.allclose(out.joints[0, :24], _canonical(JOINTS), atol=1e-5)  # exact joints, pelvis at 0
    head, ankle = out.joints[0, 15], out.joints[0, 7]
    assert head[1] < -0.5 and ankle[1] > 0.8  # head towards -y, feet +y, metres
    nose = out.vertices[0, vertex_ids["smplh"]["nose"]]
    assert nose[2] < head[2] - 0.05  # face towards -z
    assert out.joints[0, 1, 0] > 0 > out.joints[0, 2, 0]  # left hip on +x


def test_pose_and_shape(smpl_body):
    pose = torch.zeros(1, 23, 3)
    pose[0, smpl_body.pose_joint_names.index("left_knee"), 0] = math.pi / 2
    out = smpl_body(pose=pose)
    knee, ankle = out.joints[0, 4], out.joints[0, 7]
    assert torch.allclose(ankle - knee, torch.tensor([-0.02, -0.03, 0.4]), atol=1e-4)  # shin swings back (+z)
    tall = smpl_body(shape=torch.tensor([[1.0] + [0.0] * 9]))
    assert torch.allclose(tall.joints[0, :24], 1.1 * _canonical(JOINTS), atol=1e-5)


def test_global_orient_and_transl(smpl_body):
    pose = 0.3 * torch.randn(2, 23, 3, generator=torch.Generator().manual_seed(0))
    orient = torch.tensor([[0.0, math.pi, 0.0], [0.5, 0.2, -0.3]])
    transl = torch.tensor([[0.0, 0.0, 3.0], [1.0, 0.5, 4.0]])
    base = smpl_body(pose=pose)
    moved = smpl_body(pose=pose, global_orient=orient, transl=transl)
    expected = base.vertices @ roma.rotvec_to_rotmat(orient).transpose(1, 2) + transl[:, None]
    assert torch.allclose(moved.vertices, expected, atol=1e-5)
    assert torch.allclose(moved.joints[:, 0], transl, atol=1e-6)
    nose = moved.vertices[0, vertex_ids["smplh"]["nose"]]
    assert nose[2] > 3.05  # turned around: the face now points away from the camera


def test_regressors(smpl_body):
    pose = 0.3 * torch.randn(1, 23, 3, generator=torch.Generator().manual_seed(1))
    out = smpl_body(pose=pose)
    vertices, joints = out.vertices[0], out.joints[0]
    for name, names in (("coco17", COCO17), ("h36m17", H36M17), ("lsp14", LSP14)):
        matrix = regressor(smpl_body, name)
        assert matrix.shape == (len(names), NUM_VERTICES) and torch.allclose(matrix.sum(1), torch.ones(len(names)))
    coco = dict(zip(COCO17, regressor(smpl_body, "coco17") @ vertices))
    assert torch.allclose(coco["nose"], vertices[vertex_ids["smplh"]["nose"]])
    assert torch.allclose(coco["left_knee"], joints[4], atol=1e-5)  # rings ride rigidly with their bone
    h36m = dict(zip(H36M17, regressor(smpl_body, "h36m17") @ vertices))
    assert torch.allclose(h36m["pelvis"], (joints[1] + joints[2]) / 2, atol=1e-5)
    thorax = joints[9] + SMPL_H36M.thorax * (joints[12] - joints[9])  # spine3 toward the neck
    assert torch.allclose(h36m["thorax"], thorax, atol=1e-5)
    lsp = dict(zip(LSP14, regressor(smpl_body, "lsp14") @ vertices))
    rest = smpl_body().vertices[0]
    assert torch.allclose(lsp["head_top"], vertices[rest[:, 1].argmin()])
    assert torch.allclose(lsp["neck"], (joints[12] + joints[15]) / 2, atol=1e-5)


def test_smplx_batches(tmp_path):
    """SMPL-X (a star skeleton, zero blend shapes) runs batched: face, hands and expression too."""
    count, joints = 10475, 55
    rng = np.random.default_rng(0)
    parents = np.array([-1] + [0] * (joints - 1))
    template = rng.normal(0.0, 0.3, (count, 3))
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez_compressed(
        path, v_template=template, f=np.arange(count - count % 3, dtype=np.uint32).reshape(-1, 3),
        shapedirs=np.zeros((count, 3, 20)), posedirs=np.zeros((count, 3, 486), dtype=np.float32),
        J_regressor=np.eye(count)[:joints], weights=np.eye(joints)[rng.integers(0, joints, count)],
        kintree_table=np.stack([parents % 2**32, np.arange(joints)]), hands_componentsl=np.eye(45),
        hands_componentsr=np.eye(45), hands_meanl=np.zeros(45), hands_meanr=np.zeros(45),
        lmk_faces_idx=np.arange(51), lmk_bary_coords=np.full((51, 3), 1 / 3),
    )
    body = load_body_model("smplx", model_path=path)
    out = body(pose=0.2 * torch.randn(3, 21, 3), shape=torch.zeros(3, 10))
    assert out.vertices.shape == (3, count, 3) and torch.allclose(out.joints[:, 0], torch.zeros(3, 3), atol=1e-6)
    assert regressor(body, "h36m17").shape == (17, count)


def test_missing_and_wrong_files(tmp_path):
    with pytest.raises(BodyModelError, match="--model-path.*SMPL_NEUTRAL.pkl"):
        load_body_model("smpl")
    with pytest.raises(BodyModelError, match="not found.*SMPL_NEUTRAL.pkl"):
        load_body_model("smpl", model_path=tmp_path / "SMPL_NEUTRAL.pkl")
    with pytest.raises(BodyModelError, match="not found.*SMPLX_NEUTRAL.npz"):
        load_body_model("smplx", model_path=tmp_path / "SMPLX_NEUTRAL.npz")
    garbage = tmp_path / "SMPL_NEUTRAL.pkl"
    garbage.write_text("not a model")
    with pytest.raises(BodyModelError, match="not a valid SMPL model file.*expected the SMPL model pickle"):
        load_body_model("smpl", model_path=garbage)
    incomplete = tmp_path / "incomplete.pkl"
    incomplete.write_bytes(pickle.dumps({"v_template": np.zeros((10, 3))}))
    with pytest.raises(BodyModelError, match="not a valid SMPL model file.*shapedirs"):
        load_body_model("smpl", model_path=incomplete)
    with pytest.raises(BodyModelError, match="unknown body model 'smpl-h'"):
        load_body_model("smpl-h")
