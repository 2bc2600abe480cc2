"""The canonical H36M-17 skeleton and mappings from other keypoint layouts into it."""

import functools

import numpy as np

JOINT_NAMES = (
    "hip",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "spine",
    "thorax",
    "neck_nose",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)
PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15])
BONES = tuple((int(PARENTS[j]), j) for j in range(1, NUM_JOINTS))
LEFT_RIGHT_PAIRS = ((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16))
MIRROR_INDEX = np.arange(NUM_JOINTS)
for _left, _right in LEFT_RIGHT_PAIRS:
    MIRROR_INDEX[_left], MIRROR_INDEX[_right] = _right, _left
BODY_PARTS = {
    "torso_head": (0, 7, 8, 9, 10),
    "left_arm": (11, 12, 13),
    "right_arm": (14, 15, 16),
    "left_leg": (4, 5, 6),
    "right_leg": (1, 2, 3),
}
LOWER_BODY = (1, 2, 3, 4, 5, 6)

# Each layout maps H36M joint -> source index, or a pair of source indices whose midpoint is
# the H36M joint. A joint a layout lacks is absent from its map and is reported as missing.
# The model's joint convention (sources.harmonise) puts the pelvis at the hips' midpoint and
# the thorax at the shoulders' midpoint, so both come exactly from COCO and MediaPipe; their
# nose stands for the neck/nose joint. Spine and head top have no counterpart: masked, not guessed.
_COCO17 = {
    0: (11, 12),
    1: 12,
    2: 14,
    3: 16,
    4: 11,
    5: 13,
    6: 15,
    8: (5, 6),
    9: 0,
    11: 5,
    12: 7,
    13: 9,
    14: 6,
    15: 8,
    16: 10,
}
_MEDIAPIPE33 = {
    0: (23, 24),
    1: 24,
    2: 26,
    3: 28,
    4: 23,
    5: 25,
    6: 27,
    8: (11, 12),
    9: 0,
    11: 11,
    12: 13,
    13: 15,
    14: 12,
    15: 14,
    16: 16,
}
_H36M17 = {j: j for j in range(NUM_JOINTS)}
LAYOUTS = {
    "h36m17": (17, _H36M17),
    "coco17": (17, _COCO17),
    "mediapipe33": (33, _MEDIAPIPE33),
}


class LayoutError(ValueError):
    pass


def layout_size(layout):
    if layout not in LAYOUTS:
        raise LayoutError(
            f"unknown keypoint layout {layout!r}; known layouts: {', '.join(sorted(LAYOUTS))}"
        )
    return LAYOUTS[layout][0]


def to_h36m(layout, uv, confidence):
    """Map keypoints (..., K, 2) and confidences (..., K) of ``layout`` to H36M-17.

    Joints the layout lacks, or whose source is unseen (confidence 0 or non-finite),
    come back with confidence 0. A midpoint joint takes the smaller confidence of its pair.
    """
    size = layout_size(layout)
    uv = np.asarray(uv, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    if uv.shape[-2:] != (size, 2) or confidence.shape != uv.shape[:-1]:
        raise LayoutError(
            f"layout {layout!r} has {size} keypoints; got uv shape {uv.shape} and confidence "
            f"shape {confidence.shape}"
        )
    seen = np.isfinite(uv).all(-1) & np.isfinite(confidence) & (confidence > 0)
    confidence = np.where(seen, confidence, 0.0)
    uv = np.where(seen[..., None], uv, 0.0)
    if layout == "h36m17":  # already in order: nothing to map
        return uv, confidence
    a, b, has_source = _source_indices(layout)
    out_uv = 0.5 * (uv[..., a, :] + uv[..., b, :]) * has_source[:, None]
    out_conf = np.minimum(confidence[..., a], confidence[..., b]) * has_source
    return out_uv, out_conf


@functools.lru_cache(maxsize=None)
def _source_indices(layout):
    """Per H36M joint, the two layout keypoints it is the midpoint of (the same one twice for a
    joint the layout has), and whether the layout has it at all."""
    a, b = np.zeros(NUM_JOINTS, dtype=int), np.zeros(NUM_JOINTS, dtype=int)
    has_source = np.zeros(NUM_JOINTS)
    for joint, source in LAYOUTS[layout][1].items():
        a[joint], b[joint] = source if isinstance(source, tuple) else (source, source)
        has_source[joint] = 1.0
    return a, b, has_source


def bone_lengths(poses):
    """Bone lengths (..., 16) of poses (..., 17, 3), in the poses' unit."""
    return np.linalg.norm(poses[..., 1:, :] - poses[..., PARENTS[1:], :], axis=-1)


# Adult bone lengths as fractions of stature, one per entry of BONES. Limbs follow Drillis &
# Contini (thigh 0.245, shank 0.246, upper arm 0.186, forearm 0.146); the trunk and head
# follow Human3.6M's mean subject (1.75 m): pelvis-hip 132, pelvis-spine 233, spine-thorax
# 254, thorax-neck 115, neck-head top 115, thorax-shoulder 150 mm.
ADULT_BONE_RATIOS = np.array(
    [
        0.0754,
        0.245,
        0.246,
        0.0754,
        0.245,
        0.246,
        0.133,
        0.145,
        0.0657,
        0.0657,
        0.0857,
        0.186,
        0.146,
        0.0857,
        0.186,
        0.146,
    ]
)


def _chain_length(lengths):
    """Thigh + shank (mean of both sides) + pelvis..head top: the body's vertical chain."""
    leg = 0.5 * (lengths[..., 1] + lengths[..., 2] + lengths[..., 4] + lengths[..., 5])
    return leg + lengths[..., 6] + lengths[..., 7] + lengths[..., 8] + lengths[..., 9]


_STATURE_PER_CHAIN = 1.0 / _chain_length(ADULT_BONE_RATIOS)


def stature_from_bone_lengths(lengths):
    """stature() of bone lengths (..., 16) in BONES order."""
    return _chain_length(lengths) * _STATURE_PER_CHAIN


# The chain's bones by their child joint, and each one's weight in _chain_length (legs averaged).
_CHAIN_JOINTS = np.array([2, 3, 5, 6, 7, 8, 9, 10])
_CHAIN_PARENTS = PARENTS[_CHAIN_JOINTS]
_CHAIN_BONES = np.zeros((len(_CHAIN_JOINTS), NUM_JOINTS))  # child minus parent, row by row
_CHAIN_BONES[np.arange(len(_CHAIN_JOINTS)), _CHAIN_JOINTS] = 1.0
_CHAIN_BONES[np.arange(len(_CHAIN_JOINTS)), _CHAIN_PARENTS] = -1.0
_ONES3 = np.ones(3)
_CHAIN_WEIGHTS = np.array([0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]) * _STATURE_PER_CHAIN


def stature(poses):
    """Standing height (...,) implied by a pose's bone lengths, in the poses' unit.

    Calibrated so that a body with ADULT_BONE_RATIOS * H has stature H; posture does not matter.
    (The lifter calls it on every frame: only the chain's bones are measured.)
    """
    bones = _CHAIN_BONES @ poses  # (..., 8, 3): one product, not two gathers and a difference
    return np.sqrt((bones * bones) @ _ONES3) @ _CHAIN_WEIGHTS  # a matmul sums 3 faster
