"""Message conversion, markers and frame statistics of the ROS layer, in-process (no DDS)."""

import numpy as np
import pytest

from ros_helpers import import_gfpose_msgs, import_rclpy_or_skip

pytestmark = pytest.mark.ros  # needs the ROS message packages


@pytest.fixture(autouse=True)
def _ros_messages():
    import_rclpy_or_skip()
    import_gfpose_msgs()


def _result(n=2, h=3, seed=0):
    from gfpose_ros.lifter import LiftResult

    rng = np.random.default_rng(seed)
    hyps = rng.normal(size=(n, h, 17, 3)) + [0, 0, 4]
    observed = rng.random((n, 17)) > 0.3
    return LiftResult(
        poses=hyps.mean(1),
        hypotheses=hyps,
        weights=np.full((n, h), 1 / h),
        joint_std=rng.random((n, 17)),
        observed=observed,
        confidence=rng.random(n),
    )


def _header(frame='cam'):
    from std_msgs.msg import Header

    h = Header(frame_id=frame)
    h.stamp.sec, h.stamp.nanosec = 12, 34
    return h


def test_keypoints_round_trip_and_ragged_arrays():
    from gfpose_ros.lifter import InputError
    from gfpose_ros.ros.conversions import keypoints_msg, person_arrays

    uv = np.arange(34, dtype=np.float32).reshape(17, 2)
    conf = np.linspace(0, 1, 17)
    msg = keypoints_msg(_header(), [('a', 'coco17', uv, conf)])
    got_uv, got_conf = person_arrays(msg.people[0])
    np.testing.assert_array_equal(got_uv, uv)
    np.testing.assert_allclose(got_conf, conf, rtol=1e-6)
    msg.people[0].confidence = msg.people[0].confidence[:5]
    with pytest.raises(InputError, match='different lengths'):
        person_arrays(msg.people[0])


def test_poses_and_hypotheses_round_trip():
    from gfpose_ros.ros.conversions import (
        hypotheses_from_msg,
        hypotheses_msg,
        poses_from_msg,
        poses_msg,
    )
    from gfpose_ros.skeleton import JOINT_NAMES

    result = _result()
    msg = poses_msg(_header(), ['x', 'y'], result)
    assert (
        msg.header.frame_id == 'cam'
        and msg.layout == 'h36m17'
        and list(msg.joint_names) == list(JOINT_NAMES)
    )
    got = poses_from_msg(msg)
    assert got['ids'] == ['x', 'y']
    np.testing.assert_allclose(got['poses'], result.poses)
    np.testing.assert_array_equal(got['completed'], ~result.observed)
    np.testing.assert_allclose(got['joint_std'], result.joint_std, rtol=1e-6)
    hyps = hypotheses_from_msg(hypotheses_msg(_header(), ['x', 'y'], result))
    for (h, w), expected, weights in zip(hyps, result.hypotheses, result.weights):
        np.testing.assert_allclose(h, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(w, weights, rtol=1e-6)


def test_camera_info_carries_intrinsics():
    from gfpose_ros.ros.conversions import camera_info_msg, intrinsics_from_camera_info

    K = np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]])
    msg = camera_info_msg(_header(), K, 640, 480)
    np.testing.assert_array_equal(intrinsics_from_camera_info(msg), K)
    assert (msg.width, msg.height) == (640, 480)


