"""Evaluation on held-out motion capture, and the files it reads.

An evaluation file (.npz) holds ``poses_3d`` (N, 17, 3) mm in the camera frame, ``keypoints_2d``
(N, 17, 2) pixels, ``intrinsics`` (N, 3, 3) or (3, 3), optionally ``confidence`` (N, 17; 0 =
missing) and ``group`` (N,) labels. ``make_eval_set`` turns held-out mocap plus virtual cameras
into that format; ``evaluate`` lifts it and reports MPJPE, P-MPJPE, best-of-N, the error on
completed joints, the root error and the time per frame, for any steps x hypotheses grid.
"""

import dataclasses
import json
import time

import numpy as np
import torch

from ..training import data
from ..lifter import Lifter
from ..spread_calibration import fit_spread_scale
from ..settings import BackendSpec, LiftSettings
from ..skeleton import BODY_PARTS, JOINT_NAMES, NUM_JOINTS, PARENTS, bone_lengths
from ..training.sources import load_source


class EvalFileError(ValueError):
    pass


LIMB_BONES = [
    1,
    2,
    4,
    5,
    11,
    12,
    14,
    15,
]  # bone index = child joint - 1: thighs, shins, upper arms, forearms
OCCLUDABLE_PARTS = ("left_arm", "right_arm", "left_leg", "right_leg")
MIN_VISIBLE = 6


def eval_sources(config_path, source_names):
    from ..training.train import DEFAULT_CONFIG, all_sources, load_config

    config = load_config(config_path or DEFAULT_CONFIG)
    chosen = all_sources(config)
    if source_names:
        unknown = set(source_names) - {s.name for s in chosen}
        if unknown:
            raise ValueError(
                f"unknown sources {sorted(unknown)}; the config has "
                f"{', '.join(s.name for s in chosen)}"
            )
        chosen = [s for s in chosen if s.name in source_names]
    return config, chosen


def make_eval_set(
    config_path=None,
    source_names=None,
    split="val",
    frames_per_sequence=8,
    occlusion_prob=0.5,
    adult_proportions=False,
    seed=0,
    noise=0.01,
    outlier_prob=0.0,
):
    """Sequences of a training config's sources (its held-out split, or all of a left-out
    source) seen by random virtual cameras, some with one limb occluded.

    By default every body keeps its own size and proportions (the honest protocol); with
    ``adult_proportions`` the bones are rescaled to random adult statures, as in training.
    ``noise`` is the 2D jitter's std per axis as a fraction of the person's 2D box diagonal;
    ``outlier_prob``
    adds detector-like gross errors (15% of the size) to that share of joints.
    """
    generator = torch.Generator().manual_seed(seed)
    world, groups = heldout_world_poses(config_path, source_names, split, frames_per_sequence)
    world = torch.from_numpy(world).double()
    n = len(world)
    view_config = dataclasses.replace(
        data.evaluation_view(), noise_range=(noise, noise), outlier_prob=outlier_prob
    )
    if adult_proportions:
        world = data.rescale_bones(world, data._uniform(n, 1.5, 1.95, generator), 0.03, generator)
    view = data.observe(world, view_config, generator)
    confidence = view["confidence"].numpy()
    occlude = torch.rand(n, generator=generator).numpy() < occlusion_prob
    parts = torch.randint(len(OCCLUDABLE_PARTS), (n,), generator=generator).numpy()
    for i in np.flatnonzero(occlude):
        confidence[i, list(BODY_PARTS[OCCLUDABLE_PARTS[parts[i]]])] = 0.0
    keep = (confidence > 0).sum(1) >= MIN_VISIBLE
    return {
        "poses_3d": (view["pose_cam"].numpy() * 1000)[keep].astype(np.float32),
        "keypoints_2d": view["uv"].numpy()[keep].astype(np.float32),
        "intrinsics": view["K"].numpy()[keep].astype(np.float32),
        "confidence": confidence[keep].astype(np.float32),
        "group": np.array(groups)[keep],
    }


