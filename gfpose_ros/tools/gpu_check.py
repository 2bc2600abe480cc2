"""One prepared GPU check (scripts/gpu_check.sh): ROS-free, under 4 minutes, one JSON file.

It measures, on the machine it runs on:
  cuda_tests   test/test_cuda.py (the torch path on CUDA), with pytest or without it;
  latency      the torch CUDA-graph sampler (fp32 and fp16 network) per call for 1x20, 10x20
               and 10x200 people x hypotheses in one call, against ONNX Runtime's CPU graph;
  fp16         fp16-vs-fp32 pose agreement of the torch network on the GPU, in mm;
  training     steps/s of the real ScoreNet + training_loss on synthetic poses at batch 4096,
               8192 and 16384 with bf16 autocast, to size a long GPU run.
Without CUDA it refuses: one line on stderr, exit status 2. Each section that fails records its
error and the others still run; the JSON is rewritten after every section.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from ..atomic_file import replaced_atomically

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "gfpose_mlp512.pt")
SHAPES = ((1, 20), (10, 20), (10, 200))  # people x hypotheses in one call
TRAIN_BATCHES = (4096, 8192, 16384)


def _timed(fn, min_calls=5, max_calls=100, budget_s=3.0, warmup=3):
    """Per-call milliseconds of ``fn`` (p50, p90, calls) after ``warmup`` calls."""
    import numpy as np

    for _ in range(warmup):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < max_calls and (
        len(times) < min_calls or time.perf_counter() - start < budget_s
    ):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p90_ms": round(float(np.percentile(times, 90)), 3),
        "calls": len(times),
    }


def _inputs(batch, seed=0):
    import torch

    from ..export import INPUT_NAMES, example_inputs

    tensors = list(example_inputs(batch))
    tensors[4] = torch.randn(batch, 51, generator=torch.Generator().manual_seed(seed))
    return {n: t.numpy() for n, t in zip(INPUT_NAMES, tensors)}


def cuda_tests():
    test = os.path.join(ROOT, "test", "test_cuda.py")
    try:
        import pytest  # noqa: F401
    except ImportError:
        return _cuda_tests_without_pytest(test)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-m", "cuda", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    lines = run.stdout.strip().splitlines()
    return {
        "runner": "pytest",
        "returncode": run.returncode,
        "summary": lines[-1:],
        "tail": lines[-30:],
    }


def _cuda_tests_without_pytest(path):
    import importlib.util
    import traceback

    spec = importlib.util.spec_from_file_location("test_cuda", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = {}
    for name in sorted(n for n in dir(module) if n.startswith("test_")):
        try:
            getattr(module, name)()
            results[name] = "passed"
        except Exception:
            results[name] = "failed: " + traceback.format_exc(limit=3)[-800:]
    failed = sum(not r.startswith("passed") for r in results.values())
    return {"runner": "direct (no pytest)", "returncode": int(failed > 0), "results": results}


def latency(steps=4):
    from ..backends import OnnxRuntimeBackend, TorchBackend, onnx_path_for
    from ..export import load_network

    net = load_network(MODEL)
    gpu = {
        p: TorchBackend(MODEL, steps, device="cuda", net=net, precision=p)
        for p in ("fp32", "fp16")
    }
    rows = []
    cpu = None
    try:
        import onnxruntime

        with tempfile.TemporaryDirectory() as cache:
            cpu = OnnxRuntimeBackend(onnx_path_for(MODEL, steps, cache, net=net))
        cpu_name = f"onnxruntime {onnxruntime.__version__} CPU fp32 graph"
    except Exception as exc:  # noqa: BLE001  (record why the CPU row is missing)
        cpu_name = f"unavailable: {type(exc).__name__}: {exc}"
    for people, hyps in SHAPES:
        batch = people * hyps
        inputs = _inputs(batch)
        row = {"people": people, "hypotheses": hyps, "batch": batch, "max_batch": batch}
        for precision, backend in gpu.items():
            row[f"torch_cuda_graph_{precision}"] = _timed(lambda: backend(inputs))
        if cpu is not None:
            row["onnxruntime_cpu_fp32"] = _timed(lambda: cpu(inputs), min_calls=3, budget_s=5.0)
            row["speedup_fp32_vs_cpu"] = round(
                row["onnxruntime_cpu_fp32"]["p50_ms"] / row["torch_cuda_graph_fp32"]["p50_ms"], 2
            )
        rows.append(row)
    return {"steps": steps, "cpu_backend": cpu_name, "rows": rows}


def fp16_agreement(batch=2000):
    import numpy as np

    from ..backends import TorchBackend
    from ..export import load_network

    net = load_network(MODEL)
    out = {}
    for steps, t_start in ((4, None), (2, 0.2)):
        inputs = _inputs(batch)
        if t_start is not None:
            inputs["x_prev"] = np.random.default_rng(1).standard_normal((batch, 51)).astype("f4")
            inputs["warm"] = (np.arange(batch) % 2 == 0).astype("f4")
        poses = {
            p: TorchBackend(MODEL, steps, device="cuda", t_start=t_start, net=net, precision=p)(
                inputs
            )
            for p in ("fp32", "fp16")
        }
        apart = np.linalg.norm(poses["fp16"] - poses["fp32"], axis=-1) * 1000
        out["cold_k4" if t_start is None else "tracking_k2_t0.2"] = {
            "poses": batch,
            "mean_mm": round(float(apart.mean()), 4),
            "p99_mm": round(float(np.percentile(apart, 99)), 4),
            "max_mm": round(float(apart.max()), 4),
        }
    return out


def training(batches=TRAIN_BATCHES, budget_s=4.0):
    import torch

    rows = []
    for batch in batches:
        rows.append(_training_rate(batch, budget_s))
        torch.cuda.empty_cache()
    return {"autocast": "bfloat16", "model": "ScoreNet() (hidden 512, 3 blocks)", "rows": rows}


def _training_rate(batch, budget_s):
    """Steps/s of training steps as gfpose_ros/training/train.py does them, on synthetic poses;
    cuda is the default device, so training_loss draws its t and noise on the GPU."""
    import torch

    from ..model import CONDITION_DIM, POSE_DIM, ScoreNet, training_loss

    with torch.device("cuda"):
        net = ScoreNet()
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
        x0 = torch.randn(batch, POSE_DIM)
        condition = torch.randn(batch, CONDITION_DIM)

        def step():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = training_loss(net, x0, condition)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            return loss

        for _ in range(3):
            step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        count, start = 0, time.perf_counter()
        while count < 2000 and (count < 10 or time.perf_counter() - start < budget_s):
            loss = step()
            count += 1
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    return {
        "batch": batch,
        "steps_per_s": round(count / elapsed, 2),
        "samples_per_s": round(count * batch / elapsed),
        "steps": count,
        "loss": round(loss.item(), 4),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }


def machine():
    import torch

    props = torch.cuda.get_device_properties(0)
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "gpu": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "gpu_memory_gib": round(props.total_memory / 2**30, 1),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(),
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    try:
        import tensorrt

        info["tensorrt"] = tensorrt.__version__
    except ImportError:
        info["tensorrt"] = None
    return info


def default_out():
    base = os.environ.get("OUT") or os.path.join(ROOT, "outputs")
    return os.path.join(base, "gpu_check.json")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=default_out(), help="the JSON ($OUT/gpu_check.json)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu_check: torch is not installed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA GPU is visible (torch.cuda.is_available() is false); "
            "run it on a machine with one",
            file=sys.stderr,
        )
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    result = {"machine": machine()}
    start = time.perf_counter()
    for name, section in (
        ("cuda_tests", cuda_tests),
        ("latency", latency),
        ("fp16", fp16_agreement),
        ("training", training),
    ):
        t = time.perf_counter()
        try:
            result[name] = section()
        except Exception as exc:  # noqa: BLE001  (one broken section must not lose the rest)
            result[name] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
        result[name]["seconds"] = round(time.perf_counter() - t, 1)
        result["total_seconds"] = round(time.perf_counter() - start, 1)
        with replaced_atomically(args.out, "w") as f:
            json.dump(result, f, indent=2)
        print(f"gpu_check: {name} done in {result[name]['seconds']} s", flush=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
