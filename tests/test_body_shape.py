"""The body a user sees: one shape (--gender / --body-shape, else the default body: a median adult)
for the full mesh along a whole track (models.hmdiff.HMDiff.full_mesh, models.stream), or the shape
estimated along the track (--body-shape estimate); refused in one line when bad."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.body_shape import DEFAULT_SHAPE, ESTIMATE, BodyShapeError, parse_body_shape
from models.synth.anatomy import PoseSpace
from models.synth.poses import sample_poses

MALE, FEMALE = (0.0, 0.79, 0.5, 0.5, 0.36, 0.5), (1.0, 0.79, 0.5, 0.5, 0.36, 0.5)  # --gender male / female: adults


@pytest.fixture(scope="module")
def people():
    """Coarse vertices of 6 bodies, each of another shape and pose (as a track's recovered frames
    differ), in the camera 3 m ahead."""
    from models.body.anny_lbs import load_anny_lbs

    lbs = load_anny_lbs()
    rng = np.random.default_rng(3)
    shape = torch.as_tensor(rng.uniform(0.2, 0.8, (6, 6)), dtype=torch.float32)
    pose = sample_poses(6, rng, PoseSpace(lbs.skeleton())).pose.float()
    with torch.no_grad():
        return lbs(pose, shape).coarse + torch.tensor([0.0, 0.2, 3.0])


def test_parse_body_shape():
    assert parse_body_shape() is None  # the default body
    assert parse_body_shape(gender="male") == MALE and parse_body_shape(gender="female") == FEMALE
    assert parse_body_shape(gender="neutral") == (0.5, 0.79, 0.5, 0.5, 0.36, 0.5)
    assert parse_body_shape(gender="neutral") == DEFAULT_SHAPE
    assert parse_body_shape("gender=0") == MALE  # names not given: the default body's
    assert parse_body_shape("age=0.6", gender="female") == (1.0, 0.6, 0.5, 0.5, 0.36, 0.5)
    assert parse_body_shape("gender=1,age=0.8, weight = 0.25") == (1.0, 0.8, 0.5, 0.25, 0.36, 0.5)
    assert parse_body_shape(" estimate ") == ESTIMATE
    assert parse_body_shape("height=0.7", gender="male") == (0.0, 0.79, 0.5, 0.5, 0.7, 0.5)
    for text, gender, message in [("sex=1", None, "unknown name 'sex'"), ("age=1.5", None, "must be in [0, 1]"),
                                  ("age=nan", None, "must be in [0, 1]"), ("age=old", None, "must be a number"),
                                  ("age", None, "NAME=VALUE"), ("age=0.1,age=0.2", None, "given twice"),
                                  ("gender=0", "male", "give the gender once"), (None, "man", "--gender must be"),
                                  ("estimate", "male", "estimates the gender too")]:
        with pytest.raises(BodyShapeError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_body_shape(text, gender)


@pytest.mark.parametrize("args, text", [
    (["--body-shape", "gender=2"], "--body-shape: gender must be in [0, 1], got 2"),
    (["--body-shape", "sex=1"], "--body-shape: unknown name 'sex'"),
    (["--gender", "man"], "invalid choice: 'man'"),
    (["--body-shape", "estimate", "--body-model", "smpl"], "--body-shape estimate reads anny's phenotypes"),
])
def test_cli_refuses_a_bad_body_shape_in_one_line(args, text, capsys):
    from realtime import app

    with pytest.raises(SystemExit) as exit_:
        app.main(["--synthetic", "--no-display", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and text in err, err


def test_options_refuse_a_bad_body_shape():
    from realtime.options import LiveOptions

    assert LiveOptions(body_shape=(0.0, 0.79, 0.5, 0.5, 0.36, 0.5)).stream.shape[1] == 0.79
    assert LiveOptions(body_shape=ESTIMATE).stream.shape == ESTIMATE
    for bad in ((0.5,) * 5, (0.5, 0.5, 0.5, 0.5, 0.5, 2.0), "male"):
        with pytest.raises(ValueError, match="body_shape must be 6 numbers in"):
            LiveOptions(body_shape=bad)
    with pytest.raises(ValueError, match="needs body_model anny"):
        LiveOptions(body_shape=ESTIMATE, body_model="smpl")


def test_cli_shape_reaches_the_options_and_the_stream():
    from realtime import app
    from realtime.sources import SyntheticSource

    parser = app.build_parser()
    source = SyntheticSource()
    args = parser.parse_args(["--synthetic", "--device", "cpu", "--gender", "male", "--body-shape", "height=0.7"])
    options = app.live_options(args, source)
    assert options.body_shape == (0.0, 0.79, 0.5, 0.5, 0.7, 0.5) and options.stream.shape == options.body_shape
    assert app.live_options(parser.parse_args(["--synthetic", "--device", "cpu"]), source).stream.shape is None


def test_the_shape_makes_the_full_mesh(tiny_model, people):
    coarse = people[:2]
    male = tiny_model.full_mesh(coarse, torch.tensor([MALE]))
    female = tiny_model.full_mesh(coarse, torch.tensor([FEMALE]))
    default = tiny_model.full_mesh(coarse, None)
    assert male.shape == (2, tiny_model.shaped.coarse_mesh.upsampler.shape[0], 3)
    assert (male - female).norm(dim=-1).mean() > 0.01  # metres: another body on the same coarse vertices
    assert torch.equal(default, tiny_model.full_mesh(coarse, torch.tensor([DEFAULT_SHAPE])))
    both = tiny_model.full_mesh(coarse, tiny_model.batch_shape([MALE, FEMALE], 2))  # one row per body
    assert torch.allclose(both[0], male[0], atol=1e-6) and torch.allclose(both[1], female[1], atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tiny_model.batch_shape([1.5, 0.5, 0.5, 0.5, 0.5, 0.5], 1)


def test_the_default_body_keeps_its_shape_along_a_track(tiny_model, people):
    """Frames whose coarse vertices differ in pose and in shape: the default body's chest keeps its
    size (two vertices moved by one bone: distance constant to float rounding), where today's blend
    of the coarse vertices changes it with every frame's coarse shape."""
    shaped = tiny_model.shaped
    pure = shaped.blend > 0.999  # (Vc, G): coarse vertices that move with one bone only
    mesh = shaped.coarse_mesh
    on_one_bone = pure[mesh.neighbors].all(1)  # (V, G): full vertices blended from those only
    bone = int(on_one_bone.sum(0).argmax())  # the bone with the most such vertices
    ids = torch.nonzero(on_one_bone[:, bone])[:, 0]
    rest = shaped.template(torch.full((1, 6), 0.5))[0][0, ids]  # the average body at rest
    pair = torch.cdist(rest, rest).flatten().argmax()
    a, b = ids[pair // len(ids)], ids[pair % len(ids)]
    assert (rest[pair // len(ids)] - rest[pair % len(ids)]).norm() > 0.1  # a span of over 10 cm

    def spans(full):
        return (full[:, a] - full[:, b]).norm(dim=-1)

    steady = spans(tiny_model.full_mesh(people))
    today = spans(tiny_model.coarse_mesh.upsample(people))
    assert float(steady.max() - steady.min()) < 1e-4  # metres
    assert float(today.max() - today.min()) > 0.005


def test_the_stream_recovers_the_given_body(tiny_model, standing_prior):
    from models.stream import StreamRecovery, StreamSettings

    frames = {}
    for name, shape in (("male", MALE), ("female", FEMALE), ("none", None), ("default", DEFAULT_SHAPE)):
        stream = StreamRecovery(tiny_model, StreamSettings(smooth=False, shape=shape))
        frames[name] = stream(*standing_prior)
    assert np.linalg.norm(frames["male"].vertices - frames["female"].vertices, axis=1).mean() > 0.003  # a tiny body
    np.testing.assert_array_equal(frames["none"].vertices, frames["default"].vertices)
    np.testing.assert_allclose(frames["none"].shape, DEFAULT_SHAPE, atol=1e-6)  # what the exports' rig takes
    np.testing.assert_allclose(frames["male"].shape, MALE, atol=1e-6)


def test_the_stream_estimates_the_shape_along_a_track(tiny_model, standing_prior):
    """--body-shape estimate: the population's shape on a track's first frame, then the pooled
    estimate (which moves less and less); a cut starts a new shape."""
    from models.stream import StreamRecovery, StreamSettings

    prior, keypoints, confidence = standing_prior
    stream = StreamRecovery(tiny_model, StreamSettings(smooth=False, shape=ESTIMATE))
    population = stream.shape_track.shape.copy()
    shapes = [stream(prior, keypoints, confidence, t=i / 30).shape for i in range(12)]
    np.testing.assert_array_equal(shapes[0], population)
    assert np.abs(shapes[1] - population).max() > 1e-4  # the first frame's body counted
    steps = np.abs(np.diff(shapes, axis=0)).max(1)
    assert steps[-1] < steps[1] and steps[-1] < 0.01  # the same body every frame: the estimate settles
    assert all(0 <= v <= 1 for shape in shapes for v in shape)
    after_cut = stream(prior, keypoints, confidence, cut=True, t=0.5)
    np.testing.assert_array_equal(after_cut.shape, population)


@pytest.mark.slow
def test_run_live_refuses_a_bad_body_shape_in_one_line():
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "run_live.py", "--no-display", "--body-shape", "weight=heavy"],
                            cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "run_live.py: error: --body-shape: weight must be a number in [0, 1], got 'heavy' (see --help)"]
