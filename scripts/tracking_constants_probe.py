"""How the tracker's association constants move its ID switches (issue 18):
python scripts/tracking_constants_probe.py [--seeds 0,1,2,3,4] [NAME=VALUE ...]

Each NAME=VALUE replaces one module constant of gfpose_ros/tracking.py for this run only (for
example KP_NOISE=0.07 KP_REFERENCE=0.017, UNMATCHED_COST=18). With none, the shipped constants.
Per seed, ``gfpose eval-tracking``'s second table (eval_tracking.evaluate_walking): 60 crossing
clips and 20 occluded ones of 2-3 walkers at 4-8 m, lifted with the default settings (ONNX
Runtime, one thread, tracking on). Prints one line: ID switches per 100 crossings on the
crossing clips, ID switches on the occluded ones, and the share of hidden people who come back
with their id. About 4 minutes for five seeds on one core.
"""

import argparse

import torch

from gfpose_ros import tracking
from gfpose_ros.evaluation.eval_tracking import evaluate_walking
from gfpose_ros.lifter import Lifter
from gfpose_ros.pipeline import FramePipeline
from gfpose_ros.settings import BackendSpec, LiftSettings

FRAME_RATE = 30.0


def constant(text):
    name, _, value = text.partition("=")
    if not hasattr(tracking, name) or not name.isupper():
        raise argparse.ArgumentTypeError(f"{name!r} is not a constant of gfpose_ros/tracking.py")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the value must be a number") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("constants", nargs="*", type=constant, metavar="NAME=VALUE")
    args = parser.parse_args()
    for name, value in args.constants:
        setattr(tracking, name, value)
    settings = LiftSettings(num_hypotheses=20, max_people=3)
    spec = BackendSpec(backend="onnxruntime", steps=4, num_threads=1, max_batch=512)
    torch.set_num_threads(1)
    pipeline = FramePipeline(Lifter(spec, settings, seed=0))
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows += evaluate_walking(
            pipeline, {"default": settings}, None, "cmu", 60, 20, 0.01, FRAME_RATE, seed,
            log=lambda line: None,
        )  # fmt: skip
    crossing = [r for r in rows if r["clips"] == "crossing"]
    occluded = [r for r in rows if r["clips"] == "occluded"]
    switches = sum(r["id_switches"] for r in crossing)
    crossed = sum(r["crossings"] for r in crossing)
    hidden = sum(r["occlusions"] for r in occluded)
    kept = sum(r["same_id_after_occlusion"] * r["occlusions"] for r in occluded if r["occlusions"])
    changed = " ".join(f"{n}={v:g}" for n, v in args.constants) or "shipped constants"
    print(
        f"{changed}: crossing clips {switches} ID switches in {crossed} crossings "
        f"({100 * switches / max(crossed, 1):.2f} per 100); occluded clips "
        f"{sum(r['id_switches'] for r in occluded)} ID switches, "
        f"{100 * kept / max(hidden, 1):.1f}% of {hidden} hidden people back with their id"
    )


if __name__ == "__main__":
    main()
