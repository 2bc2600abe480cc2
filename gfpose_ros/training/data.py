"""The training augmentation: what the lifter sees of a world pose.

Poses are (frames, 17, 3) in H36M-17 order, metres, in a z-up world frame (``sources`` loads
them). The augmentation turns them into pixels from a virtual or real camera, a confidence per
joint, and the ground-truth root-relative pose in that camera's frame.
"""

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..skeleton import (
    ADULT_BONE_RATIOS,
    BODY_PARTS,
    LOWER_BODY,
    MIRROR_INDEX,
    NUM_JOINTS,
    PARENTS,
    bone_lengths,
    stature,
    stature_from_bone_lengths,
)

# Bones (BONES order) whose length a bone-ratio draw scales: both legs' thigh and shank, both
# arms' upper arm and forearm.
LEG_BONES = [1, 2, 4, 5]
ARM_BONES = [11, 12, 14, 15]
# Limbs as (root joint, middle joint, end joint): hip, knee, ankle and shoulder, elbow, wrist.
LIMBS = ((1, 2, 3), (4, 5, 6), (11, 12, 13), (14, 15, 16))
# Knees and elbows bend between straight and this (degrees); a hinge bent less than
# HINGE_MIN_BEND has no defined axis, and is left as it is.
HINGE_MAX_BEND = 150.0
HINGE_MIN_BEND = 10.0
# The spine and what hangs from it (trunk, head, arms): the part recombine() exchanges.
UPPER_BODY = [j for j in range(NUM_JOINTS) if j >= 7]
RIGHT_HIP, LEFT_HIP = 1, 4

IMAGE_SIZES = ((640, 480), (848, 480), (1024, 768), (1280, 720), (1280, 1024), (1920, 1080))


class PosePool:
    """All training frames in one tensor, sampled with the per-source shares."""

    def __init__(self, mocap, shares=None):
        poses, weights = [], []
        shares = {name: (shares or {}).get(name, 1.0) for name, items in mocap.items() if items}
        total = sum(shares.values())
        for name, items in mocap.items():
            if not items:
                continue
            frames = np.concatenate([p for _, p in items])
            poses.append(frames)
            weights.append(np.full(len(frames), shares[name] / total / len(frames)))
        if not poses:
            raise ValueError("no frames to sample from")
        self.poses = torch.from_numpy(np.concatenate(poses))
        self.weights = torch.from_numpy(np.concatenate(weights))

    def __len__(self):
        return len(self.poses)

    def sample(self, n, generator):
        idx = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.poses[idx]


# Joints whose definition differs between labs and detectors, each moved (without moving the
# rest of the body) by a random offset of this standard deviation in metres: the thorax along
# the trunk, the head top along the head, the neck/nose in any direction (a detector's nose is
# in front of the face), and the hips and shoulders in or out symmetrically.
DEFINITION_JITTER = {
    "thorax_height": 0.03,
    "head_top": 0.03,
    "neck_nose": 0.03,
    "hip_width": 0.02,
    "shoulder_width": 0.02,
}


