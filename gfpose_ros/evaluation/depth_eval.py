"""``gfpose eval-depth``: how much an aligned depth image improves the absolute position.

Held-out motion capture (at each person's own size) is seen by random RGB-D cameras (640x480,
focal 380-620 px, as RealSense / Azure Kinect colour-aligned depth) at 1-8 m, equally many views
per distance bin. Each view's depth is rendered (depth_render: capsule body in front of a floor
and a wall, sensor noise, flying pixels, holes) and every view is lifted without and with depth
from the same noise, so the difference is the depth alone. Two harder cases reuse the views: an
occluder (a board 0.3-1.2 m in front of the lower body, the torso or one side, with the 2D still
reporting the joints behind it) and a sensor with 30% holes and large missing blobs.
"""

import dataclasses
import re
import time
from collections import Counter

import numpy as np
import torch

from ..training import data
from ..depth_fusion import DEPTH, TORSO_JOINTS
from .depth_render import (
    SensorModel,
    occluder_over,
    room_planes,
    scene_depth,
    sensor_effects,
    with_occluder,
)
from .evaluate import MIN_VISIBLE, heldout_world_poses, joint_errors
from ..lifter import Lifter
from ..settings import BackendSpec, LiftSettings
from ..skeleton import NUM_JOINTS

DISTANCE_BINS = ((1.0, 2.0), (2.0, 3.0), (3.0, 5.0), (5.0, 8.0))  # metres, the root's depth
IMAGE_SIZE = (640, 480)
FOCAL_RANGE = (380.0, 620.0)
SENSOR = SensorModel()
HOLEY_SENSOR = SensorModel(hole_fraction=0.3, hole_blobs=12, blob_radius=(5, 30))
OCCLUDED_PARTS = {
    "lower body": (0, 1, 2, 3, 4, 5, 6),
    "torso": TORSO_JOINTS,
    "left side": (4, 5, 6, 11, 12, 13),
    "right side": (1, 2, 3, 14, 15, 16),
}
CASES = ("sensor", "occluder", "holes")
GOAL_MM, GOAL_DISTANCE = 60.0, 5.0


def rgbd_views(world, seed):
    """Each world pose (n, 17, 3) seen by a random RGB-D camera, the distance range cycling through
    DISTANCE_BINS. Returns camera-frame poses, 2D, confidences, K, the world's up in the camera
    frame, and which views keep at least MIN_VISIBLE joints in the image."""
    generator = torch.Generator().manual_seed(seed)
    world = torch.from_numpy(np.asarray(world)).double()
    base = dataclasses.replace(
        data.evaluation_view(),
        focal_range=FOCAL_RANGE,
        image_sizes=(IMAGE_SIZE,),
        pitch_deg=15.0,
        off_centre=0.15,
        principal_jitter=0.01,
    )
    which = np.arange(len(world)) % len(DISTANCE_BINS)
    parts = []
    for b, distance in enumerate(DISTANCE_BINS):
        sel = torch.from_numpy(np.flatnonzero(which == b))
        cfg = dataclasses.replace(base, distance_range=distance)
        camera = data.random_cameras(world[sel][:, 0], cfg, generator)
        view = data.observe(world[sel], cfg, generator, camera=camera)
        parts.append(
            {
                "pose": view["pose_cam"].numpy(),
                "uv": view["uv"].numpy(),
                "confidence": view["confidence"].numpy(),
                "K": view["K"].numpy(),
                "up": camera[0][:, :, 2].numpy(),
            }
        )
    views = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = (views["confidence"] > 0).sum(1) >= MIN_VISIBLE
    return {k: v[keep] for k, v in views.items()}


