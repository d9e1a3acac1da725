"""Real-time human mesh recovery: a camera, video, image folder or the synthetic world → 3D mesh.

    python run_live.py                       # camera 0 if there is one, else the synthetic source
    python run_live.py --video clip.mp4 --no-display --every-frame --export run.npz
    python run_live.py --benchmark --video clip.mp4 --max-frames 200

Bad arguments, missing files and failures print one line on stderr and exit non-zero.
``run_live.py`` and the ``hmdiff-live`` command run :func:`main`.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn

from realtime.signals import StopSignals, deferred  # light: the stop signals are handled before any heavy import

if TYPE_CHECKING:
    from realtime.options import LiveOptions
    from realtime.sources import Source

log = logging.getLogger("run_live")

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
BENCHMARK_DEFAULT_FRAMES = 300  # for endless sources (camera, synthetic) without --max-frames
BENCHMARK_ROUNDS = 2  # full, detector only, full, detector only: both sides share the machine's drift
WARMUP_NOTICE_S = 10.0  # a warm-up slower than this says why (the kernels' first compilation)
# Sane ranges of the camera's capture size (argparse already refused non-numbers, non-finite and <= 0);
# the arguments that fill LiveOptions are checked by LiveOptions' own checks (OPTION_ARGS), --steps /
# --warm-steps are bounded by the diffusion schedule (steps_problem).
RANGES = {"width": (16, 16384, "pixels"), "height": (16, 16384, "pixels")}
OPTION_ARGS = {  # LiveOptions field -> the argument that fills it (realtime.options.value_problem checks both)
    "fov_deg": "fov", "focal_px": "focal", "hypotheses": "hypotheses", "jump_threshold": "jump_threshold",
    "smooth_min_cutoff": "smooth_min_cutoff", "smooth_beta": "smooth_beta", "fps": "fps",
    "process_width": "process_width", "torch_threads": "threads",
}


class CliError(RuntimeError):
    """A problem to report to the user as one line (exit 1)."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _finite(kind: type, text: str) -> int | float:
    """``text`` as a finite ``kind`` (argparse's one-line error otherwise)."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _positive(kind: type) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = _finite(kind, text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _number(text: str) -> float:
    """A finite float (its range is checked with the others: RANGES)."""
    return _finite(float, text)


def build_parser() -> argparse.ArgumentParser:
    from models.body_shape import GENDERS
    from realtime.options import BACKENDS, BODY_MODELS, DEFAULTS, LiveOptions

    p = _Parser(prog="run_live.py", description=__doc__.split("\n\n")[0])
    src = p.add_argument_group("source (default: camera 0 if present, else synthetic)").add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="N", help="webcam index")
    src.add_argument("--video", type=Path, metavar="FILE", help="a video file")
    src.add_argument("--images", type=Path, metavar="DIR", help="a folder of images, in name order, every one processed")
    src.add_argument("--synthetic", action="store_true", help="the anny body rendered in motion")
    p.add_argument("--width", type=_positive(int), help="camera capture width")
    p.add_argument("--height", type=_positive(int), help="camera capture height")
    p.add_argument("--fps", type=_positive(float), help=LiveOptions.help("fps"))
    p.add_argument("--every-frame", action="store_true",
                   help="process every frame of a video or the synthetic source (no pacing, no drops)")
    p.add_argument("--process-width", type=_positive(int), default=DEFAULTS.process_width,
                   help=LiveOptions.help("process_width"))
    p.add_argument("--max-frames", type=_positive(int), help="stop after this many source frames")
    cam = p.add_argument_group("camera intrinsics")
    cam.add_argument("--fov", type=float, default=DEFAULTS.fov_deg, help=LiveOptions.help("fov_deg"))
    cam.add_argument("--focal", type=_positive(float), help=LiveOptions.help("focal_px"))
    model = p.add_argument_group("model")
    model.add_argument("--weights", type=Path, help=LiveOptions.help("weights"))
    model.add_argument("--body-model", choices=BODY_MODELS, default=DEFAULTS.body_model)
    model.add_argument("--model-path", type=Path, help=LiveOptions.help("model_path"))
    model.add_argument("--steps", type=_positive(int), default=DEFAULTS.steps, help=LiveOptions.help("steps"))
    model.add_argument("--warm-steps", type=_positive(int), default=DEFAULTS.warm_steps,
                       help=LiveOptions.help("warm_steps"))
    model.add_argument("--hypotheses", type=_positive(int), help=LiveOptions.help("hypotheses"))
    model.add_argument("--no-dat", action="store_true", help=LiveOptions.help("dat"))
    model.add_argument("--no-mirror", action="store_true", help=LiveOptions.help("photo_mirror"))
    model.add_argument("--warm-start", action=argparse.BooleanOptionalAction, default=DEFAULTS.warm_start,
                       help=LiveOptions.help("warm_start"))
    model.add_argument("--fixed-noise", action=argparse.BooleanOptionalAction, default=DEFAULTS.fixed_noise,
                       help=LiveOptions.help("fixed_noise"))
    model.add_argument("--jump-threshold", type=_positive(float), default=DEFAULTS.jump_threshold,
                       help=LiveOptions.help("jump_threshold"))
    model.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=DEFAULTS.smooth,
                       help=LiveOptions.help("smooth"))
    model.add_argument("--smooth-min-cutoff", type=_positive(float), default=DEFAULTS.smooth_min_cutoff, metavar="HZ",
                       help=LiveOptions.help("smooth_min_cutoff"))
    model.add_argument("--smooth-beta", type=_number, default=DEFAULTS.smooth_beta, metavar="S_PER_M",
                       help=LiveOptions.help("smooth_beta"))
    model.add_argument("--backend", choices=BACKENDS, default=DEFAULTS.backend, help=LiveOptions.help("backend"))
    model.add_argument("--device", default="auto", help="torch device for the model: auto (cuda if present), cpu, cuda")
    model.add_argument("--threads", type=_positive(int), metavar="N", help=LiveOptions.help("torch_threads"))
    model.add_argument("--no-warmup", action="store_true", help=LiveOptions.help("warmup"))
    model.add_argument("--body-shape", metavar="NAME=VALUE,...|estimate", help=LiveOptions.help("body_shape") + "; e.g. "
                       "gender=0,weight=0.7 (names not given: the default body's, age=0.79, height=0.36, the rest 0.5)")
    model.add_argument("--gender", choices=tuple(GENDERS), help="the body's gender, a median adult's (--body-shape "
                       "gender=0, 1 or 0.5)")
    out = p.add_argument_group("outputs")
    out.add_argument("--no-display", action="store_true", help="headless: no windows")
    out.add_argument("--record", type=Path, metavar="FILE.mp4", help="the overlay video")
    out.add_argument("--save-meshes", type=Path, metavar="DIR", help="one .ply per frame")
    out.add_argument("--export", type=Path, metavar="FILE.npz", help="per-frame arrays of the run")
    out.add_argument("--export-glb", type=Path, metavar="FILE.glb",
                     help="an animated glTF of the run: anny's skinned body on its fitted skeleton")
    out.add_argument("--export-bvh", type=Path, metavar="FILE.bvh",
                     help="the run's skeleton animation (anny's rig fitted to the meshes) as BVH")
    out.add_argument("--smooth-skeleton", action="store_true",
                     help="One Euro smoothing of the exported skeleton's rotations (--export-bvh/--export-glb)")
    out.add_argument("--benchmark", action="store_true", help="headless FPS benchmark against detector only")
    out.add_argument("--benchmark-json", type=Path, metavar="FILE", help="write the benchmark as JSON")
    out.add_argument("--benchmark-rounds", type=int, default=BENCHMARK_ROUNDS, metavar="N",
                     help=f"passes over the source for each side, interleaved, frames pooled ({BENCHMARK_ROUNDS})")
    p.add_argument("--verbose", action="store_true", help="debug logging (tracebacks of stage failures)")
    return p


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Checks argparse cannot express; exits with one line on failure."""
    if args.camera is not None and args.camera < 0:
        parser.error(f"--camera must be 0 or more, got {args.camera}")
    check_values(parser, args)
    from models.body_shape import BodyShapeError, parse_body_shape
    from realtime.options import pairing_problem

    try:
        shape = parse_body_shape(args.body_shape, args.gender)  # live_options reads it again
    except BodyShapeError as err:
        parser.error(str(err))
    problem = pairing_problem(args.body_model, args.model_path, shape, lambda name: f"--{name.replace('_', '-')}")
    if problem:
        parser.error(problem)
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        parser.error(f"--device must be auto, cpu or cuda[:N], got {args.device}")
    elif args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            parser.error(f"--device {args.device}: no CUDA GPU is available")
    if args.benchmark_json and not args.benchmark:
        parser.error("--benchmark-json needs --benchmark")
    if args.benchmark_rounds < 1:
        parser.error("--benchmark-rounds must be at least 1")
    if args.export_bvh and args.body_model != "anny":
        parser.error("--export-bvh needs the anny body model (its rig is what is fitted)")
    for flag, path, suffix in (("--record", args.record, ".mp4"), ("--export", args.export, ".npz"),
                               ("--export-glb", args.export_glb, ".glb"), ("--export-bvh", args.export_bvh, ".bvh"),
                               ("--benchmark-json", args.benchmark_json, ".json")):
        if path is None:
            continue
        if path.suffix.lower() != suffix:
            parser.error(f"{flag} must end in {suffix}, got {path}")
        if not path.parent.is_dir():
            parser.error(f"{flag}: folder does not exist: {path.parent}")
    if args.save_meshes is not None and args.save_meshes.exists() and not args.save_meshes.is_dir():
        parser.error(f"--save-meshes: not a folder: {args.save_meshes}")
    check_paths(parser, args)