@dataclass
class AugmentConfig:
    """What the training views look like; the ``augmentation`` section of the training config."""

    # Body: every bone keeps its direction; its length comes from the adult template
    # (ADULT_BONE_RATIOS) or, with probability own_proportions_prob, from the data's own body,
    # either way scaled to a stature drawn from stature_range (null: keep the data's own size,
    # only with own_proportions_prob 1), then jittered per bone.
    stature_range: tuple = (1.5, 1.95)
    own_proportions_prob: float = 0.0
    bone_jitter: float = 0.05
    # Population variation of proportions: legs and arms (each pair of limbs alike) scaled by a
    # factor from this range relative to the trunk, then the body rescaled to its stature.
    # [1, 1] = off; [0.9, 1.1] = leg-to-trunk and arm-to-trunk ratios +-10%.
    bone_ratio_range: tuple = (1.0, 1.0)
    # Coverage: with this probability a sample's upper body (spine, head, arms) comes from
    # another sample of the batch, often another source (recombine). 0 = off.
    recombine_prob: float = 0.0
    # Coverage: the trunk bent or twisted at the pelvis, limbs turned at the hip and shoulder,
    # and knees and elbows bent more or less, by random angles of this std (degrees;
    # perturb_joint_angles). 0 = off.
    joint_angle_std_deg: float = 0.0
    # Coverage: with this probability the whole body leans about a random horizontal axis
    # through the pelvis by up to tilt_max_deg (90 = lying): bodies bent over, falling or on the
    # floor, which upright captures seen from +-pitch_deg lack (tilt_bodies). 0 = off.
    tilt_prob: float = 0.0
    tilt_max_deg: float = 90.0
    definition_jitter: dict = field(default_factory=lambda: dict.fromkeys(DEFINITION_JITTER, 0.0))
    mirror_prob: float = 0.5
    # Cameras: 'random' virtual cameras around the person with the ranges below, or 'file':
    # a fixed list of real cameras (camera_file) looking at the person placed in person_area.
    camera_model: str = "random"
    camera_file: str = None
    person_area: tuple = ((-1.0, 1.0), (-1.0, 1.0))
    pitch_deg: float = 30.0
    roll_deg: float = 5.0
    distance_range: tuple = (2.0, 10.0)
    focal_range: tuple = (300.0, 1500.0)
    image_sizes: tuple = IMAGE_SIZES
    principal_jitter: float = 0.03  # fraction of the image size
    off_centre: float = 0.45  # how far (in half-fields of view) the camera may aim off the person
    # 2D noise
    noise_range: tuple = (
        0.0,
        0.03,
    )  # 2D jitter std per axis, fraction of the person's 2D box diagonal
    outlier_prob: float = 0.02
    drop_range: tuple = (0.0, 0.15)  # per-sample joint drop rate
    # GFPose's condition masking
    part_drop_prob: float = 0.1  # each body part
    lower_body_drop_prob: float = 0.1  # portraits: legs out of frame
    condition_drop_prob: float = 0.1  # the whole condition
    condition_3d_prob: float = 0.1  # the ground-truth 3D pose as the condition

    def __post_init__(self):
        self.cameras = None
        if self.camera_model not in ("random", "file"):
            raise ValueError(
                f"augmentation.camera_model must be 'random' or 'file', not {self.camera_model!r}"
            )
        if self.camera_model == "file":
            if not self.camera_file:
                raise ValueError("augmentation.camera_model 'file' needs augmentation.camera_file")
            self.cameras = load_cameras(self.camera_file)
        for key in (
            "own_proportions_prob",
            "recombine_prob",
            "tilt_prob",
            "mirror_prob",
            "outlier_prob",
            "part_drop_prob",
            "lower_body_drop_prob",
            "condition_drop_prob",
            "condition_3d_prob",
        ):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(
                    f"augmentation.{key} must be a probability in [0, 1], got {value!r}"
                )
        for key in (
            "stature_range",
            "distance_range",
            "focal_range",
            "noise_range",
            "drop_range",
            "bone_ratio_range",
        ):
            value = getattr(self, key)
            if value is None and key == "stature_range":
                if self.own_proportions_prob != 1.0:
                    raise ValueError(
                        "augmentation.stature_range may be null (keep the data's own size) only "
                        "with "
                        "own_proportions_prob 1"
                    )
                continue
            if not (
                isinstance(value, (list, tuple))
                and len(value) == 2
                and all(isinstance(v, (int, float)) for v in value)
                and 0 <= value[0] <= value[1]
            ):
                raise ValueError(
                    f"augmentation.{key} must be [low, high] with 0 <= low <= high, got {value!r}"
                )
        if not (
            isinstance(self.joint_angle_std_deg, (int, float))
            and 0.0 <= self.joint_angle_std_deg <= 45.0
        ):
            raise ValueError(
                "augmentation.joint_angle_std_deg must be degrees in [0, 45], got "
                f"{self.joint_angle_std_deg!r}"
            )
        if not (isinstance(self.tilt_max_deg, (int, float)) and 0.0 <= self.tilt_max_deg <= 180.0):
            raise ValueError(
                f"augmentation.tilt_max_deg must be degrees in [0, 180], got {self.tilt_max_deg!r}"
            )
        unknown = set(self.definition_jitter) - set(DEFINITION_JITTER)
        if unknown or any(
            not isinstance(v, (int, float)) or v < 0 for v in self.definition_jitter.values()
        ):
            raise ValueError(
                f"augmentation.definition_jitter takes metres >= 0 for "
                f"{', '.join(DEFINITION_JITTER)}; "
                f"got {self.definition_jitter!r}"
            )
        self.definition_jitter = {
            **dict.fromkeys(DEFINITION_JITTER, 0.0),
            **self.definition_jitter,
        }

    @classmethod
    def from_dict(cls, values):
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(
                f"augmentation: unknown keys {sorted(unknown)}; known: {', '.join(sorted(known))}"
            )
        for key, value in values.items():
            if isinstance(value, list):
                values[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        return cls(**values)


def evaluation_view(cfg=None):
    """The held-out view: each body at its own size, proportions and pose (none of the
    coverage augmentations: no recombined, perturbed or tilted bodies, so every recipe is
    validated on the same views), 1% 2D noise, no random drops or masks (occlusion is added
    explicitly where it is measured)."""
    return dataclasses.replace(
        cfg or AugmentConfig(),
        recombine_prob=0.0,
        joint_angle_std_deg=0.0,
        tilt_prob=0.0,
        stature_range=None,
        own_proportions_prob=1.0,
        bone_jitter=0.0,
        definition_jitter={},
        noise_range=(0.01, 0.01),
        outlier_prob=0.0,
        drop_range=(0.0, 0.0),
        part_drop_prob=0.0,
        lower_body_drop_prob=0.0,
        condition_drop_prob=0.0,
        condition_3d_prob=0.0,
    )


def load_cameras(path):
    """A fixed list of real cameras from YAML: ``cameras: [{K: 3x3, image_size: [w, h], R: 3x3, t:
    [x, y, z]}]``.

    R and t are the world->camera extrinsics as calibration gives them (x_cam = R x_world + t,
    metres, camera optical frame: x right, y down, z forward; world z up, floor at z = 0).
    Returns (R, C, K, sizes) tensors with one row per camera.
    """
    import yaml

    try:
        with open(path) as f:
            entries = (yaml.safe_load(f) or {}).get("cameras")
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise ValueError(f"cannot read camera file {path}: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty list under 'cameras'")
    Rs, Cs, Ks, sizes = [], [], [], []
    for i, cam in enumerate(entries):
        try:
            K, R = np.array(cam["K"], dtype=float), np.array(cam["R"], dtype=float)
            t, size = np.array(cam["t"], dtype=float), np.array(cam["image_size"], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{path}: camera {i} needs K (3x3), R (3x3), t (3) and image_size (2): {exc}"
            ) from None
        if K.shape != (3, 3) or R.shape != (3, 3) or t.shape != (3,) or size.shape != (2,):
            raise ValueError(
                f"{path}: camera {i} needs K (3x3), R (3x3), t (3) and image_size (2)"
            )
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
            raise ValueError(f"{path}: camera {i}: R is not a rotation matrix")
        Rs.append(R), Cs.append(-R.T @ t), Ks.append(K), sizes.append(size)
    return tuple(torch.tensor(np.stack(a), dtype=torch.float64) for a in (Rs, Cs, Ks, sizes))


def _uniform(n, low, high, generator):
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def target_bone_lengths(poses, cfg, generator):
    """Per-sample bone lengths (n, 16): the adult template or the data's own, scaled to a
    stature from ``cfg.stature_range`` (or left at the data's own size), jittered per bone."""
    n = poses.shape[0]
    own = torch.from_numpy(bone_lengths(poses.numpy())).to(poses.dtype)
    if cfg.stature_range is None:
        return own
    height = _uniform(n, *cfg.stature_range, generator).to(poses.dtype)
    own = (
        own
        * (height / torch.from_numpy(stature(poses.numpy())).to(poses.dtype).clamp_min(0.5))[
            :, None
        ]
    )
    adult = torch.as_tensor(ADULT_BONE_RATIOS, dtype=poses.dtype) * height[:, None]
    use_own = torch.rand(n, generator=generator) < cfg.own_proportions_prob
    lengths = vary_bone_ratios(torch.where(use_own[:, None], own, adult), cfg, generator)
    return jitter_bones(lengths, cfg.bone_jitter, generator)


def vary_bone_ratios(lengths, cfg, generator):
    """Legs and arms (n, 16) scaled against the trunk by factors from ``cfg.bone_ratio_range``,
    then the whole body back to the stature it had: people differ in proportions, not only in
    size. Draws nothing when the range is [1, 1] (the training stream stays as it was)."""
    low, high = cfg.bone_ratio_range
    if low == high == 1.0:
        return lengths
    n = lengths.shape[0]
    before = torch.from_numpy(stature_from_bone_lengths(lengths.numpy()))
    factors = torch.ones_like(lengths)
    factors[:, LEG_BONES] = _uniform(n, low, high, generator).to(lengths.dtype)[:, None]
    factors[:, ARM_BONES] = _uniform(n, low, high, generator).to(lengths.dtype)[:, None]
    varied = lengths * factors
    after = torch.from_numpy(stature_from_bone_lengths(varied.numpy()))
    return varied * (before / after).to(lengths.dtype)[:, None]


def jitter_bones(lengths, jitter, generator):
    """Bone lengths (n, 16) each scaled by 1 + jitter x N(0, 1), left and right bones alike."""
    factors = 1.0 + jitter * torch.randn(lengths.shape, generator=generator, dtype=lengths.dtype)
    mirror_bone = torch.as_tensor(MIRROR_INDEX[1:] - 1)
    return lengths * 0.5 * (factors + factors[:, mirror_bone])


def set_bone_lengths(poses, lengths):
    """Keep every bone's direction, set its length (poses (n, 17, 3), lengths (n, 16))."""
    out = poses.clone()
    for j in range(1, NUM_JOINTS):
        p = int(PARENTS[j])
        bone = poses[:, j] - poses[:, p]
        direction = bone / bone.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        out[:, j] = out[:, p] + direction * lengths[:, j - 1, None]
    return out


def rescale_bones(poses, stature_m, jitter, generator):
    """Adult proportions for a stature (n,) in metres, each bone's direction kept."""
    lengths = torch.as_tensor(ADULT_BONE_RATIOS, dtype=poses.dtype) * stature_m[:, None]
    return set_bone_lengths(poses, jitter_bones(lengths, jitter, generator))


def vary_definitions(poses, jitter, generator):
    """Move the joints that labs and detectors define differently, leaving the rest of the body."""
    n, out = poses.shape[0], poses.clone()

    def offset(key):
        return jitter.get(key, 0.0) * torch.randn(n, 1, generator=generator, dtype=poses.dtype)

    def unit(v):
        return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-6)

    out[:, 8] += offset("thorax_height") * unit(poses[:, 8] - poses[:, 0])
    out[:, 10] += offset("head_top") * unit(poses[:, 10] - poses[:, 9])
    out[:, 9] += jitter.get("neck_nose", 0.0) * torch.randn(
        n, 3, generator=generator, dtype=poses.dtype
    )
    for (left, right), centre, key in (((4, 1), 0, "hip_width"), ((11, 14), 8, "shoulder_width")):
        delta = offset(key)
        out[:, left] += delta * unit(poses[:, left] - poses[:, right])
        out[:, right] += delta * unit(poses[:, right] - poses[:, left])
    return out


