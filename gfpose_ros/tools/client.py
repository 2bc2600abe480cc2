"""The other side of the lift node, for the demo, the benchmark and the tests.

``start_lift_node`` runs the node as its own process, exactly as a user would
(``python -m gfpose_ros.ros.entry lift --ros-args --params-file ...``, what the
``gfpose_lift`` console script runs); ``LiftClient`` is a plain
node that publishes keypoints and camera_info to it and collects what comes back, with the
publish -> receive time of each frame.
"""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from gfpose_msgs.msg import Keypoints2DArray, Pose3DArray, PoseHypothesesArray

from ..ros.conversions import camera_info_msg, keypoints_msg, stamp_seconds

PACKAGE = 'gfpose_ros'
# realpath: colcon --symlink-install imports this file through a link in build/.
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def package_file(*parts):
    """A file shipped with the package: in the source tree, else in the installed share dir."""
    path = os.path.join(SOURCE_ROOT, *parts)
    if os.path.exists(path):
        return path
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = os.path.join(get_package_share_directory(PACKAGE), *parts)
        if os.path.exists(installed):
            return installed
    except Exception:  # ament_index missing, or the package not installed
        pass
    raise FileNotFoundError(
        f'{os.path.join(*parts)} is neither in the source tree ({SOURCE_ROOT}) '
        f'nor in the share directory of an installed {PACKAGE}'
    )


def load_demo_sequence(path=None):
    """The bundled recorded sequence (see data/demo_sequence.npz) as a dict of arrays."""
    with np.load(path or package_file('data', 'demo_sequence.npz')) as f:
        return {k: f[k] for k in f.files}


def node_overrides(args):
    """Parameter overrides from the --backend and -p NAME:=VALUE options of the demo and
    benchmark."""
    overrides = dict(item.split(':=', 1) for item in args.param)
    if args.backend:
        overrides['backend'] = args.backend
    return overrides


def node_arguments(kind='lift', params_file=None, namespace='', params=None):
    """The --ros-args of a node process (``kind`` 'lift' or 'camera'): ``params_file`` (default:
    the package's config/{lift,camera}.yaml), a namespace and ``params`` (a dict, or
    'name:=value' strings) as -p overrides."""
    args = ['--ros-args', '--params-file', params_file or package_file('config', f'{kind}.yaml')]
    if namespace:
        args += ['-r', f'__ns:={namespace}']
    if isinstance(params, dict):
        params = [f'{name}:={value}' for name, value in params.items()]
    for param in params or ():
        args += ['-p', param]
    return args


def node_command(kind='lift', params_file=None, namespace='', params=None, console_script=False):
    """The command line of a node process: its entry point and node_arguments. With
    ``console_script``, the installed gfpose_{kind} script, as ros2 launch and users run it,
    where it is on the PATH. The one place the demo, the benchmarks and the ROS tests start
    nodes from."""
    script = shutil.which(f'gfpose_{kind}') if console_script else None
    entry = [script] if script else [sys.executable, '-m', 'gfpose_ros.ros.entry', kind]
    return entry + node_arguments(kind, params_file, namespace, params)


def start_lift_node(params_file=None, namespace='', params=None, log_file=None, env=None):
    """Start the lift node in its own process; returns the Popen. ``params`` override the file."""
    out = open(log_file, 'w') if log_file else subprocess.DEVNULL
    return subprocess.Popen(
        node_command('lift', params_file, namespace, params),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )


def stop_process(proc, timeout=5.0):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stamp_key(stamp):
    return stamp.sec, stamp.nanosec


