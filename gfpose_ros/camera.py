"""Pinhole camera maths in the optical frame (REP-103: x right, y down, z forward)."""

import numpy as np
import torch


class CameraError(ValueError):
    pass


def check_intrinsics(K):
    """Return K as a (..., 3, 3) float array, or raise CameraError naming what is wrong."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape[-2:] != (3, 3):
        raise CameraError(f"intrinsics must be 3x3 matrices, got shape {K.shape}")
    if not np.isfinite(K).all():
        raise CameraError("intrinsics contain NaN or inf")
    if (K[..., 0, 0] <= 0).any() or (K[..., 1, 1] <= 0).any():
        raise CameraError("focal lengths fx and fy must be positive")
    return K


def _stack_last(a, b):
    """Stack two coordinate arrays on a new last axis, keeping numpy or torch as given."""
    return torch.stack([a, b], -1) if isinstance(a, torch.Tensor) else np.stack([a, b], axis=-1)


def intrinsics(fx, fy, cx, cy):
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def pixels_to_normalized(uv, K):
    """Pixels (..., J, 2) -> normalised image coordinates x/z, y/z, with K (..., 3, 3)."""
    K = K[..., None, :, :]  # works for numpy arrays and torch tensors alike
    y = (uv[..., 1] - K[..., 1, 2]) / K[..., 1, 1]
    x = (uv[..., 0] - K[..., 0, 2] - K[..., 0, 1] * y) / K[..., 0, 0]
    return _stack_last(x, y)


def normalized_to_pixels(xy, K):
    K = K[..., None, :, :]
    u = K[..., 0, 0] * xy[..., 0] + K[..., 0, 1] * xy[..., 1] + K[..., 0, 2]
    v = K[..., 1, 1] * xy[..., 1] + K[..., 1, 2]
    return _stack_last(u, v)


def project(points, K):
    """Camera-frame points (..., J, 3) -> pixels (..., J, 2)."""
    return normalized_to_pixels(points[..., :2] / points[..., 2:3], K)


# Per joint, its weighted [1, x, y, x^2 + y^2] -> the coefficients of its X, Y, Z (rows) in the
# right-hand side of the normal equations (columns): r1 = sum w (x Z - X), r2 = sum w (y Z - Y),
# r3 = sum w (x X + y Y - (x^2 + y^2) Z). One matrix product builds C (this runs on every frame).
_RHS_BASIS = np.array(
    [
        [-1, 0, 0, 0, -1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, -1],
    ],
    dtype=np.float64,
)
_ONES2 = np.ones(2)  # x @ _ONES2 sums a last axis of 2: numpy's matmul beats sum(-1) there


def root_fit_operator(xy, weights):
    """The least-squares root translation as a linear map, for one set of 2D observations:
    (C (..., 51, 3), A (..., 3, 3)) such that T = A (pose C), pose a root-relative pose (J = 17)
    flattened to 51 numbers. Built once per person, it places any number of hypotheses with two
    matrix products (fit_root_translation spells out what it solves). xy (..., J, 2)
    normalised, weights (..., J) >= 0; A is NaN where fewer than two joints are weighted."""
    w = np.asarray(weights, dtype=np.float64)
    seen = w > 0
    xy = np.where(seen[..., None], np.asarray(xy, dtype=np.float64), 0.0)
    terms = np.empty(w.shape + (4,))
    terms[..., 0] = 1.0
    terms[..., 1:3] = xy
    terms[..., 3] = (xy * xy) @ _ONES2
    terms *= w[..., None]
    C = (terms @ _RHS_BASIS).reshape(w.shape[:-1] + (-1, 3))
    sums = terms.sum(-2)
    a, b, c, d = sums[..., 0], sums[..., 1], sums[..., 2], sums[..., 3]
    enough = seen.sum(-1) >= 2
    partial = not enough.all()  # someone has fewer than two joints: stand-ins, NaN below
    if partial:
        a = np.where(enough, a, 1.0)
    det = a * d - b * b - c * c
    if partial:
        det = np.where(enough, det, 1.0)
    # [[a, 0, -b], [0, a, -c], [-b, -c, d]] T = r, inverted in closed form.
    bd, cd = b / det, c / det
    cross = c * bd / a
    A = np.empty(a.shape + (9,))
    A[..., 0] = 1 / a + b * bd / a
    A[..., 1] = A[..., 3] = cross
    A[..., 2] = A[..., 6] = bd
    A[..., 4] = 1 / a + c * cd / a
    A[..., 5] = A[..., 7] = cd
    A[..., 8] = a / det
    A = A.reshape(a.shape + (3, 3))
    if partial:  # the usual frame: every person seen, nothing to mark
        A[~np.broadcast_to(enough, A.shape[:-2])] = np.nan
    return C, A


def apply_root_fit(pose_rel, operator):
    """Translations (..., 3) of root-relative poses (..., J, 3) under root_fit_operator's map
    (their leading dimensions broadcast)."""
    C, A = operator
    r = (pose_rel.reshape(pose_rel.shape[:-2] + (1, -1)) @ C)[..., 0, :]
    return (A @ r[..., None])[..., 0]


def fit_root_translation(pose_rel, xy, weights):
    """Least-squares translation T so that pose_rel + T reprojects onto normalised points xy.

    pose_rel (..., J, 3) is root-relative and metric, xy (..., J, 2) normalised image
    coordinates, weights (..., J) >= 0 (0 for a missing joint); the three broadcast. With
    x = (X + Tx) / (Z + Tz) each joint gives two equations linear in T: Tx - x Tz = x Z - X and
    Ty - y Tz = y Z - Y. Their normal equations, [[a, 0, -b], [0, a, -c], [-b, -c, d]] T = r
    with weighted sums a, b, c, d, are solved in closed form (root_fit_operator, which a caller
    placing many poses on the same 2D builds once). Needs two or more weighted joints; returns
    NaN where fewer are seen.
    """
    pose_rel = np.asarray(pose_rel, dtype=np.float64)
    return apply_root_fit(pose_rel, root_fit_operator(xy, weights))


def toward_rays(points, xy, weight):
    """Move camera-frame points (..., J, 3) toward their 2D rays, keeping each one's depth.

    xy (..., J, 2) normalised image coordinates, weight (..., J) in 0..1: 1 puts the point on
    its ray at its own depth (so it reprojects exactly onto the 2D), 0 leaves it.
    """
    moved = np.array(points, dtype=np.result_type(points, np.float32))
    lateral = moved[..., :2]  # a view: the depth stays
    lateral += np.asarray(weight)[..., None] * (xy * moved[..., 2:3] - lateral)
    return moved
