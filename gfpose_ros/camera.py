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


def fit_root_translation(pose_rel, xy, weights):
    """Least-squares translation T so that pose_rel + T reprojects onto normalised points xy.

    pose_rel (..., J, 3) is root-relative and metric, xy (..., J, 2) normalised image
    coordinates, weights (..., J) >= 0 (0 for a missing joint); the three broadcast. With
    x = (X + Tx) / (Z + Tz) each joint gives two equations linear in T: Tx - x Tz = x Z - X and
    Ty - y Tz = y Z - Y. Their normal equations, [[a, 0, -b], [0, a, -c], [-b, -c, d]] T = r
    with weighted sums a, b, c, d, are solved in closed form (this runs on every frame, for
    every hypothesis). Needs two or more weighted joints; returns NaN where fewer are seen.
    """
    pose_rel = np.asarray(pose_rel, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    xy = np.where(w[..., None] > 0, np.asarray(xy, dtype=np.float64), 0.0)
    x, y = xy[..., 0], xy[..., 1]
    wbx = w * (x * pose_rel[..., 2] - pose_rel[..., 0])
    wby = w * (y * pose_rel[..., 2] - pose_rel[..., 1])
    r1, r2, r3 = wbx.sum(-1), wby.sum(-1), -(x * wbx + y * wby).sum(-1)
    a, b, c = w.sum(-1), (w * x).sum(-1), (w * y).sum(-1)
    d = (w * (x * x + y * y)).sum(-1)
    enough = (w > 0).sum(-1) >= 2
    # Where fewer than two joints are seen the system is singular: divide by 1, then mark NaN.
    a = np.where(enough, a, 1.0)
    tz = (a * r3 + b * r1 + c * r2) / np.where(enough, a * d - b * b - c * c, 1.0)
    T = np.stack([(r1 + b * tz) / a, (r2 + c * tz) / a, tz], -1)
    if not enough.all():  # the usual frame: every person seen, nothing to mark
        T[np.broadcast_to(~enough, tz.shape)] = np.nan
    return T


def toward_rays(points, xy, weight):
    """Move camera-frame points (..., J, 3) toward their 2D rays, keeping each one's depth.

    xy (..., J, 2) normalised image coordinates, weight (..., J) in 0..1: 1 puts the point on
    its ray at its own depth (so it reprojects exactly onto the 2D), 0 leaves it.
    """
    on_ray = np.concatenate([xy * points[..., 2:3], points[..., 2:3]], axis=-1)
    return points + np.asarray(weight)[..., None] * (on_ray - points)
