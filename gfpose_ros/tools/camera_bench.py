"""Camera-to-3D latency over ROS 2: ``python -m gfpose_ros.tools.camera_bench``.

Starts the camera pipeline (camera node + lift node in one process, with the DDS profile, as
camera.launch.py does) as its own process, publishes the bundled photos to ``image`` with their
``camera_info`` one frame at a time (each photo for ``--hold`` frames, as a camera watching a still
scene), and times each frame from publishing the image to receiving its ``poses_3d`` in this
process: DDS transfer of the image both ways included. Prints p50/p90 and writes
outputs/bench/camera_ros_latency.json, naming the machine.

Stage by stage, from the DDS source timestamps (the wall clock at which the pipeline published
each output; one machine, one clock): image published -> ``keypoints_2d`` published (the image's
trip, the executor, the conversion and the detection), -> ``poses_3d`` published (the lift), ->
``poses_3d`` received here (its trip back).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from gfpose_msgs.msg import Keypoints2DArray, Pose3DArray
from gfpose_ros.tools.offline_demo import (
    bundled_photos,
    default_intrinsics,
    load_image,
    machine_name,
)

from .client import package_file, stop_process
from ..ros import launch_support
from ..ros.conversions import camera_info_msg
from ..ros.image_conversion import image_msg

NAMESPACE = '/gfpose_camera_bench'
STAGES = (
    'image published -> keypoints_2d published (image transfer, executor, detection)',
    'keypoints_2d published -> poses_3d published (lift)',
    'poses_3d published -> received',
)


class CameraClient(Node):
    """A stand-in camera driver: publishes Image + CameraInfo and collects the pipeline's
    outputs (keypoints_2d, poses_3d, markers, debug_image) by stamp seconds; with
    ``poses_only`` it subscribes to poses_3d and the small keypoints_2d alone, as a planner
    does (the nodes build the markers and the debug image only while someone subscribes).
    ``stamps[kind][stamp seconds]``: when the output was published (its DDS source timestamp)
    and received here, wall clock in ns; ``sent[stamp seconds]``: when its image was published."""

    def __init__(self, namespace='', context=None, poses_only=False):
        super().__init__('gfpose_camera_client', namespace=namespace, context=context)
        self.image_pub = self.create_publisher(Image, 'image', 10)
        self.info_pub = self.create_publisher(CameraInfo, 'camera_info', 10)
        self.received = {'keypoints': {}, 'poses': {}, 'markers': {}, 'debug': {}}
        self.stamps = {'keypoints': {}, 'poses': {}}
        self.sent = {}
        for kind, msg_type, topic, qos in (
            ('keypoints', Keypoints2DArray, 'keypoints_2d', 10),
            ('poses', Pose3DArray, 'poses_3d', 10),
            ('debug', Image, 'debug_image', qos_profile_sensor_data),
        ):
            if kind != 'debug' or not poses_only:
                self.create_subscription(msg_type, topic, self._collector(kind), qos)
        if not poses_only:
            self.create_subscription(MarkerArray, 'markers', self._on_markers, 10)
        self.executor_ = SingleThreadedExecutor(context=context)
        self.executor_.add_node(self)
        self.stamp = 100

    def _collector(self, kind):
        def collect(msg, message_info):
            arrived = time.time_ns()
            self.received[kind][msg.header.stamp.sec] = msg
            if kind in self.stamps:
                published = message_info.get('source_timestamp') or arrived
                self.stamps[kind][msg.header.stamp.sec] = (published, arrived)

        return collect

    def _on_markers(self, msg):
        if msg.markers:
            self.received['markers'][msg.markers[0].header.stamp.sec] = msg

    def spin_until(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            self.executor_.spin_once(timeout_sec=0.005)
        return predicate()

    def connected(self):
        return (
            self.image_pub.get_subscription_count() > 0
            and self.count_publishers(self.resolve_topic_name('poses_3d')) > 0
        )

    def send(self, rgb, encoding='rgb8', info_size=None, data=None):
        """Publish camera_info (for the image's size unless info_size) then the image, with a
        60 deg field of view. Returns its stamp seconds."""
        self.stamp += 1
        header = Header(frame_id='camera_optical_frame')
        header.stamp.sec = self.stamp
        w, h = info_size or (rgb.shape[1], rgb.shape[0])
        self.info_pub.publish(camera_info_msg(header, default_intrinsics(w, h), w, h))
        self.spin_until(
            lambda: False, 0.05
        )  # camera_info travels on its own topic: let it arrive first
        msg = image_msg(header, rgb, encoding)
        if data is not None:
            msg.data = data
        self.sent[self.stamp] = time.time_ns()
        self.image_pub.publish(msg)
        return self.stamp

    def lift(self, rgb, timeout=3.0, attempts=5):
        """Send until poses_3d for the frame comes back (best effort may drop a frame).
        Returns (stamp, seconds from publishing the image to receiving poses_3d), or (None,
        None)."""
        for _ in range(attempts):
            stamp = self.send(rgb)
            if self.spin_until(lambda: stamp in self.received['poses'], timeout):
                return stamp, (self.stamps['poses'][stamp][1] - self.sent[stamp]) * 1e-9
        return None, None

    def stages_ms(self, stamp):
        """(image -> keypoints_2d published, -> poses_3d published, -> poses_3d received) of
        one lifted frame, in ms."""
        keypoints = self.stamps['keypoints'][stamp][0]
        published, received = self.stamps['poses'][stamp]
        return tuple(
            (later - earlier) * 1e-6
            for earlier, later in (
                (self.sent[stamp], keypoints),
                (keypoints, published),
                (published, received),
            )
        )

    def close(self):
        self.executor_.shutdown()
        self.destroy_node()


def start_pipeline(namespace, params=(), log_file=None):
    """The camera and lift nodes in one process, as camera.launch.py starts them."""
    import subprocess

    cmd = [
        sys.executable,
        '-m',
        'gfpose_ros.ros.entry',  # what the gfpose_camera console script runs
        'camera',
        '--ros-args',
        '--params-file',
        package_file('config', 'camera.yaml'),
        '-r',
        f'__ns:={namespace}',
        '-p',
        'lift_in_process:=true',
        '-p',
        'image_reliability:=reliable',
    ]
    for p in params:
        cmd += ['-p', p]
    out = open(log_file, 'w') if log_file else subprocess.DEVNULL
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--frames', type=int, default=50)
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument(
        '--hold',
        type=int,
        default=10,
        help='frames each photo is sent for, as a camera watching a still scene (the first '
        'frame of each photo finds the person afresh)',
    )
    p.add_argument(
        '-p',
        '--param',
        action='append',
        default=[],
        metavar='NAME:=VALUE',
        help='node parameter override (repeatable), e.g. -p detector:=mediapipe_hog',
    )
    p.add_argument(
        '--no-dds-profile',
        action='store_true',
        help="Fast DDS defaults instead of camera.launch.py's default profile",
    )
    p.add_argument(
        '--all-outputs',
        action='store_true',
        help='also subscribe to markers and debug_image, as RViz does (default: poses_3d, as a '
        'planner does, and the small keypoints_2d for the stages)',
    )
    p.add_argument('--out', default=os.path.join('outputs', 'bench', 'camera_ros_latency.json'))
    args = p.parse_args(argv)
    if args.hold < 1:
        print('camera_bench: error: --hold must be >= 1', file=sys.stderr)
        return 2
    photos = [load_image(path) for path in bundled_photos()]
    if not photos:
        print(
            'no bundled photos found (matplotlib grace_hopper.jpg, opencv-doc examples)',
            file=sys.stderr,
        )
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    log = os.path.splitext(args.out)[0] + '_node.log'
    # The DDS settings camera.launch.py gives the pipeline, here for the pipeline and for this
    # process, the image's sender, as the README tells a camera driver (unless the user has DDS
    # settings of their own, which then apply to both).
    profile = '' if args.no_dds_profile else package_file('config', launch_support.DEFAULT_PROFILE)
    variables, dds_line = launch_support.dds_environment(profile)
    os.environ.update(variables)
    print(dds_line)
    proc = start_pipeline(NAMESPACE, args.param, log)
    rclpy.init(args=[])  # not sys.argv: its NAME:=VALUE overrides are for the node
    client = CameraClient(NAMESPACE, poses_only=not args.all_outputs)
    try:
        if (
            not client.spin_until(lambda: client.connected() or proc.poll() is not None, 90.0)
            or proc.poll()
        ):
            print(f'the camera pipeline did not come up; see {log}', file=sys.stderr)
            return 1
        latencies, timed = [], []
        for i in range(args.warmup + args.frames):
            # One frame at a time: the pipeline keeps one frame in its queue, so this times a
            # frame's own path, not queueing behind others.
            photo = photos[(i // args.hold) % len(photos)]
            stamp, seconds = client.lift(photo, timeout=3.0, attempts=5)
            if seconds is None:
                print(f'frame {i} got no poses_3d; see {log}', file=sys.stderr)
                return 1
            if i >= args.warmup:
                latencies.append(seconds * 1e3)
                timed.append(stamp)
        client.spin_until(lambda: all(s in client.stamps['keypoints'] for s in timed), 1.0)
        stages = np.array([client.stages_ms(s) for s in timed if s in client.stamps['keypoints']])
    finally:
        client.close()
        rclpy.try_shutdown()
        stop_process(proc)
    record = {
        'machine': machine_name(),
        'frames': args.frames,
        'parameters': args.param,
        'images': [os.path.basename(path) for path in bundled_photos()],
        'frames_per_image': args.hold,
        'subscribed': 'all outputs' if args.all_outputs else 'poses_3d and keypoints_2d',
        'dds': dds_line,
        'p50_ms': round(float(np.percentile(latencies, 50)), 1),
        'p90_ms': round(float(np.percentile(latencies, 90)), 1),
        'mean_ms': round(float(np.mean(latencies)), 1),
        'stages': {
            name: {
                'p50_ms': round(float(np.percentile(column, 50)), 1),
                'p90_ms': round(float(np.percentile(column, 90)), 1),
            }
            for name, column in zip(STAGES, stages.T)
        },
        'measured': 'image published -> poses_3d received, across processes (DDS, reliable image '
        'subscription), camera + lift node in one process',
    }
    print(
        f'camera-to-3D over ROS 2 on {record["machine"]}, {args.frames} frames, each photo '
        f'for {args.hold}: '
        f'p50 {record["p50_ms"]:.1f} ms, p90 {record["p90_ms"]:.1f} ms'
    )
    for name, stage in record['stages'].items():
        print(f'  {name}: p50 {stage["p50_ms"]:.1f} ms, p90 {stage["p90_ms"]:.1f} ms')
    with open(args.out, 'w') as f:
        json.dump(record, f, indent=1)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