def heldout_world_poses(config_path=None, source_names=None, split="val", frames_per_sequence=8):
    """World poses (n, 17, 3) metres, z up, of a training config's held-out sequences (or all of
    a left-out source), ``frames_per_sequence`` evenly spaced frames each, with their activity
    labels."""
    config, chosen = eval_sources(config_path, source_names)
    poses, groups = [], []
    for source in chosen:
        for sequence, frames in load_source(source, split, config["data"]["harmonise_joints"]):
            idx = np.linspace(0, len(frames) - 1, min(frames_per_sequence, len(frames))).astype(
                int
            )
            poses.append(frames[idx])
            groups += [source.activity_of(sequence)] * len(idx)
    if not poses:
        raise ValueError(f"no {split} sequences in sources {', '.join(s.name for s in chosen)}")
    return np.concatenate(poses), groups


def make_demo_sequence(
    config_path=None,
    source_name="cmu",
    sequence="test/walking/walking_1",
    frames=150,
    seed=3,
    stature=1.75,
):
    """A consecutive held-out clip seen by one fixed camera, with the left arm occluded mid-clip.

    The capture rig's bones are rescaled to an adult of ``stature`` metres (the motion is
    untouched), because a monocular lifter can only place a person of the size it assumes.
    """
    generator = torch.Generator().manual_seed(seed)
    config, (source,) = eval_sources(config_path, [source_name])
    items = dict(load_source(source, "val", config["data"]["harmonise_joints"]))
    if sequence not in items:
        raise KeyError(f"{sequence} is not a held-out sequence of source {source_name}")
    world = torch.from_numpy(items[sequence][:frames]).double()
    world = data.rescale_bones(
        world, torch.full((len(world),), stature, dtype=world.dtype), 0.0, generator
    )
    cfg = data.AugmentConfig(
        noise_range=(0.005, 0.005),
        outlier_prob=0.0,
        drop_range=(0.0, 0.0),
        off_centre=0.0,
        distance_range=(5.0, 6.0),
        focal_range=(600.0, 600.0),
        pitch_deg=10.0,
    )
    camera = data.random_cameras(world[:, 0].mean(0, keepdim=True), cfg, generator)
    _, _, K, size = camera
    K[0, :2, 2] = size[0] / 2  # a calibrated camera: principal point at the centre
    view = data.observe(world, cfg, generator, camera=camera)
    confidence = view["confidence"].numpy()
    third = len(world) // 3
    confidence[third : 2 * third, list(BODY_PARTS["left_arm"])] = 0.0
    return {
        "keypoints_2d": view["uv"].numpy().astype(np.float32),
        "confidence": confidence.astype(np.float32),
        "poses_3d": (view["pose_cam"].numpy() * 1000).astype(np.float32),
        "intrinsics": K[0].numpy().astype(np.float32),
        "image_size": size[0].numpy().astype(np.int32),
        "frame_rate": np.float32(30.0),
        "sequence": np.array(f"{source_name}:{sequence}"),
    }


