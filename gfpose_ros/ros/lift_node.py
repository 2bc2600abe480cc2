"""The lift node: gfpose_msgs/Keypoints2DArray -> metric 3D poses, hypotheses, RViz markers,
diagnostics.

A lifecycle node: configure loads the model (a missing or corrupt file fails here, with the
reason), activate subscribes, deactivate unsubscribes, cleanup drops the model. Run as a
console entry point it configures and activates itself:

    gfpose_lift --ros-args --params-file config/lift.yaml

Frames are lifted in the subscription callback from a queue of depth 1, so a frame that arrives
while the node is busy replaces the waiting one: latency stays flat under load and the replaced
frames are counted as drops in /diagnostics.

SIGINT, SIGTERM (a second one too) and a lifecycle manager's shutdown end the process cleanly,
with status 0, after the frame in flight: see run_nodes in node_tools.py.
"""

import inspect
import sys
import time
import types

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import MarkerArray

from gfpose_msgs.msg import Keypoints2DArray, Pose3DArray, PoseHypothesesArray
from gfpose_ros.backends import BACKENDS, PRECISIONS
from gfpose_ros.camera import CameraError, check_intrinsics, intrinsics
from gfpose_ros.lifter import DEFAULT_KEYPOINT_NOISE, Lifter, confident_joints
from gfpose_ros.skeleton import NUM_JOINTS
from gfpose_ros.stamp_cache import StampCache
from gfpose_ros.tracking import PersonTracker, TrackedLifter

from .conversions import (
    hypotheses_msg,
    intrinsics_from_camera_info,
    person_arrays,
    poses_msg,
    stamp_seconds,
)
from .image_conversion import ImageError, depth_image_to_metres
from .diagnostics import FrameStats
from .markers import MarkerOptions, pose_markers
from .node_tools import (
    WARN_PERIOD,
    GfposeLifecycleNode,
    exit_process,
    init_rclpy,
    parameter_descriptor,
    run_nodes,
    startup_parameters,
)

# The largest people x hypotheses batch of one lift call (the TensorRT engine's batch profile).
MAX_BATCH = 512
RELIABILITIES = ('best_effort', 'reliable')
# One-Euro settings of smooth_poses, chosen with gfpose eval-tracking (see the README).
SMOOTHING = {'min_cutoff': 2.0, 'beta': 20.0, 'd_cutoff': 1.0}
TRACKING_SETTINGS = (
    'tracking',
    'warm_start',
    'track_max_age',
    'smooth_poses',
    'confidence_threshold',
)


