"""Depth-assisted metric position: an RGB-D camera's depth image fixes each person's distance and
size.

One colour camera cannot tell a small near person from a tall far one, so the monocular lifter
places a body of the size it assumes. A depth image aligned to the colour image measures the
distance of the visible body surface. Per person:

1. sample a robust depth (window median) at the observed torso joints (hips, pelvis, spine,
   thorax, shoulders: large surfaces, rarely a thin limb against the background);
2. add each joint's depth behind the surface its pixel sees, by casting that pixel's ray at
   the body (body_surface's capsules) around the current pose: a joint centre lies a body
   radius behind the skin, and a far hip seen from the side lies behind the near one;
3. pick the torso joints that see the body: a group of at least ``min_joints`` whose depths
   agree given the pose's own relative depths. Of two groups (a table in front of the hips,
   the shoulders above it), the body is the one that leaves no torso or head joint reading
   *behind* it, since whatever else a depth sensor sees at a body pixel is in front of the body;
4. fit the scale s and root T so that s * rel + T reprojects onto the 2D keypoints and its
   joint depths match the measured ones (weighted linear least squares), refitting without
   joints beyond a few MADs;
5. check the result: a plausible scale, agreement with the monocular distance, no torso or
   head joints (beyond ``max_behind``) and not most of the limbs reading behind the fitted body
   (a board in front of the whole torso agrees with itself). Any failure keeps the monocular
   fit, with a reason.

Limits: a person whose torso, head and arms are all behind one flat board at the same depth
looks like a smaller, nearer person standing there; the scale and distance checks only catch
it when the board is far enough in front.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from .body_surface import surface_depth

TORSO_JOINTS = (0, 1, 4, 7, 8, 11, 14)  # pelvis, hips, spine, thorax, shoulders
GUARD_JOINTS = TORSO_JOINTS + (9, 10)  # ... and the head
DEPTH_ENCODINGS = {"16UC1": 0.001, "mono16": 0.001, "32FC1": 1.0}  # metres per unit
DEPTH = "depth"
MONOCULAR = "monocular"


def depth_to_metres(array, encoding):
    """A depth image as a ROS driver publishes it -> (H, W) float32 metres, 0 = no data.

    16UC1 / mono16 are millimetres (0 = no data), 32FC1 metres (NaN, inf or <= 0 = no data).
    """
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(
            f"unsupported depth encoding {encoding!r}; expected one of "
            f"{', '.join(DEPTH_ENCODINGS)}"
        )
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"a depth image must be 2-dimensional (H, W), got shape {array.shape}")
    metres = array.astype(np.float64) * DEPTH_ENCODINGS[encoding]
    return np.where(np.isfinite(metres) & (metres > 0), metres, 0.0).astype(np.float32)


def as_depth_image(depth):
    """Check the type of a depth image in metres (H, W); bad values are not checked here (they
    make the fusion fall back), only a wrong kind of argument raises ValueError."""
    try:
        depth = np.asarray(depth)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"depth must be an (H, W) array of metres: {exc}") from None
    if depth.ndim != 2:
        raise ValueError(
            f"depth must be an (H, W) array of metres, got {depth.ndim} dimensions {depth.shape}"
        )
    if not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(
            f"depth must be float metres, got dtype {depth.dtype} "
            "(convert a 16UC1 image with depth_fusion.depth_to_metres)"
        )
    return depth


@dataclass(frozen=True)
class DepthFusionConfig:
    joints: tuple = TORSO_JOINTS  # joints whose depth places the body
    guard_joints: tuple = GUARD_JOINTS  # joints that must not read behind the placed body
    window: float = 0.02  # window half-size, fraction of the person's 2D box diagonal ...
    max_window: int = 6  # ... in 1..max_window pixels
    min_valid_fraction: float = 0.3  # of a window's pixels with data, else the joint is unmeasured
    depth_range: tuple = (0.2, 20.0)  # metres; anything else is no data
    min_joints: int = 3  # consistent measured joints needed
    max_behind: int = 0  # guard joints allowed to read behind the fitted body ...
    behind_margin: float = (
        0.1  # ... by more than the tolerance plus this (m; the pose's own error)
    )
    outlier_mads: float = 3.0  # a joint disagrees beyond this many MADs of the residuals ...
    outlier_floor: float = 0.08  # ... and beyond this (m) plus 2 sensor sigmas
    sensor_noise: tuple = (0.002, 0.001)  # one pixel's depth std: a + b z^2 metres
    model_sigma: float = 0.05  # m: error of a joint's depth from the pose and the surface model
    lateral_sigma: float = 0.04  # m: error of the 2D fit at a joint
    scale_prior_sigma: float = 0.3  # weak prior on the scale relative to the model's body
    scale_range: tuple = (0.75, 1.3)  # plausible sizes relative to the model's body
    max_disagreement: float = 0.4  # |depth distance / monocular distance - 1| allowed
    occluder_margin: float = (
        0.15  # m: the limbs this much (+2 sigma) behind the body = occluded torso
    )

    def __post_init__(self):
        for name in ("joints", "guard_joints"):
            joints = getattr(self, name)
            if not joints or not all(
                isinstance(j, (int, np.integer)) and 0 <= j < 17 for j in joints
            ):
                raise ValueError(
                    f"depth fusion {name} must be H36M joint indices 0..16, got {joints!r}"
                )
        if not 0 < self.window <= 0.5 or not (
            isinstance(self.max_window, int) and self.max_window >= 1
        ):
            raise ValueError(
                f"depth fusion window must be in (0, 0.5] and max_window an integer >= 1, "
                f"got {self.window!r}, {self.max_window!r}"
            )
        if not 0 < self.min_valid_fraction <= 1:
            raise ValueError(
                f"depth fusion min_valid_fraction must be in (0, 1], got "
                f"{self.min_valid_fraction!r}"
            )
        if not (isinstance(self.min_joints, int) and 1 <= self.min_joints <= len(self.joints)):
            raise ValueError(
                f"depth fusion min_joints must be 1..{len(self.joints)}, got {self.min_joints!r}"
            )
        if not (isinstance(self.max_behind, int) and self.max_behind >= 0):
            raise ValueError(
                f"depth fusion max_behind must be an integer >= 0, got {self.max_behind!r}"
            )
        for name in ("depth_range", "scale_range"):
            value = getattr(self, name)
            if not (len(value) == 2 and 0 < value[0] < value[1]):
                raise ValueError(
                    f"depth fusion {name} must be (low, high) with 0 < low < high, got {value!r}"
                )
        for name in (
            "outlier_mads",
            "outlier_floor",
            "model_sigma",
            "lateral_sigma",
            "scale_prior_sigma",
            "max_disagreement",
            "occluder_margin",
            "behind_margin",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"depth fusion {name} must be > 0, got {getattr(self, name)!r}")
        if len(self.sensor_noise) != 2 or min(self.sensor_noise) < 0:
            raise ValueError(
                f"depth fusion sensor_noise must be (a, b) >= 0, got {self.sensor_noise!r}"
            )

    def sensor_sigma(self, z):
        return self.sensor_noise[0] + self.sensor_noise[1] * np.asarray(z) ** 2

    def tolerance(self, z):
        """How far (m) a depth at z may be from the body's and still agree with it."""
        return self.outlier_floor + 2 * self.sensor_sigma(z)


