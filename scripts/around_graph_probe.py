"""What surrounds the graph call, with the real graph and with the graph replaced by a constant
answer (issue 16): python scripts/around_graph_probe.py [--tracked] [--frames N]

Per frame of FramePipeline.lift_frame (1 person × 20 hypotheses, ONNX Runtime, the bench's
synthetic frame), the time outside the graph call, p50 in ms, in three modes run one after
another in one process:

- constant: the graph returns its first answer again at once (no graph work at all);
- touch: the same, after writing 8 MB (how much of the difference is the data cache);
- sleep: the same, after sleeping 5 ms instead of the graph call (the core left idle);
- busy: the same, after 5 ms of a Python loop that touches almost no memory;
- real: the graph runs every frame and its answer is discarded for the constant one.

The numpy work is identical in all five; the difference is what the time between two frames'
numpy work leaves behind for it (caches, predictors), whatever fills that time.
"""

import argparse
import time

import numpy as np

from gfpose_ros.lifter import Lifter
from gfpose_ros.pipeline import FramePipeline
from gfpose_ros.selection import people_from_arrays
from gfpose_ros.settings import BackendSpec, LiftSettings
from gfpose_ros.tools.bench import machine_info, synthetic_frame


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracked", action="store_true", help="the tracked path (default: cold)")
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0 = its own)")
    args = p.parse_args()
    lifter = Lifter(
        BackendSpec(backend="onnxruntime", num_threads=args.threads),
        LiftSettings(tracking=args.tracked),
    )
    uv, confidence, K = synthetic_frame(1, np.random.default_rng(0))
    people = people_from_arrays(uv, confidence)
    pipeline = FramePipeline(lifter)
    mode, answers, spent = ["real"], {}, [0.0]
    scratch = np.zeros(1_000_000)

    def constant(graph):
        def call(inputs):
            started = time.perf_counter()
            if id(graph) not in answers or mode[0] == "real":
                answers.setdefault(id(graph), graph(inputs))
            elif mode[0] == "touch":
                scratch[:] += 1.0
            elif mode[0] == "sleep":
                time.sleep(0.005)
            elif mode[0] == "busy":
                while time.perf_counter() - started < 0.005:
                    pass
            spent[0] += time.perf_counter() - started
            return answers[id(graph)]

        call.name = graph.name
        return call

    lifter.wrap_graphs(constant)
    stamp = 0
    for name in ("constant", "touch", "sleep", "busy", "real", "constant"):
        mode[0] = name
        around = []
        for _ in range(args.frames):
            spent[0] = 0.0
            started = time.perf_counter()
            pipeline.lift_frame(people, K, stamp=stamp / 30)
            around.append((time.perf_counter() - started - spent[0]) * 1000)
            stamp += 1
        print(f"{name:>8}: around the graph p50 {np.percentile(around[50:], 50):.2f} ms")
    m = machine_info(args.threads)
    print(f"({'tracked' if args.tracked else 'cold'} path; {m['cpu']}, {m['cores']} cores)")


if __name__ == "__main__":
    main()
