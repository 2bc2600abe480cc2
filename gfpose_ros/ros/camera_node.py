"""The camera node: sensor_msgs/Image (+ CameraInfo) -> gfpose_msgs/Keypoints2DArray, for the lift
node.

A lifecycle node like the lift node: configure loads the detector (a missing model fails here,
with the reason), activate subscribes, deactivate unsubscribes. Run as a console entry point it
configures and activates itself:

    gfpose_camera --ros-args --params-file config/camera.yaml
    gfpose_camera --ros-args --params-file config/camera.yaml -p lift_in_process:=true

With lift_in_process the same process also runs the lift node (a multi-threaded executor), and
each frame's keypoints are handed to it as a Python object: no serialisation between the two.
keypoints_2d is still published for anyone else who listens.

Images come with sensor-data QoS and a queue of depth 1, so a frame that arrives while the
detector is busy replaces the waiting one and latency does not grow under load.

SIGINT, SIGTERM (a second one too) and a lifecycle manager's shutdown end the process cleanly,
with status 0, after the frame in flight: see run_nodes in node_tools.py.
"""

import sys
import time

from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from gfpose_msgs.msg import Keypoints2DArray
from gfpose_ros.settings import LiftSettings
from gfpose_ros.detect import DETECTORS, create_detector, detector_source, draw_people

from .conversions import keypoints_msg
from .entry import process_age
from .frame_gate import FrameGate
from .input_watch import InputWatch
from .image_conversion import ImageError, image_msg, image_to_rgb
from .node_tools import (
    WARN_PERIOD,
    GfposeLifecycleNode,
    exit_process,
    init_rclpy,
    parameter_descriptor,
    run_nodes,
    startup_parameters,
)

RELIABILITIES = ('best_effort', 'reliable')


# name -> (default, descriptor); defaults match config/camera.yaml.
PARAMETERS = {
    'detector': (
        'mediapipe',
        parameter_descriptor(
            '2D detector: mediapipe (one person), mediapipe_hog (HOG person boxes, '
            'pose per box: several people) or onnx (onnx_model_path)',
            read_only_after_configure=True,
        ),
    ),
    'onnx_model_path': (
        '',
        parameter_descriptor(
            'COCO-17 keypoint model for detector onnx (YOLO-pose style, or top-down '
            'heatmap/SimCC on HOG boxes)',
            read_only_after_configure=True,
        ),
    ),
    'num_threads': (
        1,
        parameter_descriptor(
            'CPU threads of the ONNX detector; 0 = its default',
            0,
            256,
            read_only_after_configure=True,
        ),
    ),
    'min_detection_confidence': (
        0.5,
        parameter_descriptor(
            'MediaPipe person detection threshold', 0.0, 1.0, read_only_after_configure=True
        ),
    ),
    'track_person': (
        True,
        parameter_descriptor(
            'Detector mediapipe: follow the person from image to image (MediaPipe\'s video '
            'mode: about 20 ms less per image; a change of scene makes it detect afresh); '
            'false: detect in every image afresh',
            read_only_after_configure=True,
        ),
    ),
    'max_people': (
        10,
        parameter_descriptor(
            'At most this many people per image (HOG and ONNX detectors)',
            1,
            100,
            read_only_after_configure=True,
        ),
    ),
    'image_reliability': (
        'best_effort',
        parameter_descriptor(
            'Reliability of the image subscription: best_effort (sensor-data QoS; matches every '
            'camera driver) or '
            'reliable (no frame lost in transit, for a reliable publisher of large images)',
            read_only_after_configure=True,
        ),
    ),
    'publish_debug_image': (
        False,
        parameter_descriptor('Publish debug_image: the 2D skeletons drawn on the image'),
    ),
    'debug_confidence_threshold': (
        LiftSettings().confidence_threshold,
        parameter_descriptor(
            'Joints below this confidence are drawn as masked '
            '(match the lift node\'s confidence_threshold)',
            0.0,
            1.0,
        ),
    ),
    'autostart': (
        True,
        parameter_descriptor(
            'Configure and activate on start; false: wait for a lifecycle manager',
            read_only_after_configure=True,
        ),
    ),
    'lift_in_process': (
        False,
        parameter_descriptor(
            'Console entry point only: also run the lift node in this process and '
            'hand it the keypoints without serialisation',
            read_only_after_configure=True,
        ),
    ),
}
STARTUP = startup_parameters(PARAMETERS)


