"""RGB-D through the lift node over DDS: keypoints, camera_info and an aligned depth image from
this process, the lift node in its own (use_depth:=true), the metric position checked against
the ground truth, and every kind of bad depth image answered by the monocular fit and a warning."""

import numpy as np
import pytest

from ros_helpers import import_gfpose_msgs, import_rclpy_or_skip, rclpy_context, start_lift_node

pytestmark = pytest.mark.ros  # starts DDS participants or node processes

NAMESPACE = '/depth_test'
FRAME_ID = 'rgbd_color_optical_frame'
# A quarter of the recording's 848x480 camera: the same normalised 2D, and a depth image
# (212x120 16UC1, 51 kB) that Fast DDS delivers whole without the large-data profile.
SCALE = 0.25
# Rendered depth (capsule body, sensor noise, holes) of a person 5 m away: the fusion places the
# root within a few centimetres (gfpose eval-depth: 26 mm median at 5-8 m); monocular, the
# recording's adult is ~130 mm off (`make demo`).
MAX_ROOT_ERROR_WITH_DEPTH_M = 0.08


@pytest.fixture(scope='module')
def rgbd():
    import_rclpy_or_skip()
    import_gfpose_msgs()
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from gfpose_ros.evaluation.depth_render import render_depth, room_planes
    from gfpose_ros.tools.client import LiftClient, load_demo_sequence

    seq = load_demo_sequence()
    seq['poses_3d'] = seq['poses_3d'] / 1000.0  # millimetres in the recording
    K = seq['intrinsics'] * np.array([[SCALE], [SCALE], [1.0]])
    size = tuple(int(round(s * SCALE)) for s in seq['image_size'])
    node = start_lift_node(NAMESPACE, 'use_depth:=true', 'depth_max_age:=0.05')
    with rclpy_context() as ctx:
        client = LiftClient(namespace=NAMESPACE, context=ctx)
        depth_pub = client.create_publisher(Image, 'depth_image', qos_profile_sensor_data)
        try:
            if not client.wait_for_node(90.0, node.proc):
                pytest.fail(
                    'lift node did not come up; stderr:\n' + '\n'.join(node.stderr_lines[-30:])
                )
            client.spin_until(lambda: depth_pub.get_subscription_count() > 0, 10.0)
            camera = (K, *size)

            def person(i):
                return [('p0', 'h36m17', seq['keypoints_2d'][i] * SCALE, seq['confidence'][i])]

            assert client.prime(person(0), camera), 'the lift node does not answer'
            depth = [
                render_depth(
                    seq['poses_3d'][i],
                    K,
                    size,
                    seed=i,
                    planes=room_planes(seq['poses_3d'][i], np.array([0, -1.0, 0])),
                )
                for i in range(len(seq['poses_3d']))
            ]
            yield dict(
                client=client,
                node=node,
                seq=seq,
                camera=camera,
                person=person,
                depth=depth,
                depth_pub=depth_pub,
            )
        finally:
            client.close()
            node.stop()


_stamps = iter(range(1, 100_000))


def lift(rgbd, index, depth_msg_of=None):
    """Send frame ``index`` (after its depth image, when ``depth_msg_of`` makes one from the
    frame's header) and return (Person3D, root error in metres)."""
    from std_msgs.msg import Header

    client = rgbd['client']
    stamp = (3000 + next(_stamps), 0)
    header = Header(frame_id=FRAME_ID)
    header.stamp.sec, header.stamp.nanosec = stamp
    if depth_msg_of is not None:
        for _ in range(
            3
        ):  # best effort: a lost image would only mean a monocular frame, not a failure
            rgbd['depth_pub'].publish(depth_msg_of(header, index))
            client.spin_for(0.03)
    reply = client.request(
        stamp, rgbd['person'](index), timeout=5.0, frame_id=FRAME_ID, camera=rgbd['camera']
    )
    assert reply is not None and len(reply.people) == 1, 'no answer from the lift node'
    person = reply.people[0]
    root = np.array([person.joints[0].x, person.joints[0].y, person.joints[0].z])
    return person, float(np.linalg.norm(root - rgbd['seq']['poses_3d'][index][0]))