@dataclass
class DepthFit:
    used: bool
    reason: str  # why depth was not used, or what it was made of
    scale: float = 1.0  # body size relative to the monocular pose
    root: np.ndarray = None  # (3,) fused root position, metres, camera frame


def window_depths(depth, uv, half, config, quantile=50):
    """Robust depth (J,) in a (2 half + 1)^2 window around each pixel uv (J, 2): a percentile of
    the pixels with data; NaN where too few have data or the pixel is outside the image."""
    low, high = config.depth_range
    out = np.full(len(uv), np.nan)
    for i, (u, v) in enumerate(np.round(uv).astype(int)):
        if not (0 <= v < depth.shape[0] and 0 <= u < depth.shape[1]):
            continue
        window = depth[max(v - half, 0) : v + half + 1, max(u - half, 0) : u + half + 1]
        values = window[(window >= low) & (window <= high)]  # NaN compares False
        if len(values) >= config.min_valid_fraction * (2 * half + 1) ** 2:
            out[i] = np.percentile(values, quantile)
    return out


def depth_behind_surface(pose, xy, joints):
    """How far (m) each joint of ``joints`` lies behind the body surface seen along the ray
    through its 2D point xy, for the body of ``pose`` (17, 3) as placed. A ray that misses the
    model (2D noise at a silhouette edge) gets the median of the others."""
    joints = list(joints)
    behind = pose[joints, 2] - surface_depth(pose, xy[joints])
    behind = np.where(np.isfinite(behind), behind.clip(0.0, 0.6), np.nan)
    return np.where(
        np.isfinite(behind), behind, np.nanmedian(behind) if np.isfinite(behind).any() else 0.1
    )


