"""Motion-capture loading, the held-out split, and the training augmentation.

Poses are (frames, 17, 3) in H36M-17 order. Loaded poses are in metres in a z-up world frame.
The augmentation turns world poses into what the lifter sees: pixels from a random virtual
camera, a confidence per joint, and the ground-truth root-relative pose in that camera's frame.
"""

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from .skeleton import ADULT_BONE_RATIOS, BODY_PARTS, LOWER_BODY, MIRROR_INDEX, NUM_JOINTS, PARENTS

DEFAULT_DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mocap")
MOCAP_FILES = ("bandai_17j_mm.npz", "cmu_17j_mm.npz", "cmu_everyday_17j_mm.npz", "hdm05_17j_mm.npz")
# Sampling share of each file: the non-upright sets (sitting, crouching, lying) are weighted
# up, because Bandai and CMU are almost all standing or walking.
FILE_SHARE = {"bandai_17j_mm.npz": 0.45, "cmu_17j_mm.npz": 0.15,
              "cmu_everyday_17j_mm.npz": 0.2, "hdm05_17j_mm.npz": 0.2}
# CMU is captured at 120 fps, the rest at 30 fps.
FRAME_STRIDE = {"cmu_17j_mm.npz": 4}
IMAGE_SIZES = ((640, 480), (848, 480), (1024, 768), (1280, 720), (1280, 1024), (1920, 1080))


def is_validation(file_name, sequence):
    """Held out by whole sequences: CMU's test/ set, one style of every Bandai content
    (elderly in dataset 2, tired in dataset 1), HDM05 actor dg, CMU everyday trials 14_30+."""
    if file_name.startswith("cmu_17j"):
        return sequence.startswith("test/")
    if file_name.startswith("bandai"):
        return sequence.split("_")[2] in ("elderly", "tired")
    if file_name.startswith("hdm05"):
        return sequence.startswith("dg_")
    if file_name.startswith("cmu_everyday"):
        return sequence.startswith("cmu_14_3")
    return False


def activity(file_name, sequence):
    """A coarse activity label for per-group metrics."""
    if file_name.startswith("cmu_17j"):
        return "cmu_" + sequence.split("/")[1]
    if file_name.startswith("bandai"):
        return "bandai_" + sequence.split("_")[1]
    if file_name.startswith("hdm05"):
        return "hdm05_" + sequence.split("_")[1].rstrip("0123456789RL").lower()
    return "everyday_" + sequence


def load_mocap(data_dir=DEFAULT_DATA_DIR, split="train", files=MOCAP_FILES):
    """Return {file_name: [(sequence, poses in metres)]} for the requested split ('train', 'val' or 'all')."""
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be train, val or all, not {split!r}")
    out = {}
    for file_name in files:
        path = os.path.join(data_dir, file_name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"motion-capture file not found: {path}")
        stride = FRAME_STRIDE.get(file_name, 1)
        with np.load(path) as archive:
            items = []
            for sequence in archive.files:
                held_out = is_validation(file_name, sequence)
                if split == "all" or held_out == (split == "val"):
                    poses = archive[sequence][::stride].astype(np.float32) / 1000.0
                    if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3):
                        raise ValueError(f"{path}:{sequence}: expected (frames, 17, 3), got {poses.shape}")
                    items.append((sequence, poses))
        out[file_name] = items
    return out


class PosePool:
    """All frames of a split in one tensor, sampled with the per-file shares."""

    def __init__(self, mocap):
        poses, weights = [], []
        shares = {f: FILE_SHARE.get(f, 0.1) for f, items in mocap.items() if items}
        total = sum(shares.values())
        for file_name, items in mocap.items():
            if not items:
                continue
            frames = np.concatenate([p for _, p in items])
            poses.append(frames)
            weights.append(np.full(len(frames), shares[file_name] / total / len(frames)))
        self.poses = torch.from_numpy(np.concatenate(poses))
        self.weights = torch.from_numpy(np.concatenate(weights))

    def __len__(self):
        return len(self.poses)

    def sample(self, n, generator):
        idx = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.poses[idx]