class CameraNode(GfposeLifecycleNode):
    def __init__(self, **kwargs):
        super().__init__('gfpose_camera', **kwargs)
        for name, (default, descriptor) in PARAMETERS.items():
            self.declare_parameter(name, default, descriptor)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.detector = None
        self.camera_size = None  # (width, height) of the latest CameraInfo
        self.frames_in = 0
        self.frames_out = 0
        # An in-process lift node: each frame's keypoints go to its lift_frame, which is locked
        # against its transitions and parameter changes and lifts only while it is active.
        self.lift_target = None
        self._pubs = {}
        self._subs = []
        # Images get a callback group of their own. In the default group, shared with the lifecycle
        # and parameter services, the multi-threaded executor starves those services whenever the
        # next image is waiting as the previous one finishes (always, when frames come faster than
        # the detector): a lifecycle manager's transition would never be served. The gate keeps a
        # transition from tearing down the subscription, publishers or detector under a frame,
        # and frames from keeping a transition waiting (frame_gate.py).
        self._image_group = MutuallyExclusiveCallbackGroup()
        self._gate = FrameGate()
        self.input_watch = InputWatch()  # says when no image arrives (input_watch.py)
        self._watch_timer = None

    def _validate_parameters(self, params):
        for p in params:
            if p.name in STARTUP and self.detector is not None:
                return SetParametersResult(
                    successful=False,
                    reason=(
                        f'{p.name} is read at configure: deactivate and clean up the node, set '
                        'it, then configure'
                    ),
                )
            for name, choices in (('detector', DETECTORS), ('image_reliability', RELIABILITIES)):
                if p.name == name and p.value not in choices:
                    return SetParametersResult(
                        successful=False,
                        reason=f'{name} must be one of {", ".join(choices)}, got {p.value!r}',
                    )
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------ lifecycle

    def on_configure(self, state):
        started = time.monotonic()
        value = {name: self.get_parameter(name).value for name in PARAMETERS}
        try:
            self.detector = create_detector(
                value['detector'],
                value['onnx_model_path'],
                value['max_people'],
                value['min_detection_confidence'],
                value['num_threads'],
                value['track_person'],
            )
        except Exception as exc:  # DetectorError, a bad model file...: all mean "cannot run"
            self.get_logger().error(f'configure failed: {type(exc).__name__}: {exc}')
            self.detector = None
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(
            f'detector {value["detector"]} ({self.detector.layout} keypoints; '
            f'{detector_source(value["detector"], value["onnx_model_path"])}); configured in '
            f'{time.monotonic() - started:.1f} s ({process_age():.1f} s after the process started)'
        )
        self._pubs = {
            'keypoints': self.create_lifecycle_publisher(Keypoints2DArray, 'keypoints_2d', 10),
            'debug': self.create_lifecycle_publisher(
                Image, 'debug_image', qos_profile_sensor_data
            ),
        }
        return super().on_configure(state)

    def on_activate(self, state):
        # Sensor-data QoS (best effort matches every camera driver), but a queue of one frame.
        reliable = self.get_parameter('image_reliability').value == 'reliable'
        image_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=qos_profile_sensor_data.durability,
        )
        self._subs = [
            self.create_subscription(
                Image, 'image', self.on_image, image_qos, callback_group=self._image_group
            ),
            self.create_subscription(
                CameraInfo, 'camera_info', self.on_camera_info, qos_profile_sensor_data
            ),
        ]
        self.input_watch.start()
        self._watch_timer = self.create_timer(
            1.0, lambda: self.check_input(self.input_watch, 'images', 'image')
        )
        return super().on_activate(state)

    def on_deactivate(self, state):
        with self._gate.control():
            for sub in self._subs:
                self.destroy_subscription(sub)
            self._subs = []
        if self._watch_timer is not None:
            self.destroy_timer(self._watch_timer)
            self._watch_timer = None
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        with self._gate.control():
            for pub in self._pubs.values():
                self.destroy_lifecycle_publisher(pub)
            self._pubs = {}
            if self.detector is not None:
                self.detector.close()
            self.detector = None
            self.camera_size = None
        return super().on_cleanup(state)

    # ------------------------------------------------------------ frames

    def debug_confidence_threshold(self):
        """The lift node's own threshold when it runs in this process, else the parameter."""
        lifter = None if self.lift_target is None else self.lift_target.lifter
        if lifter is not None:
            return lifter.settings.confidence_threshold
        return self.get_parameter('debug_confidence_threshold').value

    def on_camera_info(self, msg):
        self.camera_size = (msg.width, msg.height)

    def on_image(self, msg, message_info):
        # message_info (the image publisher's sequence number, the reception time) goes on to an
        # in-process lift node: its /diagnostics then count the images that never became poses
        # (replaced in the depth-1 image queue, lost in transit, or skipped here) as dropped, and
        # measure latency from the image's reception, detection included.
        self.input_watch.arrived()
        with self._gate.frame() as admitted:
            # An image taken just before a deactivation, or while one waits, is dropped.
            if admitted and self._subs:
                self._process_image(msg, message_info)

    def _process_image(self, msg, message_info=None):
        self.frames_in += 1
        try:
            image = image_to_rgb(msg)
        except ImageError as exc:
            self.warn(str(exc), f'frame skipped: {exc}')  # throttled per distinct reason
            return
        if (
            self.camera_size is not None
            and self.camera_size != (0, 0)
            and self.camera_size != (msg.width, msg.height)
        ):
            self.warn(
                'size',
                f'frame skipped: image is {msg.width}x{msg.height} but camera_info on '
                f'{self.resolve_topic_name("camera_info")} says {self.camera_size[0]}x'
                f'{self.camera_size[1]}; the intrinsics would not fit the pixels',
            )
            return
        try:
            people = self.detector(image)
        except Exception as exc:  # a detector failure must not kill the node
            self.get_logger().error(
                f'frame skipped: detection failed: {type(exc).__name__}: {exc}',
                throttle_duration_sec=WARN_PERIOD,
            )
            return
        if not people:
            self.warn('nobody', 'nobody detected in the image (publishing an empty keypoints_2d)')
        # The tracker-less detectors give no identity across frames: ids are per-frame indices.
        out = keypoints_msg(
            msg.header,
            [(f'person_{i}', p.layout, p.keypoints, p.confidence) for i, p in enumerate(people)],
        )
        self._pubs['keypoints'].publish(out)
        if self.lift_target is not None:
            self.lift_target.lift_frame(out, message_info)
        # Drawn only while someone looks at it: a full image costs milliseconds to draw and send.
        debug = self._pubs['debug']
        if self.get_parameter('publish_debug_image').value and debug.get_subscription_count():
            threshold = self.debug_confidence_threshold()
            debug.publish(image_msg(msg.header, draw_people(image, people, threshold), 'rgb8'))
        self.frames_out += 1


def main(args=None):
    stop = init_rclpy(args)
    camera = CameraNode()
    nodes = [camera]
    if camera.get_parameter('lift_in_process').value:
        from .lift_node import LiftNode

        # Its own keypoints_2d input goes to a private topic: it gets our frames directly,
        # and must not lift them a second time from the topic.
        lift = LiftNode(cli_args=['--ros-args', '-r', 'keypoints_2d:=~/_unused_keypoints_2d'])
        camera.lift_target = lift
        lift.input_watch = None  # its frames come from us: the camera node watches the images
        nodes.append(lift)
    # The camera node comes first: shutting it down through its lifecycle ends the process.
    status = run_nodes(nodes, MultiThreadedExecutor(), stop)
    exit_process(status)  # skips the interpreter's slow teardown: see exit_process


if __name__ == '__main__':
    sys.exit(main())