def check_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Numeric arguments within their ranges (LiveOptions' own checks, named by the flag), steps
    within the diffusion schedule (one line, exit 2)."""
    from realtime.options import steps_problem, value_problem

    for name, (low, high, unit) in RANGES.items():
        value = getattr(args, name)
        if value is not None and not low <= value <= high:
            parser.error(f"--{name.replace('_', '-')} must be between {low:g} and {high:g} {unit}, got {value:g}")
    for name, dest in OPTION_ARGS.items():
        value = getattr(args, dest)
        problem = None if value is None else value_problem(name, value, f"--{dest.replace('_', '-')}")
        if problem:
            parser.error(problem)
    from models.hmdiff.model import HMDiffConfig  # the shipped schedule; custom weights are checked on load

    defaults = HMDiffConfig.__dataclass_fields__
    problem = steps_problem(args, defaults["num_train_steps"].default, defaults["warm_step"].default)
    if problem:
        parser.error(problem)


def check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """No output is an input or another output, and every output's folder takes a new file."""
    from realtime.targets import OutputError, check_targets

    outputs = {"--record": args.record, "--export": args.export, "--export-glb": args.export_glb,
               "--export-bvh": args.export_bvh, "--save-meshes": args.save_meshes, "--benchmark-json": args.benchmark_json}
    inputs = {"--video": args.video, "--images": args.images, "--weights": args.weights, "--model-path": args.model_path}
    try:
        check_targets(outputs, inputs, folders=("--save-meshes",))
    except OutputError as err:
        parser.error(str(err))


def source_factory(args: argparse.Namespace) -> Callable[[], Source]:
    """A function making a fresh (unopened) source from the arguments."""
    from realtime import sources
    from realtime.options import DEFAULTS

    common = {"process_width": args.process_width, "every_frame": args.every_frame}
    if args.video is not None:
        return functools.partial(sources.VideoSource, args.video, **common)
    if args.images is not None:
        return functools.partial(sources.ImageFolderSource, args.images, fps=args.fps or DEFAULTS.fps, **common)
    camera = functools.partial(sources.CameraSource, args.camera or 0, args.width, args.height, args.fps, **common)
    if args.camera is not None:
        return camera
    synthetic = functools.partial(sources.SyntheticSource, fps=args.fps or DEFAULTS.fps, **common)
    if args.synthetic:
        return synthetic
    try:
        camera().open().close()
        return camera
    except sources.SourceError:
        log.info("no camera found: running the synthetic source")
        return synthetic


def live_options(args: argparse.Namespace, source: Source) -> LiveOptions:
    """The runtime options of the arguments; photos (a source of unrelated frames) are detected
    each on its own (MediaPipe's static image mode), streams are tracked."""
    from models.body_shape import parse_body_shape
    from realtime.options import DEFAULTS, LiveOptions

    return LiveOptions(
        static_image_mode=source.independent, fov_deg=args.fov, focal_px=args.focal, steps=args.steps,
        warm_steps=args.warm_steps, hypotheses=args.hypotheses or DEFAULTS.hypotheses,
        photo_hypotheses=args.hypotheses or DEFAULTS.photo_hypotheses, photo_mirror=not args.no_mirror,
        stream_mirror=not args.no_mirror, dat=not args.no_dat, warm_start=args.warm_start, fixed_noise=args.fixed_noise,
        jump_threshold=args.jump_threshold, smooth=args.smooth, smooth_min_cutoff=args.smooth_min_cutoff,
        smooth_beta=args.smooth_beta, weights=args.weights, body_model=args.body_model,
        model_path=args.model_path, backend=args.backend,
        device=args.device, fps=args.fps or DEFAULTS.fps, process_width=args.process_width, warmup=not args.no_warmup,
        torch_threads=args.threads or DEFAULTS.torch_threads, body_shape=parse_body_shape(args.body_shape, args.gender),
    )


def warm_up(live, options: LiveOptions, detect_only: bool = False) -> None:
    """Every first call before the first real frame (see ``LiveRecovery.warmup``), timed in one line."""
    if not options.warmup:
        return
    import threading
    import time

    start = time.perf_counter()
    size = (options.process_width, round(options.process_width * 3 / 4))
    slow = threading.Timer(WARMUP_NOTICE_S, log.info, ("warming up: the first run after set-up compiles the kernels "
                                                       "once (up to a minute on two cores) ...",))
    slow.daemon = True
    slow.start()
    try:
        parts = live.warmup(size, detect_only=detect_only)
    finally:
        slow.cancel()
    log.info("warmed up in %.1f s (%s)", time.perf_counter() - start,
             ", ".join(f"{name} {ms / 1e3:.1f} s" for name, ms in parts.items()))


def run(args: argparse.Namespace) -> int:
    """Open the source, load the models, run the pipeline (or the benchmark), finalise outputs."""
    from realtime.render import RenderStage, display_problem

    headless = args.no_display or args.benchmark
    if not headless and display_problem():
        raise CliError(display_problem())
    make_source = source_factory(args)
    source = make_source().open()  # fail fast, before the slow imports; the pipeline closes it

    with contextlib.ExitStack() as cleanup:
        finalising = deferred("finishing the outputs")  # stop signals wait from its begin to its end
        cleanup.callback(finalising.end)
        try:
            from realtime.live import LiveRecovery, load_model
            from realtime.outputs import Outputs
            from realtime.pipeline import Pipeline

            options = live_options(args, source)
            live = LiveRecovery(options, model=load_model(options))
            faces, num_vertices = live.faces, live.num_vertices
            cleanup.callback(live.close)
            render = RenderStage()
            cleanup.callback(render.close)
            if not headless:
                render.open_windows(faces)  # side by side; m / o toggle them
            render.outputs = Outputs(faces, num_vertices, source.fps, args.record, args.save_meshes,
                                     args.export, args.export_glb, export_bvh=args.export_bvh,
                                     skinned_glb=args.body_model == "anny", smooth_skeleton=args.smooth_skeleton)
            cleanup.callback(render.outputs.close)
            cleanup.callback(finalising.begin)  # the first cleanup: nothing can cut finalisation short
        except BaseException:
            source.close()
            raise
        try:
            warm_up(live, options)
        except BaseException:
            source.close()
            raise
        if args.benchmark:
            return run_benchmark(args, source, make_source, live, render, options)
        summary = Pipeline(source, live.stages(), render, max_frames=args.max_frames).run()
        outputs = render.outputs
    say(f"{summary.frames} frames in {summary.elapsed_s:.1f} s ({summary.frames / max(summary.elapsed_s, 1e-9):.1f} FPS): "
        f"a person in {outputs.with_person}, a mesh in {outputs.with_mesh}; "
        f"{summary.dropped} dropped, {summary.skipped} skipped; stopped: {summary.reason}")
    if summary.frames and not outputs.with_person:
        log.warning("no person was found in any of the %d frames", summary.frames)
    if summary.reason == "interrupted":
        return EXIT_INTERRUPTED
    if outputs.unwritten:  # asked for and not written: each said why in one line (or the line below)
        if not outputs.frames:
            say(f"error: no frame reached the outputs: {', '.join(map(str, outputs.unwritten))} not written", err=True)
        return EXIT_ERROR
    return 0


def run_benchmark(args: argparse.Namespace, source, make_source, live, render, options: LiveOptions) -> int:
    """The full pipeline and a detector-only run of a fresh copy of the same source, in turn for
    ``--benchmark-rounds`` rounds (both warmed up alike unless --no-warmup; each round a fresh pass)."""
    from realtime.benchmark import Collector, compare, format_table
    from realtime.live import LiveRecovery

    max_frames = args.max_frames or (None if source.length else BENCHMARK_DEFAULT_FRAMES)
    full, detector_only = Collector(render), Collector(lambda record: True)
    with LiveRecovery(options) as detector:
        warm_up(detector, options, detect_only=True)
        for round_ in range(args.benchmark_rounds):
            if round_:
                live.reset()
                detector.reset()
            full.run(source if round_ == 0 else make_source().open(), live.stages(), max_frames)
            detector_only.run(make_source().open(), detector.stages(detect_only=True), max_frames)
    result = compare(full.report(), detector_only.report())
    print(format_table(result))
    if args.benchmark_json:  # a complete file or none: written aside, then renamed over
        partial = args.benchmark_json.with_name(f".{args.benchmark_json.name}.partial")
        try:
            partial.write_text(json.dumps(result, indent=2))
            os.replace(partial, args.benchmark_json)
        finally:
            partial.unlink(missing_ok=True)
    return 0


def describe(err: BaseException) -> str:
    """One line for the user: our own errors speak for themselves, others get their type."""
    ours = isinstance(err, CliError) or type(err).__module__.split(".")[0] in ("realtime", "models", "kernels")
    text = str(err) if ours else f"{type(err).__name__}: {err}"
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__


def say(text: str, err: bool = False) -> None:
    """Print one line; a terminal that went away (SIGHUP) is not an error."""
    try:
        print(text, file=sys.stderr if err else sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


NATIVE_LIBRARIES = ("torch", "cv2", "mediapipe", "onnxruntime", "numba", "triton", "scipy", "matplotlib", "anny")


def import_libraries(display: bool) -> None:
    """Import the native libraries a run uses (``main`` holds the stop signals meanwhile).

    A ``KeyboardInterrupt`` raised while a native module initialises is thrown through C++ and
    aborts the process (torch's pybind11: ``terminate called after throwing ... error_already_set``,
    rc -6) or turns into an ``ImportError`` (numpy's, under cv2). Held, a signal stops the run right
    after the imports instead, with its one line. A library that is missing or broken is left to
    the code that needs it to report."""
    import importlib

    from models.body.anny_body import configure_anny_cache

    configure_anny_cache()  # anny reads its cache folder once, when first imported
    for name in NATIVE_LIBRARIES + (("open3d",) if display else ()):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - reported, in one line, where it is needed
            pass


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 1 error, 2 bad arguments, 128 + N after stop signal N (130 Ctrl+C,
    143 SIGTERM, 129 SIGHUP: every output is finalised first, see realtime/signals.py).

    The stop signals are handled from the first line on (this module imports nothing heavy): a
    signal during the argument checks, the imports or the warm-up ends the run with one line and
    the same exit code as during the run, never a traceback."""
    stops = StopSignals()
    try:
        with stops:
            try:
                with deferred("starting", "it stops once the libraries are loaded", stop_after=True):
                    parser = build_parser()
                    args = parser.parse_args(argv)
                    import_libraries(display=not (args.no_display or args.benchmark))
                check_args(parser, args)
                logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
                return stops.exit_code(run(args))
            except KeyboardInterrupt:
                say("interrupted", err=True)
                return stops.exit_code(EXIT_INTERRUPTED)
            except Exception as err:  # noqa: BLE001 - one line, never a traceback
                log.debug("failed", exc_info=err)
                say(f"error: {describe(err)}", err=True)
                return EXIT_ERROR
    except KeyboardInterrupt:  # a second signal while the first one was being reported
        say("interrupted", err=True)
        return stops.exit_code(EXIT_INTERRUPTED)
