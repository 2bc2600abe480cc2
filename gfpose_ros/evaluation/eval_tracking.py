"""Tracking and warm starts on held-out motion (``gfpose eval-tracking``).

A clip puts 2-3 held-out sequences of one source (at the source's stride: the cmu capture's
120 fps / 4 = 30 fps) side by side in front of one fixed virtual camera. Each body is turned so
that it travels along the camera's axis, and the bodies are spaced so that they never overlap
in the image. (The cmu sequences are root-centred: their people move in place, so only limbs
move in the image.) Every frame is lifted three ways:

- independent: every frame cold, the lifter's steps (the node without tracking);
- tracked: ids from PersonTracker (people in a shuffled order, no detector ids), people with a
  continuing track warm-started, one graph call per frame;
- tracked + One-Euro: the same, with the output joints smoothed per track.

Reported: MPJPE (root-relative), the absolute root error (all frames, and each clip's last
third, where a warm start that drifts shows), jitter as the mean per-joint acceleration error
against the ground truth (root-relative, mm/frame^2), ID switches, network evaluations per frame,
and the
per-frame latency: `gfpose bench` (its tracked rows).
"""

import json
import os

import numpy as np
import torch

from ..training import data
from .evaluate import eval_sources, joint_errors
from ..lifter import Lifter
from ..pipeline import FramePipeline
from ..selection import people_from_arrays
from ..settings import BackendSpec, LiftSettings
from ..skeleton import NUM_JOINTS
from ..training.sources import load_source
from ..tracking import DEFAULT_SMOOTHING

IMAGE_SIZE = (1280, 720)
FOCAL = 600.0
MARGIN = 40  # pixels kept free at the image border
MIN_DEPTH = 4.0  # metres from the camera to the nearest joint


def heldout_sequences(config_path, source_name, frames):
    """[(name, poses (T, 17, 3) metres, z up)] of the source's held-out split with >= frames
    frames."""
    config, (source,) = eval_sources(config_path, [source_name])
    items = [
        (name, poses)
        for name, poses in load_source(source, "val", config["data"]["harmonise_joints"])
        if len(poses) >= frames
    ]
    if not items:
        raise ValueError(f"no held-out sequence of source {source_name} has {frames} frames")
    return items


def along_view_axis(body, rng):
    """Turn a body (T, 17, 3) about the vertical so that it travels toward or away from the
    camera (world +-y), centred on x = y = 0: side by side, such bodies do not cross."""
    travel = body[-1, 0, :2] - body[0, 0, :2]
    angle = rng.choice([-0.5, 0.5]) * np.pi - np.arctan2(travel[1], travel[0])
    c, s = np.cos(angle), np.sin(angle)
    body = body @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T
    body[..., :2] -= body[:, 0, :2].mean(0)
    return body


def side_by_side(bodies, gap):
    """Shift the bodies along x so that their x extents over the clip are ``gap`` metres apart."""
    placed, right = [], None
    for body in bodies:
        shift = 0.0 if right is None else right + gap - body[..., 0].min()
        placed.append(body + [shift, 0.0, 0.0])
        right = placed[-1][..., 0].max()
    centre = (placed[0][..., 0].min() + right) / 2
    return [body - [centre, 0.0, 0.0] for body in placed]


def fixed_camera(bodies):
    """A level camera at hip height looking along world +y, far enough back that every joint of
    the clip is at least MIN_DEPTH away and inside the image. Returns (R, C, K, size) as torch."""
    joints = np.concatenate([b.reshape(-1, 3) for b in bodies])
    height = np.mean([b[:, 0, 2].mean() for b in bodies])
    half_w, half_h = IMAGE_SIZE[0] / 2 - MARGIN, IMAGE_SIZE[1] / 2 - MARGIN
    depth = np.maximum.reduce(
        [
            np.full(len(joints), MIN_DEPTH),
            np.abs(joints[:, 0]) * FOCAL / half_w,
            np.abs(joints[:, 2] - height) * FOCAL / half_h,
        ]
    )
    centre = np.array([0.0, (joints[:, 1] - depth).min(), height])
    R = np.array(
        [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]
    )  # rows: right, down, forward
    K = np.array(
        [[FOCAL, 0.0, IMAGE_SIZE[0] / 2], [0.0, FOCAL, IMAGE_SIZE[1] / 2], [0.0, 0.0, 1.0]]
    )
    return tuple(
        torch.as_tensor(a, dtype=torch.float64)[None]
        for a in (R, centre, K, np.array(IMAGE_SIZE, float))
    )


def _overlap_in_image(bodies, camera):
    """True if two neighbouring bodies' image x ranges overlap in any frame."""
    R, C = camera[0][0].numpy(), camera[1][0].numpy()
    ranges = []
    for body in bodies:
        cam = (body - C) @ R.T
        u = cam[..., 0] / cam[..., 2]
        ranges.append((u.min(1), u.max(1)))
    return any((ranges[k][1] >= ranges[k + 1][0]).any() for k in range(len(ranges) - 1))