class LiftClient(Node):
    """Publishes frames to a lift node and records, per stamp, the replies and their latency."""

    def __init__(
        self,
        namespace='',
        context=None,
        reliability=ReliabilityPolicy.RELIABLE,
        topics=None,
        poses_only=False,
    ):
        """``topics`` renames keypoints_2d, camera_info or poses_3d (e.g. to a deployed node's
        topics). ``poses_only``: subscribe to poses_3d (and /diagnostics) alone, as a planner
        does, not to pose_hypotheses and markers as RViz does."""
        super().__init__('gfpose_lift_client', namespace=namespace, context=context)
        topics = {
            'keypoints_2d': 'keypoints_2d',
            'camera_info': 'camera_info',
            'poses_3d': 'poses_3d',
        } | (topics or {})
        self.topics = topics
        qos = QoSProfile(depth=10, reliability=reliability)
        self.keypoints_pub = self.create_publisher(Keypoints2DArray, topics['keypoints_2d'], qos)
        self.camera_info_pub = self.create_publisher(CameraInfo, topics['camera_info'], qos)
        self.create_subscription(Pose3DArray, topics['poses_3d'], self._on_poses, 100)
        if not poses_only:
            self.create_subscription(
                PoseHypothesesArray, 'pose_hypotheses', self._on_hypotheses, 100
            )
            self.create_subscription(MarkerArray, 'markers', self._on_markers, 100)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 100)
        self._spin_executor = SingleThreadedExecutor(context=context)
        self._spin_executor.add_node(self)
        self.sent = {}  # stamp -> monotonic publish time
        self.poses = {}  # stamp -> Pose3DArray
        self.latency = {}  # stamp -> seconds from publish to receive
        self.hypotheses = {}  # stamp -> PoseHypothesesArray
        self.markers = {}  # stamp -> MarkerArray
        self.diagnostics = []  # DiagnosticStatus of the lift node, in arrival order
        # stamp -> seconds from the header stamp to receiving the poses (wall clock)
        self.stamp_age = {}

    def _on_poses(self, msg):
        key = stamp_key(msg.header.stamp)
        self.poses[key] = msg
        self.stamp_age[key] = time.time() - stamp_seconds(msg.header.stamp)
        if key in self.sent:
            self.latency[key] = time.monotonic() - self.sent[key]

    def _on_hypotheses(self, msg):
        self.hypotheses[stamp_key(msg.header.stamp)] = msg

    def _on_markers(self, msg):
        if msg.markers:
            self.markers[stamp_key(msg.markers[0].header.stamp)] = msg

    def _on_diagnostics(self, msg):
        self.diagnostics += [s for s in msg.status if 'gfpose_lift' in s.name]

    def spin_until(self, predicate, timeout, step=0.01):
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            self._spin_executor.spin_once(timeout_sec=step)
        return predicate()

    def spin_for(self, seconds):
        self.spin_until(lambda: False, seconds, step=min(seconds, 0.005) if seconds > 0 else 0)

    def wait_for_node(self, timeout, process=None):
        """Wait until the lift node subscribes to our keypoints and publishes poses."""

        def connected():
            if process is not None and process.poll() is not None:
                raise RuntimeError(f'the lift node exited with code {process.returncode}')
            return (
                self.keypoints_pub.get_subscription_count() > 0
                and self.count_publishers(self.resolve_topic_name(self.topics['poses_3d'])) > 0
            )

        return self.spin_until(connected, timeout, step=0.1)

    def send(self, stamp, people, frame_id='camera_optical_frame', camera=None):
        """Publish one frame. ``people``: iterable of (id, layout, uv, confidence); ``camera``:
        (K, width, height) to publish a CameraInfo first. Returns the stamp key."""
        header = Header(frame_id=frame_id)
        header.stamp.sec, header.stamp.nanosec = stamp
        if camera is not None:
            self.camera_info_pub.publish(camera_info_msg(header, *camera))
        msg = keypoints_msg(header, people)
        key = stamp_key(header.stamp)
        self.sent[key] = time.monotonic()
        self.keypoints_pub.publish(msg)
        return key

    def request(self, stamp, people, timeout=2.0, **kwargs):
        """Send a frame and wait for its poses; returns the Pose3DArray or None."""
        key = self.send(stamp, people, **kwargs)
        self.spin_until(lambda: key in self.poses, timeout)
        return self.poses.get(key)

    def prime(self, people, camera, attempts=30):
        """Send a frame with camera_info until the node answers: camera_info travels on its own
        topic and may reach the node after the first keypoints. Also warms the backend up."""
        for attempt in range(attempts):
            if (
                self.request((1, 999_000_000 + attempt), people, timeout=1.0, camera=camera)
                is not None
            ):
                return True
        return False

    def close(self):
        self._spin_executor.shutdown()
        self.destroy_node()


def frame_stamp(index, frame_rate, start_sec=1_000):
    """A synthetic capture stamp (sec, nanosec) for frame ``index`` of a recording."""
    ns = int(round(index * 1e9 / frame_rate))
    return start_sec + ns // 1_000_000_000, ns % 1_000_000_000
