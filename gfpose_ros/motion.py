"""People's motion: a constant-velocity Kalman filter per track, for poses without jitter or lag
and for velocities (pipeline.FramePipeline runs one per track).

    motion = PersonMotion()
    out = motion.update(pose, joint_std, stamp, depth_measured=False)  # pose (17, 3) metres
    out.pose            # (17, 3) filtered joints at ``stamp`` (no lag on constant velocity)
    out.velocity        # (3,) m/s, the root's linear velocity
    out.velocity_cov    # (3, 3) (m/s)^2, with the size uncertainty of a monocular distance
    out.joint_velocity  # (17, 3) m/s, each joint's velocity (root's + its own)
    out.joint_velocity_std  # (17,) m/s
    out.known           # False on a track's first frame and after a reset: velocities are zeros

The root (absolute, metres) and the root-relative joints are filtered apart: the monocular
distance is much noisier than the pose, and its noise must not move the limbs. Each coordinate
is an independent two-state (position, velocity) filter with white-acceleration process noise,
so the whole update is a few numpy operations on (18, 3) arrays. A measurement whose innovation
is far outside the filter's prediction (a fall, a swapped person) resets the filter to it, so
the published pose recovers within one frame.
"""

from dataclasses import dataclass

import numpy as np

# Process noise: spectral density of the white acceleration, (m/s^2)^2 per Hz. A walking
# person's pelvis accelerates by about 1 m/s^2; limbs (relative to the pelvis) by tens.
ROOT_ACCELERATION = 0.15
JOINT_ACCELERATION = 10.0
# Measurement noise (m): the root's frame-to-frame noise across the view (x, y) and along it
# (z, a fraction of the distance: the monocular size fit), and a floor under the joints' spread.
ROOT_NOISE_XY = 0.01
ROOT_NOISE_Z = 0.02  # per metre of distance
JOINT_NOISE_FLOOR = 0.01
JOINT_NOISE_SCALE = 0.5  # of the hypotheses' spread (joint_std)
# Velocity variance of a filter's first frame (m/s)^2: unknown, about a run.
INITIAL_VELOCITY_VAR = 4.0
# A measurement this many standard deviations (mean squared over the coordinates) off the
# prediction resets the filter: the person changed abruptly or is another person.
RESET_GATE = 25.0
# Relative size uncertainty of a distance: monocular (the model's adult body against the
# person's real one) and measured with depth. A velocity along the person's position scales with
# it, so it enters the velocity covariance as (sigma * v)(sigma * v)^T.
SIZE_STD_MONOCULAR = 0.12
SIZE_STD_DEPTH = 0.03


@dataclass
class MotionEstimate:
    pose: np.ndarray  # (17, 3) metres, filtered
    velocity: np.ndarray  # (3,) m/s of the root
    velocity_cov: np.ndarray  # (3, 3)
    joint_velocity: np.ndarray  # (17, 3) m/s
    joint_velocity_std: np.ndarray  # (17,) m/s
    known: bool


class ConstantVelocityFilter:
    """Independent constant-velocity Kalman filters, one per element of an array.

    ``q`` (broadcast to the array) is the white-acceleration spectral density; ``update(z, r,
    t)`` takes a measurement z with variance r at time t and returns the innovation's
    normalised square (per element).
    """

    def __init__(self, q):
        self.q = np.asarray(q, dtype=np.float64)
        self.reset()

    def reset(self):
        self.x = None  # position
        self.v = None  # velocity
        self.p00 = self.p01 = self.p11 = None  # covariance of (x, v)
        self.t = None
        self.updates = 0

    def start(self, z, r, t):
        self.x, self.v = z.copy(), np.zeros_like(z)
        self.p00 = np.broadcast_to(r, z.shape).astype(np.float64)
        self.p01 = np.zeros_like(z)
        self.p11 = np.full(z.shape, INITIAL_VELOCITY_VAR)
        self.t, self.updates = float(t), 1

    def predict(self, t):
        """(x, v, p00, p11) predicted to time t, without changing the filter."""
        dt = float(t) - self.t
        q = self.q
        x = self.x + self.v * dt
        p00 = self.p00 + 2 * dt * self.p01 + dt * dt * self.p11 + q * dt**3 / 3
        p01 = self.p01 + dt * self.p11 + q * dt * dt / 2
        p11 = self.p11 + q * dt
        return x, p00, p01, p11

    def update(self, z, r, t):
        z = np.asarray(z, dtype=np.float64)
        if self.x is None or self.x.shape != z.shape or not float(t) > self.t:
            self.start(z, r, t)
            return np.zeros(z.shape)
        x, p00, p01, p11 = self.predict(t)
        s = p00 + r
        y = z - x
        k0, k1 = p00 / s, p01 / s
        self.x = x + k0 * y
        self.v = self.v + k1 * y
        self.p00, self.p01, self.p11 = (1 - k0) * p00, (1 - k0) * p01, p11 - k1 * p01
        self.t = float(t)
        self.updates += 1
        return y * y / s


