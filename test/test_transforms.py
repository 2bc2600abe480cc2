"""Poses and velocities into a target frame (gfpose_ros.transforms) with a stand-in transform,
and the lift node's tf2 path where tf2 exists."""

import numpy as np
import pytest

from gfpose_ros.lifter import LiftResult
from gfpose_ros.motion import MotionArrays
from gfpose_ros.transforms import (
    rotation_translation,
    to_frame,
    transform_points,
    transform_velocities,
)


def yaw(angle):
    """(x, y, z, w) of a rotation about z."""
    return (0.0, 0.0, np.sin(angle / 2), np.cos(angle / 2))


def test_quaternion_matrix_is_a_rotation():
    R, t = rotation_translation((0.1, -0.3, 0.2, 0.9), (1.0, 2.0, 3.0))
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(R), 1.0)
    R, _ = rotation_translation(yaw(np.pi / 2), (0, 0, 0))
    np.testing.assert_allclose(R @ [1.0, 0, 0], [0, 1.0, 0], atol=1e-12)


def test_a_still_person_seen_from_a_moving_camera_has_zero_velocity_in_the_fixed_frame():
    """The camera drives at 1 m/s along the world x and turns; the person stands still. In the
    camera frame the person moves; in the world frame their velocity is zero."""
    person_world = np.array([3.0, 1.0, 0.9])
    dt = 0.05

    def camera_pose(t):  # world <- camera
        return rotation_translation(yaw(0.3 * t), (1.0 * t, 0.0, 0.5))

    def in_camera(t):
        R, p = camera_pose(t)
        return R.T @ (person_world - p)

    t = 1.0
    seen = in_camera(t)
    v_camera = (in_camera(t + 1e-4) - in_camera(t - 1e-4)) / 2e-4  # what the filter measures
    assert np.linalg.norm(v_camera) > 0.5
    R, p = camera_pose(t)
    R0, p0 = camera_pose(t - dt)
    np.testing.assert_allclose(transform_points(seen, R, p), person_world, atol=1e-12)
    v_world = transform_velocities(seen, v_camera, R, p, previous=(R0, p0, dt))
    np.testing.assert_allclose(v_world, 0.0, atol=0.02)  # first-order camera motion over dt
    # Without the camera's motion the camera-frame velocity is only rotated: not the person's.
    assert np.linalg.norm(transform_velocities(seen, v_camera, R, p)) > 0.5


def test_to_frame_moves_poses_hypotheses_and_velocities_and_keeps_unknown_zeros():
    rng = np.random.default_rng(0)
    poses = rng.normal(size=(2, 17, 3)) + [0, 0, 5]
    result = LiftResult(
        poses,
        poses[:, None].repeat(3, 1),
        np.full((2, 3), 1 / 3),
        np.full((2, 17), 0.05),
        np.ones((2, 17), bool),
        np.ones(2),
    )
    cov = np.stack([np.diag([0.01, 0.02, 0.09])] * 2)
    motion = MotionArrays(
        np.array([[1.0, 0, 0], [0, 0, 0]]),
        cov,
        np.ones((2, 17, 3)),
        np.full((2, 17), 0.1),
        np.array([True, False]),
    )
    R, t = rotation_translation(yaw(np.pi / 2), (1.0, 2.0, 0.0))
    moved, moved_motion = to_frame(result, motion, (R, t))
    np.testing.assert_allclose(moved.poses, poses @ R.T + t)
    np.testing.assert_allclose(moved.hypotheses[:, 0], moved.poses)
    np.testing.assert_allclose(moved_motion.velocity[0], [0, 1.0, 0], atol=1e-12)
    assert not moved_motion.velocity[1].any() and not moved_motion.joint_velocity[1].any()
    np.testing.assert_allclose(moved_motion.velocity_cov[0], R @ cov[0] @ R.T)
    np.testing.assert_array_equal(result.poses, poses)  # the input is unchanged


def test_lift_node_tf2_path():
    pytest.importorskip(
        "tf2_ros", reason="tf2_ros has no pip wheel: the tf2 path runs only where ROS is installed"
    )
    from gfpose_ros.ros import lift_node

    assert "target_frame" in lift_node.PARAMETERS
    assert callable(lift_node.LiftNode.in_target_frame)