def recombine(poses, prob, generator):
    """With probability ``prob`` per sample, its upper body (spine and above) taken from another
    sample of the batch, turned about the vertical so that both hip axes point the same way and
    hung from this sample's pelvis: the legs of one real pose under the trunk, head and arms of
    another, each keeping its lean against gravity (world z up). Bone lengths are set after
    this, so mixed proportions do not survive."""
    n = poses.shape[0]
    if prob <= 0 or n < 2:
        return poses  # no draws: the generator's stream stays that of a recipe without it
    swap = torch.rand(n, generator=generator) < prob
    donor = torch.randint(n - 1, (n,), generator=generator)
    donor = donor + (donor >= torch.arange(n)).long()  # any sample but itself
    hips = poses[:, LEFT_HIP] - poses[:, RIGHT_HIP]
    heading = torch.atan2(hips[:, 1], hips[:, 0])
    turn = _rotation("z", heading - heading[donor])
    donated = poses[donor]
    upper = (donated[:, UPPER_BODY] - donated[:, :1]) @ turn.transpose(-1, -2)
    out = poses.clone()
    out[:, UPPER_BODY] = torch.where(
        swap[:, None, None], poses[:, :1] + upper, poses[:, UPPER_BODY]
    )
    return out


def _axis_angle(axis, angle):
    """Rotation matrices (n, 3, 3) about unit axes (n, 3) by angles (n,) in radians."""
    x, y, z = axis.unbind(-1)
    o = torch.zeros_like(x)
    k = torch.stack([torch.stack(r, -1) for r in ((o, -z, y), (z, o, -x), (-y, x, o))], -2)
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    return torch.eye(3, dtype=axis.dtype) + s * k + (1 - c) * (k @ k)