class PersonMotion:
    """One tracked person's motion: the root and the root-relative joints, each a
    ConstantVelocityFilter; see the module docstring."""

    def __init__(self, root_acceleration=ROOT_ACCELERATION, joint_acceleration=JOINT_ACCELERATION):
        self.root = ConstantVelocityFilter(root_acceleration)
        self.joints = ConstantVelocityFilter(joint_acceleration)

    def reset(self):
        self.root.reset()
        self.joints.reset()

    @property
    def started(self):
        return self.root.x is not None

    def predicted_root(self, t):
        """(3,) the root predicted to time t, or None before the first frame."""
        if self.root.x is None:
            return None
        return self.root.x + self.root.v * max(0.0, float(t) - self.root.t)

    def update(self, pose, joint_std, t, depth_measured=False, restart=False):
        """Filter one frame's pose (17, 3) metres with its spread joint_std (17,) metres at time t
        (seconds); ``restart`` forgets the past first (the pose changed abruptly)."""
        pose = np.asarray(pose, dtype=np.float64)
        root, rel = pose[0], pose - pose[:1]
        distance = max(float(root[2]), 0.5)
        r_root = np.array([ROOT_NOISE_XY, ROOT_NOISE_XY, ROOT_NOISE_Z * distance]) ** 2
        r_joints = (JOINT_NOISE_FLOOR**2 + (JOINT_NOISE_SCALE * np.asarray(joint_std)) ** 2)[
            :, None
        ]
        if restart:
            self.reset()
        d_root = self.root.update(root, r_root, t)
        d_joints = self.joints.update(rel, r_joints, t)
        if d_root.mean() > RESET_GATE or d_joints[1:].mean() > RESET_GATE:
            self.reset()  # far outside the prediction: start over from this measurement
            self.root.update(root, r_root, t)
            self.joints.update(rel, r_joints, t)
        known = self.root.updates >= 2
        filtered = self.joints.x - self.joints.x[:1] + self.root.x
        if not known:
            zero = np.zeros(3)
            return MotionEstimate(
                filtered, zero, np.zeros((3, 3)), np.zeros((17, 3)), np.zeros(17), False
            )
        velocity = self.root.v.copy()
        size_std = SIZE_STD_DEPTH if depth_measured else SIZE_STD_MONOCULAR
        cov = np.diag(self.root.p11) + (size_std**2) * np.outer(velocity, velocity)
        rel_velocity = self.joints.v - self.joints.v[:1]
        joint_velocity = velocity + rel_velocity
        joint_var = (np.trace(cov) + self.joints.p11.sum(-1)) / 3
        return MotionEstimate(filtered, velocity, cov, joint_velocity, np.sqrt(joint_var), True)


def unknown_motion(n, joints=17):
    """Arrays of n people whose motion is unknown (untracked): zeros, known False."""
    return MotionArrays(
        np.zeros((n, 3)),
        np.zeros((n, 3, 3)),
        np.zeros((n, joints, 3)),
        np.zeros((n, joints)),
        np.zeros(n, dtype=bool),
    )


@dataclass
class MotionArrays:
    """The motion of a frame's N people, in result order (pipeline.FrameResult.motion)."""

    velocity: np.ndarray  # (N, 3) m/s, the root's, in the poses' frame
    velocity_cov: np.ndarray  # (N, 3, 3) (m/s)^2
    joint_velocity: np.ndarray  # (N, 17, 3) m/s
    joint_velocity_std: np.ndarray  # (N, 17) m/s
    known: np.ndarray  # (N,) bool: False = zeros, unknown (untracked, new or restarted)

    @classmethod
    def stack(cls, estimates):
        if not estimates:
            return unknown_motion(0)
        return cls(
            np.stack([e.velocity for e in estimates]),
            np.stack([e.velocity_cov for e in estimates]),
            np.stack([e.joint_velocity for e in estimates]),
            np.stack([e.joint_velocity_std for e in estimates]),
            np.array([e.known for e in estimates], dtype=bool),
        )
