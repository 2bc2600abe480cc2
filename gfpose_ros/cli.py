"""The ``gfpose`` command: train, evaluate, export, build engines and benchmark, without ROS.

Every subcommand turns a known failure (bad file, bad argument, bad data) into one line on
stderr and exit status 2, never a traceback.
"""

import argparse
import os
import sys

import numpy as np

from .lifter import default_model_path

DEFAULT_OUT = "outputs"


def _positive_ints(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"values must be >= 1, got {text!r}")
    return values


def cmd_train(args):
    from .training.train import load_config, train

    overrides = {
        k: v
        for k, v in {
            "out_dir": args.out_dir,
            "total_steps": args.total_steps,
            "loader_workers": args.loader_workers,
        }.items()
        if v is not None
    }
    path = train(load_config(args.config, overrides), stop_after=args.stop_after)
    print(f"EMA weights: {path}")


def cmd_make_eval_set(args):
    from .evaluation.evaluate import make_eval_set

    arrays = make_eval_set(
        args.config,
        args.sources,
        args.split,
        args.frames_per_sequence,
        args.occlusion,
        args.adult_proportions,
        args.seed,
        args.noise,
        args.outlier_prob,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(
        f"wrote {args.out}: {len(arrays['poses_3d'])} frames from the {args.split} split of "
        f"{', '.join(sorted({g.split('_')[0] for g in arrays['group']}))}"
    )


def cmd_sources(args):
    from .training.sources import convention_offsets, load_source
    from .skeleton import stature
    from .training.train import DEFAULT_CONFIG, all_sources, load_config

    config = load_config(args.config or DEFAULT_CONFIG)
    print(
        f"{'source':<10} {'share':>5} {'train seq/frames':>17} {'held-out seq/frames':>20} "
        f"{'stature':>8}  "
        "own joints vs harmonised (median distance / along the trunk, mm)"
    )
    for source in all_sources(config):
        split = {k: load_source(source, k, harmonise_joints=False) for k in ("train", "val")}
        frames = np.concatenate([p for items in split.values() for _, p in items])
        offsets = convention_offsets(frames[::10])
        height = np.median(stature(frames[::10]))
        print(
            f"{source.name:<10} {source.share:>5} "
            f"{len(split['train']):>7}/{sum(len(p) for _, p in split['train']):<9}"
            f" {len(split['val']):>9}/{sum(len(p) for _, p in split['val']):<10} {height:7.2f}m  "
            + ", ".join(
                f"{j} {o['distance'] * 1000:.0f}/{o['along_trunk'] * 1000:+.0f}"
                for j, o in offsets.items()
            )
        )


def cmd_make_demo_sequence(args):
    from .evaluation.evaluate import make_demo_sequence

    arrays = make_demo_sequence(args.config, frames=args.frames)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}: {len(arrays['poses_3d'])} frames of {arrays['sequence']}")