def _turn_about(poses, joints, centre, rotation):
    """poses with ``joints`` turned by rotation (n, 3, 3) about joint ``centre``."""
    out = poses.clone()
    pivot = poses[:, centre : centre + 1]
    out[:, joints] = pivot + (poses[:, joints] - pivot) @ rotation.transpose(-1, -2)
    return out


def perturb_joint_angles(poses, std_deg, generator):
    """The trunk turned about the pelvis by a random small rotation (random axis: bent or
    twisted at the lumbar spine); then each limb's knee or elbow bent more or less, within
    0..HINGE_MAX_BEND degrees, about its own hinge axis (hinges bent less than HINGE_MIN_BEND
    are left); then the whole limb turned about its hip or shoulder by a random small rotation
    (random axis). Angles are normal with std ``std_deg``, clipped at two std: poses near the
    captured ones that the captures lack. Bone lengths are kept."""
    if std_deg <= 0:
        return poses  # no draws: the generator's stream stays that of a recipe without it
    n = poses.shape[0]
    std = math.radians(std_deg)

    def angles():
        a = torch.randn(n, generator=generator, dtype=torch.float64) * std
        return a.clamp(-2 * std, 2 * std).to(poses.dtype)

    def random_axes():
        axis = torch.randn(n, 3, generator=generator, dtype=torch.float64).to(poses.dtype)
        return axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-9)

    # The lumbar spine: the trunk, head and arms turned together about the pelvis (a bend or a
    # twist), the legs left.
    poses = _turn_about(poses, UPPER_BODY, 0, _axis_angle(random_axes(), angles()))
    for root, middle, end in LIMBS:
        upper = poses[:, middle] - poses[:, root]
        lower = poses[:, end] - poses[:, middle]
        normal = torch.cross(upper, lower, dim=-1)
        bend = torch.atan2(normal.norm(dim=-1), (upper * lower).sum(-1))  # 0 = straight
        target = (bend + angles()).clamp(0.0, math.radians(HINGE_MAX_BEND))
        hinged = bend > math.radians(HINGE_MIN_BEND)
        turn = torch.where(hinged, target - bend, torch.zeros_like(bend))
        axis = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        poses = _turn_about(poses, [end], middle, _axis_angle(axis, turn))
        poses = _turn_about(poses, [middle, end], root, _axis_angle(random_axes(), angles()))
    return poses


