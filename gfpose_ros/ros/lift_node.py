"""The lift node: gfpose_msgs/Keypoints2DArray -> metric 3D poses, hypotheses, RViz markers,
diagnostics.

A lifecycle node: configure loads the model (a missing or corrupt file fails here, with the
reason), activate subscribes, deactivate unsubscribes, cleanup drops the model. Run as a
console entry point it configures and activates itself:

    gfpose_lift --ros-args --params-file config/lift.yaml

Frames are lifted in the subscription callback from a queue of depth 1, so a frame that arrives
while the node is busy replaces the waiting one: latency stays flat under load and the replaced
frames are counted as drops in /diagnostics.

Per-frame policy and settings live in the core: the parameters become a settings.LiftSettings
(swapped whole, between frames, when one changes) and a settings.BackendSpec (read at
configure), and every frame goes through pipeline.FramePipeline.lift_frame. An in-process camera
node hands frames to ``lift_frame``, which goes through the same gate as the transitions and
parameter changes (frame_gate.py) and checks the node is active.

SIGINT, SIGTERM (a second one too) and a lifecycle manager's shutdown end the process cleanly,
with status 0, after the frame in flight: see run_nodes in node_tools.py.
"""

import sys
import time
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import MarkerArray

from gfpose_msgs.msg import Keypoints2DArray, Pose3DArray, PoseHypothesesArray
from gfpose_ros.camera import CameraError, intrinsics
from gfpose_ros.lifter import Lifter
from gfpose_ros.pipeline import FramePipeline
from gfpose_ros.settings import CHOICES, RANGES, BackendSpec, LiftSettings, SettingsError
from gfpose_ros.stamp_cache import StampCache

from .conversions import (
    hypotheses_msg,
    intrinsics_from_camera_info,
    people_from_msg,
    poses_msg,
    stamp_seconds,
)
from .diagnostics import FrameStats
from .entry import process_age
from .frame_gate import FrameGate
from .input_watch import InputWatch
from .image_conversion import ImageError, depth_image_to_metres
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

RELIABILITIES = ('best_effort', 'reliable')
SPEC_DEFAULTS = BackendSpec()
LIFT_DEFAULTS = LiftSettings()


def core_parameter(name, description, startup=False):
    """(default, descriptor) of a parameter that is a core setting: its default, range and
    choices come from gfpose_ros.settings, the one place that holds them."""
    defaults = SPEC_DEFAULTS if hasattr(SPEC_DEFAULTS, name) else LIFT_DEFAULTS
    low, high = RANGES.get(name, (None, None))
    descriptor = parameter_descriptor(
        description, low, high, CHOICES.get(name), read_only_after_configure=startup
    )
    return getattr(defaults, name), descriptor


