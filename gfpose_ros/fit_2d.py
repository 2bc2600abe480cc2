"""The 2D fit between denoising steps (torch, exported inside the sampler graph).

A few deterministic steps of a 2D-conditioned denoiser answer close to the conditional mean, and
the 2D enters only through the network's condition, so the published pose reprojects several
pixels off the keypoints it was lifted from. The fit puts the 2D back after every denoiser call
(GitHub issue 20), before the sampler takes its next step, so the prior re-harmonises the body
around each correction:

1. the root translation T that best reprojects the x0 estimate onto the weighted 2D (the closed
   form of camera.fit_root_translation, batched in torch);
2. walking the skeleton outward from the root, each observed joint moves toward its 2D ray at
   its own depth, by its weight; every joint first follows its parent's move, so an unseen
   joint (completed by the prior) keeps its offset from the body;
3. a joint whose 2D disagrees with the estimate by far more than the person's 2D size allows
   pulls less (a Cauchy weight, ``OUTLIER_SCALE``): a detector's gross errors and swaps.

Everything is arithmetic on fixed shapes (no SVD, no solve), so every backend runs the same fit
in the graph. Zero weights leave the pose exactly as it was, which is how ``fit_2d: false``
runs the plain conditional sampler through the same graph. Poses are root-relative in any unit:
the fit is invariant to a common scale.

``method`` "bones" is the bone-length-consistent alternative (issue 20's option (c)): each
observed child joint goes to the point of its ray at the bone's length from its parent, the
prior choosing the depth sign. It is kept for the ablation (scripts/fit_2d_ablation.py), not
shipped: it needs the root's true depth, which one camera does not give (models/MODEL_CARD.md).
"""

import torch

from .skeleton import NUM_JOINTS, PARENTS

METHODS = ("rays", "bones")
# Outliers: a joint whose reprojection residual is r pulls with weight 1 / (1 + (r / (s d))^2),
# d the RMS distance of the person's observed 2D joints from their centroid, s this scale
# (measured on 2-LOSO with clean and detector-like 2D: models/MODEL_CARD.md).
OUTLIER_SCALE = 0.2
# A root translation whose depth is below this (in the pose's units) is not a fit: the person
# would stand at the camera. Such rows are left as the prior gave them.
MIN_ROOT_DEPTH = 0.5

# The skeleton's joints by their depth in the tree (parents before children), so each level is
# one batched step.
_DEPTH = [0] * NUM_JOINTS
for _joint in range(1, NUM_JOINTS):
    _DEPTH[_joint] = _DEPTH[int(PARENTS[_joint])] + 1
LEVELS = tuple(
    tuple(j for j in range(NUM_JOINTS) if _DEPTH[j] == level)
    for level in range(1, max(_DEPTH) + 1)
)
# Each joint's parent, the root its own (its shift is held at zero).
_PARENT_INDEX = [max(int(p), 0) for p in PARENTS]


def fit_root(rel, xy, weight):
    """Least-squares translation (B, 3) so that rel (B, 17, 3) + T reprojects onto xy (B, 17, 2)
    under ``weight`` (B, 17), and (B,) whether it is a fit (two or more weighted joints, in front
    of the camera). The normal equations of camera.fit_root_translation, in closed form."""
    x, y = xy[..., 0], xy[..., 1]
    wbx = weight * (x * rel[..., 2] - rel[..., 0])
    wby = weight * (y * rel[..., 2] - rel[..., 1])
    r1, r2, r3 = wbx.sum(-1), wby.sum(-1), -(x * wbx + y * wby).sum(-1)
    a, b, c = weight.sum(-1), (weight * x).sum(-1), (weight * y).sum(-1)
    d = (weight * (x * x + y * y)).sum(-1)
    enough = (weight > 0).sum(-1) >= 2
    a = torch.where(enough, a, torch.ones_like(a))
    det = a * d - b * b - c * c
    det = torch.where(enough & (det.abs() > 1e-12), det, torch.ones_like(det))
    tz = (a * r3 + b * r1 + c * r2) / det
    translation = torch.stack([(r1 + b * tz) / a, (r2 + c * tz) / a, tz], -1)
    return translation, enough & (tz > MIN_ROOT_DEPTH)