def test_markers_bones_joints_hypotheses_and_deleteall():
    from visualization_msgs.msg import Marker

    from gfpose_ros.ros.markers import COMPLETED_COLOR, OBSERVED_COLOR, MarkerOptions, pose_markers
    from gfpose_ros.skeleton import BONES

    result = _result(n=1, h=4)
    markers = pose_markers(_header(), result, MarkerOptions()).markers
    assert markers[0].action == Marker.DELETEALL
    by_ns = {m.ns: m for m in markers[1:]}
    assert by_ns['bones'].type == Marker.LINE_LIST and len(by_ns['bones'].points) == 2 * len(BONES)
    joints = by_ns['joints']
    assert joints.type == Marker.SPHERE_LIST and len(joints.points) == 17
    assert [c == COMPLETED_COLOR for c in joints.colors] == list(~result.observed[0])
    assert [c == OBSERVED_COLOR for c in joints.colors] == list(result.observed[0])
    cloud = by_ns['hypotheses']
    assert cloud.type == Marker.POINTS and len(cloud.points) == 4 * 17 and cloud.color.a < 0.5
    assert all(m.header.frame_id == 'cam' for m in markers)
    without = pose_markers(_header(), result, MarkerOptions(show_hypotheses=False)).markers
    assert 'hypotheses' not in {m.ns for m in without}
    empty = pose_markers(_header(), _result(n=0), MarkerOptions()).markers
    assert [m.action for m in empty] == [Marker.DELETEALL]


def test_frame_stats_count_sequence_gaps_per_publisher():
    from diagnostic_msgs.msg import DiagnosticStatus

    from gfpose_ros.ros.diagnostics import FrameStats

    def info(seq, gid=b'a'):
        return {'publication_sequence_number': seq, 'publisher_gid': {'data': gid}}

    stats = FrameStats()
    for seq in (5, 6, 9, 10):  # the first frame seen is not compared; 7 and 8 were replaced
        stats.arrived(info(seq))
    stats.arrived(info(1, b'b'))  # another publisher has its own sequence
    stats.arrived(info(3, b'b'))
    stats.finished(0.010, 1)
    stats.finished(0.030, 1)
    stats.skip('bad')
    status = stats.status('lift', 'torch', 'requested')
    values = {kv.key: kv.value for kv in status.values}
    assert values['frames dropped'] == '3' and values['frames received'] == '6'
    assert values['latency p50 (ms)'] == '20.0' and values['latency max (ms)'] == '30.0'
    assert values['backend'] == 'torch' and status.level == DiagnosticStatus.WARN
    assert 'bad' in status.message
    values = {kv.key: kv.value for kv in stats.status('lift', 'torch', 'requested').values}
    assert values['frames dropped in window'] == '0' and values['frames dropped'] == '3'
    stats.arrived({'publication_sequence_number': None, 'publisher_gid': None})
    values = {kv.key: kv.value for kv in stats.status('lift', 'torch', '').values}
    assert values['frames dropped'].startswith('unknown')


def test_depth_images_in_millimetres_and_metres():
    from gfpose_ros.ros.image_conversion import ImageError, depth_image_to_metres, depth_msg

    metres = np.array([[0.0, 1.234, 4.5], [np.nan, 2.0, 65.6]])
    mm = depth_image_to_metres(depth_msg(_header(), metres, '16UC1'))
    np.testing.assert_allclose(
        mm, [[0, 1.234, 4.5], [0, 2.0, 65.535]], atol=1e-6
    )  # 16 bits saturate at 65.535 m
    np.testing.assert_allclose(
        depth_image_to_metres(depth_msg(_header(), metres, '32FC1')),
        [[0, 1.234, 4.5], [0, 2.0, 65.6]],
        atol=1e-6,
    )  # NaN = no data = 0
    padded = depth_msg(_header(), metres, '16UC1')  # a row stride with padding, big-endian
    rows = np.frombuffer(padded.data, '<u2').reshape(2, 3).astype('>u2')
    padded.is_bigendian, padded.step = 1, 8
    padded.data = np.concatenate([rows, np.zeros((2, 1), '>u2')], axis=1).astype('>u2').tobytes()
    np.testing.assert_allclose(depth_image_to_metres(padded), mm)
    for change, reason in (
        (dict(encoding='rgb8'), 'unsupported depth encoding'),
        (dict(width=0), 'empty'),
        (dict(step=5), 'step'),
        (dict(data=b'\0' * 4), 'truncated'),
    ):
        bad = depth_msg(_header(), metres, '16UC1')
        for key, value in change.items():
            setattr(bad, key, value)
        with pytest.raises(ImageError, match=reason):
            depth_image_to_metres(bad)
