"""The lift node's public per-frame entry point, as an in-process camera node calls it.

The camera node of `gfpose_camera -p lift_in_process:=true` hands each frame to the lift node's
``lift_frame`` from its own executor thread. Here a real LiftNode (real rclpy, the shipped model
on ONNX Runtime) gets frames the same way, from a thread of this test, while its lifecycle
changes and its parameters are set from another thread, as a lifecycle manager and
`ros2 param set` would. (The same through DDS between processes: test_ros_lifecycle.py and
test_camera_node.py.)
"""

import threading
import time

import pytest

from ros_helpers import import_gfpose_msgs, import_rclpy_or_skip

pytestmark = pytest.mark.ros


class RecordingBackend:
    """Counts graph calls and their batch; a short sleep widens the window in which a
    parameter change could land inside a frame."""

    def __init__(self, backend, seconds=0.01):
        self.backend, self.name, self.seconds = backend, backend.name, seconds
        self.batches = []

    def __call__(self, inputs):
        self.batches.append(len(inputs['noise']))
        time.sleep(self.seconds)
        return self.backend(inputs)


@pytest.fixture
def node(rclpy_ctx):
    import_rclpy_or_skip()
    import_gfpose_msgs()
    from gfpose_ros.ros.lift_node import LiftNode

    args = ['--ros-args', '-r', '__ns:=/in_process_test', '-p', 'backend:=onnxruntime']
    args += ['-p', 'tracking:=false', '-p', 'autostart:=false']
    lift = LiftNode(context=rclpy_ctx, cli_args=args)
    try:
        yield lift
    finally:
        lift.destroy_node()


def keypoints(index=0):
    from std_msgs.msg import Header

    from gfpose_ros.tools.client import load_demo_sequence
    from gfpose_ros.ros.conversions import camera_info_msg, keypoints_msg

    seq = load_demo_sequence()
    header = Header(frame_id='camera_optical_frame')
    msg = keypoints_msg(
        header, [('p', 'h36m17', seq['keypoints_2d'][index], seq['confidence'][index])]
    )
    return msg, camera_info_msg(header, seq['intrinsics'], *seq['image_size'])


def test_a_deactivated_node_lifts_and_publishes_nothing(node):
    from lifecycle_msgs.msg import State

    msg, info = keypoints()
    published = []
    assert node.lift_frame(msg) is False  # unconfigured
    node.trigger_configure()
    node.publish = lambda header, ids, result, *rest: published.append(len(ids))
    backend = node.lifter.backend = RecordingBackend(node.lifter.backend)
    node.on_camera_info(info)
    assert node.lift_frame(msg) is False  # configured, not active
    node.trigger_activate()
    assert node._state_machine.current_state[0] == State.PRIMARY_STATE_ACTIVE
    assert node.lift_frame(msg) is True and published == [1] and len(backend.batches) == 1
    node.trigger_deactivate()
    assert node.lift_frame(msg) is False
    assert published == [1] and len(backend.batches) == 1  # nothing lifted, nothing published
    node.trigger_cleanup()
    assert node.lift_frame(msg) is False and node.lifter is None


def test_parameters_set_while_streaming_apply_between_frames(node):
    from rclpy.parameter import Parameter

    msg, info = keypoints()
    node.trigger_configure()
    node.trigger_activate()
    node.on_camera_info(info)
    frames = []  # (graph batch, hypotheses published) of each frame
    backend = node.lifter.backend = RecordingBackend(node.lifter.backend)

    def publish(header, ids, result, *rest):
        frames.append((backend.batches[-1], result.hypotheses.shape[1]))

    node.publish = publish
    stop = threading.Event()

    def stream():  # the in-process camera's thread
        while not stop.is_set():
            node.lift_frame(msg)

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        for hypotheses in (5, 20, 7, 13, 20):
            time.sleep(0.05)
            result = node.set_parameters([Parameter('num_hypotheses', value=hypotheses)])
            assert result[0].successful
            seen = len(frames)
            deadline = time.monotonic() + 5.0
            while len(frames) < seen + 2 and time.monotonic() < deadline:
                time.sleep(0.005)
            # The frame after the change has returned uses the new value.
            assert frames[-1][1] == hypotheses, frames[-5:]
    finally:
        stop.set()
        streamer.join(10.0)
    # Never half of a change: each frame's graph call and its output agree.
    assert len(frames) > 20
    assert all(batch == published for batch, published in frames), frames
    assert {5, 7, 13, 20} <= {published for _, published in frames}