@dataclass
class AugmentConfig:
    stature_range: tuple = (1.5, 1.95)
    bone_jitter: float = 0.05
    mirror_prob: float = 0.5
    pitch_deg: float = 30.0
    roll_deg: float = 5.0
    distance_range: tuple = (2.0, 10.0)
    focal_range: tuple = (300.0, 1500.0)
    principal_jitter: float = 0.03  # fraction of the image size
    off_centre: float = 0.45  # how far (in half-fields of view) the camera may aim off the person
    noise_range: tuple = (0.0, 0.03)  # 2D jitter std as a fraction of the person's size
    outlier_prob: float = 0.02
    drop_range: tuple = (0.0, 0.15)  # per-sample joint drop rate
    part_drop_prob: float = 0.1  # GFPose: each body part
    lower_body_drop_prob: float = 0.1  # portraits: legs out of frame
    condition_drop_prob: float = 0.1  # GFPose: the whole condition
    condition_3d_prob: float = 0.1  # GFPose: the ground-truth 3D pose as the condition


def _uniform(n, low, high, generator):
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def rescale_bones(poses, stature, jitter, generator):
    """Keep every bone's direction, set its length to an adult's for ``stature`` (per sample)."""
    n = poses.shape[0]
    factors = 1.0 + jitter * torch.randn(n, NUM_JOINTS - 1, generator=generator, dtype=poses.dtype)
    mirror = torch.as_tensor(MIRROR_INDEX[1:] - 1)
    factors = 0.5 * (factors + factors[:, mirror])  # left and right bones stay equal
    lengths = torch.as_tensor(ADULT_BONE_RATIOS, dtype=poses.dtype) * stature[:, None] * factors
    out = poses.clone()
    for j in range(1, NUM_JOINTS):
        p = int(PARENTS[j])
        bone = poses[:, j] - poses[:, p]
        direction = bone / bone.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        out[:, j] = out[:, p] + direction * lengths[:, j - 1, None]
    return out


def mirror(poses):
    out = poses[:, MIRROR_INDEX].clone()
    out[..., 0] = -out[..., 0]
    return out


def _rotation(axis, angle):
    c, s = torch.cos(angle), torch.sin(angle)
    o, z = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "x":
        rows = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "y":
        rows = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        rows = [[c, -s, z], [s, c, z], [z, z, o]]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def random_cameras(root, cfg, generator):
    """Random virtual cameras around world points ``root`` (n, 3), z up.

    Returns R (n, 3, 3) world->optical rotation, C (n, 3) camera centres, K (n, 3, 3), sizes (n, 2).
    The camera circles the person (any yaw), looks at them from a pitch within +-pitch_deg,
    then aims off by up to ``off_centre`` half-fields of view so people also appear near the
    edges or partly outside the image.
    """
    n = root.shape[0]
    yaw = _uniform(n, 0, 2 * math.pi, generator)
    pitch = torch.deg2rad(_uniform(n, -cfg.pitch_deg, cfg.pitch_deg, generator))
    distance = _uniform(n, *cfg.distance_range, generator)
    direction = torch.stack([torch.cos(pitch) * torch.cos(yaw), torch.cos(pitch) * torch.sin(yaw),
                             torch.sin(pitch)], -1)
    centre = root + distance[:, None] * direction
    forward = -direction
    up = torch.tensor([0.0, 0.0, 1.0], dtype=root.dtype).expand_as(forward)
    right = torch.linalg.cross(forward, up)
    right = right / right.norm(dim=-1, keepdim=True)
    down = torch.linalg.cross(forward, right)
    R_look = torch.stack([right, down, forward], -2)

    sizes = torch.tensor(IMAGE_SIZES, dtype=root.dtype)[
        torch.randint(len(IMAGE_SIZES), (n,), generator=generator)]
    focal = _uniform(n, *cfg.focal_range, generator)
    half_fov_x = torch.atan(sizes[:, 0] / (2 * focal))
    half_fov_y = torch.atan(sizes[:, 1] / (2 * focal))
    aim_x = half_fov_x * _uniform(n, -cfg.off_centre, cfg.off_centre, generator)
    aim_y = half_fov_y * _uniform(n, -cfg.off_centre, cfg.off_centre, generator)
    roll = torch.deg2rad(cfg.roll_deg * torch.randn(n, generator=generator, dtype=root.dtype))
    R_aim = _rotation("z", roll) @ _rotation("x", aim_y) @ _rotation("y", aim_x)
    R = R_aim @ R_look

    K = torch.zeros(n, 3, 3, dtype=root.dtype)
    K[:, 0, 0] = focal
    K[:, 1, 1] = focal
    K[:, 0, 2] = sizes[:, 0] * (0.5 + cfg.principal_jitter * torch.randn(n, generator=generator, dtype=root.dtype))
    K[:, 1, 2] = sizes[:, 1] * (0.5 + cfg.principal_jitter * torch.randn(n, generator=generator, dtype=root.dtype))
    K[:, 2, 2] = 1.0
    return R, centre, K, sizes


