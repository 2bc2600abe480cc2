"""Latency benchmark of the lifter: per-frame p50/p90/p99 by backend, people, hypotheses, steps.

Every speed figure in the README comes from this command. A frame is one ``Lifter.lift`` call
(normalise, one backend call for people x hypotheses, aggregate), as the node runs it. The
default grid sweeps one factor at a time around the shipped operating point; ``--full-grid``
runs the whole product. Rows of path ``no-fit`` time the cold path on the graph without the 2D
fit between the denoising steps (its cost, in the same run); for ONNX Runtime, rows of path
``fp32`` time it on the fp32 graph (what the default int8 graph gains). GFPose's published
sampler (1000 Euler-Maruyama steps) is timed in the same run on the same model and backend, so
the speed-up is a measured ratio.
"""

import itertools
import json
import os
import platform
import time

import numpy as np
import torch

from ..export import fit_method
from ..lifter import Lifter
from ..pipeline import FramePipeline
from ..selection import people_from_arrays
from ..settings import BackendSpec, LiftSettings


def machine_info(threads):
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads or torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def synthetic_frame(people, rng):
    """A plausible frame: people standing 3-6 m away in front of a 640x480, f=600 camera."""
    from ..camera import intrinsics, project
    from ..skeleton import ADULT_BONE_RATIOS, PARENTS

    pose = np.zeros((17, 3))
    for j, ratio in enumerate(ADULT_BONE_RATIOS, start=1):
        direction = np.array([0.0, -1.0 if j in (7, 8, 9, 10) else 1.0, 0.0])
        if j in (1, 11, 12, 13):
            direction = np.array([-1.0, 0.0, 0.0])
        if j in (4, 14, 15, 16):
            direction = np.array([1.0, 0.0, 0.0])
        pose[j] = pose[PARENTS[j]] + 1.75 * ratio * direction
    K = intrinsics(600, 600, 320, 240)
    roots = np.stack(
        [
            rng.uniform(-1.5, 1.5, people),
            rng.uniform(-0.2, 0.2, people),
            rng.uniform(3, 6, people),
        ],
        1,
    )
    uv = project(pose[None] + roots[:, None], K)
    return uv, np.ones((people, 17)), K


class TimedBackend:
    """A backend that remembers how long its last call took: the graph call alone, timed inside
    the same frames as the whole lift, so the two are compared within one run."""

    def __init__(self, backend):
        self.backend = backend
        self.name = backend.name
        self.precision = backend.precision
        self.seconds = 0.0

    def __call__(self, inputs):
        started = time.perf_counter()
        out = self.backend(inputs)
        self.seconds = time.perf_counter() - started
        return out


def timed_graphs(lifter):
    """The lifter's graphs, each wrapped once in a TimedBackend: [cold] or [cold, tracking]
    (the tracking graph once the settings warm-start)."""
    return lifter.wrap_graphs(lambda b: b if isinstance(b, TimedBackend) else TimedBackend(b))


def time_frames(pipeline, people, frames, warmup, rng):
    """Per-frame latency of pipeline.lift_frame (the node's per-frame path: select people, lift,
    track) on a synthetic frame, with its current settings, and of the graph call within it."""
    uv, confidence, K = synthetic_frame(people, rng)
    frame_people = people_from_arrays(uv, confidence)
    timed = timed_graphs(pipeline.lifter)
    pipeline.reset()
    totals, graphs = [], []
    for i in range(warmup + frames):
        for graph in timed:
            graph.seconds = 0.0
        started = time.perf_counter()
        pipeline.lift_frame(frame_people, K, stamp=i / 30)
        totals.append(time.perf_counter() - started)
        graphs.append(sum(graph.seconds for graph in timed))
    ms, graph_ms = np.array(totals[warmup:]) * 1000, np.array(graphs[warmup:]) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "graph_p50_ms": float(np.percentile(graph_ms, 50)),
        # Per frame, then the median: what surrounds the graph call, robust to the graph's noise.
        "around_graph_p50_ms": float(np.percentile(ms - graph_ms, 50)),
        "frames": frames,
    }


HEADER = (
    f"{'backend':<17} {'path':<8} {'people':>6} {'hyps':>5} {'steps':>5} {'p50 ms':>8} "
    f"{'p90 ms':>8} {'p99 ms':>8} {'graph p50':>9} {'around':>7} {'GFLOP/s':>8}"
)


