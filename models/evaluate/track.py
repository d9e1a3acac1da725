"""``--track DIR``: tracking on real motion (``h36m_lift_seq``'s format).

Each sequence (consecutive frames of real Human3.6M motion with its exact 2D projections; evaluation
only) runs frame by frame through :class:`models.stream.StreamRecovery`, the object the live
pipeline's diffusion stage runs, with the stream's settings (warm start, steps, samples, fixed noise,
smoothing, jump handling). The photo setting (every frame on its own) runs on every ``photo_stride``-th
frame for comparison. Figures (mm, Human3.6M-17 joints regressed from the full mesh):

- ``pa_mpjpe_limb12``: per-frame PA-MPJPE on the 12 limb joints;
- ``accel_error_mm``: mean ‖Δ²pred − Δ²gt‖ of the pelvis-centred limb joints, mm/frame²;
- ``jitter_mm``: mean ‖Δ²pred‖ (what a viewer sees tremble), ``gt_jitter_mm`` the true motion's;
- ``lag_frames``: the shift s (frames, sub-frame by a parabola) minimising the mean ‖v_pred(t) −
  v_gt(t − s)‖ of the pelvis-centred limb joints' velocities over all sequences (positive: late).

The 2D input is exact by default. ``detector=True`` makes it detector-like, drawn independently per
frame with a fixed seed (:class:`DetectorNoise`): Gaussian noise per joint and axis,
``σ_j = relative · oks_j · h + floor_px · oks_j / mean(oks)`` (h the person's 2D height in pixels,
``oks_j`` COCO's OKS sigmas), and 2 % of the joints missed per frame (confidence 0). Calibration: with
the defaults the limb keypoints' mean ‖Δ²‖ is 1.7 % of the person's 2D height on these sequences, as
MediaPipe's own on ``taiji.mp4`` (1.70 %, ``python tools/detector_jitter.py``; there all of it is
counted as noise, though part is the slow true motion). White noise in time is the harsher case for
the same ‖Δ²‖: a tracking detector's error is slower and partly moves with the person.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from models.body.joints import H36M17, fit_definition_map
from models.body.segments import LIMB12
from models.evaluate.judge import EVALUATION_SHAPE, Judge, Variant, recover
from models.evaluate.lift import lift_prior
from models.metrics import jitter_mm, pa_errors, root_centred, second_difference
from models.prior import build_prior
from models.stream import StreamRecovery, StreamSettings

PELVIS = H36M17.index("pelvis")
MAX_LAG = 6  # frames searched each way for the lag


@dataclass(frozen=True)
class DetectorNoise:
    """Detector-like 2D for a tracking run (see the module docstring for the calibration)."""

    relative: float = 0.044
    floor_px: float = 0.26
    miss_prob: float = 0.02
    seed: int = 0

    def __call__(self, keypoints: np.ndarray, confidence: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Noisy copies of COCO-17 keypoints (T, 17, 2) and confidences (T, 17)."""
        from models.synth.corruption import OKS_SIGMAS

        oks = OKS_SIGMAS.numpy()
        seen = confidence > 0
        height = np.array([np.ptp(k[s, 1]) if s.any() else 0.0 for k, s in zip(keypoints, seen)])
        sigma = self.relative * oks[None] * height[:, None] + self.floor_px * oks[None] / oks.mean()
        noisy = keypoints + rng.standard_normal(keypoints.shape) * sigma[..., None]
        missed = seen & (rng.random(confidence.shape) < self.miss_prob)
        conf = np.where(missed, 0.0, confidence)
        noisy[missed] = 0.0
        return noisy.astype(np.float32), conf.astype(np.float32)


def load_sequences(path: str | Path, subjects: tuple[str, ...] | None = None, limit: int | None = None
                   ) -> list[dict[str, np.ndarray]]:
    """The sequences of a tracking set (``gt.npz`` with ``sequence``), optionally of some subjects,
    at most ``limit`` of them spread evenly over the set."""
    gt_file = Path(path) / "gt.npz"
    if not gt_file.is_file():
        raise FileNotFoundError(f"{path} is not a tracking set: {gt_file} is missing")
    data = np.load(gt_file)
    if "sequence" not in data:
        raise ValueError(f"{gt_file} has no 'sequence' array: not a tracking set (h36m_lift_seq's format)")
    ids = data["sequence"]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    bounds = list(zip(starts, np.r_[starts[1:], len(ids)]))
    if subjects:
        bounds = [(a, b) for a, b in bounds if str(data["subject"][a]) in subjects]
    if limit is not None and len(bounds) > limit:
        bounds = [bounds[i] for i in np.linspace(0, len(bounds) - 1, limit).round().astype(int)]
    keys = ("S", "kp2d", "f", "c", "img_wh", "subject", "action")
    return [{k: data[k][a:b] for k in keys} | {"fps": float(data["fps"]) if "fps" in data else 25.0}
            for a, b in bounds]


