"""How the tracker's association constants move its ID switches (issue 18):
python scripts/tracking_constants_probe.py [--seeds 0,1,2,3,4] [NAME=VALUE ...]

Each NAME=VALUE replaces one module constant of gfpose_ros/tracking.py for this run only (for
example KP_NOISE=0.07 KP_REFERENCE=0.017, UNMATCHED_COST=18). With none, the shipped constants.
Per seed, the same clips as ``gfpose eval-tracking``'s second table: 60 crossing clips (seed)
and 20 occluded ones (seed + 1) of 2-3 walkers at 4-8 m, lifted with the default settings
(ONNX Runtime, one thread, tracking on). Prints one line: ID switches per 100 crossings on the
crossing clips, ID switches on the occluded ones, and the share of hidden people who come back
with their id. About 4 minutes for five seeds on one core.
"""

import argparse

import numpy as np
import torch

from gfpose_ros import tracking
from gfpose_ros.evaluation.eval_tracking import (
    crossings,
    id_switches,
    lift_clip,
    make_walking_clips,
)
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


def hidden_people_kept(ids, lifted, hidden):
    """Per person hidden whole in the clip: True where its first id back is its last before."""
    kept = []
    for person, first, last in hidden:
        before = [i for i in ids[:first, person] if i is not None]
        after = np.flatnonzero(lifted[last + 1 :, person])
        if before and len(after):
            kept.append(ids[last + 1 + after[0], person] == before[-1])
    return kept


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
    switches = crossed = occluded_switches = 0
    kept = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for occlude in (False, True):
            clips = make_walking_clips(
                None, "cmu", 20 if occlude else 60, (2, 3), 60, 0.01,
                seed + occlude, occlude, FRAME_RATE,
            )  # fmt: skip
            rng = np.random.default_rng(seed + 2)
            for clip in clips:
                poses, ids, _, _, _ = lift_clip(pipeline, clip, rng, FRAME_RATE, settings)
                switched = id_switches(ids, settings.track_max_age, FRAME_RATE)
                if occlude:
                    occluded_switches += switched
                    lifted = np.isfinite(poses[..., 0, 0])
                    kept += hidden_people_kept(ids, lifted, clip["hidden"])
                else:
                    switches += switched
                    crossed += crossings(clip["poses_3d"])
    changed = " ".join(f"{n}={v:g}" for n, v in args.constants) or "shipped constants"
    print(
        f"{changed}: crossing clips {switches} ID switches in {crossed} crossings "
        f"({100 * switches / max(crossed, 1):.2f} per 100); occluded clips {occluded_switches} "
        f"ID switches, {100 * np.mean(kept):.1f}% of {len(kept)} hidden people back with their id"
    )


if __name__ == "__main__":
    main()