def format_row(row):
    """One line of the table: the whole per-frame lift, the graph call alone within it, and what
    surrounds the graph (p50 of the per-frame difference)."""
    backend = f"{row['backend']} {row['precision']}"
    return (
        f"{backend:<17} {row['path']:<8} {row['people']:>6} {row['hypotheses']:>5} "
        f"{row['steps']:>5} {row['p50_ms']:8.2f} {row['p90_ms']:8.2f} {row['p99_ms']:8.2f} "
        f"{row['graph_p50_ms']:9.2f} {row['around_graph_p50_ms']:7.2f} "
        f"{row.get('gflop_per_s', float('nan')):8.1f}"
    )


def grid(args):
    if args.full_grid:
        return list(itertools.product(args.people, args.hypotheses, args.steps))
    points = {(1, h, args.default_steps) for h in args.hypotheses}
    points |= {(1, args.default_hypotheses, s) for s in args.steps}
    points |= {(p, args.default_hypotheses, args.default_steps) for p in args.people}
    return sorted(points)


def grid_steps(args):
    return sorted({s for _, _, s in grid(args)})


def time_variant(args, backend, rng, path, fit="rays", **spec_changes):
    """The cold path at the default steps and hypotheses, 1 and the most people, on another
    graph than the shipped one, in the same run as its rows: with ``fit`` 'none' the graph
    without the 2D fit's operations (export.fit_method: what the fit costs), with
    ``spec_changes`` another BackendSpec (onnxruntime_precision fp32: what int8 gains). The rows'
    ``path`` is ``path``."""
    spec = BackendSpec(
        model_path=args.model,
        backend=backend,
        steps=args.default_steps,
        max_batch=10_000,
        engine_cache_dir=args.cache_dir or "",
        num_threads=args.threads,
        **spec_changes,
    )
    with fit_method(fit):
        pipeline = FramePipeline(Lifter(spec, LiftSettings(max_people=1)))
    rows = []
    for people in sorted({1, max(args.people)}):
        pipeline.lifter.settings = LiftSettings(
            num_hypotheses=args.default_hypotheses, max_people=people, tracking=False
        )
        stats = time_frames(pipeline, people, args.frames, args.warmup, rng)
        rows.append(
            {
                "backend": pipeline.lifter.backend.name,
                "path": path,
                "people": people,
                "hypotheses": args.default_hypotheses,
                "steps": args.default_steps,
                "network_evaluations": args.default_steps,
                "sampler": "ddim",
                "fit_2d": fit,
                "precision": pipeline.lifter.backend.precision,
                **stats,
            }
        )
    return rows