# name -> (default, descriptor). Startup parameters are read at configure (or activate for the
# QoS); all others apply at run time. config/lift.yaml and the README are tested against these.
PARAMETERS = {
    'model_path': core_parameter(
        'model_path', 'Model weights (.pt); empty = the shipped model', startup=True
    ),
    'backend': core_parameter(
        'backend',
        'Inference backend; auto picks TensorRT, then ONNX Runtime, then torch',
        startup=True,
    ),
    'precision': core_parameter('precision', 'TensorRT precision', startup=True),
    'onnxruntime_precision': core_parameter(
        'onnxruntime_precision',
        "ONNX Runtime's graph on a CPU: int8 (quantised layers, about a third faster) or fp32",
        startup=True,
    ),
    'steps': core_parameter(
        'steps', 'Sampler steps (network evaluations per hypothesis)', startup=True
    ),
    'engine_cache_dir': core_parameter(
        'engine_cache_dir',
        'Folder for exported graphs and TensorRT engines; empty = $ROS_HOME/gfpose_ros',
        startup=True,
    ),
    'num_threads': core_parameter(
        'num_threads',
        'CPU threads of the ONNX Runtime backend; 0 = its default (one per core)',
        startup=True,
    ),
    'use_depth': (
        False,
        parameter_descriptor(
            'Subscribe to depth_image (aligned to the colour camera: 16UC1 mm or 32FC1 m) and '
            "measure each person's distance and size with it; people it cannot place keep the "
            'monocular fit',
            read_only_after_configure=True,
        ),
    ),
    'depth_max_age': core_parameter(
        'depth_max_age',
        'Largest stamp difference in seconds between the keypoints and the depth image paired '
        'with them',
    ),
    'tracking': core_parameter(
        'tracking',
        'Give people the detector sends without an id a stable track id, and start each '
        "continuing track's sampler from its last pose (warm_start)",
    ),
    'warm_start': core_parameter(
        'warm_start',
        'With tracking: continuing tracks warm-start (2 network evaluations instead of 4; '
        'steadier poses, a smaller spread)',
    ),
    'track_max_age': core_parameter(
        'track_max_age', 'Seconds a track survives unseen; a person back later gets a new id'
    ),
    'smooth_poses': core_parameter(
        'smooth_poses',
        "With tracking: One-Euro filter on each track's published joints (steadier, some lag)",
    ),
    'motion_filter': core_parameter(
        'motion_filter',
        "With tracking: publish each track's joints from its constant-velocity Kalman filter "
        '(less jitter, no lag); velocities are published either way',
    ),
    'target_frame': (
        '',
        parameter_descriptor(
            'Publish poses and velocities in this frame (e.g. odom, map) through tf2, at the '
            "image's stamp; empty = the camera frame. Needs tf2_ros",
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
    'num_hypotheses': core_parameter('num_hypotheses', 'Pose hypotheses sampled per person'),
    'aggregation': core_parameter('aggregation', 'How hypotheses become one pose'),
    'confidence_threshold': core_parameter(
        'confidence_threshold',
        '2D confidence below which a joint counts as unseen and is completed',
    ),
    'keypoint_noise': core_parameter(
        'keypoint_noise',
        "Expected 2D keypoint error per axis as a fraction of the person's 2D box diagonal; "
        'observed joints move onto their camera rays by how much this trusts the 2D over the '
        'prior. 0 = exact 2D, 10 = ignore the rays',
    ),
    'fit_2d': core_parameter(
        'fit_2d',
        'Fit every denoising step\'s pose to the 2D (joints onto their rays by their confidence, '
        'pulled less the larger keypoint_noise is); false = the 2D only conditions the network',
    ),
    'calibrated_spread': core_parameter(
        'calibrated_spread',
        'Publish joint_std with the per-joint calibration stored in the model file (fitted on '
        'held-out data by gfpose calibrate-spread); false = the hypotheses\' raw spread',
    ),
    'min_joints': core_parameter('min_joints', 'People with fewer confident joints are dropped'),
    'person_height': core_parameter(
        'person_height',
        "The person's stature in metres (scales the poses and the distance); 0 = the training "
        "population's expected stature (settings.POPULATION_STATURE)",
    ),
    'population_size': core_parameter(
        'population_size',
        'With person_height 0 and no depth: scale each person to the training population\'s '
        'expected stature (one camera cannot see size); false = the network\'s own size',
    ),
    'max_people': core_parameter(
        'max_people', 'At most this many people are lifted per frame, the most confident first'
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
            'Seconds between two /diagnostics messages',
            0.1,
            60.0,
            read_only_after_configure=True,
        ),
    ),
}
STARTUP = startup_parameters(PARAMETERS)
SPEC_PARAMETERS = [name for name in PARAMETERS if hasattr(SPEC_DEFAULTS, name)]
LIFT_PARAMETERS = [name for name in PARAMETERS if hasattr(LIFT_DEFAULTS, name)]


@dataclass(frozen=True)
class OutputOptions:
    """What the ROS layer does with a frame besides lifting it; swapped whole like the core's
    LiftSettings."""

    publish_hypotheses: bool
    publish_markers: bool
    markers: MarkerOptions
    fallback_K: object  # (3, 3) from the fx, fy, cx, cy parameters, or None
    use_depth: bool  # read at configure
    target_frame: str  # '' = the camera's frame


def settings_from(values):
    """(BackendSpec, LiftSettings, OutputOptions) from a complete set of parameter values;
    raises SettingsError (a ValueError) with the reason. Ranges and types are also enforced
    by the descriptors; this checks choices and what depends on several values."""
    if values['keypoints_reliability'] not in RELIABILITIES:
        raise SettingsError(
            f'keypoints_reliability must be one of {", ".join(RELIABILITIES)}, '
            f'got {values["keypoints_reliability"]!r}'
        )
    spec = BackendSpec(**{name: values[name] for name in SPEC_PARAMETERS})
    lift = LiftSettings(**{name: values[name] for name in LIFT_PARAMETERS})
    fx, fy, cx, cy = (values[n] for n in ('fx', 'fy', 'cx', 'cy'))
    output = OutputOptions(
        values['publish_hypotheses'],
        values['publish_markers'],
        MarkerOptions(
            lifetime=values['marker_lifetime'],
            joint_diameter=values['marker_joint_diameter'],
            show_hypotheses=values['show_hypotheses'],
        ),
        intrinsics(fx, fy, cx, cy) if fx > 0 and fy > 0 else None,
        values['use_depth'],
        values['target_frame'],
    )
    return spec, lift.check_batch(spec.max_batch), output


class LiftNode(GfposeLifecycleNode):
    def __init__(self, **kwargs):
        super().__init__('gfpose_lift', **kwargs)
        for name, (default, descriptor) in PARAMETERS.items():
            self.declare_parameter(name, default, descriptor)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.pipeline = None  # a FramePipeline over the Lifter, from configure to cleanup
        self.output = None
        self.active = False
        # One frame at a time, and never under a transition or a settings swap: the subscription
        # and an in-process camera node's thread both come through lift_frame.
        self._gate = FrameGate()  # frames against transitions (see frame_gate.py)
        # Says when no keypoints arrive (input_watch.py); None when an in-process camera node
        # feeds lift_frame directly and watches its own images instead.
        self.input_watch = InputWatch()
        self.camera_K = None
        self.camera_size = (
            None  # (width, height) of the camera_info, to check depth images against
        )
        self.depth_images = StampCache(LIFT_DEFAULTS.depth_max_age)
        self.stats = FrameStats()
        self._pubs = {}
        self._subs = []
        self._timer = None

    @property
    def lifter(self):
        return None if self.pipeline is None else self.pipeline.lifter

    # ------------------------------------------------------------ parameters

    def _values(self, params=()):
        values = {name: self.get_parameter(name).value for name in PARAMETERS}
        values.update({p.name: p.value for p in params if p.name in PARAMETERS})
        return values

    def _validate_parameters(self, params):
        for p in params:
            if p.name in STARTUP and self.pipeline is not None:
                return SetParametersResult(
                    successful=False,
                    reason=(
                        f'{p.name} is read at configure: deactivate and clean up the node, set '
                        'it, then configure'
                    ),
                )
        try:
            settings_from(self._values(params))
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params):
        if self.pipeline is None:
            return  # read at configure
        _, lift, output = settings_from(self._values())
        with self._gate.control():  # between two frames, never within one
            self.pipeline.lifter.settings = lift
            self.output = output
            self.depth_images.max_age = lift.depth_max_age
            try:
                self.pipeline.prepare_tracking()
            except Exception as exc:  # the tracking graph cannot be built: run cold
                self.get_logger().error(
                    f'tracking graph unavailable ({type(exc).__name__}: {exc}); '
                    'lifting without warm starts'
                )
                self.pipeline.lifter.settings = lift.replace(warm_start=False)

    # ------------------------------------------------------------ lifecycle

    def on_configure(self, state):
        started = time.monotonic()
        try:
            # Values from a params file never went through the parameter callback.
            spec, lift, output = settings_from(self._values())
        except ValueError as exc:
            self.get_logger().error(f'configure failed: invalid parameters: {exc}')
            return TransitionCallbackReturn.FAILURE
        try:
            pipeline = FramePipeline(Lifter(spec, lift))
            pipeline.prepare_tracking()  # export or load the tracking graph now, not in a frame
        except Exception as exc:  # ModelFileError, BackendError, ...: all mean "cannot run"
            self.get_logger().error(f'configure failed: {type(exc).__name__}: {exc}')
            return TransitionCallbackReturn.FAILURE
        lifter = pipeline.lifter
        self.get_logger().info(
            f'model {lifter.model_path}; backend {lifter.backend.name} {lifter.backend.precision} '
            f'({lifter.backend_reason}); '
            f'{spec.steps} steps; configured in {time.monotonic() - started:.1f} s '
            f'({process_age():.1f} s after the process started)'
        )
        with self._gate.control():
            self.pipeline, self.output = pipeline, output
            self.depth_images.max_age = lift.depth_max_age
            self._pubs = {
                'poses': self.create_lifecycle_publisher(Pose3DArray, 'poses_3d', 10),
                'hypotheses': self.create_lifecycle_publisher(
                    PoseHypothesesArray, 'pose_hypotheses', 10
                ),
                'markers': self.create_lifecycle_publisher(MarkerArray, 'markers', 10),
                'diagnostics': self.create_lifecycle_publisher(
                    DiagnosticArray, '/diagnostics', 10
                ),
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
        if self.input_watch is not None:
            self.input_watch.start()
        self._timer = self.create_timer(
            self.get_parameter('diagnostics_period').value, self.publish_diagnostics
        )
        result = super().on_activate(state)
        with self._gate.control():
            self.active = True
        return result

    def on_deactivate(self, state):
        with self._gate.control():
            self.active = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        with self._gate.control():
            self.active = False
            for pub in self._pubs.values():
                self.destroy_lifecycle_publisher(pub)
            self._pubs = {}
            self.pipeline = None
            self.output = None
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
        if not self.output.use_depth:
            return None
        match = self.depth_images.match(stamp_seconds(header.stamp), header.frame_id)
        if match.item is None:
            self.warn(f'depth_{match.kind}', f'lifting without depth: {match.reason}')
        return match.item

    def intrinsics(self):
        """(K, where it came from), or (None, None) when there is none."""
        if self.camera_K is not None:
            return self.camera_K, f'camera_info on {self.resolve_topic_name("camera_info")}'
        K = self.output.fallback_K
        if K is not None:
            self.warn(
                'fallback_intrinsics',
                'no camera_info received yet; using the fallback intrinsics '
                f'fx={K[0, 0]} fy={K[1, 1]} cx={K[0, 2]} cy={K[1, 2]} from the parameters',
            )
            return K, 'the fx, fy, cx, cy parameters'
        return None, None

    def on_keypoints(self, msg, message_info):
        # Two arguments: rclpy then passes the MessageInfo (sequence numbers, reception time).
        self.lift_frame(msg, message_info)

    def lift_frame(self, msg, message_info=None):
        """Lift and publish one Keypoints2DArray; the entry point of the subscription and of an
        in-process camera node. Returns False when the node is not active (nothing is lifted or
        published then), True otherwise, a skipped frame included."""
        if self.input_watch is not None:
            self.input_watch.arrived()
        with self._gate.frame() as admitted:
            if not (admitted and self.active):
                return False
            self._lift_frame(msg, message_info or {})
            return True

    def _lift_frame(self, msg, message_info):
        start = time.monotonic()
        received_ns = message_info.get('received_timestamp') or 0
        self.stats.arrived(message_info)
        K, source = None, None
        if msg.people:  # nobody seen needs no camera: the empty result clears stale poses
            K, source = self.intrinsics()
            if K is None:
                self.skip(
                    'no_intrinsics',
                    f'no camera_info received on {self.resolve_topic_name("camera_info")} '
                    'and no fallback intrinsics (parameters fx, fy, cx, cy)',
                )
                return
        try:
            frame = self.pipeline.lift_frame(
                people_from_msg(msg),
                K,
                stamp_seconds(msg.header.stamp),
                depth=self.depth_for(msg.header) if msg.people else None,
                frame_id=msg.header.frame_id,
            )
        except ValueError as exc:  # InputError, LayoutError, CameraError: a bad frame
            where = f'intrinsics from {source}: ' if isinstance(exc, CameraError) else ''
            reason = f'{type(exc).__name__}: {where}{exc}'
            self.skip(reason, reason)  # throttled per distinct reason
            return
        except Exception as exc:  # a backend failure must not kill the node either
            self.stats.skip(str(exc))
            self.get_logger().error(
                f'frame skipped: lifting failed: {type(exc).__name__}: {exc}',
                throttle_duration_sec=WARN_PERIOD,
            )
            return
        for kind, reason in frame.skipped:
            self.warn(kind, reason)
        self.publish(
            msg.header,
            [str(i) if i is not None else '' for i in frame.ids],
            frame.result,
            frame.motion,
        )
        self.stats.placed(frame.result.position_source, frame.result.depth_reason)
        # Latency from DDS reception (includes any wait in the queue) to published results.
        latency = (
            (time.time_ns() - received_ns) * 1e-9 if received_ns else time.monotonic() - start
        )
        self.stats.finished(latency, len(frame.ids))

    def publish(self, header, ids, result, motion=None):
        """All outputs carry the input's stamp, and its frame or target_frame. Hypotheses and
        markers are built only while someone subscribes to them (RViz, a logger): they cost
        more to build than the poses, and a planner reads only the poses."""
        header, result, motion = self.in_target_frame(header, result, motion)
        self._pubs['poses'].publish(poses_msg(header, ids, result, motion))
        hypotheses, markers = self._pubs['hypotheses'], self._pubs['markers']
        if self.output.publish_hypotheses and hypotheses.get_subscription_count():
            hypotheses.publish(hypotheses_msg(header, ids, result))
        if self.output.publish_markers and markers.get_subscription_count():
            markers.publish(pose_markers(header, result, self.output.markers))

    def in_target_frame(self, header, result, motion):
        """(header, result, motion) in target_frame through tf2 at the image's stamp; as given
        when target_frame is empty, and (with a throttled warning) when tf2 or the transform is
        missing: the header's frame_id always says which frame the poses are in."""
        target = self.output.target_frame
        if not target or target == header.frame_id or not len(result.poses):
            return header, result, motion
        try:
            if getattr(self, '_tf_buffer', None) is None:
                import tf2_ros  # no pip wheel: only where ROS is installed

                self._tf_buffer = tf2_ros.Buffer()
                self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        except ImportError:
            self.warn('tf2', f'target_frame {target!r} ignored: tf2_ros is not installed')
            return header, result, motion
        from rclpy.duration import Duration
        from rclpy.time import Time

        from gfpose_ros.motion import unknown_motion
        from gfpose_ros.transforms import rotation_translation, to_frame

        def lookup(stamp):
            tf = self._tf_buffer.lookup_transform(target, header.frame_id, stamp).transform
            q, v = tf.rotation, tf.translation
            return rotation_translation((q.x, q.y, q.z, q.w), (v.x, v.y, v.z))

        stamp = Time.from_msg(header.stamp)
        try:
            now = lookup(stamp)
        except Exception as exc:  # tf2's LookupException, ExtrapolationException, ...
            self.warn('tf2', f'no transform {header.frame_id} -> {target}: {exc}')
            return header, result, motion
        dt = 0.1  # the camera's own velocity from its transform this long before the image
        try:
            previous = (*lookup(stamp - Duration(seconds=dt)), dt)
        except Exception:
            previous = None
        if motion is None:
            motion = unknown_motion(len(result.poses))
        if previous is None:  # the camera's motion is unknown: so is the people's
            motion = unknown_motion(len(result.poses))
        result, motion = to_frame(result, motion, now, previous)
        out = type(header)(stamp=header.stamp, frame_id=target)
        return out, result, motion

    def publish_diagnostics(self):
        if self.input_watch is not None:
            self.check_input(self.input_watch, 'keypoints', 'keypoints_2d')
        lifter = self.lifter
        if lifter is None:
            return
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [
            self.stats.status(
                f'{self.get_name()}: lifting', lifter.backend.name, lifter.backend_reason
            )
        ]
        self._pubs['diagnostics'].publish(msg)


def main(args=None):
    stop = init_rclpy(args)
    status = run_nodes([LiftNode()], SingleThreadedExecutor(), stop)
    exit_process(status)  # skips the interpreter's slow teardown: see exit_process


if __name__ == '__main__':
    sys.exit(main())