def behind_count(guard_depth, pose, xy, guards, config, shift=0.0):
    """How many guard joints read farther than the surface of ``pose`` moved back by ``shift`` m:
    impossible for a body that is there, since anything else the sensor sees is in front of it."""
    predicted = surface_depth(pose, xy[guards]) + shift
    can_say = np.isfinite(predicted) & np.isfinite(guard_depth)
    excess = guard_depth[can_say] - predicted[can_say] - config.tolerance(predicted[can_say])
    return int((excess > config.behind_margin).sum())


def body_cluster(residual, tolerance, guard_behind, config):
    """The torso joints that measure the body: residuals (measured - predicted depth) that agree
    within ``tolerance`` with a group of at least min_joints. Of several such groups (a table in
    front of the hips, the shoulders on the body), the one that leaves the fewest guard joints
    reading behind the body is the body (``guard_behind(shift)`` counts them); then the larger,
    then the farther. None when no group is large enough."""
    best, best_key = None, None
    for shift in residual:
        support = np.abs(residual - shift) <= tolerance
        if support.sum() < config.min_joints:
            continue
        key = (-guard_behind(shift), support.sum(), shift)
        if best_key is None or key > best_key:
            best, best_key = support, key
    return best


def solve_scale_and_root(rel, xy, weights_2d, joints, joint_depth, depth_sigma, config):
    """Weighted least squares for (s, T): s * rel + T reprojects onto xy and has depths
    joint_depth.

    rel (17, 3) root-relative, xy (17, 2) normalised, weights_2d (17,) (0 = unseen), joints the
    measured joints with depths and stds. A joint's 2D gives two equations linear in (s, T):
    s (X - x Z) + Tx - x Tz = 0 and the same in y, in metres at the joint; a depth gives
    s Z + Tz = z. A weak prior keeps s near 1 when the rest cannot say.
    """
    seen = weights_2d > 0
    w = np.sqrt(weights_2d[seen]) / config.lateral_sigma
    X, Y, Z = rel[seen].T
    x, y = xy[seen].T
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    rows = [
        np.stack([X - x * Z, ones, zeros, -x], -1) * w[:, None],
        np.stack([Y - y * Z, zeros, ones, -y], -1) * w[:, None],
        np.stack(
            [rel[joints, 2], np.zeros(len(joints)), np.zeros(len(joints)), np.ones(len(joints))],
            -1,
        )
        / depth_sigma[:, None],
        np.array([[1.0 / config.scale_prior_sigma, 0, 0, 0]]),
    ]
    rhs = np.concatenate(
        [np.zeros(2 * len(x)), joint_depth / depth_sigma, [1.0 / config.scale_prior_sigma]]
    )
    solution = np.linalg.lstsq(np.concatenate(rows), rhs, rcond=None)[0]
    return solution[0], solution[1:]


def fit_person(depth, uv, xy, weights_2d, pose, config, iterations=2):
    """Depth-fused scale and root for one person; ``pose`` (17, 3) is the monocular answer."""
    measured = [j for j in config.joints if weights_2d[j] > 0]
    if len(measured) < config.min_joints:
        return DepthFit(
            False, f"only {len(measured)} torso joints observed in 2D ({config.min_joints} needed)"
        )
    half = int(
        np.clip(
            round(config.window * np.linalg.norm(np.ptp(uv[weights_2d > 0], 0))),
            1,
            config.max_window,
        )
    )
    sampled = window_depths(depth, uv[measured], half, config)
    joints = [j for j, z in zip(measured, sampled) if np.isfinite(z)]
    surface_z = sampled[np.isfinite(sampled)]
    if len(joints) < config.min_joints:
        return DepthFit(
            False, f"no depth at the torso ({len(joints)} of {len(measured)} joints measured)"
        )
    # Guards read the near end of their window: a body part is in front of the background around
    # it.
    guards = [j for j in config.guard_joints if weights_2d[j] > 0]
    guard_depth = window_depths(depth, uv[guards], half, config, quantile=25)
    rel = pose - pose[0]
    scale, root, inliers = 1.0, pose[0], None
    for _ in range(iterations + 1):
        placed = scale * rel + root
        joint_depth = surface_z + depth_behind_surface(placed, xy, joints)
        residual = joint_depth - placed[joints, 2]
        tolerance = config.tolerance(joint_depth)
        if inliers is None:  # first pass: which torso joints see the body at all

            def guards_behind(shift):
                return behind_count(guard_depth, placed, xy, guards, config, shift)

            inliers = body_cluster(residual, tolerance, guards_behind, config)
            if inliers is None:
                return DepthFit(
                    False,
                    f"torso depths disagree (no {config.min_joints} of {len(joints)} joints "
                    "agree)",
                )
        else:
            spread = config.outlier_mads * 1.4826 * np.median(np.abs(residual[inliers]))
            inliers = np.abs(residual) <= np.maximum(spread, tolerance)
            if inliers.sum() < config.min_joints:
                return DepthFit(
                    False,
                    f"torso depths disagree ({inliers.sum()} of {len(joints)} joints fit the "
                    "body)",
                )
        sigma = np.hypot(config.model_sigma, config.sensor_sigma(joint_depth[inliers]))
        scale, root = solve_scale_and_root(
            rel,
            xy,
            weights_2d,
            [j for j, k in zip(joints, inliers) if k],
            joint_depth[inliers],
            sigma,
            config,
        )
    low, high = config.scale_range
    if not low <= scale <= high:
        return DepthFit(
            False, f"implausible body scale {scale:.2f} (allowed {low:g}-{high:g})", scale, root
        )
    if abs(root[2] / pose[0, 2] - 1) > config.max_disagreement:
        return DepthFit(
            False,
            f"depth puts the person at {root[2]:.2f} m, the 2D fit at {pose[0, 2]:.2f} m",
            scale,
            root,
        )
    fitted = scale * rel + root
    behind = behind_count(guard_depth, fitted, xy, guards, config)
    if behind > config.max_behind:
        return DepthFit(
            False,
            f"{behind} torso and head joints read behind the fitted body (an occluder in front?)",
            scale,
            root,
        )
    gap = rest_of_body_behind(depth, uv, xy, weights_2d, fitted, half, config)
    if gap is not None:
        return DepthFit(
            False,
            f"the limbs read {gap:.2f} m behind the fitted body (an occluder in front of the "
            "torso?)",
            scale,
            root,
        )
    return DepthFit(
        True,
        f"depth at {inliers.sum()} of {len(measured)} torso joints, scale {scale:.2f}",
        scale,
        root,
    )