# name -> (default, descriptor). Startup parameters are read at configure (or activate for the
# QoS); all others apply at run time. Defaults match config/lift.yaml.
PARAMETERS = {
    'model_path': (
        '',
        parameter_descriptor(
            'Model weights (.pt); empty = the shipped model', read_only_after_configure=True
        ),
    ),
    'backend': (
        'auto',
        parameter_descriptor(
            'Inference backend; auto picks TensorRT, then ONNX Runtime, then torch',
            choices=BACKENDS,
            read_only_after_configure=True,
        ),
    ),
    'precision': (
        'fp16',
        parameter_descriptor(
            'TensorRT precision', choices=PRECISIONS, read_only_after_configure=True
        ),
    ),
    'steps': (
        4,
        parameter_descriptor(
            'Sampler steps (network evaluations per hypothesis)',
            1,
            100,
            read_only_after_configure=True,
        ),
    ),
    'engine_cache_dir': (
        '',
        parameter_descriptor(
            'Folder for exported graphs and TensorRT engines; empty = $ROS_HOME/gfpose_ros',
            read_only_after_configure=True,
        ),
    ),
    'num_threads': (
        1,
        parameter_descriptor(
            'CPU threads of the ONNX Runtime backend; 0 = its default (one per core)',
            0,
            256,
            read_only_after_configure=True,
        ),
    ),
    'use_depth': (
        False,
        parameter_descriptor(
            'Subscribe to depth_image (aligned to the colour camera: 16UC1 mm or 32FC1 m) and '
            'measure each person\'s '
            'distance and size with it; people it cannot place keep the monocular fit',
            read_only_after_configure=True,
        ),
    ),
    'depth_max_age': (
        0.05,
        parameter_descriptor(
            'Largest stamp difference in seconds between the keypoints and the depth image paired '
            'with them',
            0.001,
            1.0,
        ),
    ),
    'tracking': (
        True,
        parameter_descriptor(
            'Give people the detector sends without an id a stable track id, and start each '
            'continuing track\'s '
            'sampler from its last pose (warm_start)'
        ),
    ),
    'warm_start': (
        True,
        parameter_descriptor(
            'With tracking: continuing tracks warm-start (2 network evaluations '
            'instead of 4; steadier poses, a smaller spread)'
        ),
    ),
    'track_max_age': (
        0.5,
        parameter_descriptor(
            'Seconds a track survives unseen; a person back later gets a new id', 0.05, 10.0
        ),
    ),
    'smooth_poses': (
        False,
        parameter_descriptor(
            'With tracking: One-Euro filter on each track\'s published joints (steadier, some lag)'
        ),
    ),
    'keypoints_reliability': (
        'best_effort',
        parameter_descriptor(
            'Reliability of the keypoints_2d subscription (best_effort also matches reliable '
            'publishers)',
            choices=RELIABILITIES,
            read_only_after_configure=True,
        ),
    ),
    'num_hypotheses': (
        20,
        parameter_descriptor('Pose hypotheses sampled per person', 1, MAX_BATCH),
    ),
    'aggregation': (
        'reprojection',
        parameter_descriptor('How hypotheses become one pose', choices=('reprojection', 'mean')),
    ),
    'confidence_threshold': (
        0.3,
        parameter_descriptor(
            '2D confidence below which a joint counts as unseen and is completed', 0.0, 1.0
        ),
    ),
    'keypoint_noise': (
        DEFAULT_KEYPOINT_NOISE,
        parameter_descriptor(
            'Expected 2D keypoint error per axis as a fraction of the person\'s 2D box diagonal; '
            'observed joints move onto their '
            'camera rays by how much this trusts the 2D over the prior. 0 = exact 2D, 10 = ignore '
            'the rays',
            0.0,
            10.0,
        ),
    ),
    'min_joints': (
        4,
        parameter_descriptor('People with fewer confident joints are dropped', 2, NUM_JOINTS),
    ),
    'person_height': (
        0.0,
        parameter_descriptor(
            'Assumed stature in metres (scales the poses); 0 = the model\'s own', 0.0, 2.5
        ),
    ),
    'max_people': (
        10,
        parameter_descriptor(
            'At most this many people are lifted per frame, the most confident first', 1, MAX_BATCH
        ),
    ),
    'publish_hypotheses': (True, parameter_descriptor('Publish pose_hypotheses')),
    'publish_markers': (True, parameter_descriptor('Publish RViz markers')),
    'show_hypotheses': (
        True,
        parameter_descriptor('Draw the hypotheses as a faint point cloud in the markers'),
    ),
    'marker_lifetime': (
        0.5,
        parameter_descriptor('Seconds a marker stays without an update', 0.0, 60.0),
    ),
    'marker_joint_diameter': (
        0.06,
        parameter_descriptor('Joint sphere diameter in metres', 0.005, 0.5),
    ),
    'fx': (
        0.0,
        parameter_descriptor(
            'Fallback focal length x [px] until a camera_info arrives; used when fx and fy > 0',
            0.0,
            1e5,
        ),
    ),
    'fy': (0.0, parameter_descriptor('Fallback focal length y [px]', 0.0, 1e5)),
    'cx': (0.0, parameter_descriptor('Fallback principal point x [px]', -1e5, 1e5)),
    'cy': (0.0, parameter_descriptor('Fallback principal point y [px]', -1e5, 1e5)),
    'autostart': (
        True,
        parameter_descriptor(
            'Configure and activate on start; false: wait for a lifecycle manager',
            read_only_after_configure=True,
        ),
    ),
    'diagnostics_period': (
        1.0,
        parameter_descriptor(
            'Seconds between two /diagnostics messages', 0.1, 60.0, read_only_after_configure=True
        ),
    ),
}
STARTUP = startup_parameters(PARAMETERS)
LIFTER_SETTINGS = (
    'num_hypotheses',
    'aggregation',
    'confidence_threshold',
    'keypoint_noise',
    'min_joints',
    'person_height',
)
LIFTER_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(Lifter).parameters.items()
    if p.default is not inspect.Parameter.empty
}


