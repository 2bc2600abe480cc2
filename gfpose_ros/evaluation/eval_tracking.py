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
from .evaluate import eval_sources, joint_errors, spread_metrics
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


# Which of a source's sequences the clips are cut from: its held-out split, or all of it (for a
# model that left the source out whole, every sequence is unseen, and its held-out split alone
# can be one actor's, harder or easier than the source).
SEQUENCE_SPLITS = {"heldout": ("val",), "all": ("train", "val")}


def source_sequences(config_path, source_name, frames, sequences="heldout"):
    """[(name, poses (T, 17, 3) metres, z up)] of the source's held-out split (``sequences``
    'heldout') or of all its sequences ('all'), those with >= frames frames."""
    if sequences not in SEQUENCE_SPLITS:
        raise ValueError(f"sequences must be one of {sorted(SEQUENCE_SPLITS)}, got {sequences!r}")
    config, (source,) = eval_sources(config_path, [source_name])
    items = [
        (name, poses)
        for split in SEQUENCE_SPLITS[sequences]
        for name, poses in load_source(source, split, config["data"]["harmonise_joints"])
        if len(poses) >= frames
    ]
    if not items:
        raise ValueError(f"no {sequences} sequence of source {source_name} has {frames} frames")
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
    config_path=None,
    source_name="cmu",
    clips=8,
    people=(3, 2),
    frames=90,
    noise=0.01,
    seed=0,
    sequences="heldout",
):
    """``clips`` clips of ``frames`` frames; clip k has people[k % len(people)] sequences (of the
    split ``sequences`` names, see source_sequences), dealt from a shuffled list so that every
    sequence is used before any is used again."""
    if frames < 3:
        raise ValueError(f"frames must be >= 3 (acceleration needs three), got {frames}")
    if clips < 1 or min(people) < 1:
        raise ValueError("clips and people must be >= 1")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    items = source_sequences(config_path, source_name, frames, sequences)
    if max(people) > len(items):
        raise ValueError(
            f"{max(people)} people per clip, but only {len(items)} {sequences} sequences have "
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


def facing_travel(body, direction):
    """Turn a root-centred body (T, 17, 3) about the vertical to face ``direction`` (2,)."""
    left = body[:, 4, :2].mean(0) - body[:, 1, :2].mean(0)  # right hip -> left hip
    facing = np.array([left[1], -left[0]])  # left x up
    angle = np.arctan2(direction[1], direction[0]) - np.arctan2(facing[1], facing[0])
    c, s = np.cos(angle), np.sin(angle)
    return body @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T


def make_walking_clip(sequences, frames, rng, noise, generator, frame_rate=30.0, occlude=False):
    """People walking across the view at 0.8-1.6 m/s, at different distances, in alternating
    directions so that they cross in the image (the captured bodies move in place: their root
    moves on a straight line added here). A person behind another loses the joints that fall in
    the nearer one's 2D box; with ``occlude`` one person is hidden whole for 3-15 frames (at
    most track_max_age). Returns make_clip's dict plus ``seen`` (F, P) bool (the person is
    sent to the lifter) and ``hidden`` [(person, first, last)] of the whole occlusions."""
    people = len(sequences)
    t = np.arange(frames) / frame_rate
    bodies = []
    depths = 4.0 + 1.5 * rng.permutation(people) + rng.uniform(0.0, 0.5, people)
    for k, (_, poses) in enumerate(sequences):
        start = int(rng.integers(0, len(poses) - frames + 1))
        speed = rng.uniform(0.8, 1.6)
        direction = np.array([1.0 if k % 2 == 0 else -1.0, rng.uniform(-0.15, 0.15)])
        direction /= np.linalg.norm(direction)
        crossing = rng.uniform(0.35, 0.65) * t[-1]  # reaches the view's centre line then
        path = (t - crossing)[:, None] * speed * direction
        body = facing_travel(poses[start : start + frames].astype(np.float64), direction)
        body[..., :2] += path[:, None]
        body[..., 1] += depths[k]
        bodies.append(body)
    height = np.mean([b[:, 0, 2].mean() for b in bodies])
    R = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    K = np.array(
        [[FOCAL, 0.0, IMAGE_SIZE[0] / 2], [0.0, FOCAL, IMAGE_SIZE[1] / 2], [0.0, 0.0, 1.0]]
    )
    camera = tuple(
        torch.as_tensor(a, dtype=torch.float64)[None]
        for a in (R, np.array([0.0, 0.0, height]), K, np.array(IMAGE_SIZE, float))
    )
    cfg = data.AugmentConfig(noise_range=(noise, noise), outlier_prob=0.0, drop_range=(0.0, 0.0))
    world = torch.as_tensor(np.stack(bodies, 1).reshape(-1, NUM_JOINTS, 3))
    view = data.observe(world, cfg, generator, camera=camera)
    shape = (frames, people, NUM_JOINTS)
    uv = view["uv"].numpy().reshape(shape + (2,))
    confidence = view["confidence"].numpy().reshape(shape).copy()
    cam = view["pose_cam"].numpy().reshape(shape + (3,))
    for a in range(people):  # the farther person loses the joints near the nearer one's
        for b in range(people):
            if a == b:
                continue
            behind = cam[:, a, 0, 2] > cam[:, b, 0, 2]
            radius = 0.12 * np.ptp(uv[:, b, :, 1], axis=1)  # of the nearer one's 2D height
            distance = np.linalg.norm(uv[:, a, :, None] - uv[:, b, None], axis=-1).min(-1)
            confidence[:, a] *= ~((distance < radius[:, None]) & behind[:, None])
    seen = (confidence > 0.3).sum(-1) >= LiftSettings().min_joints
    hidden = []
    if occlude:
        k = int(rng.integers(people))
        length = int(rng.integers(3, 16))
        first = int(rng.integers(frames // 4, frames - length - 5))
        seen[first : first + length, k] = False
        hidden.append((k, first, first + length - 1))
    return {
        "uv": uv,
        "confidence": confidence,
        "poses_3d": cam,
        "intrinsics": K,
        "names": [n for n, _ in sequences],
        "seen": seen,
        "hidden": hidden,
    }


def make_walking_clips(
    config_path=None,
    source_name="cmu",
    clips=40,
    people=(2, 3),
    frames=60,
    noise=0.01,
    seed=0,
    occlude=False,
    frame_rate=30.0,
    sequences="heldout",
):
    """``clips`` walking clips (make_walking_clip) of the source's ``sequences`` (see
    source_sequences)."""
    rng = np.random.default_rng(seed + 1000)
    generator = torch.Generator().manual_seed(seed + 1000)
    items = source_sequences(config_path, source_name, frames, sequences)
    result = []
    for k in range(clips):
        count = people[k % len(people)]
        chosen = rng.choice(len(items), size=count, replace=False)
        result.append(
            make_walking_clip(
                [items[i] for i in chosen], frames, rng, noise, generator, frame_rate, occlude
            )
        )
    return result


def crossings(poses_3d, seen=None):
    """Times two people's order across the image swaps (their roots' x/z), over a clip."""
    u = poses_3d[:, :, 0, 0] / poses_3d[:, :, 0, 2]  # (F, P)
    count = 0
    for a in range(u.shape[1]):
        for b in range(a + 1, u.shape[1]):
            side = np.sign(u[:, a] - u[:, b])
            count += int((side[1:] * side[:-1] < 0).sum())
    return count


def lag_frames(pred, gt, max_shift=3, threshold=0.01):
    """The whole-frame delay of the output: the shift s of the ground truth (output at t against
    truth at t - s) whose root-relative MPJPE is lowest; 0 unless it fits more than
    ``threshold`` better than no shift. pred and gt: lists of (F, 17, 3) tracks (NaN = not lifted).
    Returns (lag, {shift: MPJPE mm})."""
    errors = {}
    for s in range(-max_shift, max_shift + 1):
        total, count = 0.0, 0
        for p, g in zip(pred, gt):
            p = p - p[:, :1]
            g = g - g[:, :1]
            a = p[max_shift : len(p) - max_shift]
            b = g[max_shift - s : len(g) - max_shift - s]
            e = np.linalg.norm(a - b, axis=-1).mean(-1)
            e = e[np.isfinite(e)]
            total, count = total + e.sum(), count + len(e)
        errors[s] = 1000 * total / max(count, 1)
    best = min(errors, key=errors.get)
    lag = best if errors[best] < (1 - threshold) * errors[0] else 0
    return lag, errors


def velocity_truth(poses_3d, frame_rate):
    """(F, P, 3) m/s: the ground-truth roots' central-difference velocity (one-sided at ends)."""
    return np.gradient(poses_3d[:, :, 0], axis=0) * frame_rate


def acceleration_error(pred, gt):
    """Mean per-joint error of the acceleration, (T, 17, 3) root-relative metres -> mm/frame^2."""

    def acceleration(x):
        x = x - x[:, :1]
        return x[2:] - 2 * x[1:-1] + x[:-2]

    return np.linalg.norm(acceleration(pred) - acceleration(gt), axis=-1).mean() * 1000


def lift_clip(pipeline, clip, rng, frame_rate, settings, frame_id=None):
    """Lift every frame of a clip through the node's per-frame path with ``settings`` (a
    LiftSettings: tracking on or off) and a fresh tracker. People whose ``clip["seen"]`` is
    False in a frame are not sent. Returns (poses (F, P, 17, 3) NaN where not lifted, ids (F, P)
    None where not lifted, network evaluations per frame (F,), warm-started people (F,), a
    dict of the published velocity (F, P, 3) m/s, known (F, P) bool and joint_std (F, P, 17)
    m, NaN where not lifted)."""
    frames, people = clip["uv"].shape[:2]
    poses = np.full(clip["poses_3d"].shape, np.nan)
    ids = np.full((frames, people), None, dtype=object)
    velocity, known = np.zeros((frames, people, 3)), np.zeros((frames, people), dtype=bool)
    joint_std = np.full(poses.shape[:-1], np.nan)
    evaluations, warm = np.zeros(frames), np.zeros(frames)
    present = clip.get("seen", np.ones((frames, people), dtype=bool))
    pipeline.lifter.settings = settings
    pipeline.reset()
    spec = pipeline.lifter.spec
    for t in range(frames):
        sent = np.flatnonzero(present[t])
        # Tracked, the people come in a shuffled order: the tracker must not rely on it.
        order = sent[rng.permutation(len(sent))] if settings.tracking else sent
        frame = pipeline.lift_frame(
            people_from_arrays(clip["uv"][t, order], clip["confidence"][t, order]),
            clip["intrinsics"],
            stamp=t / frame_rate,
            frame_id=frame_id,
        )
        lifted = order[frame.indices]
        poses[t, lifted] = frame.result.poses
        ids[t, lifted] = frame.ids
        velocity[t, lifted] = frame.motion.velocity
        known[t, lifted] = frame.motion.known
        joint_std[t, lifted] = frame.result.joint_std
        starts = [] if frame.tracks is None else frame.tracks.previous
        starts = [p is not None and settings.warm_start for p in starts]
        evaluations[t] = spec.warm_steps if any(starts) else spec.steps
        warm[t] = sum(starts)
    return (
        poses,
        ids,
        evaluations,
        warm,
        {
            "velocity": velocity,
            "known": known,
            "joint_std": joint_std,
        },
    )


def id_switches(ids, max_age=None, frame_rate=30.0, returns=False):
    """Times a ground-truth person's id differs from its id in the last frame it was lifted.

    With ``max_age`` (seconds), only gaps the tracker bridges count: frames a and b (stamps
    a / frame_rate and b / frame_rate, as lift_clip sends them) with b/rate - a/rate <=
    max_age, the tracker's own test. A person unseen for longer comes back with a new id by
    design; ``returns=True`` also gives how many such returns there were: (switches, returns).
    """
    count = longer = 0
    for column in np.asarray(ids, dtype=object).T:
        seen = [t for t, i in enumerate(column) if i is not None]
        for a, b in zip(seen[:-1], seen[1:]):
            bridged = max_age is None or b / frame_rate - a / frame_rate <= max_age
            if not bridged:
                longer += 1
            elif column[a] != column[b]:
                count += 1
    return (int(count), int(longer)) if returns else int(count)


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
    walking_clips=60,
    occluded_clips=20,
    sequences="heldout",
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
    independent = LiftSettings(
        num_hypotheses=hypotheses, tracking=False, max_people=max(*people, 3)
    )
    independent = independent.check_batch(spec.max_batch)
    default = LiftSettings(num_hypotheses=hypotheses, max_people=max(*people, 3))
    modes = {
        "independent": independent,
        "tracked, no motion filter": default.replace(motion_filter=False),
        "default (tracked + Kalman)": default,
        "tracked + One-Euro": default.replace(motion_filter=False, smooth_poses=True),
        "tracked + Kalman + One-Euro": default.replace(smooth_poses=True),
    }
    scenes = make_clips(config_path, source_name, clips, people, frames, noise, seed, sequences)
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
        "sequences": sequences,
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
        spreads = []
        root, root_late, tracks_pred, tracks_true = [], [], [], []
        for clip, truth in zip(scenes, gt):
            poses, ids, evals, warm_people, motion = lift_clip(
                pipeline, clip, rng, frame_rate, settings
            )
            errors.append(joint_errors(poses, truth).reshape(-1, NUM_JOINTS))
            spreads.append(motion["joint_std"].reshape(-1, NUM_JOINTS))
            root_error = np.linalg.norm(poses[:, :, 0] - truth[:, :, 0], axis=-1)
            root.append(root_error.ravel())
            root_late.append(root_error[2 * len(root_error) // 3 :].ravel())
            accelerations += [
                acceleration_error(poses[:, p], truth[:, p]) for p in range(poses.shape[1])
            ]
            tracks_pred += list(poses.transpose(1, 0, 2, 3))
            tracks_true += list(truth.transpose(1, 0, 2, 3))
            switches += id_switches(ids) if settings.tracking else 0
            evaluations.append(evals)
            warm.append(warm_people / poses.shape[1])
        lag, shift_errors = lag_frames(tracks_pred, tracks_true)
        errors = np.concatenate(errors)
        run = {
            "mode": mode,
            "mpjpe_mm": float(errors.mean() * 1000),
            "root_error_mm": float(np.concatenate(root).mean() * 1000),
            "root_error_last_third_mm": float(np.concatenate(root_late).mean() * 1000),
            "acceleration_error_mm_per_frame2": float(np.mean(accelerations)),
            "lag_frames": int(lag),
            "mpjpe_by_shift_mm": {str(k): round(v, 2) for k, v in shift_errors.items()},
            "id_switches": switches if settings.tracking else None,
            # The published spread's calibration on these frames.
            **spread_metrics(errors, np.concatenate(spreads)),
            "network_evaluations_per_frame": float(np.concatenate(evaluations).mean()),
            "warm_started_share": float(np.concatenate(warm).mean()),
        }
        results["runs"].append(run)
        log(format_row(run))
    if walking_clips or occluded_clips:
        results["walking"] = evaluate_walking(
            pipeline,
            {"independent": independent, "default (tracked + Kalman)": default},
            config_path,
            source_name,
            walking_clips,
            occluded_clips,
            noise,
            frame_rate,
            seed,
            log,
            sequences,
        )
    return results


def evaluate_walking(
    pipeline,
    modes,
    config_path,
    source,
    clips,
    occluded,
    noise,
    frame_rate,
    seed,
    log,
    sequences="heldout",
):
    """People walking across the view (make_walking_clip): crossings (ID switches per 100),
    whole occlusions up to track_max_age (the same id after, and the error of the first frames
    back), the root velocity's error, and MPJPE / root error against independent frames."""
    max_age = LiftSettings().track_max_age
    sets = {
        "crossing": make_walking_clips(
            config_path, source, clips, (2, 3), 60, noise, seed, False, frame_rate, sequences
        ),
        "occluded": make_walking_clips(
            config_path,
            source,
            occluded,
            (2, 3),
            60,
            noise,
            seed + 1,
            True,
            frame_rate,
            sequences,
        ),
    }
    rows = []
    for name, scenes in sets.items():
        if not scenes:
            continue
        for mode, settings in modes.items():
            rng = np.random.default_rng(seed + 2)
            errors, roots, speed, switches, crossed, kept, back, steady, longer = (
                [] for _ in range(9)
            )
            for clip in scenes:
                poses, ids, _, _, motion = lift_clip(pipeline, clip, rng, frame_rate, settings)
                truth = clip["poses_3d"]
                lifted = np.isfinite(poses[..., 0, 0])
                error = np.linalg.norm(
                    (poses - poses[..., :1, :]) - (truth - truth[..., :1, :]), axis=-1
                ).mean(-1)
                errors.append(error[lifted])
                roots.append(np.linalg.norm(poses[:, :, 0] - truth[:, :, 0], axis=-1)[lifted])
                known = motion["known"]
                true_velocity = velocity_truth(truth, frame_rate)
                speed.append(np.linalg.norm(motion["velocity"] - true_velocity, axis=-1)[known])
                switched, returned = id_switches(ids, max_age, frame_rate, returns=True)
                switches.append(switched)
                longer.append(returned)
                crossed.append(crossings(truth))
                for person, first, last in clip["hidden"]:
                    before = [i for i in ids[:first, person] if i is not None]
                    after = np.flatnonzero(lifted[last + 1 :, person])
                    if not before or not len(after):
                        continue
                    kept.append(ids[last + 1 + after[0], person] == before[-1])
                    back.append(error[last + 1 + after[0] : last + 4 + after[0], person])
                    steady.append(error[lifted[:, person], person])
            speed = np.concatenate(speed) if speed else np.zeros(0)
            row = {
                "clips": name,
                "mode": mode,
                "people": int(sum(c["uv"].shape[1] for c in scenes)),
                "mpjpe_mm": float(np.concatenate(errors).mean() * 1000),
                "root_error_mm": float(np.concatenate(roots).mean() * 1000),
                "crossings": int(sum(crossed)),
                "id_switches": int(sum(switches)) if settings.tracking else None,
                "returns_after_track_max_age": int(sum(longer)) if settings.tracking else None,
                "id_switches_per_100_crossings": (
                    100.0 * sum(switches) / max(sum(crossed), 1) if settings.tracking else None
                ),
                "median_root_velocity_error_m_s": (
                    float(np.median(speed)) if len(speed) else None
                ),
                "velocity_known_share": float(len(speed) / max(sum(len(e) for e in errors), 1)),
                "occlusions": len(kept),
                "same_id_after_occlusion": (
                    float(np.mean(kept)) if kept and settings.tracking else None
                ),
                "mpjpe_first_3_frames_back_mm": (
                    float(np.nanmean(np.concatenate(back)) * 1000) if back else None
                ),
                "mpjpe_same_people_all_frames_mm": (
                    float(np.nanmean(np.concatenate(steady)) * 1000) if steady else None
                ),
            }
            rows.append(row)
            log(format_walking_row(row))
    return rows


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_walking_row(row):
    return (
        f"{row['clips']:<9} {row['mode']:<27} MPJPE {row['mpjpe_mm']:5.1f} mm  root "
        f"{row['root_error_mm']:4.0f} mm  crossings {row['crossings']}  ID switches "
        f"{_fmt(row['id_switches'], 'd')} "
        f"({_fmt(row['id_switches_per_100_crossings'], '.1f')} per 100; "
        f"{_fmt(row.get('returns_after_track_max_age'), 'd')} returns after track_max_age)  "
        "velocity error "
        f"{_fmt(row['median_root_velocity_error_m_s'], '.2f')} m/s  occlusions "
        f"{row['occlusions']}, same id {_fmt(row['same_id_after_occlusion'], '.0%')}"
    )


def _calibration(run, within="{:.0f}%"):
    """'ratio (share within 2 spreads)' of a run's spread calibration, '-' with one
    hypothesis."""
    if run["error_to_spread_ratio"] is None:
        return "-"
    share = within.format(100 * run["within_two_spread"])
    return f"{run['error_to_spread_ratio']:.2f} ({share})"


def format_row(run):
    switches = "-" if run["id_switches"] is None else str(run["id_switches"])
    return (
        f"{run['mode']:<28} MPJPE {run['mpjpe_mm']:6.1f} mm  root {run['root_error_mm']:5.0f} mm "
        f"(last third {run['root_error_last_third_mm']:5.0f})  jitter "
        f"{run['acceleration_error_mm_per_frame2']:6.2f} mm/frame^2  lag {run['lag_frames']}  "
        f"ID switches {switches:>3}  error/spread {_calibration(run, 'within 2: {:.0f}%')}  "
        "evaluations/frame "
        f"{run['network_evaluations_per_frame']:.2f}  "
        f"warm {100 * run['warm_started_share']:.0f}%"
    )


def markdown_table(results):
    lines = [
        "| lifting | MPJPE (mm) | root error (mm): all / last third | jitter: acceleration error "
        "(mm/frame²) | lag (frames) "
        "| ID switches | error / spread (within 2 spreads) | network evaluations per frame "
        "| warm-started |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        switches = "-" if r["id_switches"] is None else r["id_switches"]
        lines.append(
            f"| {r['mode']} | {r['mpjpe_mm']:.1f} | {r['root_error_mm']:.0f} / "
            f"{r['root_error_last_third_mm']:.0f} "
            f"| {r['acceleration_error_mm_per_frame2']:.2f} | {r['lag_frames']} | {switches} | "
            f"{_calibration(r)} | "
            f"{r['network_evaluations_per_frame']:.2f} | {100 * r['warm_started_share']:.0f}% |"
        )
    walking = results.get("walking") or []
    if walking:
        lines += [
            "",
            "| clips | lifting | people | MPJPE (mm) | root error (mm) | crossings | ID switches "
            "(per 100 crossings) | returns after > track_max_age (new id by design) "
            "| median root velocity error (m/s) | occlusions: same id after "
            "| MPJPE of the 3 frames back / all frames (mm) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in walking:
            back = (
                "-"
                if r["mpjpe_first_3_frames_back_mm"] is None
                else f"{r['mpjpe_first_3_frames_back_mm']:.1f} / "
                f"{r['mpjpe_same_people_all_frames_mm']:.1f}"
            )
            lines.append(
                f"| {r['clips']} | {r['mode']} | {r['people']} | {r['mpjpe_mm']:.1f} | "
                f"{r['root_error_mm']:.0f} | {r['crossings']} | "
                f"{_fmt(r['id_switches'], 'd')} "
                f"({_fmt(r['id_switches_per_100_crossings'], '.1f')})"
                f" | {_fmt(r.get('returns_after_track_max_age'), 'd')}"
                f" | {_fmt(r['median_root_velocity_error_m_s'], '.2f')} | "
                f"{r['occlusions']}: {_fmt(r['same_id_after_occlusion'], '.0%')} | {back} |"
            )
    return "\n".join(lines)


def write_results(results, out_path):
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.splitext(out_path)[0] + ".md", "w") as f:
        f.write(markdown_table(results) + "\n")