def observe(poses_world, cfg, generator, noise=True, camera=None):
    """World poses (n, 17, 3) in metres -> a virtual camera's view of them.

    ``camera`` (R, C, K, sizes) from ``random_cameras`` fixes the camera(s); by default each
    pose gets its own random camera. Returns a dict of float64 tensors: ``pose_cam`` (n, 17, 3) metres in the optical frame,
    ``uv`` (n, 17, 2) pixels with 2D noise, ``confidence`` (n, 17) in 0..1 with 0 for joints
    that are dropped or outside the image, and ``K`` (n, 3, 3).
    """
    n = poses_world.shape[0]
    camera = camera if camera is not None else random_cameras(poses_world[:, 0], cfg, generator)
    R, C, K, sizes = (x.expand(n, *x.shape[1:]) for x in camera)
    pose_cam = torch.einsum("nij,nkj->nki", R, poses_world - C[:, None])
    uv = pose_cam[..., :2] / pose_cam[..., 2:3].clamp_min(0.05) * K[:, None, [0, 1], [0, 1]] + K[:, None, :2, 2]
    inside = ((uv >= 0) & (uv <= sizes[:, None])).all(-1) & (pose_cam[..., 2] > 0.1)
    confidence = torch.where(inside, 1.0, 0.0).to(poses_world.dtype)
    if noise:
        size = (uv.amax(1) - uv.amin(1)).norm(dim=-1)
        sigma = _uniform(n, *cfg.noise_range, generator) * size
        uv = uv + sigma[:, None, None] * torch.randn(uv.shape, generator=generator, dtype=uv.dtype)
        outlier = torch.rand(n, NUM_JOINTS, generator=generator, dtype=uv.dtype) < cfg.outlier_prob
        uv = uv + outlier[..., None] * 0.15 * size[:, None, None] * torch.randn(uv.shape, generator=generator, dtype=uv.dtype)
        drop_rate = _uniform(n, *cfg.drop_range, generator)
        dropped = torch.rand(n, NUM_JOINTS, generator=generator, dtype=uv.dtype) < drop_rate[:, None]
        confidence = confidence * ~dropped
        # Detector-like confidences: lower on noisy joints, but never 0 for a kept joint.
        confidence = confidence * (1.0 - 0.5 * torch.rand(n, NUM_JOINTS, generator=generator, dtype=uv.dtype) * outlier)
    return {"pose_cam": pose_cam, "uv": uv, "confidence": confidence, "K": K, "image_size": sizes}


def training_masks(n, cfg, generator):
    """GFPose's condition masking: whole condition, body parts, lower body. 1 = keep."""
    keep = torch.ones(n, NUM_JOINTS)
    for joints in BODY_PARTS.values():
        drop = torch.rand(n, generator=generator) < cfg.part_drop_prob
        keep[drop[:, None] & _joint_mask(joints)] = 0
    legs = torch.rand(n, generator=generator) < cfg.lower_body_drop_prob
    keep[legs[:, None] & _joint_mask(LOWER_BODY)] = 0
    whole = torch.rand(n, generator=generator) < cfg.condition_drop_prob
    keep[whole] = 0
    return keep


def _joint_mask(joints):
    m = torch.zeros(1, NUM_JOINTS, dtype=torch.bool)
    m[0, list(joints)] = True
    return m


def augment(poses_world, cfg, generator):
    """A training batch from world poses in metres: bone rescaling, mirroring, camera, 2D noise."""
    poses = poses_world.to(torch.float64)
    n = poses.shape[0]
    stature = _uniform(n, *cfg.stature_range, generator)
    poses = rescale_bones(poses, stature, cfg.bone_jitter, generator)
    flip = torch.rand(n, generator=generator) < cfg.mirror_prob
    poses = torch.where(flip[:, None, None], mirror(poses), poses)
    view = observe(poses, cfg, generator)
    view["confidence"] = view["confidence"] * training_masks(n, cfg, generator).to(poses.dtype)
    view["use_3d_condition"] = torch.rand(n, generator=generator) < cfg.condition_3d_prob
    return view
