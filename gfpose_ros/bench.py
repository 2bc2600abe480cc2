"""Latency benchmark of the lifter: per-frame p50/p90/p99 by backend, people, hypotheses, steps.

Every speed figure in the README comes from this command. A frame is one ``Lifter.lift`` call
(normalise, one backend call for people x hypotheses, aggregate), as the node runs it. The
default grid sweeps one factor at a time around the shipped operating point; ``--full-grid``
runs the whole product. GFPose's published sampler (1000 Euler-Maruyama steps) is timed in the
same run on the same model and backend, so the speed-up is a measured ratio.
"""

import itertools
import json
import os
import platform
import time

import numpy as np
import torch

from .lifter import Lifter


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
    from .camera import intrinsics, project
    from .skeleton import ADULT_BONE_RATIOS, PARENTS

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


def time_frames(lifter, people, frames, warmup, rng, **lift_kwargs):
    """Per-frame latency of lifter.lift on a synthetic frame; ``lift_kwargs`` go to every call."""
    uv, confidence, K = synthetic_frame(people, rng)
    for _ in range(warmup):
        lifter.lift(uv, confidence, K, **lift_kwargs)
    times = []
    for _ in range(frames):
        started = time.perf_counter()
        lifter.lift(uv, confidence, K, **lift_kwargs)
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "frames": frames,
    }


def grid(args):
    if args.full_grid:
        return list(itertools.product(args.people, args.hypotheses, args.steps))
    points = {(1, h, args.default_steps) for h in args.hypotheses}
    points |= {(1, args.default_hypotheses, s) for s in args.steps}
    points |= {(p, args.default_hypotheses, args.default_steps) for p in args.people}
    return sorted(points)


def run(args, log=print):
    from .export import load_network

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
    log(
        f"{'backend':<12} {'people':>6} {'hyps':>5} {'steps':>5} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'GFLOP/s':>8}"
    )
    rng = np.random.default_rng(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    for backend in args.backends:
        for steps in sorted({s for _, _, s in grid(args)}):
            lifter = Lifter(
                args.model,
                backend=backend,
                steps=steps,
                max_batch=10_000,
                cache_dir=args.cache_dir,
                threads=args.threads,
            )
            for people, hyps, s in grid(args):
                if s != steps:
                    continue
                lifter.num_hypotheses = hyps
                stats = time_frames(lifter, people, args.frames, args.warmup, rng)
                gflops = people * hyps * steps * flops_per_eval / (stats["p50_ms"] / 1000) / 1e9
                row = {
                    "backend": lifter.backend.name,
                    "people": people,
                    "hypotheses": hyps,
                    "steps": steps,
                    "sampler": "ddim",
                    "gflop_per_s": gflops,
                    **stats,
                }
                results["runs"].append(row)
                log(
                    f"{row['backend']:<12} {people:>6} {hyps:>5} {steps:>5} "
                    f"{stats['p50_ms']:8.2f} "
                    f"{stats['p90_ms']:8.2f} {stats['p99_ms']:8.2f} {gflops:8.1f}"
                )
    if args.reference_frames:
        # GFPose's configuration on the same model, on the torch backend (the reference backend:
        # a 1000-step graph takes minutes to export), at the default operating point.
        fast = (
            next(
                r
                for r in results["runs"]
                if r["backend"] == "torch"
                and r["people"] == 1
                and r["hypotheses"] == args.default_hypotheses
                and r["steps"] == args.default_steps
            )
            if "torch" in args.backends
            else None
        )
        lifter = Lifter(
            args.model,
            backend="torch",
            steps=1000,
            sampler="euler_maruyama",
            num_hypotheses=args.default_hypotheses,
            max_batch=10_000,
        )
        stats = time_frames(lifter, 1, args.reference_frames, 1, rng)
        row = {
            "backend": "torch",
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
            f"{'torch EM-1000':<12} {1:>6} {args.default_hypotheses:>5} {1000:>5} "
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