def make_clip(sequences, frames, rng, noise, generator):
    """One clip: (name, poses) sequences -> dict of uv (F, P, 17, 2), confidence (F, P, 17),
    poses_3d (F, P, 17, 3) metres in the camera frame, intrinsics (3, 3), names."""
    bodies = []
    for _, poses in sequences:
        start = int(rng.integers(0, len(poses) - frames + 1))
        bodies.append(along_view_axis(poses[start : start + frames].astype(np.float64), rng))
    gap = 0.6
    for _ in range(20):  # perspective can bring far and near bodies together: widen until apart
        placed = side_by_side(bodies, gap)
        camera = fixed_camera(placed)
        if not _overlap_in_image(placed, camera):
            break
        gap += 0.4
    else:
        raise ValueError(f"cannot place {', '.join(n for n, _ in sequences)} apart in one image")
    cfg = data.AugmentConfig(noise_range=(noise, noise), outlier_prob=0.0, drop_range=(0.0, 0.0))
    world = torch.as_tensor(np.stack(placed, 1).reshape(-1, NUM_JOINTS, 3))  # frame-major
    view = data.observe(world, cfg, generator, camera=camera)
    shape = (frames, len(bodies), NUM_JOINTS)
    return {
        "uv": view["uv"].numpy().reshape(shape + (2,)),
        "confidence": view["confidence"].numpy().reshape(shape),
        "poses_3d": view["pose_cam"].numpy().reshape(shape + (3,)),
        "intrinsics": camera[2][0].numpy(),
        "names": [n for n, _ in sequences],
    }


def make_clips(
    config_path=None, source_name="cmu", clips=8, people=(3, 2), frames=90, noise=0.01, seed=0
):
    """``clips`` clips of ``frames`` frames; clip k has people[k % len(people)] held-out sequences,
    dealt from a shuffled list so that every sequence is used before any is used again."""
    if frames < 3:
        raise ValueError(f"frames must be >= 3 (acceleration needs three), got {frames}")
    if clips < 1 or min(people) < 1:
        raise ValueError("clips and people must be >= 1")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    items = heldout_sequences(config_path, source_name, frames)
    if max(people) > len(items):
        raise ValueError(
            f"{max(people)} people per clip, but only {len(items)} held-out sequences have "
            f"{frames} frames"
        )
    deck, result = [], []
    for k in range(clips):
        count = people[k % len(people)]
        if len(deck) < count:
            deck += list(rng.permutation(len(items)))
        chosen = []
        while len(chosen) < count:  # distinct sequences within a clip
            i = next(j for j in deck if j not in chosen)
            deck.remove(i)
            chosen.append(i)
        result.append(make_clip([items[i] for i in chosen], frames, rng, noise, generator))
    return result


def acceleration_error(pred, gt):
    """Mean per-joint error of the acceleration, (T, 17, 3) root-relative metres -> mm/frame^2."""

    def acceleration(x):
        x = x - x[:, :1]
        return x[2:] - 2 * x[1:-1] + x[:-2]

    return np.linalg.norm(acceleration(pred) - acceleration(gt), axis=-1).mean() * 1000


def lift_clip(pipeline, clip, rng, frame_rate, settings):
    """Lift every frame of a clip through the node's per-frame path with ``settings`` (a
    LiftSettings: tracking on or off) and a fresh tracker. Returns (poses (F, P, 17, 3), ids
    (F, P), network evaluations per frame (F,), warm-started people (F,))."""
    frames, people = clip["uv"].shape[:2]
    poses = np.zeros(clip["poses_3d"].shape)
    ids = np.full((frames, people), -1, dtype=object)
    evaluations, warm = np.zeros(frames), np.zeros(frames)
    pipeline.lifter.settings = settings
    pipeline.reset()
    spec = pipeline.lifter.spec
    for t in range(frames):
        # Tracked, the people come in a shuffled order: the tracker must not rely on it.
        order = rng.permutation(people) if settings.tracking else np.arange(people)
        frame = pipeline.lift_frame(
            people_from_arrays(clip["uv"][t, order], clip["confidence"][t, order]),
            clip["intrinsics"],
            stamp=t / frame_rate,
        )
        poses[t, order[frame.indices]] = frame.result.poses
        ids[t, order[frame.indices]] = frame.ids
        starts = [] if frame.tracks is None else frame.tracks.previous
        starts = [p is not None and settings.warm_start for p in starts]
        evaluations[t] = spec.warm_steps if any(starts) else spec.steps
        warm[t] = sum(starts)
    return poses, ids, evaluations, warm


def id_switches(ids):
    """Frames where a ground-truth person's id differs from its id in the frame before."""
    return int((ids[1:] != ids[:-1]).sum())