def run(args, log=print):
    from ..export import load_network

    flops_per_eval = load_network(args.model).flops_per_evaluation()
    results = {
        "machine": machine_info(args.threads),
        "model": os.path.abspath(args.model),
        "flops_per_sample_step": flops_per_eval,
        "frames": args.frames,
        "runs": [],
        "reference": [],
    }
    m = results["machine"]
    log(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['threads']} threads; torch {m['torch']}, "
        f"onnxruntime {m.get('onnxruntime', '-')}{', GPU ' + m['gpu'] if 'gpu' in m else ''}"
    )
    log(f"model: {flops_per_eval / 1e6:.2f} MFLOP per sample per step")
    log(HEADER)
    rng = np.random.default_rng(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    for backend in args.backends:
        for steps in grid_steps(args):
            spec = BackendSpec(
                model_path=args.model,
                backend=backend,
                steps=steps,
                max_batch=10_000,
                engine_cache_dir=args.cache_dir or "",
                num_threads=args.threads,
            )
            pipeline = FramePipeline(Lifter(spec, LiftSettings(max_people=1)))
            for people, hyps, s in grid(args):
                if s != steps:
                    continue
                # The tracked path (warm starts from the previous frame) at the default steps.
                paths = ("cold", "tracked") if steps == args.default_steps else ("cold",)
                for path in paths:
                    pipeline.lifter.settings = LiftSettings(
                        num_hypotheses=hyps, max_people=people, tracking=path == "tracked"
                    )
                    stats = time_frames(pipeline, people, args.frames, args.warmup, rng)
                    evaluations = spec.warm_steps if path == "tracked" else steps
                    gflops = (
                        people
                        * hyps
                        * evaluations
                        * flops_per_eval
                        / (stats["p50_ms"] / 1000)
                        / 1e9
                    )
                    row = {
                        "backend": pipeline.lifter.backend.name,
                        "precision": pipeline.lifter.backend.precision,
                        "path": path,
                        "people": people,
                        "hypotheses": hyps,
                        "steps": steps,
                        "network_evaluations": evaluations,
                        "sampler": "ddim",
                        "gflop_per_s": gflops,
                        **stats,
                    }
                    results["runs"].append(row)
                    log(format_row(row))
        if args.default_steps in grid_steps(args):
            variants = [("no-fit", {"fit": "none"})]
            if backend == "onnxruntime":
                variants.append(("fp32", {"onnxruntime_precision": "fp32"}))
            for path, changes in variants:
                for row in time_variant(args, backend, rng, path, **changes):
                    results["runs"].append(row)
                    log(format_row(row))
    if args.reference_frames:
        # GFPose's configuration on the same model, on the torch backend (the reference backend:
        # a 1000-step graph takes minutes to export), at the default operating point.
        fast = (
            next(
                r
                for r in results["runs"]
                if r["backend"] == "torch"
                and r["path"] == "cold"
                and r["people"] == 1
                and r["hypotheses"] == args.default_hypotheses
                and r["steps"] == args.default_steps
            )
            if "torch" in args.backends
            else None
        )
        spec = BackendSpec(
            model_path=args.model,
            backend="torch",
            steps=1000,
            sampler="euler_maruyama",
            max_batch=10_000,
        )
        settings = LiftSettings(num_hypotheses=args.default_hypotheses, tracking=False)
        reference = FramePipeline(Lifter(spec, settings))
        stats = time_frames(reference, 1, args.reference_frames, 1, rng)
        row = {
            "backend": "torch",
            "path": "cold",
            "people": 1,
            "hypotheses": args.default_hypotheses,
            "steps": 1000,
            "sampler": "euler_maruyama",
            **stats,
        }
        if fast:
            row["speedup_of_shipped_sampler"] = stats["p50_ms"] / fast["p50_ms"]
        results["reference"].append(row)
        log(
            f"{'torch EM-1000':<17} {'cold':<8} {1:>6} {args.default_hypotheses:>5} {1000:>5} "
            f"{stats['p50_ms']:8.2f} "
            f"{stats['p90_ms']:8.2f} {stats['p99_ms']:8.2f}   ({args.reference_frames} frames)"
        )
        if fast:
            log(
                f"speed-up of {args.default_steps}-step DDIM over 1000-step Euler-Maruyama "
                "(torch, 1 person x "
                f"{args.default_hypotheses} hypotheses, p50): "
                f"{row['speedup_of_shipped_sampler']:.0f}x"
            )
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "bench.json"), "w") as f:
        json.dump(results, f, indent=1)
    plot(results, args, os.path.join(args.out_dir, "bench.png"))
    log(f"wrote {os.path.join(args.out_dir, 'bench.json')} and bench.png")
    return results


def plot(results, args, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for backend in sorted({r["backend"] for r in results["runs"]}):
        rows = [r for r in results["runs"] if r["backend"] == backend and r["people"] == 1]
        by_h = sorted(
            (r["hypotheses"], r["p50_ms"]) for r in rows if r["steps"] == args.default_steps
        )
        by_s = sorted(
            (r["steps"], r["p50_ms"]) for r in rows if r["hypotheses"] == args.default_hypotheses
        )
        left.plot(*zip(*by_h), "o-", label=backend)
        right.plot(*zip(*by_s), "o-", label=backend)
    left.set(
        xscale="log",
        yscale="log",
        xlabel="hypotheses (1 person)",
        ylabel="p50 latency per frame (ms)",
        title=f"{args.default_steps} DDIM steps",
    )
    right.set(
        xscale="log",
        yscale="log",
        xlabel="sampler steps",
        title=f"{args.default_hypotheses} hypotheses",
    )
    for ref in results["reference"]:
        right.plot(
            [ref["steps"]], [ref["p50_ms"]], "k*", markersize=12, label="GFPose EM-1000 (torch)"
        )
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    m = results["machine"]
    fig.suptitle(f"{m['cpu']}, {m['threads']} threads", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