def good_depth(rgbd, encoding='16UC1'):
    return lambda header, i: depth_image(encoding=encoding)(rgbd, header, i)


def test_depth_places_the_person_and_says_so(rgbd):
    from gfpose_msgs.msg import Person3D

    with_depth = [
        lift(rgbd, i, good_depth(rgbd, enc))
        for i, enc in ((10, '16UC1'), (40, '32FC1'), (70, '16UC1'))
    ]
    without = [lift(rgbd, i) for i in (10, 40, 70)]
    assert all(p.position_source == Person3D.POSITION_DEPTH for p, _ in with_depth)
    assert all(p.position_source == Person3D.POSITION_MONOCULAR for p, _ in without)
    depth_errors = [e for _, e in with_depth]
    assert max(depth_errors) < MAX_ROOT_ERROR_WITH_DEPTH_M
    assert np.median(depth_errors) < np.median([e for _, e in without])


def depth_image(pixels=None, encoding='16UC1', frame_id=None, shift=0.0, fields=None):
    """A maker of depth Image messages for frame i: ``pixels(rendered)`` replaces the rendered
    metres, ``frame_id`` and ``shift`` (seconds) change the header, ``fields`` the message."""
    from gfpose_ros.ros.conversions import stamp_seconds
    from gfpose_ros.ros.image_conversion import depth_msg

    def make(rgbd, header, i):
        metres = rgbd['depth'][i] if pixels is None else pixels(rgbd['depth'][i])
        msg = depth_msg(header, metres, encoding)
        t = stamp_seconds(header.stamp) + shift
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
        msg.header.frame_id = frame_id or header.frame_id
        for key, value in (fields or {}).items():
            setattr(msg, key, value)
        return msg

    return make


@pytest.mark.parametrize(
    'case, make, warning',
    [
        ('wrong encoding', depth_image(fields={'encoding': 'rgb8'}), 'unsupported depth encoding'),
        ('another size', depth_image(lambda d: d[::2, ::2]), 'camera_info says'),
        ('all zeros', depth_image(np.zeros_like), None),
        ('NaN', depth_image(lambda d: np.full_like(d, np.nan), '32FC1'), None),
        (
            'another camera',
            depth_image(frame_id='other_camera_optical_frame'),
            'not the same camera',
        ),
        ('stale', depth_image(shift=-0.5), 'ms from the keypoints'),
    ],
)
def test_bad_depth_falls_back_to_monocular_with_a_reason(rgbd, case, make, warning):
    from gfpose_msgs.msg import Person3D

    person, error = lift(rgbd, 20, lambda header, i: make(rgbd, header, i))
    assert person.position_source == Person3D.POSITION_MONOCULAR, case
    assert error < 1.0  # the monocular fit, not a depth-image accident
    if warning is not None:
        # Warnings are throttled per kind, so a stale image's may have been logged by an earlier
        # frame.
        rgbd['client'].spin_for(0.2)
        assert any(warning in line for line in rgbd['node'].stderr_lines), (
            f'{case}: no warning containing {warning!r}; stderr: {rgbd["node"].stderr_lines[-20:]}'
        )
    assert rgbd['node'].proc.poll() is None  # still running
    good, good_error = lift(rgbd, 21, good_depth(rgbd))  # and the next good image is used again
    assert (
        good.position_source == Person3D.POSITION_DEPTH
        and good_error < MAX_ROOT_ERROR_WITH_DEPTH_M
    )


def test_diagnostics_count_how_people_were_placed(rgbd):
    client = rgbd['client']
    lift(rgbd, 30, good_depth(rgbd))
    lift(rgbd, 31)
    count = len(client.diagnostics)
    assert client.spin_until(lambda: len(client.diagnostics) > count, 5.0)
    values = {kv.key: kv.value for kv in client.diagnostics[-1].values}
    assert int(values['people placed with depth']) >= 1
    assert int(values['people placed monocular']) >= 1
    assert values['last reason for monocular'] != 'n/a'