def evaluate_tracking(
    config_path=None,
    source_name="cmu",
    clips=8,
    people=(3, 2),
    frames=90,
    noise=0.01,
    model_path=None,
    backend="onnxruntime",
    threads=1,
    steps=4,
    hypotheses=20,
    warm_steps=BackendSpec().warm_steps,
    t_start=BackendSpec().warm_t_start,
    smoothing=None,
    frame_rate=30.0,
    seed=0,
    log=print,
):
    smoothing = dict(DEFAULT_SMOOTHING if smoothing is None else smoothing)
    # Every argument is checked before the model loads, so a bad one fails in a second.
    spec = BackendSpec(
        model_path=model_path or "",
        backend=backend,
        steps=steps,
        num_threads=threads,
        warm_steps=warm_steps,
        warm_t_start=t_start,
        max_batch=max(512, 3 * hypotheses),
    )
    if warm_steps > steps:
        raise ValueError(
            f"warm_steps {warm_steps} > steps {steps}: the tracked run would be slower, not equal"
        )
    independent = LiftSettings(num_hypotheses=hypotheses, tracking=False, max_people=max(people))
    independent = independent.check_batch(spec.max_batch)
    modes = {
        "independent": independent,
        "tracked": independent.replace(tracking=True),
        "tracked + One-Euro": independent.replace(tracking=True, smooth_poses=True),
    }
    scenes = make_clips(config_path, source_name, clips, people, frames, noise, seed)
    if threads:
        torch.set_num_threads(threads)
    pipeline = FramePipeline(Lifter(spec, independent, seed=seed), smoothing)
    lifter = pipeline.lifter
    log(
        f"{len(scenes)} clips x {frames} frames at {frame_rate:g} fps, "
        f"{sum(len(c['names']) for c in scenes)} "
        f"people; backend {lifter.backend.name}"
    )
    gt = [c["poses_3d"] for c in scenes]
    results = {
        "source": source_name,
        "frame_rate": frame_rate,
        "frames_per_clip": frames,
        "noise": noise,
        "backend": lifter.backend.name,
        "threads": threads,
        "steps": steps,
        "hypotheses": hypotheses,
        "warm_steps": warm_steps,
        "t_start": t_start,
        "smoothing": smoothing,
        "clips": [c["names"] for c in scenes],
        "ground_truth_acceleration_mm_per_frame2": float(
            np.mean(
                [
                    np.linalg.norm(np.diff(g - g[..., :1, :], 2, axis=0), axis=-1).mean() * 1000
                    for g in gt
                ]
            )
        ),
        "runs": [],
    }
    for mode, settings in modes.items():
        rng = np.random.default_rng(seed + 1)
        errors, accelerations, switches, evaluations, warm = [], [], 0, [], []
        root, root_late = (
            [],
            [],
        )  # absolute root error; in each clip's last third, where drift shows
        for clip, truth in zip(scenes, gt):
            poses, ids, evals, warm_people = lift_clip(pipeline, clip, rng, frame_rate, settings)
            errors.append(joint_errors(poses, truth).ravel())
            root_error = np.linalg.norm(poses[:, :, 0] - truth[:, :, 0], axis=-1)
            root.append(root_error.ravel())
            root_late.append(root_error[2 * len(root_error) // 3 :].ravel())
            accelerations += [
                acceleration_error(poses[:, p], truth[:, p]) for p in range(poses.shape[1])
            ]
            switches += id_switches(ids) if settings.tracking else 0
            evaluations.append(evals)
            warm.append(warm_people / poses.shape[1])
        run = {
            "mode": mode,
            "mpjpe_mm": float(np.concatenate(errors).mean() * 1000),
            "root_error_mm": float(np.concatenate(root).mean() * 1000),
            "root_error_last_third_mm": float(np.concatenate(root_late).mean() * 1000),
            "acceleration_error_mm_per_frame2": float(np.mean(accelerations)),
            "id_switches": switches if settings.tracking else None,
            "network_evaluations_per_frame": float(np.concatenate(evaluations).mean()),
            "warm_started_share": float(np.concatenate(warm).mean()),
        }
        results["runs"].append(run)
        log(format_row(run))
    return results


def format_row(run):
    switches = "-" if run["id_switches"] is None else str(run["id_switches"])
    return (
        f"{run['mode']:<20} MPJPE {run['mpjpe_mm']:6.1f} mm  root {run['root_error_mm']:5.0f} mm "
        f"(last third {run['root_error_last_third_mm']:5.0f})  jitter "
        f"{run['acceleration_error_mm_per_frame2']:6.2f} "
        f"mm/frame^2  ID switches {switches:>3}  evaluations/frame "
        f"{run['network_evaluations_per_frame']:.2f}  "
        f"warm {100 * run['warm_started_share']:.0f}%"
    )


def markdown_table(results):
    lines = [
        "| lifting | MPJPE (mm) | root error (mm): all / last third | jitter: acceleration error "
        "(mm/frame²) "
        "| ID switches | network evaluations per frame | warm-started |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        switches = "-" if r["id_switches"] is None else r["id_switches"]
        lines.append(
            f"| {r['mode']} | {r['mpjpe_mm']:.1f} | {r['root_error_mm']:.0f} / "
            f"{r['root_error_last_third_mm']:.0f} "
            f"| {r['acceleration_error_mm_per_frame2']:.2f} | {switches} | "
            f"{r['network_evaluations_per_frame']:.2f} | {100 * r['warm_started_share']:.0f}% |"
        )
    return "\n".join(lines)


def write_results(results, out_path):
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.splitext(out_path)[0] + ".md", "w") as f:
        f.write(markdown_table(results) + "\n")
