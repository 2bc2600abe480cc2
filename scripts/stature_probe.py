"""How the sources' skeletons relate to their people's height (issue 15, the stature
calibration): python scripts/stature_probe.py [--config config/train.yaml]

In standing frames (both knees straight within 15 deg, trunk and thighs within 12 deg of
vertical), per source, medians of:

- H: the head-top joint's height above the lower ankle, plus Drillis & Contini's ankle height
  (0.039 H), i.e. the stature if the head-top joint sat at the vertex;
- stature(): skeleton.stature, the chain (thigh + shank + pelvis..head top) over the adult
  template's chain ratio (0.90);
- chain / H, legs / H (thigh + shank; Drillis & Contini: 0.491) and the trunk chain / H.

If every source put its head-top joint at the vertex and its hips where Drillis & Contini do,
legs / H would be 0.49 everywhere. It is not, so H is not the stature, and the chain-to-stature
ratio cannot be calibrated from these skeletons without people of known height.
"""

import argparse

import numpy as np

from gfpose_ros.skeleton import _STATURE_PER_CHAIN, bone_lengths, stature
from gfpose_ros.training.sources import load_source, parse_sources
from gfpose_ros.training.train import DEFAULT_CONFIG, load_config

ANKLE_HEIGHT = 0.039  # of stature, Drillis & Contini


def angle(a, b):
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=DEFAULT_CONFIG)
    args = p.parse_args()
    config = load_config(args.config)
    print("source      standing frames    H      stature()  chain/H  legs/H  trunk chain/H")
    for source in parse_sources(config["data"]["sources"]):
        poses = np.concatenate([p for _, p in load_source(source, "all")]).astype(np.float64)
        up = poses[:, 10] - poses[:, 0]  # pelvis -> head top: the vertical axis of the data
        axis = np.argmax(np.abs(up.mean(0)))
        vertical = np.zeros(3)
        vertical[axis] = np.sign(up.mean(0)[axis])
        knees = [
            angle(poses[:, h] - poses[:, k], poses[:, a] - poses[:, k])
            for h, k, a in ((1, 2, 3), (4, 5, 6))
        ]
        leans = [angle(poses[:, 8] - poses[:, 0], vertical)] + [
            angle(poses[:, h] - poses[:, k], vertical) for h, k in ((1, 2), (4, 5))
        ]
        standing = (knees[0] > 165) & (knees[1] > 165) & np.all(np.stack(leans) < 12, 0)
        if not standing.any():
            print(f"{source.name:<11} {0:>6} of {len(poses):>6}  (no standing frame)")
            continue
        s = poses[standing]
        height = s @ vertical
        H = (height[:, 10] - np.minimum(height[:, 3], height[:, 6])) / (1 - ANKLE_HEIGHT)
        chain = stature(s) / _STATURE_PER_CHAIN
        lengths = bone_lengths(s)
        legs = (lengths[:, 1] + lengths[:, 2] + lengths[:, 4] + lengths[:, 5]) / 2
        print(
            f"{source.name:<11} {standing.sum():>6} of {len(poses):>6}  {np.median(H):5.2f} m"
            f"  {np.median(stature(s)):5.2f} m   {np.median(chain / H):6.3f}  "
            f"{np.median(legs / H):6.3f}  {np.median((chain - legs) / H):6.3f}"
        )


if __name__ == "__main__":
    main()