def robust_weights(absolute, xy, weight):
    """``weight`` (B, 17) lowered where the 2D disagrees with the pose placed at ``absolute``
    (B, 17, 3): the Cauchy weight of OUTLIER_SCALE."""
    seen = (weight > 0).to(weight.dtype)
    count = seen.sum(-1, keepdim=True).clamp_min(1.0)
    centre = (xy * seen[..., None]).sum(1, keepdim=True) / count[..., None]
    size2 = (((xy - centre) ** 2).sum(-1) * seen).sum(-1, keepdim=True) / count
    projected = absolute[..., :2] / absolute[..., 2:].clamp_min(1e-3)
    residual2 = ((projected - xy) ** 2).sum(-1)
    return weight / (1.0 + residual2 / (OUTLIER_SCALE**2 * size2.clamp_min(1e-8)))


def fit_to_2d(rel, xy, weight, method="rays"):
    """The fit of this module's docstring: rel (B, 17, 3) root-relative -> root-relative
    (B, 17, 3). xy (B, 17, 2) normalised image coordinates, weight (B, 17) in 0..1 (0: unseen;
    rows without a root fit come back unchanged)."""
    translation, valid = fit_root(rel, xy, weight)
    absolute = rel + translation[:, None]
    weight = robust_weights(absolute, xy, weight) * valid[:, None].to(weight.dtype)
    if method == "rays":
        return rel - rel[:, :1] + _shifts_toward_rays(absolute, xy, weight)
    rays = torch.cat([xy, torch.ones_like(xy[..., :1])], -1)
    rays = rays / rays.norm(dim=-1, keepdim=True)
    placed = [absolute[:, 0]] + [None] * (NUM_JOINTS - 1)
    for level in LEVELS:  # on the ray at the bone's length from the parent, the prior's side
        parents = [int(PARENTS[j]) for j in level]
        parent_now = torch.stack([placed[p] for p in parents], 1)  # (B, n, 3)
        bone = absolute[:, level] - absolute[:, parents]
        followed = parent_now + bone  # the joint where the prior puts it, from the moved parent
        ray = rays[:, level]
        along = (ray * parent_now).sum(-1)
        reach = along * along - (parent_now * parent_now).sum(-1) + (bone * bone).sum(-1)
        half_chord = torch.sqrt(reach.clamp_min(0.0))
        nearer = (ray * followed).sum(-1) >= along
        on_ray = (along + torch.where(nearer, half_chord, -half_chord))[..., None] * ray
        moved = followed + weight[:, level, None] * (on_ray - followed)
        for i, joint in enumerate(level):
            placed[joint] = moved[:, i]
    fitted = torch.stack(placed, 1)
    return fitted - fitted[:, :1]


def _shifts_toward_rays(absolute, xy, weight):
    """(B, 17, 3) each joint's move in the "rays" walk, the root's zero.

    Moving toward its ray at its own depth changes only a joint's x and y, so the depths stay
    and the walk is linear: a joint's shift is s = (1 - w) s_parent + w d, with d the offset
    from where the prior put it to its ray at its depth. Iterating that over all joints at once
    as many times as the tree is deep gives the walk exactly, in a few batched operations
    rather than one per level (an ONNX Runtime graph pays per operation)."""
    target = xy * absolute[..., 2:] - absolute[..., :2]  # d (B, 17, 2)
    keep = 1.0 - weight
    keep = torch.cat([torch.zeros_like(keep[:, :1]), keep[:, 1:]], 1)[..., None]
    pull = torch.cat([torch.zeros_like(weight[:, :1]), weight[:, 1:]], 1)[..., None] * target
    shift = pull
    for _ in LEVELS[1:]:
        shift = keep * shift[:, _PARENT_INDEX] + pull
    return torch.cat([shift, torch.zeros_like(shift[..., :1])], -1)


def fit_strength(keypoint_noise, scale=0.015):
    """How hard the fit pulls, 0..1, for 2D with the expected error ``keypoint_noise`` (a
    fraction of the person's 2D box diagonal, LiftSettings.keypoint_noise): 1 for exact 2D, about
    0.7 at 1%, 0.2 at 3% (detector-like). Measured on 2-LOSO (models/MODEL_CARD.md): at full
    strength the fit gains on exact and clean 2D and loses on detector-like 2D."""
    return 1.0 / (1.0 + (keypoint_noise / scale) ** 2)
