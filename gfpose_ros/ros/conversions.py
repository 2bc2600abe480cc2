"""ROS messages <-> numpy arrays, in both directions. The only place that knows the field layout.

The node uses the ``*_from_msg`` readers for its inputs and the ``*_msg`` builders for its
outputs; the demo, the benchmark and the tests use the opposite pair.
"""

import array

import numpy as np
from geometry_msgs.msg import Point, Vector3
from sensor_msgs.msg import CameraInfo

from gfpose_msgs.msg import (
    Keypoints2DArray,
    Person2D,
    Person3D,
    Pose3DArray,
    PoseHypotheses,
    PoseHypothesesArray,
)
from gfpose_ros.depth_fusion import DEPTH
from gfpose_ros.selection import InputError, Person2D as Person2DArrays
from gfpose_ros.skeleton import JOINT_NAMES, NUM_JOINTS

OUTPUT_LAYOUT = 'h36m17'


def stamp_seconds(stamp):
    """A builtin_interfaces/Time as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def float32_array(values):
    """A float32[] field value. array.array('f') is assigned without a per-element type check,
    which matters for the ~1000 floats of a hypothesis set."""
    return array.array('f', np.ascontiguousarray(values, dtype=np.float32).ravel().tobytes())


def _floats(field):
    return (
        np.frombuffer(field, dtype=np.float32)
        if isinstance(field, array.array)
        else np.asarray(field, dtype=np.float32)
    )


# ---------------------------------------------------------------- keypoints in


def person_arrays(person):
    """(uv (K, 2), confidence (K,)) float64 of a Person2D; raises InputError on ragged arrays."""
    u, v, c = _floats(person.u), _floats(person.v), _floats(person.confidence)
    if not len(u) == len(v) == len(c):
        raise InputError(
            f'u, v and confidence have different lengths ({len(u)}, {len(v)}, {len(c)})'
        )
    return np.stack([u, v], -1).astype(np.float64), c.astype(np.float64)


def people_from_msg(msg):
    """[selection.Person2D] of a Keypoints2DArray; raises InputError naming a ragged person."""
    people = []
    for i, person in enumerate(msg.people):
        try:
            uv, confidence = person_arrays(person)
        except InputError as exc:
            raise InputError(f'person {i} (id {person.id!r}): {exc}') from None
        people.append(Person2DArrays(person.id, person.layout, uv, confidence))
    return people


def keypoints_msg(header, people):
    """Keypoints2DArray from ``people``: an iterable of (id, layout, uv (K, 2), confidence
    (K,))."""
    msg = Keypoints2DArray(header=header)
    for person_id, layout, uv, confidence in people:
        uv = np.asarray(uv)
        msg.people.append(
            Person2D(
                id=person_id,
                layout=layout,
                u=float32_array(uv[:, 0]),
                v=float32_array(uv[:, 1]),
                confidence=float32_array(confidence),
            )
        )
    return msg


# ---------------------------------------------------------------- camera


def intrinsics_from_camera_info(msg):
    """The (3, 3) matrix K of a CameraInfo (validity is checked by the core)."""
    return np.asarray(msg.k, dtype=np.float64).reshape(3, 3)


def camera_info_msg(header, K, width, height):
    """A CameraInfo for an ideal (distortion-free) pinhole camera with intrinsics K."""
    K = np.asarray(K, dtype=np.float64)
    msg = CameraInfo(
        header=header, width=int(width), height=int(height), distortion_model='plumb_bob'
    )
    msg.k = K.ravel().tolist()
    msg.d = [0.0] * 5
    msg.r = np.eye(3).ravel().tolist()
    msg.p = np.hstack([K, np.zeros((3, 1))]).ravel().tolist()
    return msg


# ---------------------------------------------------------------- poses out


def poses_msg(header, ids, result, motion=None):
    """Pose3DArray from a LiftResult; ``ids`` are the people's input ids, in result order;
    ``motion`` a motion.MotionArrays in result order (pipeline.FrameResult.motion), or None:
    every velocity unknown."""
    msg = Pose3DArray(header=header, layout=OUTPUT_LAYOUT, joint_names=list(JOINT_NAMES))
    for i, (person_id, pose, std, observed, confidence, position) in enumerate(
        zip(
            ids,
            result.poses,
            result.joint_std,
            result.observed,
            result.confidence,
            result.position_source,
        )
    ):
        source = np.where(observed, Person3D.SOURCE_OBSERVED, Person3D.SOURCE_COMPLETED).astype(
            np.uint8
        )
        person = Person3D(
            id=person_id,
            joints=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in pose],
            joint_std=float32_array(std),
            joint_source=array.array('B', source.tobytes()),
            confidence=float(confidence),
            position_source=Person3D.POSITION_DEPTH
            if position == DEPTH
            else Person3D.POSITION_MONOCULAR,
        )
        if motion is not None and motion.known[i]:
            x, y, z = (float(v) for v in motion.velocity[i])
            person.velocity_known = True
            person.velocity = Vector3(x=x, y=y, z=z)
            person.velocity_covariance = array.array(
                'd', np.ascontiguousarray(motion.velocity_cov[i], dtype=np.float64).ravel()
            )
            person.joint_velocities = [
                Vector3(x=float(a), y=float(b), z=float(c)) for a, b, c in motion.joint_velocity[i]
            ]
            person.joint_velocity_std = float32_array(motion.joint_velocity_std[i])
        msg.people.append(person)
    return msg


def hypotheses_msg(header, ids, result):
    """PoseHypothesesArray from a LiftResult (positions flattened hypothesis-major)."""
    msg = PoseHypothesesArray(header=header)
    for person_id, hypotheses, weights in zip(ids, result.hypotheses, result.weights):
        msg.people.append(
            PoseHypotheses(
                id=person_id,
                num_hypotheses=len(hypotheses),
                num_joints=NUM_JOINTS,
                positions=float32_array(hypotheses),
                weights=float32_array(weights),
            )
        )
    return msg


def poses_from_msg(msg):
    """Arrays of a Pose3DArray: dict of ids (list), poses (N, 17, 3) m, joint_std (N, 17),
    completed (N, 17) bool, confidence (N,), depth_used (N,) bool, and the motion:
    velocity_known (N,) bool, velocity (N, 3) m/s, velocity_covariance (N, 3, 3),
    joint_velocities (N, 17, 3) m/s and joint_velocity_std (N, 17) (zeros where unknown)."""
    people = msg.people
    n = len(people)
    joint_velocities = np.zeros((n, NUM_JOINTS, 3))
    joint_velocity_std = np.zeros((n, NUM_JOINTS))
    for i, p in enumerate(people):
        if p.velocity_known and len(p.joint_velocities) == NUM_JOINTS:
            joint_velocities[i] = [(v.x, v.y, v.z) for v in p.joint_velocities]
            joint_velocity_std[i] = _floats(p.joint_velocity_std)
    return {
        'ids': [p.id for p in people],
        'poses': np.array([[(j.x, j.y, j.z) for j in p.joints] for p in people]).reshape(
            -1, NUM_JOINTS, 3
        ),
        'joint_std': np.array([_floats(p.joint_std) for p in people]).reshape(-1, NUM_JOINTS),
        'completed': np.array(
            [np.asarray(p.joint_source) == Person3D.SOURCE_COMPLETED for p in people]
        ).reshape(-1, NUM_JOINTS),
        'confidence': np.array([p.confidence for p in people], dtype=np.float64),
        'depth_used': np.array(
            [p.position_source == Person3D.POSITION_DEPTH for p in people], dtype=bool
        ),
        'velocity_known': np.array([p.velocity_known for p in people], dtype=bool),
        'velocity': np.array(
            [(p.velocity.x, p.velocity.y, p.velocity.z) for p in people], dtype=np.float64
        ).reshape(-1, 3),
        'velocity_covariance': np.array(
            [np.asarray(p.velocity_covariance, dtype=np.float64) for p in people]
        ).reshape(-1, 3, 3),
        'joint_velocities': joint_velocities,
        'joint_velocity_std': joint_velocity_std,
    }


def hypotheses_from_msg(msg):
    """Per person (hypotheses (H, J, 3) m, weights (H,)), in message order."""
    return [
        (_floats(p.positions).reshape(p.num_hypotheses, p.num_joints, 3), _floats(p.weights))
        for p in msg.people
    ]