def cmd_eval(args):
    from .evaluation.evaluate import (
        HEADER,
        breakdown_tables,
        evaluate,
        markdown_table,
        operating_point,
        write_results,
    )

    print(" ".join(f"{h:>7}" for h in HEADER))
    results = evaluate(
        args.data,
        args.model,
        args.backend,
        args.steps,
        args.hypotheses,
        args.aggregation,
        args.max_frames,
        args.seed,
        args.sampler,
        keypoint_noise=args.keypoint_noise,
        population_size=not args.network_size,
        fit_2d=not args.no_fit_2d,
        calibrated_spread=not args.raw_spread,
        onnxruntime_precision=args.onnxruntime_precision,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_results(results, args.out)
    shown = operating_point(results["runs"])
    for key in ("sources", "groups"):
        print(
            f"MPJPE per {key[:-1]} ({shown['steps']} steps, {shown['hypotheses']} hypotheses, "
            "worst first): "
            + ", ".join(
                f"{g} {v['mpjpe_mm']:.0f} ({v['frames']})"
                for g, v in sorted(shown[key].items(), key=lambda kv: -kv[1]["mpjpe_mm"])
            )
        )
    if args.markdown:
        print(markdown_table(results))
        print(breakdown_tables(shown))
    print(f"wrote {args.out}")


def cmd_calibrate_spread(args):
    from .evaluation.evaluate import fit_spread_calibration
    from .skeleton import JOINT_NAMES
    from .spread_calibration import unseen_source_factor, write_spread_scale

    unseen = [p for p in args.unseen_from.split(",") if p]
    factor = unseen_source_factor(unseen, args.hypotheses)
    scale = fit_spread_calibration(
        args.data, args.model, args.backend, args.steps, args.hypotheses, args.seed
    )
    out = args.out or args.model
    write_spread_scale(
        args.model, scale, out, fitted_on=os.path.basename(args.data), unseen_factor=factor
    )
    print(
        "spread factors (error / spread per joint): "
        + ", ".join(f"{name} {s:.2f}" for name, s in zip(JOINT_NAMES[1:], scale[1:]))
        + f"; times {factor:.3f} for unseen sources"
    )
    print(f"wrote {out}")


def cmd_eval_depth(args):
    from .evaluation.depth_eval import evaluate_depth, markdown_table
    from .evaluation.evaluate import write_results

    results = evaluate_depth(
        args.views,
        args.hypotheses,
        args.steps,
        args.seed,
        args.config,
        args.sources,
        args.model,
        args.backend,
        args.threads,
    )
    table = markdown_table(results)
    print(table)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_results(results, args.out)
    markdown = os.path.splitext(args.out)[0] + ".md"
    with open(markdown, "w") as f:
        f.write(table + "\n")
    print(f"wrote {args.out} and {markdown}")


def cmd_export(args):
    from .export import GraphSpec, export_onnx

    spec = GraphSpec(args.steps, args.sampler, args.t_start, args.precision)
    tail = "" if spec.t_start is None else f"_warm{spec.t_start:g}"
    out = args.out or os.path.join(
        DEFAULT_OUT, f"gfpose_{spec.sampler}_k{spec.steps}{tail}_{spec.precision}.onnx"
    )
    export_onnx(args.model, spec.steps, out, spec.sampler, spec.t_start, spec.precision)
    print(f"wrote {out} ({spec.describe()}, dynamic batch; passes onnx.checker)")


def cmd_build_engine(args):
    """Build (TensorRT) or export (ONNX Runtime) every graph a node with these settings loads."""
    from .backends import TensorRTBackend, graph_precision, tensorrt_available
    from .export import graph_path, graphs_for, load_network

    trt_ok, why = tensorrt_available()
    if args.backend == "tensorrt" and not trt_ok:
        raise RuntimeError(f"cannot build a TensorRT engine: {why}")
    kind = "tensorrt" if args.backend != "onnxruntime" and trt_ok else "onnxruntime"
    specs = graphs_for(
        args.steps,
        args.sampler,
        args.warm_steps,
        args.warm_t_start,
        not args.no_warm_starts,
        graph_precision(kind, args.precision, args.onnxruntime_precision),
    )
    net = load_network(args.model)
    for spec in specs:
        path, exported = graph_path(args.model, spec, args.cache_dir, net, args.force_rebuild)
        if kind == "tensorrt":
            backend = TensorRTBackend(
                path,
                args.cache_dir,
                args.precision,
                args.max_batch,
                force_rebuild=args.force_rebuild,
                input_names=spec.input_names,
            )
            print(f"engine ({spec.describe()}): {backend.engine_path}")
        else:
            state = "exported" if exported else "already cached"
            print(f"onnx graph ({spec.describe()}, {state}): {path}")
    if kind != "tensorrt":
        print(
            "TensorRT engines need TensorRT and a CUDA GPU"
            + (f" ({why})" if not trt_ok else "")
            + "; exported the ONNX Runtime graphs, which the node finds in this cache dir"
        )


def cmd_bench(args):
    from .tools.bench import run

    run(args)


def cmd_eval_tracking(args):
    from .evaluation.eval_tracking import evaluate_tracking, markdown_table, write_results

    smoothing = {"min_cutoff": args.min_cutoff, "beta": args.beta, "d_cutoff": 1.0}
    results = evaluate_tracking(
        args.config,
        args.source,
        args.clips,
        args.people,
        args.frames,
        args.noise,
        args.model,
        args.backend,
        args.threads,
        args.steps,
        args.hypotheses,
        args.warm_steps,
        args.t_start,
        smoothing,
        args.frame_rate,
        args.seed,
        walking_clips=args.walking_clips,
        occluded_clips=args.occluded_clips,
        sequences=args.sequences,
    )
    write_results(results, args.out)
    print(markdown_table(results))
    print(f"wrote {args.out} and {os.path.splitext(args.out)[0]}.md")


def build_parser():
    from .backends import PRECISIONS, default_cache_dir
    from .evaluation.eval_tracking import SEQUENCE_SPLITS
    from .export import GRAPH_PRECISIONS
    from .sampling import SAMPLERS
    from .settings import ONNXRUNTIME_PRECISIONS, BackendSpec, LiftSettings
    from .tracking import DEFAULT_SMOOTHING

    # The core's defaults: a command's run matches the node's unless told otherwise.
    spec_defaults, lift_defaults = BackendSpec(), LiftSettings()

    parser = argparse.ArgumentParser(
        prog="gfpose", description="GFPose 2D-to-3D human pose lifting (ROS-free tools)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the score network (resumable)")
    p.add_argument("--config", default=None, help="YAML config, e.g. config/train.yaml")
    p.add_argument("--out-dir")
    p.add_argument("--total-steps", type=int)
    p.add_argument(
        "--stop-after",
        type=float,
        metavar="SECONDS",
        help="checkpoint and stop after this much wall time; the same command resumes",
    )
    p.add_argument(
        "--loader-workers",
        type=int,
        help="processes that augment batches (the config's loader_workers; on a GPU, several)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "sources",
        help="the training config's sources: split sizes, stature, joint-convention offsets",
    )
    p.add_argument("--config", default=None, help="training YAML (default: config/train.yaml)")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("make-eval-set", help="held-out mocap + virtual cameras -> evaluation .npz")
    p.add_argument(
        "--config",
        default=None,
        help="training YAML whose sources and held-out rules to use (default: config/train.yaml)",
    )
    p.add_argument(
        "--sources", type=lambda s: s.split(","), default=None, help="comma-separated source names"
    )
    p.add_argument(
        "--split",
        default="val",
        choices=["val", "all"],
        help="val: the held-out sequences; all: every sequence (a source left out of training)",
    )
    p.add_argument("--out", default=os.path.join(DEFAULT_OUT, "eval_heldout.npz"))
    p.add_argument("--frames-per-sequence", type=int, default=8)
    p.add_argument(
        "--occlusion", type=float, default=0.5, help="share of frames with one limb occluded"
    )
    p.add_argument(
        "--adult-proportions",
        action="store_true",
        help="rescale bones to adult statures (as in training)",
    )
    p.add_argument(
        "--noise", type=float, default=0.01, help="2D jitter std, fraction of the person's 2D size"
    )
    p.add_argument(
        "--outlier-prob",
        type=float,
        default=0.0,
        help="share of joints with a detector-like gross error",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_make_eval_set)

    p = sub.add_parser(
        "make-demo-sequence", help="the bundled demo clip (held-out, fixed camera, occlusion)"
    )
    p.add_argument(
        "--config",
        default=None,
        help="training YAML with the 'cmu' source (default: config/train.yaml)",
    )
    p.add_argument("--out", default="data/demo_sequence.npz")
    p.add_argument("--frames", type=int, default=150)
    p.set_defaults(func=cmd_make_demo_sequence)

    p = sub.add_parser(
        "eval", help="MPJPE / P-MPJPE / best-of-N / completion error on an evaluation .npz"
    )
    p.add_argument("--data", required=True, help="evaluation .npz (see gfpose make-eval-set)")
    p.add_argument("--model", default=default_model_path())
    _backend_argument(p, "torch")
    p.add_argument(
        "--onnxruntime-precision",
        default=spec_defaults.onnxruntime_precision,
        choices=ONNXRUNTIME_PRECISIONS,
        help="ONNX Runtime's graph on a CPU (with --backend onnxruntime or auto)",
    )
    p.add_argument("--steps", type=_positive_ints, default=[1, 2, 4, 8])
    p.add_argument("--hypotheses", type=_positive_ints, default=[1, 10])
    p.add_argument("--aggregation", default="reprojection", choices=["reprojection", "mean"])
    p.add_argument(
        "--network-size",
        action="store_true",
        help="keep the network's own body size (population_size false; the ablation of the "
        "model card's Size section)",
    )
    p.add_argument(
        "--raw-spread",
        action="store_true",
        help="publish the hypotheses' raw spread, not the model's calibrated one "
        "(calibrated_spread false)",
    )
    p.add_argument(
        "--no-fit-2d",
        action="store_true",
        help="the plain conditional sampler: no 2D fit between the denoising steps (fit_2d "
        "false; the ablation of the model card's 2D fit section)",
    )
    p.add_argument("--sampler", default="ddim", choices=sorted(SAMPLERS))
    p.add_argument(
        "--keypoint-noise",
        type=float,
        default=None,
        help="expected 2D error, fraction of the person's 2D size: sets how hard the 2D fit "
        "pulls and how far observed joints move onto their rays (0 = all the way; default: the "
        "Lifter's)",
    )
    p.add_argument("--max-frames", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(DEFAULT_OUT, "eval.json"))
    p.add_argument("--markdown", action="store_true", help="also print the table in Markdown")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "eval-depth",
        help="absolute position with and without an RGB-D depth image, by distance "
        "(held-out mocap, rendered depth)",
    )
    p.add_argument(
        "--config",
        default=None,
        help="training YAML whose held-out sequences to use (default: config/train.yaml)",
    )
    p.add_argument(
        "--sources", type=lambda s: s.split(","), default=None, help="comma-separated source names"
    )
    p.add_argument("--model", default=default_model_path())
    _backend_argument(p, "torch")
    p.add_argument(
        "--views",
        type=int,
        default=300,
        help="views, spread evenly over the 1-2, 2-3, 3-5 and 5-8 m bins",
    )
    p.add_argument("--hypotheses", type=int, default=lift_defaults.num_hypotheses)
    p.add_argument("--steps", type=int, default=spec_defaults.steps)
    _threads_argument(p, spec_defaults.num_threads)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        default=os.path.join(DEFAULT_OUT, "eval_depth.json"),
        help="JSON; the table goes next to it (.md)",
    )
    p.set_defaults(func=cmd_eval_depth)

    p = sub.add_parser("export", help="export the whole K-step sampler as one ONNX graph")
    p.add_argument("--model", default=default_model_path())
    p.add_argument("--steps", type=int, default=spec_defaults.steps)
    p.add_argument("--sampler", default="ddim", choices=sorted(SAMPLERS))
    p.add_argument(
        "--precision",
        default="fp32",
        choices=GRAPH_PRECISIONS,
        help="fp16: the network runs in fp16 inside the graph, inputs and output stay fp32 "
        "(TensorRT); int8: its layers quantised for ONNX Runtime on a CPU",
    )
    p.add_argument(
        "--t-start",
        type=float,
        default=None,
        help="export the tracking graph (warm starts from this t; ddim only)",
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=512,
        help="recorded for the engine build; the graph's batch is dynamic",
    )
    p.add_argument("--out")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "build-engine",
        help="build and cache every graph a node loads offline: TensorRT engines, or without "
        "TensorRT the ONNX Runtime graphs",
    )
    p.add_argument("--model", default=default_model_path())
    p.add_argument(
        "--steps", type=int, default=spec_defaults.steps, help="steps of the cold graph"
    )
    p.add_argument("--sampler", default="ddim", choices=sorted(SAMPLERS))
    p.add_argument(
        "--warm-steps",
        type=int,
        default=spec_defaults.warm_steps,
        help="steps of the tracking graph (warm starts)",
    )
    p.add_argument(
        "--warm-t-start",
        type=float,
        default=spec_defaults.warm_t_start,
        help="time the tracking graph's warm starts begin at",
    )
    p.add_argument(
        "--no-warm-starts", action="store_true", help="the cold graph only (no tracking graph)"
    )
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "tensorrt", "onnxruntime"],
        help="auto: TensorRT engines where TensorRT and a GPU are present, else the ONNX graphs",
    )
    p.add_argument(
        "--precision",
        default=spec_defaults.precision,
        choices=PRECISIONS,
        help="TensorRT precision",
    )
    p.add_argument(
        "--onnxruntime-precision",
        default=spec_defaults.onnxruntime_precision,
        choices=ONNXRUNTIME_PRECISIONS,
        help="ONNX Runtime's graph on a CPU",
    )
    p.add_argument("--max-batch", type=int, default=512)
    p.add_argument("--cache-dir", default=default_cache_dir())
    p.add_argument(
        "--force-rebuild", action="store_true", help="export the graphs and build the engines anew"
    )
    p.set_defaults(func=cmd_build_engine)

    p = sub.add_parser("bench", help="latency per frame by backend, people, hypotheses and steps")
    p.add_argument("--model", default=default_model_path())
    p.add_argument("--backends", type=lambda s: s.split(","), default=["onnxruntime", "torch"])
    p.add_argument("--people", type=_positive_ints, default=[1, 5, 10])
    p.add_argument("--hypotheses", type=_positive_ints, default=[1, 10, 20, 50, 200])
    p.add_argument("--steps", type=_positive_ints, default=[1, 2, 4, 8])
    p.add_argument("--default-steps", type=int, default=spec_defaults.steps)
    p.add_argument("--default-hypotheses", type=int, default=lift_defaults.num_hypotheses)
    p.add_argument("--full-grid", action="store_true")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument(
        "--reference-frames",
        type=int,
        default=20,
        help="frames for the 1000-step reference (0 = skip)",
    )
    _threads_argument(p, 0)
    p.add_argument("--cache-dir", default=default_cache_dir())
    p.add_argument("--out-dir", default=os.path.join(DEFAULT_OUT, "bench"))
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "eval-tracking",
        help="tracked, warm-started lifting vs independent frames on held-out clips "
        "of several people: MPJPE, jitter, ID switches",
    )
    p.add_argument(
        "--config",
        default=None,
        help="training YAML whose held-out sequences to use (default: config/train.yaml)",
    )
    p.add_argument(
        "--source",
        default="cmu",
        help="source of the clips (its config stride sets the frame rate)",
    )
    p.add_argument(
        "--sequences",
        default="heldout",
        choices=sorted(SEQUENCE_SPLITS),
        help="the clips' sequences: the source's held-out split, or all of them (for a model "
        "that left the source out whole)",
    )
    p.add_argument("--clips", type=int, default=8)
    p.add_argument(
        "--people",
        type=_positive_ints,
        default=[3, 2],
        help="people per clip, cycled over the clips",
    )
    p.add_argument("--frames", type=int, default=90, help="frames per clip (>= 3)")
    p.add_argument(
        "--frame-rate",
        type=float,
        default=30.0,
        help="frames per second of the source after its stride",
    )
    p.add_argument(
        "--noise", type=float, default=0.01, help="2D jitter std, fraction of the person's 2D size"
    )
    p.add_argument("--model", default=default_model_path())
    _backend_argument(p, "onnxruntime")
    _threads_argument(p, spec_defaults.num_threads)
    p.add_argument("--steps", type=int, default=spec_defaults.steps, help="steps of a cold start")
    p.add_argument("--hypotheses", type=int, default=lift_defaults.num_hypotheses)
    p.add_argument(
        "--warm-steps",
        type=int,
        default=spec_defaults.warm_steps,
        help="steps of a warm start (<= --steps)",
    )
    p.add_argument(
        "--t-start",
        type=float,
        default=spec_defaults.warm_t_start,
        help="time a warm start's previous pose is noised to, (0.001, 1]",
    )
    p.add_argument(
        "--min-cutoff",
        type=float,
        default=DEFAULT_SMOOTHING["min_cutoff"],
        help="One-Euro minimum cutoff (Hz) of the smoothed run",
    )
    p.add_argument(
        "--beta",
        type=float,
        default=DEFAULT_SMOOTHING["beta"],
        help="One-Euro speed coefficient (s/m) of the smoothed run",
    )
    p.add_argument(
        "--walking-clips",
        type=int,
        default=60,
        help="clips of 2-3 people walking across the view and crossing (0 = none)",
    )
    p.add_argument(
        "--occluded-clips",
        type=int,
        default=20,
        help="walking clips in which one person is hidden whole for up to track_max_age",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        default=os.path.join(DEFAULT_OUT, "eval_tracking.json"),
        help="JSON; the table goes next to it (.md)",
    )
    p.set_defaults(func=cmd_eval_tracking)

    p = sub.add_parser(
        "calibrate-spread",
        help="fit the per-joint factors of the published spread on an evaluation set and "
        "store them in the model file",
    )
    p.add_argument(
        "--data",
        required=True,
        help="evaluation .npz of the sources the model was trained on (their held-out split)",
    )
    p.add_argument("--model", default=default_model_path())
    p.add_argument("--out", default="", help="model file to write (default: --model, in place)")
    p.add_argument(
        "--unseen-from",
        default="",
        help="comma-separated `gfpose eval` JSONs of sources left out whole (by models already "
        "calibrated on their own held-out split): the factors are multiplied by the geometric "
        "mean of their error / spread, for people from sources never seen (default: none)",
    )
    _backend_argument(p, "torch")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--hypotheses", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_calibrate_spread)

    from .tools.offline_demo import add_demo_parser

    add_demo_parser(sub)
    return parser


def _backend_argument(p, default):
    from .settings import BACKENDS

    p.add_argument(
        "--backend",
        default=default,
        choices=BACKENDS,
        help="auto: TensorRT with a GPU, else ONNX Runtime, else torch",
    )


def _threads_argument(p, default):
    p.add_argument(
        "--threads",
        type=int,
        default=default,
        help="CPU threads for the backend (0 = one per core)",
    )


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, RuntimeError, OSError, KeyError, ImportError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"gfpose {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
