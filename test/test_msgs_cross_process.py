"""gfpose_msgs over real DDS between two processes.

A child Python process subscribes to gfpose_msgs/Keypoints2DArray and prints
what it receives as one JSON line; this process publishes until the child
reports, then compares field by field (NaN-aware, at float32 precision).
"""

import numpy as np
import pytest

from ros_helpers import import_gfpose_msgs, import_rclpy_or_skip

pytestmark = pytest.mark.ros  # starts DDS participants or node processes

TOPIC = '/gfpose_test/keypoints'

SUBSCRIBER = r'''
import json, math, sys
import rclpy
from rclpy.node import Node
from gfpose_msgs.msg import Keypoints2DArray

def floats(a):
    return [None if math.isnan(x) else float(x) for x in a]  # JSON has no NaN in strict mode

def main():
    rclpy.init()
    node = Node('gfpose_test_listener')
    got = []
    node.create_subscription(Keypoints2DArray, sys.argv[1], got.append, 10)
    print('READY', flush=True)
    while rclpy.ok() and not got:
        rclpy.spin_once(node, timeout_sec=0.1)
    m = got[0]
    out = {
        'stamp': [m.header.stamp.sec, m.header.stamp.nanosec],
        'frame_id': m.header.frame_id,
        'people': [
            {'id': p.id, 'layout': p.layout,
             'u': floats(p.u), 'v': floats(p.v), 'confidence': floats(p.confidence)}
            for p in m.people
        ],
    }
    print(json.dumps(out), flush=True)
    node.destroy_node()
    rclpy.shutdown()

main()
'''

PEOPLE = [
    dict(
        id='track-7',
        layout='coco17',
        u=[320.5 + 3.25 * i for i in range(17)],
        v=[float('nan')] + [101.125 + 7.5 * i for i in range(16)],
        confidence=[0.0, 0.93, 1.0] + [0.5 + 0.01 * i for i in range(14)],
    ),
    dict(
        id='',
        layout='h36m17',
        u=[12.0 * i - 0.1 for i in range(17)],
        v=[480.0 - 11.0 * i for i in range(17)],
        confidence=[0.25] * 17,
    ),
]


def _as_f32(values):
    return np.array([np.nan if v is None else v for v in values], dtype=np.float32)


def test_keypoints2darray_cross_process(rclpy_ctx, spawn_python):
    import_rclpy_or_skip()
    msgs = import_gfpose_msgs()
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    msg = msgs.Keypoints2DArray()
    msg.header.stamp.sec = 1700000000
    msg.header.stamp.nanosec = 123456789
    msg.header.frame_id = 'camera_color_optical_frame'
    for p in PEOPLE:
        person = msgs.Person2D()
        person.id = p['id']
        person.layout = p['layout']
        person.u = p['u']
        person.v = p['v']
        person.confidence = p['confidence']
        msg.people.append(person)

    child = spawn_python(SUBSCRIBER, args=(TOPIC,))
    assert child.wait_for_line(lambda s: s == 'READY', timeout=60) == 'READY'

    node = Node('gfpose_test_talker', context=rclpy_ctx)
    executor = SingleThreadedExecutor(context=rclpy_ctx)
    executor.add_node(node)
    try:
        pub = node.create_publisher(msgs.Keypoints2DArray, TOPIC, 10)

        def publish():
            pub.publish(msg)
            executor.spin_once(timeout_sec=0.05)

        got = child.wait_for_json(timeout=60, on_idle=publish)
    finally:
        executor.shutdown()
        node.destroy_node()

    assert got['stamp'] == [1700000000, 123456789]
    assert got['frame_id'] == 'camera_color_optical_frame'
    assert len(got['people']) == len(PEOPLE)
    for sent, recv in zip(PEOPLE, got['people']):
        assert recv['id'] == sent['id']
        assert recv['layout'] == sent['layout']
        for field in ('u', 'v', 'confidence'):
            expected = np.asarray(sent[field], dtype=np.float32)
            actual = _as_f32(recv[field])
            assert actual.shape == expected.shape, field
            # assert_array_equal treats NaN == NaN at the same positions
            np.testing.assert_array_equal(actual, expected, err_msg=field)
    assert got['people'][0]['v'][0] is None  # the NaN arrived as NaN (sent as null in JSON)
    assert got['people'][0]['confidence'][0] == 0.0


def test_message_definitions_have_documented_constants():
    import_rclpy_or_skip()
    msgs = import_gfpose_msgs()
    assert msgs.Person3D.SOURCE_OBSERVED == 0
    assert msgs.Person3D.SOURCE_COMPLETED == 1
    p = msgs.Person3D()
    p.joint_source = [msgs.Person3D.SOURCE_OBSERVED, msgs.Person3D.SOURCE_COMPLETED]
    assert list(p.joint_source) == [0, 1]
    h = msgs.PoseHypotheses(num_hypotheses=2, num_joints=17)
    h.positions = np.zeros(2 * 17 * 3, dtype=np.float32).tolist()
    assert len(h.positions) == 102
    arr = msgs.Pose3DArray(layout='h36m17')
    arr.people.append(p)
    assert arr.layout == 'h36m17' and len(arr.people) == 1
    assert hasattr(msgs.PoseHypothesesArray(), 'header')
