"""Poses and velocities into another frame (the lift node's ``target_frame``), without ROS.

    R, t = rotation_translation(quaternion_xyzw, translation)  # tf2's target <- source
    result, motion = to_frame(result, motion, (R, t), previous=(R0, t0, dt))

A point p in the source (camera) frame is R p + t in the target frame. A velocity v measured in
a moving camera frame is, in the target frame, R v + dR/dt p + dt/dt: the camera's own motion
(from the transform ``dt`` seconds earlier, ``previous``) is added back, so that in a fixed frame
(odom, map) a person standing still has zero velocity while the robot drives past. Covariances
rotate as R C R^T (the transform's own uncertainty is not added).
"""

import dataclasses

import numpy as np


def rotation_translation(quaternion, translation):
    """(R (3, 3), t (3,)) of a rotation quaternion (x, y, z, w) and a translation (3,)."""
    x, y, z, w = np.asarray(quaternion, dtype=np.float64) / np.linalg.norm(quaternion)
    R = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    return R, np.asarray(translation, dtype=np.float64)


def transform_points(points, R, t):
    """Points (..., 3) of the source frame in the target frame."""
    return np.asarray(points) @ R.T + t


def transform_velocities(points, velocities, R, t, previous=None):
    """Velocities (..., 3) measured in the source frame at ``points`` (..., 3), in the target
    frame. ``previous`` (R0, t0, dt): the transform dt seconds earlier, for a moving source frame
    (its motion is added); None = the source frame does not move in the target frame."""
    moved = np.asarray(velocities) @ R.T
    if previous is None:
        return moved
    R0, t0, dt = previous
    if not dt > 0:
        raise ValueError(f"dt must be > 0 seconds, got {dt}")
    dR, dT = (R - R0) / dt, (t - t0) / dt
    return moved + np.asarray(points) @ dR.T + dT


def to_frame(result, motion, transform, previous=None):
    """(LiftResult, motion.MotionArrays) of one frame in the target frame: poses, hypotheses,
    root and joint velocities and the velocity covariance; ``transform`` (R, t) target <- source
    at the frame's stamp, ``previous`` as for transform_velocities. Unknown velocities stay
    zeros. The inputs are not changed."""
    R, t = transform
    poses = transform_points(result.poses, R, t)
    moved = dataclasses.replace(
        result, poses=poses, hypotheses=transform_points(result.hypotheses, R, t)
    )
    known = np.asarray(motion.known, dtype=bool)
    velocity = transform_velocities(result.poses[:, 0], motion.velocity, R, t, previous)
    joint_velocity = transform_velocities(result.poses, motion.joint_velocity, R, t, previous)
    moved_motion = dataclasses.replace(
        motion,
        velocity=np.where(known[:, None], velocity, 0.0),
        joint_velocity=np.where(known[:, None, None], joint_velocity, 0.0),
        velocity_cov=R @ motion.velocity_cov @ R.T,
    )
    return moved, moved_motion
