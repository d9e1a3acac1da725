"""The body shape a user asks for: anny's 6 phenotypes from ``--gender`` / ``--body-shape`` text.

Light (no torch): ``realtime.app`` checks its arguments with it before anything heavy loads. The
values are anny's phenotypes in [0, 1], in :data:`SHAPE_NAMES` order (``models.synth.shapes``);
gender is 0 for male and 1 for female (anny's convention). A value not given is the default
body's (:data:`DEFAULT_SHAPE`): a median adult (:data:`ADULT_AGE`, :data:`ADULT_HEIGHT`) of
neither sex, 0.5 for the rest. Not anny's average, 0.5 each: its age 0.5 is a body of about 13
years by anny's own calibration (``models.synth.shapes.years_to_anny_age``), and an adult of
height 0.5 is 1.90 m tall, longer-boned than the bodies the network recovers (trained on
``models.synth.shapes``: men median 1.75 m, women 1.60 m), which the skeleton exports' rig then
fits 38 mm off (25 mm at 0.36, 120 frames of taiji.mp4). The shape goes to
``HMDiff.recover(shape=...)`` (the full mesh, ``models.body.shaped``) and to the skeleton
exports' fit (``models.body.pose_fit``), the same on every frame.

``--body-shape estimate`` (:data:`ESTIMATE`) takes the shape from the recovered bodies instead,
pooled along each track (``models.body.phenotype.ShapeTrack``). It gets the sex of synthetic
people in 32 random poses right 93 % of the time, but of synthetic people moving as in a video
61 %, and on real motion (Human3.6M) it is at chance and varies more between two sequences of one
actor than between actors (``bench/shape.py``, BENCHMARKS.md): the keypoints the network sees do
not carry a real person's build, so it is not the default.
"""
from __future__ import annotations

SHAPE_NAMES = ("gender", "age", "muscle", "weight", "height", "proportions")
GENDERS = {"male": 0.0, "female": 1.0, "neutral": 0.5}
ADULT_AGE = 0.79  # anny's age value of a 35-year-old body (years_to_anny_age(35) = 0.792)
ADULT_HEIGHT = 0.36  # at ADULT_AGE: a man 1.75 m tall, a woman 1.62 m, gender 0.5 1.68 m (anny at rest)
DEFAULT_SHAPE = (0.5, ADULT_AGE, 0.5, 0.5, ADULT_HEIGHT, 0.5)  # the body shown when none is given (--gender neutral)
ESTIMATE = "estimate"  # --body-shape estimate: the shape pooled along each track from the recovered bodies
# ``HMDiff.recover(shape=BLEND)``: the full mesh as before the shaped body, a fixed local blend of the recovered
# coarse vertices (``CoarseMesh.upsample``: their own, per-frame shape). The evaluation's joints are
# regressed from it (the shaped average body moved them by +0.3 mm on --lift, +0.6 mm on the 4 real frames).
BLEND = "blend"


class BodyShapeError(ValueError):
    """A body shape that cannot be used; the message is one line."""


def parse_body_shape(text: str | None = None, gender: str | None = None) -> tuple[float, ...] | str | None:
    """The 6 phenotypes of ``--body-shape NAME=VALUE,...`` (any subset of :data:`SHAPE_NAMES`) and
    ``--gender male|female|neutral``, the values not given the default body's (:data:`DEFAULT_SHAPE`:
    a median adult); :data:`ESTIMATE` for ``--body-shape estimate``; None when neither is given
    (the default body).
    Raises :class:`BodyShapeError` (one line) for an unknown name, a repeated one, a value that is
    not a number in [0, 1], or a gender given twice."""
    if text is None and gender is None:
        return None
    if text is not None and text.strip() == ESTIMATE:
        if gender is not None:
            raise BodyShapeError("--body-shape estimate estimates the gender too: give one or the other")
        return ESTIMATE
    values: dict[str, float] = {}
    if text is not None:
        for item in text.split(","):
            name, sep, value = (part.strip() for part in item.partition("="))
            if not sep or not name:
                raise BodyShapeError(f"--body-shape takes NAME=VALUE pairs separated by commas, got {item.strip()!r}")
            if name not in SHAPE_NAMES:
                raise BodyShapeError(f"--body-shape: unknown name {name!r} (names: {', '.join(SHAPE_NAMES)})")
            if name in values:
                raise BodyShapeError(f"--body-shape: {name} is given twice")
            try:
                number = float(value)
            except ValueError:
                raise BodyShapeError(f"--body-shape: {name} must be a number in [0, 1], got {value!r}") from None
            if not 0.0 <= number <= 1.0:  # also refuses nan
                raise BodyShapeError(f"--body-shape: {name} must be in [0, 1], got {value}")
            values[name] = number
    if gender is not None:
        if gender not in GENDERS:
            raise BodyShapeError(f"--gender must be one of {', '.join(GENDERS)}, got {gender!r}")
        if "gender" in values:
            raise BodyShapeError("give the gender once: --gender or gender= in --body-shape, not both")
        values["gender"] = GENDERS[gender]
    return tuple(values.get(name, default) for name, default in zip(SHAPE_NAMES, DEFAULT_SHAPE))


def shape_problem(shape: object, label: str = "body_shape") -> str | None:
    """Why ``shape`` cannot be a body shape (None if it can: None, :data:`ESTIMATE`, or 6 numbers in
    [0, 1]), in one line."""
    if shape is None or (isinstance(shape, str) and shape == ESTIMATE):
        return None
    try:
        values = [float(v) for v in shape]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        values = []
    if len(values) != len(SHAPE_NAMES) or not all(0.0 <= v <= 1.0 for v in values):
        return (f"{label} must be {len(SHAPE_NAMES)} numbers in [0, 1] ({', '.join(SHAPE_NAMES)}) or "
                f"{ESTIMATE!r}, got {shape!r}")
    return None