def load_eval_file(path):
    """Read and check an evaluation file; every problem is an EvalFileError with one line."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise EvalFileError(f"cannot read {path}: {exc}") from None
    for key in ("poses_3d", "keypoints_2d", "intrinsics"):
        if key not in archive.files:
            raise EvalFileError(f"{path} lacks the array {key!r}")
    poses, uv, K = (
        archive["poses_3d"].astype(np.float64),
        archive["keypoints_2d"].astype(np.float64),
        archive["intrinsics"],
    )
    n = len(poses)
    if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3):
        raise EvalFileError(f"poses_3d must be (N, 17, 3), got {poses.shape}")
    if uv.shape != (n, NUM_JOINTS, 2):
        raise EvalFileError(f"keypoints_2d must be ({n}, 17, 2), got {uv.shape}")
    K = np.broadcast_to(K, (n, 3, 3)) if K.shape == (3, 3) else K
    if K.shape != (n, 3, 3):
        raise EvalFileError(f"intrinsics must be (3, 3) or ({n}, 3, 3), got {K.shape}")
    confidence = (
        archive["confidence"] if "confidence" in archive.files else np.ones((n, NUM_JOINTS))
    )
    if confidence.shape != (n, NUM_JOINTS):
        raise EvalFileError(f"confidence must be ({n}, 17), got {confidence.shape}")
    if not (np.isfinite(poses).all() and np.isfinite(K).all() and np.isfinite(confidence).all()):
        raise EvalFileError(
            "poses_3d, intrinsics and confidence must be finite (NaN or inf found)"
        )
    if not np.isfinite(uv[confidence > 0]).all():
        raise EvalFileError("keypoints_2d has NaN or inf on joints with confidence > 0")
    group = archive["group"].astype(str) if "group" in archive.files else np.full(n, "all")
    if group.shape != (n,):
        raise EvalFileError(f"group must be ({n},), got {group.shape}")
    return {
        "poses_3d": poses / 1000.0,
        "keypoints_2d": uv,
        "intrinsics": K.astype(np.float64),
        "confidence": confidence.astype(np.float64),
        "group": group,
    }


def procrustes_aligned(pred, gt):
    """Similarity-align pred (..., J, 3) to gt: rotation, uniform scale and translation."""
    mu_p, mu_g = pred.mean(-2, keepdims=True), gt.mean(-2, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    U, S, Vt = np.linalg.svd(np.swapaxes(p, -1, -2) @ g)
    d = np.sign(np.linalg.det(U @ Vt))
    U[..., :, -1] *= d[..., None]
    S[..., -1] *= d
    R = U @ Vt
    scale = S.sum(-1) / (p**2).sum((-1, -2))
    return scale[..., None, None] * p @ R + mu_g


def joint_offsets(pred, gt):
    """Root-relative per-joint error vectors (..., 17, 3) in the camera frame (z = depth)."""
    return (pred - pred[..., :1, :]) - (gt - gt[..., :1, :])


def ray_components(poses, rays_from):
    """|bone . ray| and |bone x ray| (..., 16) of each bone of ``poses`` (..., 17, 3), camera
    frame: along and across the camera ray through the bone's midpoint in ``rays_from`` (the
    ground truth, so prediction and truth are split on the same rays)."""
    bones = poses[..., 1:, :] - poses[..., PARENTS[1:], :]
    middle = 0.5 * (rays_from[..., 1:, :] + rays_from[..., PARENTS[1:], :])
    ray = middle / np.linalg.norm(middle, axis=-1, keepdims=True)
    along = (bones * ray).sum(-1)
    across = np.linalg.norm(bones - along[..., None] * ray, axis=-1)
    return np.abs(along), across


def body_metrics(poses, gt, error, spread):
    """Size, flattening and calibration of the spread, over the frames given:

    - limb_length_ratio: median predicted / true length of thighs, shins, upper and forearms;
    - bone_along_ray_ratio and bone_across_ray_ratio: predicted / true bone components along and
      across the camera ray (summed over bones and frames); along < across means limbs
      flattened toward the image plane (the depth ambiguity averaged away);
    - error_to_spread_ratio: mean joint error / mean published spread (joint_std), 1 when the
      spread is calibrated; within_two_spread: the share of joints whose error is at most twice
      their spread (0.99 for a calibrated isotropic Gaussian spread)."""
    along, across = ray_components(poses, gt)
    gt_along, gt_across = ray_components(gt, gt)
    return {
        "limb_length_ratio": float(
            np.median(bone_lengths(poses)[:, LIMB_BONES] / bone_lengths(gt)[:, LIMB_BONES])
        ),
        "bone_along_ray_ratio": float(along.sum() / gt_along.sum()),
        "bone_across_ray_ratio": float(across.sum() / gt_across.sum()),
        **spread_metrics(error, spread),
    }


def spread_metrics(error, spread):
    """The spread's calibration over joint errors and published spreads (N, 17):
    error_to_spread_ratio and within_two_spread (see body_metrics), None for one hypothesis
    (no spread to calibrate)."""
    joints = error[:, 1:], spread[:, 1:]  # the root's spread and error are 0 by construction
    if not joints[1].mean() > 1e-9:
        return {"error_to_spread_ratio": None, "within_two_spread": None}
    return {
        "error_to_spread_ratio": float(joints[0].mean() / joints[1].mean()),
        "within_two_spread": float((joints[0] <= 2 * joints[1]).mean()),
    }


def joint_errors(pred, gt):
    """Root-relative per-joint errors (..., 17), same unit as the input."""
    return np.linalg.norm(joint_offsets(pred, gt), axis=-1)


def evaluate(
    path,
    model_path=None,
    backend="torch",
    steps_list=(4,),
    hypotheses_list=(1, 10),
    aggregation="reprojection",
    max_frames=0,
    seed=0,
    sampler="ddim",
    log=print,
    keypoint_noise=None,
    population_size=True,
    fit_2d=True,
    calibrated_spread=True,
    onnxruntime_precision=BackendSpec.onnxruntime_precision,
):
    sample = _load_frames(path, max_frames)
    n = len(sample["poses_3d"])
    results = {
        "file": path,
        "frames": n,
        "backend": backend,
        "sampler": sampler,
        "aggregation": aggregation,
        "population_size": population_size,
        "fit_2d": fit_2d,
        "calibrated_spread": calibrated_spread,
        "onnxruntime_precision": onnxruntime_precision,
        "runs": [],
    }
    for steps in steps_list:
        for h in hypotheses_list:
            lifter = _eval_lifter(
                model_path,
                backend,
                steps,
                sampler,
                onnxruntime_precision,
                LiftSettings(
                    num_hypotheses=h,
                    aggregation=aggregation,
                    confidence_threshold=1e-6,
                    population_size=population_size,
                    fit_2d=fit_2d,
                    calibrated_spread=calibrated_spread,
                    **({} if keypoint_noise is None else {"keypoint_noise": keypoint_noise}),
                ),
            )
            started = time.perf_counter()
            outputs = _lift_frames(lifter, sample, seed)
            elapsed = time.perf_counter() - started
            run = summarize(outputs, sample, steps, h, elapsed)
            results["runs"].append(run)
            log(format_row(run))
    return results


def _load_frames(path, max_frames=0):
    sample = load_eval_file(path)
    if max_frames and max_frames < len(sample["poses_3d"]):
        # Evenly spaced, so a subset still covers every held-out source and activity.
        keep = np.linspace(0, len(sample["poses_3d"]) - 1, max_frames).astype(int)
        sample = {k: v[keep] for k, v in sample.items()}
    return sample


def _eval_lifter(model_path, backend, steps, sampler, onnxruntime_precision, settings):
    return Lifter(
        BackendSpec(
            model_path=model_path or "",
            backend=backend,
            steps=steps,
            sampler=sampler,
            onnxruntime_precision=onnxruntime_precision,
            num_threads=0,
            max_batch=max(settings.num_hypotheses * settings.max_people, 4096),
        ),
        settings,
    )


def _lift_frames(lifter, sample, seed):
    """Every frame of ``sample`` through ``lifter.lift``, in chunks, with noise from ``seed``."""
    h = lifter.settings.num_hypotheses
    rng = np.random.default_rng(seed)
    chunk, n = max(1, 4096 // h), len(sample["poses_3d"])
    outputs = []
    for i in range(0, n, chunk):
        sl = slice(i, i + chunk)
        noise = rng.standard_normal((len(sample["poses_3d"][sl]), h, NUM_JOINTS * 3))
        outputs.append(
            lifter.lift(
                sample["keypoints_2d"][sl],
                sample["confidence"][sl],
                sample["intrinsics"][sl],
                noise=noise,
            )
        )
    return outputs


def fit_spread_calibration(path, model_path=None, backend="auto", steps=4, hypotheses=20, seed=0):
    """Per-joint spread factors of ``model_path`` fitted on the evaluation set ``path`` (the
    node's default settings, the raw spread): spread_calibration.fit_spread_scale of the
    root-relative joint errors and the published spreads."""
    sample = _load_frames(path)
    lifter = _eval_lifter(
        model_path,
        backend,
        steps,
        "ddim",
        BackendSpec.onnxruntime_precision,
        LiftSettings(
            num_hypotheses=hypotheses, confidence_threshold=1e-6, calibrated_spread=False
        ),
    )
    outputs = _lift_frames(lifter, sample, seed)
    poses = np.concatenate([o.poses for o in outputs])
    spreads = np.concatenate([o.joint_std for o in outputs])
    return fit_spread_scale(joint_errors(poses, sample["poses_3d"]), spreads)


def summarize(outputs, sample, steps, h, elapsed):
    gt = sample["poses_3d"]
    poses = np.concatenate([o.poses for o in outputs])
    hyps = np.concatenate([o.hypotheses for o in outputs])
    observed = np.concatenate([o.observed for o in outputs])
    spread = np.concatenate([o.joint_std for o in outputs])
    offsets = joint_offsets(poses, gt) * 1000
    err = np.linalg.norm(offsets, axis=-1)
    depth = np.abs(offsets[..., 2])
    pa = np.linalg.norm(procrustes_aligned(poses, gt) - gt, axis=-1) * 1000
    hyp_err = joint_errors(hyps, gt[:, None]).mean(-1) * 1000  # (N, H)
    hyp_pa = (
        np.linalg.norm(
            procrustes_aligned(hyps, np.broadcast_to(gt[:, None], hyps.shape)) - gt[:, None],
            axis=-1,
        ).mean(-1)
        * 1000
    )
    masked = ~observed
    run = {
        "steps": steps,
        "hypotheses": h,
        "mpjpe_mm": float(err.mean()),
        "pmpjpe_mm": float(pa.mean()),
        # The error's components in the camera frame: along the viewing axis (depth) and across it.
        "depth_error_mm": float(depth[:, 1:].mean()),
        "lateral_error_mm": float(np.linalg.norm(offsets[..., 1:, :2], axis=-1).mean()),
        "best_of_n_mpjpe_mm": float(hyp_err.min(1).mean()),
        "best_of_n_pmpjpe_mm": float(hyp_pa.min(1).mean()),
        "completed_joint_error_mm": float(err[masked].mean()) if masked.any() else None,
        "observed_joint_error_mm": float(err[observed].mean()),
        "completed_joint_spread_mm": float(spread[masked].mean() * 1000) if masked.any() else None,
        "observed_joint_spread_mm": float(spread[observed].mean() * 1000),
        "root_error_mm": float(np.linalg.norm(poses[:, 0] - gt[:, 0], axis=-1).mean() * 1000),
        **body_metrics(poses, gt, err / 1000, spread),
        "ms_per_frame": 1000 * elapsed / len(gt),
    }
    # Per group (activity), and per source: the group label's prefix before the first "_".
    source = np.array([g.split("_")[0] for g in sample["group"]])
    for key, labels in (("groups", sample["group"]), ("sources", source)):
        run[key] = {}
        for label in np.unique(labels):
            sel = labels == label
            run[key][str(label)] = {
                "frames": int(sel.sum()),
                "mpjpe_mm": float(err[sel].mean()),
                "pmpjpe_mm": float(pa[sel].mean()),
                "depth_error_mm": float(depth[sel, 1:].mean()),
                **body_metrics(poses[sel], gt[sel], err[sel] / 1000, spread[sel]),
            }
    run["joints"] = {
        name: {
            "mpjpe_mm": float(err[:, j].mean()),
            "depth_error_mm": float(depth[:, j].mean()),
            "observed_mpjpe_mm": float(err[observed[:, j], j].mean())
            if observed[:, j].any()
            else None,
            "error_to_spread_ratio": float(err[:, j].mean() / 1000 / spread[:, j].mean())
            if spread[:, j].mean() > 1e-9
            else None,
        }
        for j, name in enumerate(JOINT_NAMES)
        if j > 0
    }
    return run


HEADER = (
    "steps",
    "hyps",
    "MPJPE",
    "P-MPJPE",
    "depth",
    "best-N",
    "best-N PA",
    "completed",
    "spread obs/compl",
    "root",
    "ms/frame",
)


def format_row(run):
    completed = (
        "-"
        if run["completed_joint_error_mm"] is None
        else f"{run['completed_joint_error_mm']:.1f}"
    )
    spread = f"{run['observed_joint_spread_mm']:.0f}/" + (
        "-"
        if run["completed_joint_spread_mm"] is None
        else f"{run['completed_joint_spread_mm']:.0f}"
    )
    return (
        f"{run['steps']:>5} {run['hypotheses']:>5} {run['mpjpe_mm']:7.1f} {run['pmpjpe_mm']:7.1f} "
        f"{run['depth_error_mm']:7.1f} "
        f"{run['best_of_n_mpjpe_mm']:7.1f} {run['best_of_n_pmpjpe_mm']:9.1f} {completed:>9} "
        f"{spread:>16} "
        f"{run['root_error_mm']:6.0f} {run['ms_per_frame']:8.2f}"
    )


def markdown_table(results):
    """The runs as a Markdown table, for the model card."""
    lines = [
        "| sampler | steps | hypotheses | MPJPE | P-MPJPE | depth error | best-of-N MPJPE | "
        "best-of-N P-MPJPE "
        "| completed joints | spread observed / completed | root | ms per frame |",
        "|" + "---|" * 12,
    ]
    for r in results["runs"]:
        completed = (
            "-"
            if r["completed_joint_error_mm"] is None
            else f"{r['completed_joint_error_mm']:.1f}"
        )
        spread_c = (
            "-"
            if r["completed_joint_spread_mm"] is None
            else f"{r['completed_joint_spread_mm']:.0f}"
        )
        lines.append(
            f"| {results['sampler']} | {r['steps']} | {r['hypotheses']} | {r['mpjpe_mm']:.1f} | "
            f"{r['pmpjpe_mm']:.1f} | {r['depth_error_mm']:.1f} | {r['best_of_n_mpjpe_mm']:.1f} | "
            f"{r['best_of_n_pmpjpe_mm']:.1f} | "
            f"{completed} | {r['observed_joint_spread_mm']:.0f} / {spread_c} | "
            f"{r['root_error_mm']:.0f} | "
            f"{r['ms_per_frame']:.2f} |"
        )
    return "\n".join(lines)


def operating_point(runs):
    """The run the breakdowns describe: the lifter's default steps with the most hypotheses, else
    the last."""
    default_steps = BackendSpec().steps
    candidates = [r for r in runs if r["steps"] == default_steps] or runs[-1:]
    return max(candidates, key=lambda r: r["hypotheses"])


def breakdown_tables(run):
    """Per source, activity and joint, with the depth component, as Markdown (for the model card).
    The mean over sources weighs each source alike, however many views it has."""
    sources = run["sources"]
    lines = [
        f"Per source ({run['steps']} steps x {run['hypotheses']} hypotheses):",
        "",
        "| source | views | MPJPE | P-MPJPE | depth error | limb length ratio | bone along / "
        "across the ray | error / spread | within 2 spreads |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, v in sorted(sources.items(), key=lambda kv: -kv[1]["mpjpe_mm"]):
        lines.append(
            f"| {label} | {v['frames']} | {v['mpjpe_mm']:.1f} | {v['pmpjpe_mm']:.1f} | "
            f"{v['depth_error_mm']:.1f} | {v['limb_length_ratio']:.3f} | "
            f"{v['bone_along_ray_ratio']:.2f} / {v['bone_across_ray_ratio']:.2f} | "
            f"{_ratio(v['error_to_spread_ratio'])} | {_share(v['within_two_spread'])} |"
        )
    lines.append(
        "| **mean over sources** | {} | {:.1f} | {:.1f} | {:.1f} |".format(
            sum(v["frames"] for v in sources.values()),
            *(
                np.mean([v[k] for v in sources.values()])
                for k in ("mpjpe_mm", "pmpjpe_mm", "depth_error_mm")
            ),
        )
    )
    lines += [
        "",
        f"Per activity ({run['steps']} steps x {run['hypotheses']} hypotheses, worst first):",
        "",
        "| activity | views | MPJPE | P-MPJPE | depth error |",
        "|---|---|---|---|---|",
    ]
    for label, v in sorted(run["groups"].items(), key=lambda kv: -kv[1]["mpjpe_mm"]):
        lines.append(
            f"| {label} | {v['frames']} | {v['mpjpe_mm']:.1f} | {v['pmpjpe_mm']:.1f} | "
            f"{v['depth_error_mm']:.1f} |"
        )
    lines += [
        "",
        "Per joint (root-relative; depth = along the camera's viewing axis):",
        "",
        "| joint | MPJPE | depth error | MPJPE where observed | error / spread |",
        "|---|---|---|---|---|",
    ]
    for name, v in run["joints"].items():
        observed = "-" if v["observed_mpjpe_mm"] is None else f"{v['observed_mpjpe_mm']:.1f}"
        lines.append(
            f"| {name} | {v['mpjpe_mm']:.1f} | {v['depth_error_mm']:.1f} | {observed} | "
            f"{_ratio(v['error_to_spread_ratio'])} |"
        )
    return "\n".join(lines)


def _ratio(value):
    return "-" if value is None else f"{value:.2f}"


def _share(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def write_results(results, out_path):
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
