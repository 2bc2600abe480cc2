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
    coordinates, weights (..., J) >= 0 (0 for a missing joint). With x = (X + Tx) / (Z + Tz)
    each joint gives two equations linear in T: Tx - x Tz = x Z - X and Ty - y Tz = y Z - Y.
    Needs two or more weighted joints; returns NaN where fewer are seen.
    """
    pose_rel = np.asarray(pose_rel, dtype=np.float64)
    xy = np.where(np.asarray(weights)[..., None] > 0, np.asarray(xy, dtype=np.float64), 0.0)
    w = np.asarray(weights, dtype=np.float64)
    zeros, ones = np.zeros_like(w), np.ones_like(w)
    rows_x = np.stack([ones, zeros, -xy[..., 0]], axis=-1)
    rows_y = np.stack([zeros, ones, -xy[..., 1]], axis=-1)
    A = np.concatenate([rows_x, rows_y], axis=-2)  # (..., 2J, 3)
    b = np.concatenate(
        [
            xy[..., 0] * pose_rel[..., 2] - pose_rel[..., 0],
            xy[..., 1] * pose_rel[..., 2] - pose_rel[..., 1],
        ],
        axis=-1,
    )
    ww = np.concatenate([w, w], axis=-1)
    AtA = np.einsum("...ki,...k,...kj->...ij", A, ww, A)
    Atb = np.einsum("...ki,...k,...k->...i", A, ww, b)
    enough = (np.asarray(weights) > 0).sum(-1) >= 2
    AtA = np.where(enough[..., None, None], AtA, np.eye(3))
    T = np.linalg.solve(AtA, Atb[..., None])[..., 0]
    return np.where(enough[..., None], T, np.nan)


def toward_rays(points, xy, weight):
    """Move camera-frame points (..., J, 3) toward their 2D rays, keeping each one's depth.

    xy (..., J, 2) normalised image coordinates, weight (..., J) in 0..1: 1 puts the point on
    its ray at its own depth (so it reprojects exactly onto the 2D), 0 leaves it.
    """
    on_ray = np.concatenate([xy * points[..., 2:3], points[..., 2:3]], axis=-1)
    return points + np.asarray(weight)[..., None] * (on_ray - points)