def render_cases(pose, K, up, seed):
    """The view's depth image for each of CASES, deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    girth = rng.uniform(0.85, 1.2)  # the body's build differs from the fusion's average capsules
    planes = room_planes(pose, up, wall_behind=rng.uniform(0.5, 3.0))
    clean = scene_depth(pose, K, IMAGE_SIZE, planes, girth=girth)
    part = list(OCCLUDED_PARTS)[rng.integers(len(OCCLUDED_PARTS))]
    joints = OCCLUDED_PARTS[part]
    gap = max(
        min(rng.uniform(0.3, 1.2), pose[list(joints), 2].min() - 0.35), 0.05
    )  # a board no nearer than 0.35 m
    occluder = occluder_over(pose, K, joints, gap, margin=0.05)
    return {
        "sensor": sensor_effects(clean, SENSOR, rng),
        "occluder": sensor_effects(with_occluder(clean, occluder), SENSOR, rng),
        "holes": sensor_effects(clean, HOLEY_SENSOR, rng),
    }, part


def position_metrics(pred, gt):
    """Root error (median, mean), absolute and root-relative MPJPE in mm, camera frame."""
    root = np.linalg.norm(pred[:, 0] - gt[:, 0], axis=-1) * 1000
    return {
        "root_median_mm": float(np.median(root)),
        "root_mean_mm": float(root.mean()),
        "abs_mpjpe_mm": float(np.linalg.norm(pred - gt, axis=-1).mean() * 1000),
        "rel_mpjpe_mm": float(joint_errors(pred, gt).mean() * 1000),
    }


def case_row(mono, fused, used, gt):
    """Metrics of one group of views, without and with depth."""
    took_error = np.linalg.norm(fused[used, 0] - gt[used, 0], axis=-1) * 1000
    return {
        "views": len(gt),
        "monocular": position_metrics(mono, gt),
        "depth": position_metrics(fused, gt),
        "fallback_rate": float(1 - used.mean()),
        # Where depth was used: how well, and how often it was wrong (an occluder taken for the
        # body).
        "used_root_median_mm": float(np.median(took_error)) if used.any() else None,
        "used_root_over_150mm": float((took_error > 150).mean()) if used.any() else None,
    }


def reason_kind(reason):
    return re.sub(r"\d+(\.\d+)?", "#", reason)


def evaluate_depth(
    views=300,
    hypotheses=20,
    steps=4,
    seed=0,
    config_path=None,
    source_names=None,
    model_path=None,
    backend="torch",
    threads=1,
    log=print,
):
    if views < len(DISTANCE_BINS):
        raise ValueError(
            f"views must be >= {len(DISTANCE_BINS)} (one per distance bin), got {views}"
        )
    if hypotheses < 1 or steps < 1 or threads < 0:
        raise ValueError(
            f"hypotheses and steps must be >= 1 and threads >= 0, got {hypotheses}, {steps}, "
            f"{threads}"
        )
    if threads:
        torch.set_num_threads(threads)
    world, _ = heldout_world_poses(config_path, source_names, "val", frames_per_sequence=4)
    world = world[np.linspace(0, len(world) - 1, min(views, len(world))).astype(int)]
    sample = rgbd_views(world, seed)
    n = len(sample["pose"])
    lifter = Lifter(
        BackendSpec(
            model_path=model_path or "",
            backend=backend,
            steps=steps,
            num_threads=threads,
            max_batch=max(hypotheses * LiftSettings().max_people, 512),
        ),
        LiftSettings(num_hypotheses=hypotheses, confidence_threshold=1e-6),
    )
    noise = np.random.default_rng(seed).standard_normal((n, hypotheses, NUM_JOINTS * 3))
    mono = np.zeros((n, NUM_JOINTS, 3))
    fused = {case: np.zeros((n, NUM_JOINTS, 3)) for case in CASES}
    used = {case: np.zeros(n, dtype=bool) for case in CASES}
    reasons = {case: Counter() for case in CASES}
    parts = []
    seconds = {
        "monocular": [],
        "with depth": [],
    }  # Lifter.lift per view, the sensor case for depth
    for i in range(n):
        args = (sample["uv"][i : i + 1], sample["confidence"][i : i + 1], sample["K"][i])
        started = time.perf_counter()
        mono[i] = lifter.lift(*args, noise=noise[i : i + 1]).poses[0]
        seconds["monocular"].append(time.perf_counter() - started)
        images, part = render_cases(
            sample["pose"][i], sample["K"][i], sample["up"][i], seed=[seed, i]
        )
        parts.append(part)
        for case, image in images.items():
            started = time.perf_counter()
            result = lifter.lift(*args, noise=noise[i : i + 1], depth=image)
            if case == "sensor":
                seconds["with depth"].append(time.perf_counter() - started)
            fused[case][i] = result.poses[0]
            used[case][i] = result.position_source[0] == DEPTH
            reasons[case][reason_kind(result.depth_reason[0])] += 1
        if log and (i + 1) % 100 == 0:
            log(f"  {i + 1}/{n} views")
    gt = sample["pose"]
    depth_z = gt[:, 0, 2]
    # By the root's true depth; a view a little nearer or farther than the range joins the end bin.
    which = np.digitize(depth_z, [hi for _, hi in DISTANCE_BINS[:-1]])
    bins = {f"{lo:g}-{hi:g} m": which == b for b, (lo, hi) in enumerate(DISTANCE_BINS)}
    bins["all"] = np.ones(n, dtype=bool)
    results = {
        "views": n,
        "hypotheses": hypotheses,
        "steps": steps,
        "seed": seed,
        "image_size": IMAGE_SIZE,
        "focal_range": FOCAL_RANGE,
        "sensor": dataclasses.asdict(SENSOR),
        "holey_sensor": dataclasses.asdict(HOLEY_SENSOR),
        "occluded_parts": dict(Counter(parts)),
        "cases": {},
        "lift_ms_p50": {k: float(np.median(v) * 1000) for k, v in seconds.items()},
    }
    parts = np.array(parts)
    for case in CASES:
        groups = dict(bins)
        if case == "occluder":  # and by what the board hides
            groups.update({f"{part} hidden": parts == part for part in OCCLUDED_PARTS})
        results["cases"][case] = {
            "reasons": dict(reasons[case].most_common()),
            "bins": {
                label: case_row(mono[sel], fused[case][sel], used[case][sel], gt[sel])
                for label, sel in groups.items()
                if sel.any()
            },
        }
    near = depth_z < GOAL_DISTANCE
    root = np.linalg.norm(fused["sensor"][near, 0] - gt[near, 0], axis=-1) * 1000
    results["goal"] = {
        "median_root_error_mm_up_to_5m": float(np.median(root)),
        "bound_mm": GOAL_MM,
        "met": bool(np.median(root) <= GOAL_MM),
    }
    return results


def markdown_table(results):
    lines = [
        "| case | distance or group | views | root median mono / depth | root mean mono / depth | "
        "abs MPJPE mono / depth "
        "| rel MPJPE mono / depth | fallback | where depth used: root median, > 150 mm |",
        "|" + "---|" * 9,
    ]
    for case, content in results["cases"].items():
        labels = [
            label for label in content["bins"] if case == "sensor" or not label.endswith(" m")
        ]
        for label in labels:
            row = content["bins"][label]
            m, d = row["monocular"], row["depth"]
            cells = [
                f"{m[k]:.0f} / {d[k]:.0f}"
                for k in ("root_median_mm", "root_mean_mm", "abs_mpjpe_mm", "rel_mpjpe_mm")
            ]
            took = (
                "-"
                if row["used_root_median_mm"] is None
                else f"{row['used_root_median_mm']:.0f}, {row['used_root_over_150mm']:.0%}"
            )
            lines.append(
                f"| {case} | {label} | {row['views']} | "
                + " | ".join(cells)
                + f" | {row['fallback_rate']:.0%} "
                f"| {took} |"
            )
    goal = results["goal"]
    lines += [
        "",
        f"Goal: median root error <= {goal['bound_mm']:.0f} mm up to 5 m with depth: "
        f"{goal['median_root_error_mm_up_to_5m']:.0f} mm ({'met' if goal['met'] else 'NOT met'}).",
        "Lifter.lift per view, p50 (1 person, this run's threads): "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in results["lift_ms_p50"].items()),
    ]
    for case, content in results["cases"].items():
        lines.append(f"{case}: " + "; ".join(f"{n} x {r}" for r, n in content["reasons"].items()))
    return "\n".join(lines)