def lag_curve(pred: list[np.ndarray], gt: list[np.ndarray], max_lag: int = MAX_LAG) -> np.ndarray:
    """Mean ‖v_pred(t) − v_gt(t − s)‖ (m/frame) for s = −max_lag..max_lag over all sequences."""
    errors = np.zeros(2 * max_lag + 1)
    counts = np.zeros(2 * max_lag + 1)
    for p, g in zip(pred, gt):
        vp = np.diff(root_centred(p, [PELVIS], LIMB12), axis=0)
        vg = np.diff(root_centred(g, [PELVIS], LIMB12), axis=0)
        for i, s in enumerate(range(-max_lag, max_lag + 1)):
            a, b = (vp[s:], vg[: len(vg) - s]) if s >= 0 else (vp[:s], vg[-s:])
            errors[i] += np.linalg.norm(a - b, axis=-1).mean(-1).sum()
            counts[i] += len(a)
    return errors / np.maximum(counts, 1)


def best_lag(curve: np.ndarray) -> float:
    """The curve's minimum in frames, refined by a parabola through its neighbours."""
    i = int(np.argmin(curve))
    shift = float(i - (len(curve) - 1) // 2)
    if 0 < i < len(curve) - 1:
        a, b, c = curve[i - 1 : i + 2]
        denominator = a - 2 * b + c
        if denominator > 0:
            shift += 0.5 * (a - c) / denominator
    return round(shift, 2)


def motion_scores(pred: list[np.ndarray], gt: list[np.ndarray], pa: list[np.ndarray]) -> dict[str, float]:
    """The row of figures for predicted and true Human3.6M-17 joints (T, 17, 3) per sequence and
    the per-frame PA-MPJPE (T,) of each."""
    accel = [np.linalg.norm(second_difference(p, [PELVIS], LIMB12) - second_difference(g, [PELVIS], LIMB12),
                            axis=-1).mean(-1) * 1000 for p, g in zip(pred, gt)]
    jitter = [jitter_mm(p, [PELVIS], LIMB12) for p in pred]
    true_jitter = [jitter_mm(g, [PELVIS], LIMB12) for g in gt]
    mean_mm = lambda parts: round(float(np.concatenate(parts).mean()), 2)  # noqa: E731
    return {"pa_mpjpe_limb12": round(float(np.concatenate(pa).mean()), 1), "accel_error_mm": mean_mm(accel),
            "jitter_mm": mean_mm(jitter), "gt_jitter_mm": mean_mm(true_jitter),
            "lag_frames": best_lag(lag_curve(pred, gt)), "frames": int(sum(len(p) for p in pred))}


def sequence_inputs(sequence: dict, definition_map: torch.Tensor, noise: DetectorNoise | None,
                    rng: np.random.Generator):
    """The COCO-17 prior of every frame of a sequence (a batch) and its keypoints and confidences."""
    prior = lift_prior(sequence["kp2d"], sequence["f"], sequence["c"], sequence["img_wh"], definition_map)
    keypoints, confidence = prior.keypoints.numpy(), prior.confidence.numpy()
    if noise is not None:
        keypoints, confidence = noise(keypoints, confidence, rng)
        t = torch.as_tensor
        prior = build_prior(t(keypoints), t(confidence), prior.focal, prior.principal, prior.image_size)
    return prior, keypoints, confidence


def run_stream(model, judge, sequence: dict, prior, keypoints: np.ndarray, confidence: np.ndarray,
               settings: StreamSettings) -> tuple[np.ndarray, np.ndarray]:
    """Human3.6M-17 joints (T, 17, 3) of one sequence run through a fresh :class:`StreamRecovery`,
    and its per-frame PA-MPJPE on the limb joints (T,)."""
    stream = StreamRecovery(model, replace(settings, shape=EVALUATION_SHAPE) if settings.shape is None else settings)
    fps = sequence["fps"]
    vertices = []
    for i in range(len(keypoints)):
        frame = stream(prior.index(i), keypoints[i], confidence[i], cut=False, t=i / fps)
        vertices.append(frame.vertices)
    pred = judge.h36m @ torch.as_tensor(np.stack(vertices))
    gt = torch.as_tensor(sequence["S"], dtype=torch.float32)
    pa = pa_errors(pred[:, LIMB12], gt[:, LIMB12]).norm(dim=-1).mean(1).numpy()
    return pred.numpy(), pa


def track_section(model, judge: Judge, path: str, rows: dict[str, StreamSettings], photo_variant: Variant,
                  photo_stride: int = 5,
                  subjects: tuple[str, ...] | None = None, limit: int | None = None,
                  detector: DetectorNoise | None = None) -> dict:
    """``{"stream": {...}, "photo": {...}, <other rows>}`` (see the module docstring): each row of
    ``rows`` is a stream setting; ``photo_variant`` (``models.evaluate.Variant``) runs on every
    ``photo_stride``-th frame of each sequence on its own."""
    definition_map = fit_definition_map(judge.body)
    sequences = load_sequences(path, subjects, limit)
    rng = np.random.default_rng(detector.seed if detector else 0)
    preds: dict[str, list] = {name: [] for name in rows}
    pas: dict[str, list] = {name: [] for name in rows}
    gts, photo = [], []
    for sequence in sequences:
        prior, keypoints, confidence = sequence_inputs(sequence, definition_map, detector, rng)
        gts.append(sequence["S"])
        for name, settings in rows.items():
            pred, pa = run_stream(model, judge, sequence, prior, keypoints, confidence, settings)
            preds[name].append(pred)
            pas[name].append(pa)
        take = torch.arange(0, len(keypoints), photo_stride)
        recovery = recover(model, prior.index(take), photo_variant)
        pred = judge.h36m @ recovery.vertices
        gt = torch.as_tensor(sequence["S"][take.numpy()], dtype=torch.float32)
        photo.append(pa_errors(pred[:, LIMB12], gt[:, LIMB12]).norm(dim=-1).mean(1).numpy())
    out = {name: motion_scores(preds[name], gts, pas[name]) for name in rows}
    stream_on_photo_frames = np.concatenate([pa[::photo_stride] for pa in pas["stream"]]) if "stream" in pas else None
    out["photo"] = {"pa_mpjpe_limb12": round(float(np.concatenate(photo).mean()), 1),
                    "frames": int(sum(len(p) for p in photo)), "every": photo_stride}
    if stream_on_photo_frames is not None:
        out["photo"]["stream_pa_mpjpe_limb12_same_frames"] = round(float(stream_on_photo_frames.mean()), 1)
    out["sequences"] = len(sequences)
    out["input"] = "detector-like 2D" if detector else "exact 2D"
    return out


def ablation_rows(stream: StreamSettings) -> dict[str, StreamSettings]:
    """The stream's settings and, each for one change, the rows ``--track --ablation`` adds; the last
    is the stream of v20's defaults (warm start re-noised with fresh noise, one sample, no smoothing)."""
    return {
        "stream": stream,
        "no smoothing": replace(stream, smooth=False),
        "no DAT": replace(stream, dat=False),
        "one sample, no mirroring": replace(stream, hypotheses=1, mirror=False),
        "fresh noise every frame": replace(stream, fixed_noise=False),
        "warm start (fixed noise)": replace(stream, warm_start=True),
        "v20 stream": replace(stream, warm_start=True, fixed_noise=False, hypotheses=1, mirror=False, smooth=False),
    }


def track_table(track: dict) -> str:
    """A markdown table of a ``track_section`` result."""
    keys = ["pa_mpjpe_limb12", "accel_error_mm", "jitter_mm", "gt_jitter_mm", "lag_frames", "frames"]
    lines = [f"{track['sequences']} sequences, {track['input']}", "",
             "| row | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, row in track.items():
        if isinstance(row, dict):
            lines.append(f"| {name} | " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    photo = track["photo"]
    if "stream_pa_mpjpe_limb12_same_frames" in photo:
        lines.append(f"\nOn the photo's frames (every {photo['every']}th): stream "
                     f"{photo['stream_pa_mpjpe_limb12_same_frames']}, photo {photo['pa_mpjpe_limb12']}")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("--track", help="real motion with exact 2D, as sequences (h36m_lift_seq's gt.npz format): "
                        "the stream's settings (models.stream.StreamSettings) frame by frame, beside the photo setting")
    parser.add_argument("--track-subjects", help="comma-separated subjects to run (default: all), e.g. S1,S5,S6,S7")
    parser.add_argument("--track-limit", type=int, help="at most this many sequences, spread over the set")
    parser.add_argument("--track-detector", action="store_true",
                        help="detector-like 2D instead of exact (models.evaluate.track.DetectorNoise)")
    parser.add_argument("--track-photo-stride", type=int, default=5, help="the photo setting on every K-th frame (5)")


def run(args, model, judge: Judge, main_variant: Variant) -> dict | None:
    """The tracking rows (``--ablation``: :func:`ablation_rows`), or None without ``--track``."""
    if not args.track:
        return None
    rows = ablation_rows(StreamSettings()) if args.ablation else {"stream": StreamSettings()}
    subjects = tuple(args.track_subjects.split(",")) if args.track_subjects else None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the live stream runs: its ops are tiny at batch 1-2
    try:
        result = track_section(model, judge, args.track, rows, main_variant, photo_stride=args.track_photo_stride,
                               subjects=subjects, limit=args.track_limit,
                               detector=DetectorNoise() if args.track_detector else None)
    finally:
        torch.set_num_threads(threads)
    print("## Tracking real motion\n" + track_table(result))
    return result