def rest_of_body_behind(depth, uv, xy, weights_2d, pose, half, config):
    """How far the observed joints outside the guards (the limbs) read behind the fitted body, if
    more than ``occluder_margin``: the sign of a torso fitted to something in front of it. Each
    joint takes the near end of its window (a limb is in front of the background around it);
    joints whose ray misses the fitted body cannot say. None when they agree or too few can say."""
    others = [j for j in range(len(uv)) if weights_2d[j] > 0 and j not in config.guard_joints]
    if not others:
        return None
    predicted = surface_depth(pose, xy[others])
    near = window_depths(depth, uv[others], half, config, quantile=25)
    can_say = np.isfinite(predicted) & np.isfinite(near)
    if can_say.sum() < config.min_joints:
        return None
    gap = float(np.median(near[can_say] - predicted[can_say]))
    tolerance = config.occluder_margin + 2 * config.sensor_sigma(np.median(predicted[can_say]))
    return gap if gap > tolerance else None


def fuse_depth(depth, uv, xy, weights_2d, poses, config):
    """One DepthFit per person: uv (N, 17, 2) pixels, xy (N, 17, 2) normalised, weights_2d (N, 17)
    (0 = unseen), poses (N, 17, 3) the monocular answers, depth (H, W) metres from
    as_depth_image."""
    low, high = config.depth_range
    with np.errstate(invalid="ignore"):
        any_valid = depth.size > 0 and bool(((depth >= low) & (depth <= high)).any())
    if not any_valid:
        return [
            DepthFit(False, f"no depth in {low:g}-{high:g} m anywhere in the image")
            for _ in range(len(uv))
        ]
    with np.errstate(invalid="ignore"):
        return [
            fit_person(depth, uv[i], xy[i], weights_2d[i], poses[i], config)
            for i in range(len(uv))
        ]


def place_with_depth(result, fits):
    """The lift result with each depth-fitted person scaled to the measured size and moved to the
    fused root (the hypotheses and spreads with it); the others keep the monocular placement.

    Scaling about the camera centre keeps every joint on its 2D ray; the small remaining shift
    moves the root from s x (monocular root) to the fused root."""
    poses, hypotheses, spread = (
        result.poses.copy(),
        result.hypotheses.copy(),
        result.joint_std.copy(),
    )
    source = np.array([DEPTH if f.used else MONOCULAR for f in fits], dtype=str)
    for i, fit in enumerate(fits):
        if fit.used:
            shift = fit.root - fit.scale * poses[i, 0]
            poses[i] = fit.scale * poses[i] + shift
            hypotheses[i] = fit.scale * hypotheses[i] + shift
            spread[i] = fit.scale * spread[i]
    return dataclasses.replace(
        result,
        poses=poses,
        hypotheses=hypotheses,
        joint_std=spread,
        position_source=source,
        depth_reason=np.array([f.reason for f in fits], dtype=str),
        body_scale=np.array([f.scale if f.used else 1.0 for f in fits]),
    )