def tilt_bodies(poses, prob, max_deg, generator):
    """With probability ``prob`` per sample, the whole body turned about a random horizontal
    axis (world z up) through its pelvis by an angle uniform in 0..max_deg: the same posture
    leaning, fallen or lying, as the captures rarely show it. Bone lengths are kept."""
    if prob <= 0 or max_deg <= 0:
        return poses  # no draws: the generator's stream stays that of a recipe without it
    n = poses.shape[0]
    tilt = torch.rand(n, generator=generator) < prob
    heading = _uniform(n, 0, 2 * math.pi, generator).to(poses.dtype)
    angle = torch.deg2rad(_uniform(n, 0, max_deg, generator)).to(poses.dtype) * tilt
    axis = torch.stack([torch.cos(heading), torch.sin(heading), torch.zeros_like(heading)], -1)
    return _turn_about(poses, list(range(NUM_JOINTS)), 0, _axis_angle(axis, angle))


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

    Returns R (n, 3, 3) world->optical rotation, C (n, 3) camera centres, K (n, 3, 3), sizes (n,
    2).
    The camera circles the person (any yaw), looks at them from a pitch within +-pitch_deg,
    then aims off by up to ``off_centre`` half-fields of view so people also appear near the
    edges or partly outside the image.
    """
    n = root.shape[0]
    yaw = _uniform(n, 0, 2 * math.pi, generator)
    pitch = torch.deg2rad(_uniform(n, -cfg.pitch_deg, cfg.pitch_deg, generator))
    distance = _uniform(n, *cfg.distance_range, generator)
    direction = torch.stack(
        [torch.cos(pitch) * torch.cos(yaw), torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch)],
        -1,
    )
    centre = root + distance[:, None] * direction
    forward = -direction
    up = torch.tensor([0.0, 0.0, 1.0], dtype=root.dtype).expand_as(forward)
    right = torch.linalg.cross(forward, up)
    right = right / right.norm(dim=-1, keepdim=True)
    down = torch.linalg.cross(forward, right)
    R_look = torch.stack([right, down, forward], -2)

    sizes = torch.tensor(cfg.image_sizes, dtype=root.dtype)[
        torch.randint(len(cfg.image_sizes), (n,), generator=generator)
    ]
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
    K[:, 0, 2] = sizes[:, 0] * (
        0.5 + cfg.principal_jitter * torch.randn(n, generator=generator, dtype=root.dtype)
    )
    K[:, 1, 2] = sizes[:, 1] * (
        0.5 + cfg.principal_jitter * torch.randn(n, generator=generator, dtype=root.dtype)
    )
    K[:, 2, 2] = 1.0
    return R, centre, K, sizes


def observe(poses_world, cfg, generator, noise=True, camera=None):
    """World poses (n, 17, 3) in metres -> a virtual camera's view of them.

    ``camera`` (R, C, K, sizes) from ``random_cameras`` fixes the camera(s); by default each
    pose gets its own random camera. Returns a dict of float64 tensors: ``pose_cam`` (n, 17, 3)
    metres in the optical frame,
    ``uv`` (n, 17, 2) pixels with 2D noise, ``confidence`` (n, 17) in 0..1 with 0 for joints
    that are dropped or outside the image, and ``K`` (n, 3, 3).
    """
    n = poses_world.shape[0]
    camera = camera if camera is not None else random_cameras(poses_world[:, 0], cfg, generator)
    R, C, K, sizes = (x.expand(n, *x.shape[1:]) for x in camera)
    pose_cam = torch.einsum("nij,nkj->nki", R, poses_world - C[:, None])
    uv = (
        pose_cam[..., :2] / pose_cam[..., 2:3].clamp_min(0.05) * K[:, None, [0, 1], [0, 1]]
        + K[:, None, :2, 2]
    )
    inside = ((uv >= 0) & (uv <= sizes[:, None])).all(-1) & (pose_cam[..., 2] > 0.1)
    confidence = torch.where(inside, 1.0, 0.0).to(poses_world.dtype)
    if noise:
        size = (uv.amax(1) - uv.amin(1)).norm(dim=-1)
        sigma = _uniform(n, *cfg.noise_range, generator) * size
        uv = uv + sigma[:, None, None] * torch.randn(uv.shape, generator=generator, dtype=uv.dtype)
        outlier = torch.rand(n, NUM_JOINTS, generator=generator, dtype=uv.dtype) < cfg.outlier_prob
        uv = uv + outlier[..., None] * 0.15 * size[:, None, None] * torch.randn(
            uv.shape, generator=generator, dtype=uv.dtype
        )
        drop_rate = _uniform(n, *cfg.drop_range, generator)
        dropped = (
            torch.rand(n, NUM_JOINTS, generator=generator, dtype=uv.dtype) < drop_rate[:, None]
        )
        confidence = confidence * ~dropped
        # Detector-like confidences: lower on noisy joints, but never 0 for a kept joint.
        confidence = confidence * (
            1.0 - 0.5 * torch.rand(n, NUM_JOINTS, generator=generator, dtype=uv.dtype) * outlier
        )
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


def place_for_cameras(poses_world, cfg, generator):
    """Poses placed for a fixed set of real cameras: lowest joint 0.1 m above the floor (z = 0),
    turned to a random heading, root at a random point of ``cfg.person_area``; each pose gets
    one of ``cfg.cameras`` at random. Returns (poses, camera tuple with one row per pose)."""
    n = poses_world.shape[0]
    root = poses_world[:, :1]
    yaw = _uniform(n, 0, 2 * math.pi, generator).to(poses_world.dtype)
    poses = (poses_world - root) @ _rotation("z", yaw).transpose(-1, -2)
    (x0, x1), (y0, y1) = cfg.person_area
    poses[..., 0] += _uniform(n, x0, x1, generator)[:, None]
    poses[..., 1] += _uniform(n, y0, y1, generator)[:, None]
    poses[..., 2] += 0.1 - poses[..., 2].amin(1, keepdim=True)
    pick = torch.randint(len(cfg.cameras[0]), (n,), generator=generator)
    return poses, tuple(c[pick].to(poses.dtype) for c in cfg.cameras)


def augment(poses_world, cfg, generator):
    """A training batch from world poses in metres: recombined body parts, perturbed joint
    angles, tilted bodies, body size and proportions, joint definitions, mirroring, a camera,
    2D noise and GFPose's condition masks."""
    poses = poses_world.to(torch.float64)
    n = poses.shape[0]
    poses = recombine(poses, cfg.recombine_prob, generator)
    poses = perturb_joint_angles(poses, cfg.joint_angle_std_deg, generator)
    poses = tilt_bodies(poses, cfg.tilt_prob, cfg.tilt_max_deg, generator)
    poses = set_bone_lengths(poses, target_bone_lengths(poses, cfg, generator))
    poses = vary_definitions(poses, cfg.definition_jitter, generator)
    flip = torch.rand(n, generator=generator) < cfg.mirror_prob
    poses = torch.where(flip[:, None, None], mirror(poses), poses)
    camera = None
    if cfg.camera_model == "file":
        poses, camera = place_for_cameras(poses, cfg, generator)
    view = observe(poses, cfg, generator, camera=camera)
    view["confidence"] = view["confidence"] * training_masks(n, cfg, generator).to(poses.dtype)
    view["use_3d_condition"] = torch.rand(n, generator=generator) < cfg.condition_3d_prob
    return view
