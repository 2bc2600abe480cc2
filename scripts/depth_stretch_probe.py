"""Would stretching the published pose along the camera ray undo the flattening, and at what
cost? (Issue 20; the model card's *2D fit inside the sampler*.)

Each joint's offset from the root is stretched by ``s`` along the camera ray through the root,
after the lift, on the 2-LOSO left-out sets and on a training source's held-out split; prints
MPJPE, P-MPJPE and the along-ray / across-ray bone ratios per ``s``. Needs the evaluation sets
that scripts/model_card_eval.sh writes (outputs/model_card/*.npz).

    python scripts/depth_stretch_probe.py [--max-frames 600]
"""

import argparse

import numpy as np

from gfpose_ros.evaluation.evaluate import (
    _eval_lifter,
    _lift_frames,
    _load_frames,
    procrustes_aligned,
    ray_components,
)
from gfpose_ros.settings import LiftSettings

SETS = (
    ("HDM05 left out", "models/reference/loso/without_hdm05.pt", "hdm05_all.npz"),
    ("everyday left out", "models/reference/loso/without_everyday.pt", "everyday_all.npz"),
    (
        "training sources' held-out split (HDM05 model)",
        "models/reference/loso/without_hdm05.pt",
        "heldout_without_hdm05.npz",
    ),
)
STRETCHES = (1.0, 1.1, 1.15, 1.2, 1.3)


def stretched(poses, s):
    """Poses (N, 17, 3) with each joint's offset from the root scaled by s along the ray
    through the root."""
    root = poses[:, :1]
    ray = root / np.linalg.norm(root, axis=-1, keepdims=True)
    offset = poses - root
    return poses + (s - 1) * (offset * ray).sum(-1, keepdims=True) * ray


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-frames", type=int, default=600, help="evenly spaced frames per set")
    p.add_argument("--data-dir", default="outputs/model_card")
    args = p.parse_args()
    print("| set | s | MPJPE (mm) | P-MPJPE (mm) | bones along / across the ray |")
    print("|---|---|---|---|---|")
    for name, model, data in SETS:
        sample = _load_frames(f"{args.data_dir}/{data}", args.max_frames)
        settings = LiftSettings(num_hypotheses=20, confidence_threshold=1e-6)
        lifter = _eval_lifter(model, "onnxruntime", 4, "ddim", settings)
        poses = np.concatenate([o.poses for o in _lift_frames(lifter, sample, 0)])
        gt = sample["poses_3d"]
        gt_rel = gt - gt[:, :1]
        gt_along, gt_across = ray_components(gt, gt)
        for s in STRETCHES:
            pose = stretched(poses, s)
            rel = pose - pose[:, :1]
            mpjpe = np.linalg.norm(rel - gt_rel, axis=-1).mean() * 1000
            pa = np.linalg.norm(procrustes_aligned(rel, gt_rel) - gt_rel, axis=-1).mean() * 1000
            along, across = ray_components(pose, gt)
            print(
                f"| {name} | {s:.2f} | {mpjpe:.1f} | {pa:.1f} | "
                f"{along.sum() / gt_along.sum():.2f} / {across.sum() / gt_across.sum():.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
