"""Could an error model that grows faster than the spread, fitted in-domain, calibrate the spread
on the hardest poses of a source never seen? (Issue 15; the model card's *Spread calibration*.)

For each 2-LOSO model of the shipped recipe: the raw spread (no calibration), the joint errors and
four per-person features that a lifter has (or could have, at one more network evaluation) at run
time, on the held-out split of the model's own training sources (in-domain) and on the source it
left out. Each feature is cut at its in-domain deciles; the table gives, per decile, the share of
frames and the mean error / mean spread in-domain and on the left-out source. A feature that
calibrates must show in-domain the rise that the left-out source shows. Needs the evaluation sets
of scripts/model_card_eval.sh.

    python scripts/spread_feature_probe.py [--max-frames 3000]
"""

import argparse

import numpy as np
import torch

from gfpose_ros.camera import pixels_to_normalized
from gfpose_ros.export import load_network
from gfpose_ros.model import alpha_sigma, make_condition
from gfpose_ros.evaluation.evaluate import _eval_lifter, _lift_frames, _load_frames, joint_errors
from gfpose_ros.settings import BackendSpec, LiftSettings

MODELS = "models/reference/loso/tilt_joint_angles_without_{}.pt"
SETS = {
    "HDM05": ("hdm05", "outputs/model_card/heldout_without_hdm05.npz", "hdm05_all.npz"),
    "CMU everyday": (
        "everyday",
        "outputs/model_card/heldout_without_everyday.npz",
        "everyday_all.npz",
    ),
}


def prior_denoising_error(net, hypotheses, poses, model_poses, xy, observed, t=0.2, draws=4):
    """(N,) the prior's own denoising error on a person's hypotheses, averaged over them: each
    hypothesis, back in the network's units, noised to ``t`` and denoised under the person's 2D
    condition. The denoising loss estimates how implausible a pose is under the prior (a
    density proxy): an unfamiliar pose should score high."""
    n, h = hypotheses.shape[:2]
    rel = hypotheses - hypotheses[:, :, :1]
    # model_poses is the answer in the network's units (before the population's stature).
    unit = np.linalg.norm((poses - poses[:, :1]).reshape(n, -1), axis=1) / np.linalg.norm(
        model_poses, axis=1
    )
    x0 = torch.as_tensor((rel / unit[:, None, None, None]).reshape(n * h, -1), dtype=torch.float32)
    mask = torch.as_tensor(np.repeat(observed, h, 0), dtype=torch.float32)
    points = torch.as_tensor(np.repeat(np.where(observed[..., None], xy, 0.0), h, 0))
    generator = torch.Generator().manual_seed(0)
    t = torch.tensor(t)
    alpha, sigma = alpha_sigma(t)
    error = torch.zeros(n * h)
    with torch.no_grad():
        for chunk in torch.arange(n * h).split(8192):
            embedding = net.embed_condition(make_condition(points[chunk].float(), mask[chunk]))
            for _ in range(draws):
                noisy = alpha * x0[chunk] + sigma * torch.randn(
                    x0[chunk].shape, generator=generator
                )
                denoised = net.denoise(noisy, t, embedding)
                error[chunk] += ((denoised - x0[chunk]) ** 2).mean(-1) / draws
    return error.numpy().reshape(n, h).mean(1)


def features(model, path, max_frames):
    """Joint errors and raw spreads (N, 16, root excluded) and per-person features (N,)."""
    sample = _load_frames(path, max_frames)
    settings = LiftSettings(num_hypotheses=20, confidence_threshold=1e-6, calibrated_spread=False)
    lifter = _eval_lifter(model, "torch", 4, "ddim", BackendSpec.onnxruntime_precision, settings)
    out = _lift_frames(lifter, sample, 0)
    poses, spread, hypotheses, weights, model_poses, observed = (
        np.concatenate([getattr(o, k) for o in out])
        for k in ("poses", "joint_std", "hypotheses", "weights", "model_poses", "observed")
    )
    xy = pixels_to_normalized(sample["keypoints_2d"], sample["intrinsics"])
    projected = hypotheses[..., :2] / hypotheses[..., 2:3]
    size = np.sqrt(((xy - xy.mean(1, keepdims=True)) ** 2).sum(-1).mean(-1))
    residual = np.linalg.norm(projected - xy[:, None], axis=-1)  # (N, H, 17)
    return {
        "error": joint_errors(poses, sample["poses_3d"])[:, 1:],
        "spread": spread[:, 1:],
        "features": {
            "mean spread": spread[:, 1:].mean(1),
            "reprojection residual / 2D size": (weights[..., None] * residual).sum(1).mean(-1)
            / size,
            "weights' entropy": -(weights * np.log(weights + 1e-12)).sum(1),
            "prior's denoising error": prior_denoising_error(
                load_network(model).eval(), hypotheses, poses, model_poses, xy, observed
            ),
        },
    }


def ratio(run, keep):
    return run["error"][keep].mean() / run["spread"][keep].mean() if keep.any() else np.nan


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-frames", type=int, default=3000)
    args = p.parse_args()
    for name, (key, in_domain, left_out) in SETS.items():
        model = MODELS.format(key)
        runs = {
            "in-domain": features(model, in_domain, args.max_frames),
            "left out": features(model, f"outputs/model_card/{left_out}", args.max_frames),
        }
        print(f"\n{name} left out ({model}); error / spread over all frames: ", end="")
        print(
            ", ".join(
                f"{k} {ratio(r, np.ones(len(r['error']), bool)):.2f}" for k, r in runs.items()
            )
        )
        for feature in runs["in-domain"]["features"]:
            edges = np.quantile(runs["in-domain"]["features"][feature], np.linspace(0, 1, 11))
            edges[0], edges[-1] = -np.inf, np.inf
            print(f"| {feature}: decile | " + " | ".join(str(i) for i in range(1, 11)) + " |")
            print("|---" * 11 + "|")
            for label, run in runs.items():
                bins = np.digitize(run["features"][feature], edges[1:-1])
                cells = [
                    f"{(bins == i).mean():.2f}: {ratio(run, bins == i):.2f}" for i in range(10)
                ]
                print(f"| {label} (share: error / spread) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
