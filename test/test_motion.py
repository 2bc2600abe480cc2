"""motion.PersonMotion: the constant-velocity Kalman filter per track (velocities, no lag,
restarts on an abrupt change), and optimal association (tracking.optimal_assignment)."""

import itertools

import numpy as np

from gfpose_ros.motion import MotionArrays, PersonMotion, unknown_motion
from gfpose_ros.tracking import optimal_assignment

DT = 1.0 / 30.0


def walking_pose(t, velocity=(1.2, 0.0, 0.3), start=(0.0, 0.0, 5.0)):
    """A rigid 17-joint body whose root moves at a constant velocity (m/s)."""
    offsets = np.stack([np.linspace(-0.2, 0.2, 17), np.linspace(-0.8, 0.8, 17), np.zeros(17)], 1)
    return np.asarray(start) + np.asarray(velocity) * t + offsets


def test_velocity_is_unknown_on_the_first_frame_then_estimated():
    motion = PersonMotion()
    first = motion.update(walking_pose(0.0), np.full(17, 0.03), 0.0)
    assert not first.known and not first.velocity.any() and not first.joint_velocity.any()
    rng = np.random.default_rng(0)
    for k in range(1, 60):
        noisy = walking_pose(k * DT) + rng.normal(0, [0.01, 0.01, 0.05], (17, 3))[0]
        out = motion.update(noisy, np.full(17, 0.03), k * DT)
    assert out.known
    np.testing.assert_allclose(out.velocity, [1.2, 0.0, 0.3], atol=0.25)
    # The covariance is symmetric, positive, and holds the monocular size uncertainty.
    assert np.allclose(out.velocity_cov, out.velocity_cov.T)
    assert (np.linalg.eigvalsh(out.velocity_cov) > 0).all()
    assert out.joint_velocity.shape == (17, 3) and (out.joint_velocity_std > 0).all()


def test_no_lag_at_constant_velocity():
    """The filtered pose is at the measurement's time, not behind it (a low-pass would trail)."""
    motion = PersonMotion()
    for k in range(90):
        out = motion.update(walking_pose(k * DT), np.full(17, 0.03), k * DT)
    np.testing.assert_allclose(out.pose, walking_pose(89 * DT), atol=0.01)


def test_an_abrupt_change_restarts_the_filter_within_one_frame():
    motion = PersonMotion()
    for k in range(30):
        motion.update(walking_pose(k * DT), np.full(17, 0.03), k * DT)
    jumped = walking_pose(30 * DT, start=(1.5, 0.0, 7.0))  # someone else, or a fall
    out = motion.update(jumped, np.full(17, 0.03), 30 * DT)
    np.testing.assert_allclose(out.pose, jumped, atol=1e-9)
    assert not out.known  # the old velocity is not carried over
    out = motion.update(jumped, np.full(17, 0.03), 30 * DT, restart=True)  # the caller's restart
    assert not out.known


def test_unknown_motion_and_stack():
    empty = unknown_motion(2)
    assert empty.velocity.shape == (2, 3) and not empty.known.any()
    assert MotionArrays.stack([]).velocity.shape == (0, 3)


def brute_force(cost, max_cost):
    rows, cols = cost.shape
    best = (0, 0.0)
    for k in range(min(rows, cols) + 1):
        for rs in itertools.combinations(range(rows), k):
            for cs in itertools.permutations(range(cols), k):
                if all(cost[r, c] <= max_cost for r, c in zip(rs, cs)):
                    key = (-k, sum(cost[r, c] for r, c in zip(rs, cs)))
                    best = min(best, key) if k else key
    return best


def test_optimal_assignment_is_exact_on_random_gated_matrices():
    rng = np.random.default_rng(0)
    for _ in range(200):
        rows, cols = rng.integers(1, 5, 2)
        cost = rng.random((rows, cols))
        cost[rng.random((rows, cols)) < 0.3] = np.inf
        pairs = optimal_assignment(cost, 0.8)
        assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
        got = (-len(pairs), sum(cost[r, c] for r, c in pairs))
        want = brute_force(cost, 0.8)
        assert got[0] == want[0] and abs(got[1] - want[1]) < 1e-9


def test_optimal_beats_greedy_where_greedy_fails():
    # Greedy takes (0, 0) = 0.1 first and leaves row 1 unmatched; the optimum matches both.
    cost = np.array([[0.1, 0.2], [0.15, np.inf]])
    assert optimal_assignment(cost, 1.0) == [(0, 1), (1, 0)]
    assert optimal_assignment(np.zeros((0, 2)), 1.0) == []