def validation_error(values):
    """Why this complete set of parameter values is invalid, or None. Ranges and types are
    enforced by the descriptors; this checks choices and what depends on several values."""
    for name, choices in (
        ('backend', BACKENDS),
        ('precision', PRECISIONS),
        ('keypoints_reliability', RELIABILITIES),
    ):
        if values[name] not in choices:
            return f'{name} must be one of {", ".join(choices)}, got {values[name]!r}'
    # The core's own checks, on the candidate values rather than a live Lifter; settings that are
    # not node parameters keep the Lifter's defaults.
    candidate = (
        LIFTER_DEFAULTS | {'max_batch': MAX_BATCH} | {k: values[k] for k in LIFTER_SETTINGS}
    )
    try:
        Lifter.validate_settings(types.SimpleNamespace(**candidate))
    except ValueError as exc:
        return str(exc)
    if values['max_people'] * values['num_hypotheses'] > MAX_BATCH:
        return (
            f'max_people x num_hypotheses = {values["max_people"]} x {values["num_hypotheses"]} '
            'exceeds '
            f'the batch limit {MAX_BATCH}; lower one of them'
        )
    return None


class LiftNode(GfposeLifecycleNode):
    def __init__(self, **kwargs):
        super().__init__('gfpose_lift', **kwargs)
        for name, (default, descriptor) in PARAMETERS.items():
            self.declare_parameter(name, default, descriptor)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.lifter = None
        self.tracked = None
        self.camera_K = None
        self.camera_size = (
            None  # (width, height) of the camera_info, to check depth images against
        )
        self.depth_images = StampCache(self.get_parameter('depth_max_age').value)
        self.stats = FrameStats()
        self._pubs = {}
        self._subs = []
        self._timer = None

    # ------------------------------------------------------------ parameters

    def _values(self):
        return {name: self.get_parameter(name).value for name in PARAMETERS}

    def _validate_parameters(self, params):
        for p in params:
            if p.name in STARTUP and self.lifter is not None:
                return SetParametersResult(
                    successful=False,
                    reason=(
                        f'{p.name} is read at configure: deactivate and clean up the node, set '
                        'it, then configure'
                    ),
                )
        values = self._values()
        values.update({p.name: p.value for p in params if p.name in PARAMETERS})
        reason = validation_error(values)
        return SetParametersResult(successful=reason is None, reason=reason or '')

    def _apply_parameters(self, params):
        if self.lifter is None:
            return  # read at configure
        for p in params:
            if p.name in LIFTER_SETTINGS:
                setattr(self.lifter, p.name, p.value)
        self.lifter.validate_settings()
        self.marker_options = self._marker_options()
        if any(p.name in TRACKING_SETTINGS for p in params):
            self.tracked = self._tracked_lifter()  # tracks start over

    def _tracked_lifter(self):
        tracker = PersonTracker(
            max_age=self.get_parameter('track_max_age').value,
            confidence_threshold=self.lifter.confidence_threshold,
        )
        warm = self.get_parameter('warm_start').value
        if self.get_parameter('tracking').value and warm:
            # export or load the tracking graph now, not in the first frame
            self.lifter.warm_backend()
        return TrackedLifter(
            self.lifter,
            tracker,
            warm_start=warm,
            smoothing=SMOOTHING if self.get_parameter('smooth_poses').value else None,
        )

    def _marker_options(self):
        return MarkerOptions(
            lifetime=self.get_parameter('marker_lifetime').value,
            joint_diameter=self.get_parameter('marker_joint_diameter').value,
            show_hypotheses=self.get_parameter('show_hypotheses').value,
        )

    # ------------------------------------------------------------ lifecycle

    def on_configure(self, state):
        values = self._values()
        reason = validation_error(
            values
        )  # values from a params file never went through the callback
        if reason:
            self.get_logger().error(f'configure failed: invalid parameters: {reason}')
            return TransitionCallbackReturn.FAILURE
        try:
            self.lifter = Lifter(
                model_path=values['model_path'] or None,
                backend=values['backend'],
                precision=values['precision'],
                steps=values['steps'],
                cache_dir=values['engine_cache_dir'] or None,
                max_batch=MAX_BATCH,
                threads=values['num_threads'],
                **{k: values[k] for k in LIFTER_SETTINGS},
            )
        except Exception as exc:  # ModelFileError, BackendError, ...: all mean "cannot run"
            self.get_logger().error(f'configure failed: {type(exc).__name__}: {exc}')
            self.lifter = None
            return TransitionCallbackReturn.FAILURE
        try:
            self.tracked = self._tracked_lifter()
        except Exception as exc:
            self.get_logger().error(
                f'configure failed: tracking graph: {type(exc).__name__}: {exc}'
            )
            self.lifter = None
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(
            f'model {self.lifter.model_path}; backend {self.lifter.backend.name} '
            f'({self.lifter.backend_reason}); {self.lifter.steps} steps'
        )
        self.marker_options = self._marker_options()
        self._pubs = {
            'poses': self.create_lifecycle_publisher(Pose3DArray, 'poses_3d', 10),
            'hypotheses': self.create_lifecycle_publisher(
                PoseHypothesesArray, 'pose_hypotheses', 10
            ),
            'markers': self.create_lifecycle_publisher(MarkerArray, 'markers', 10),
            'diagnostics': self.create_lifecycle_publisher(DiagnosticArray, '/diagnostics', 10),
        }
        return super().on_configure(state)

    def on_activate(self, state):
        reliability = (
            ReliabilityPolicy.RELIABLE
            if self.get_parameter('keypoints_reliability').value == 'reliable'
            else ReliabilityPolicy.BEST_EFFORT
        )
        # Depth 1: a frame that waits while the node is busy is replaced by the next one.
        keypoints_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability
        )
        self.stats = FrameStats()
        self._subs = [
            self.create_subscription(
                Keypoints2DArray, 'keypoints_2d', self.on_keypoints, keypoints_qos
            ),
            self.create_subscription(
                CameraInfo, 'camera_info', self.on_camera_info, qos_profile_sensor_data
            ),
        ]
        if self.get_parameter('use_depth').value:
            self.depth_images.clear()
            self._subs.append(
                self.create_subscription(
                    Image, 'depth_image', self.on_depth_image, qos_profile_sensor_data
                )
            )
        self._timer = self.create_timer(
            self.get_parameter('diagnostics_period').value, self.publish_diagnostics
        )
        return super().on_activate(state)

    def on_deactivate(self, state):
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self.lifter = None
        self.tracked = None
        self.camera_K = None
        self.camera_size = None
        self.depth_images.clear()
        return super().on_cleanup(state)

    # ------------------------------------------------------------ frames

    def skip(self, kind, message):
        self.stats.skip(message)
        self.warn(kind, f'frame skipped: {message}')

    def on_camera_info(self, msg):
        self.camera_K = intrinsics_from_camera_info(msg)  # checked by the core with each frame
        self.camera_size = (msg.width, msg.height) if msg.width and msg.height else None

    def on_depth_image(self, msg):
        try:
            metres = depth_image_to_metres(msg)
        except ImageError as exc:
            self.warn('depth_image', f'depth image ignored: {exc}')
            return
        if self.camera_size is not None and (msg.width, msg.height) != self.camera_size:
            self.warn(
                'depth_size',
                f'depth image ignored: {msg.width}x{msg.height}, but camera_info says '
                f'{self.camera_size[0]}x{self.camera_size[1]}; use the depth image aligned '
                'to the colour camera (e.g. aligned_depth_to_color/image_raw)',
            )
            return
        self.depth_images.put(stamp_seconds(msg.header.stamp), msg.header.frame_id, metres)

    def depth_for(self, header):
        """The depth image paired with a keypoints frame, or None (with a throttled reason)."""
        if not self.get_parameter('use_depth').value:
            return None
        self.depth_images.max_age = self.get_parameter('depth_max_age').value
        match = self.depth_images.match(stamp_seconds(header.stamp), header.frame_id)
        if match.item is None:
            self.warn(f'depth_{match.kind}', f'lifting without depth: {match.reason}')
        return match.item

    def intrinsics(self):
        """(K, where it came from), or (None, None) when there is none."""
        if self.camera_K is not None:
            return self.camera_K, f'camera_info on {self.resolve_topic_name("camera_info")}'
        fx, fy, cx, cy = (self.get_parameter(n).value for n in ('fx', 'fy', 'cx', 'cy'))
        if fx > 0 and fy > 0:
            self.warn(
                'fallback_intrinsics',
                'no camera_info received yet; using the fallback intrinsics '
                f'fx={fx} fy={fy} cx={cx} cy={cy} from the parameters',
            )
            return intrinsics(fx, fy, cx, cy), 'the fx, fy, cx, cy parameters'
        return None, None

    def on_keypoints(self, msg, message_info):
        # Two arguments: rclpy then passes the MessageInfo (sequence numbers, reception time).
        if self.lifter is None:
            return  # not configured: frames handed over directly by an in-process camera node
        start = time.monotonic()
        received_ns = message_info.get('received_timestamp') or 0
        self.stats.arrived(message_info)
        try:
            ids, uv, confidence, K = self.select_people(msg)
            if ids is None:
                return
            depth = self.depth_for(msg.header)
            if self.get_parameter('tracking').value:
                result, tracks = self.tracked.lift(
                    uv,
                    confidence,
                    K,
                    stamp_seconds(msg.header.stamp),
                    ids=[i or None for i in ids],
                    depth=depth,
                )
                ids = [str(track_id) for track_id in tracks.ids]
            else:
                result = self.lifter.lift(uv, confidence, K, layout='h36m17', depth=depth)
        except ValueError as exc:  # InputError, LayoutError, CameraError: a bad frame
            reason = f'{type(exc).__name__}: {exc}'
            self.skip(reason, reason)  # throttled per distinct reason
            return
        except Exception as exc:  # a backend failure must not kill the node either
            self.stats.skip(str(exc))
            self.get_logger().error(
                f'frame skipped: lifting failed: {type(exc).__name__}: {exc}',
                throttle_duration_sec=WARN_PERIOD,
            )
            return
        self.publish(msg.header, ids, result)
        self.stats.placed(result.position_source, result.depth_reason)
        # Latency from DDS reception (includes any wait in the queue) to published results.
        latency = (
            (time.time_ns() - received_ns) * 1e-9 if received_ns else time.monotonic() - start
        )
        self.stats.finished(latency, len(ids))

    def select_people(self, msg):
        """Validate a frame and pick who to lift: (ids, uv (N, 17, 2), confidence (N, 17), K).

        Each person is checked and mapped to H36M-17 by the core (raises on a bad frame).
        People with too few confident joints are dropped, and above max_people only the most
        confident are kept. Returns ids None when there is nothing to publish.
        """
        lifter = self.lifter
        if not msg.people:
            # Nobody seen needs no camera: publish the empty result so stale poses are cleared.
            return [], np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS)), np.eye(3)
        K, source = self.intrinsics()
        if K is None:
            self.skip(
                'no_intrinsics',
                f'no camera_info received on {self.resolve_topic_name("camera_info")} '
                'and no fallback intrinsics (parameters fx, fy, cx, cy)',
            )
            return None, None, None, None
        try:
            check_intrinsics(K)
        except CameraError as exc:
            raise CameraError(f'intrinsics from {source}: {exc}') from None
        ids, uv, confidence, strength = [], [], [], []
        for i, person in enumerate(msg.people):
            try:
                p_uv, p_conf, _ = lifter.prepare(
                    *[a[None] for a in person_arrays(person)], K, person.layout
                )
            except ValueError as exc:
                raise type(exc)(f'person {i} (id {person.id!r}): {exc}') from None
            seen = confident_joints(p_uv, p_conf, lifter.confidence_threshold)[0]
            if seen.sum() < lifter.min_joints:
                self.warn(
                    'min_joints',
                    f'person {i} (id {person.id!r}) dropped: {seen.sum()} confident joints, '
                    f'at least min_joints={lifter.min_joints} needed',
                )
                continue
            ids.append(person.id)
            uv.append(p_uv[0])
            confidence.append(p_conf[0])
            strength.append(p_conf[0][seen].sum())
        max_people = self.get_parameter('max_people').value
        if len(ids) > max_people:
            self.warn(
                'max_people',
                f'{len(ids)} people in the frame; lifting the {max_people} most confident '
                '(parameter max_people)',
            )
            keep = sorted(np.argsort(strength)[::-1][:max_people])
            ids, uv, confidence = (
                [ids[i] for i in keep],
                [uv[i] for i in keep],
                [confidence[i] for i in keep],
            )
        return (
            ids,
            np.reshape(uv, (-1, NUM_JOINTS, 2)),
            np.reshape(confidence, (-1, NUM_JOINTS)),
            K,
        )

    def publish(self, header, ids, result):
        """All outputs carry the input's stamp and frame."""
        self._pubs['poses'].publish(poses_msg(header, ids, result))
        if self.get_parameter('publish_hypotheses').value:
            self._pubs['hypotheses'].publish(hypotheses_msg(header, ids, result))
        if self.get_parameter('publish_markers').value:
            self._pubs['markers'].publish(pose_markers(header, result, self.marker_options))

    def publish_diagnostics(self):
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [
            self.stats.status(
                f'{self.get_name()}: lifting', self.lifter.backend.name, self.lifter.backend_reason
            )
        ]
        self._pubs['diagnostics'].publish(msg)


def main(args=None):
    stop = init_rclpy(args)
    status = run_nodes([LiftNode()], SingleThreadedExecutor(), stop)
    exit_process(status)  # skips the interpreter's slow teardown: see exit_process


if __name__ == '__main__':
    sys.exit(main())
