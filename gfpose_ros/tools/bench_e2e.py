"""End-to-end latency of the lift node: ``python -m gfpose_ros.tools.bench_e2e``.

Publish -> receive over DDS on this machine: the node runs as its own process with its default
parameters (config/lift.yaml); this process publishes one person's keypoints (frames of the
bundled recording), waits for the poses, and repeats. One frame in flight at a time, so the
figures are the node's latency without queueing. Prints p50/p90/p99 and writes
outputs/bench_e2e.json with the machine named. It subscribes to poses_3d alone, as a planner
does; ``--all-outputs`` also subscribes to pose_hypotheses and markers, as RViz does (the node
builds those only while someone subscribes).

``--depth`` also publishes, before each frame, a depth image rendered from the recording's
ground truth (16UC1, aligned, the same stamp) and starts the node with use_depth:=true; both
processes get camera.launch.py's default Fast DDS profile (config/fastdds_shm_images.xml: a
larger shared-memory segment, default transports and discovery) unless DDS settings are already
in the environment. ``--attach --depth`` is refused: the running node's depth topic and DDS
settings are its own, and this tool does not change its own profile to guess them.

``--attach`` measures a node that is already running (yours, on your topics) instead:

    python -m gfpose_ros.tools.bench_e2e --attach --keypoints-topic /front/keypoints_2d \
        --camera-info-topic /front/camera_info --poses-topic /front/poses_3d [--rate 30]
    python -m gfpose_ros.tools.bench_e2e --attach --passive --poses-topic /front/poses_3d --seconds
    30

Active (the default): frames of the recording go to the node's keypoints topic (with a
camera_info, unless --no-camera-info), one in flight, or open loop at --rate Hz; a frame whose
poses do not come back within a second counts as dropped. Passive: nothing is published; the
latency is from each poses message's header stamp (the camera's capture time) to its reception
here, which needs the publisher's clock to be this machine's, and the drops are the node's own
count from /diagnostics.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from gfpose_ros.tools.bench import machine_info

from .client import (
    LiftClient,
    frame_stamp,
    load_demo_sequence,
    node_overrides,
    package_file,
    start_lift_node,
    stop_process,
)
from ..ros.image_conversion import depth_msg
from ..ros.launch_support import DEFAULT_PROFILE, dds_environment

NAMESPACE = '/gfpose_bench'


def percentiles(latencies_ms):
    lat = np.array(latencies_ms)
    return {q: float(np.percentile(lat, int(q[1:]))) for q in ('p50', 'p90', 'p99')} | {
        'mean': float(lat.mean()),
        'min': float(lat.min()),
        'max': float(lat.max()),
    }


def node_dropped_frames(diagnostics):
    """The lift node's own dropped-frame count from its latest /diagnostics, or None."""
    if not diagnostics:
        return None
    value = {kv.key: kv.value for kv in diagnostics[-1].values}.get('frames dropped', '')
    return int(value) if value.isdigit() else None


def rendered_depth_images(seq):
    """A depth image (metres) per frame of the recording, rendered from its ground truth."""
    from gfpose_ros.evaluation.depth_render import render_depth, room_planes

    poses = seq['poses_3d'] / 1000.0  # millimetres in the recording
    return [
        render_depth(
            pose,
            seq['intrinsics'],
            tuple(seq['image_size']),
            seed=i,
            planes=room_planes(pose, np.array([0.0, -1.0, 0.0])),
        )
        for i, pose in enumerate(poses)
    ]


def measure_own_node(args):
    """Start the node, measure it, stop it: (latencies ms, lost, diagnostics, extra record
    fields)."""
    seq = load_demo_sequence()
    camera = (seq['intrinsics'], *seq['image_size'])
    params_file = args.params_file or package_file('config', 'lift.yaml')
    log_file = os.path.splitext(args.out)[0] + '_lift_node.log'
    overrides = node_overrides(args) | ({'use_depth': 'true'} if args.depth else {})
    depth_images = rendered_depth_images(seq) if args.depth else None
    node = start_lift_node(params_file, NAMESPACE, overrides, log_file)
    client = LiftClient(namespace=NAMESPACE, poses_only=not args.all_outputs)
    depth_pub = (
        client.create_publisher(Image, 'depth_image', qos_profile_sensor_data)
        if args.depth
        else None
    )
    latencies, lost = [], 0
    try:
        if not client.wait_for_node(120.0, node):
            raise RuntimeError(f'the lift node did not come up within 120 s; see {log_file}')
        first = [('person_0', 'h36m17', seq['keypoints_2d'][0], seq['confidence'][0])]
        if not client.prime(first, camera):
            raise RuntimeError(f'the lift node does not answer; see {log_file}')
        for i in range(args.warmup + args.frames):
            f = i % len(seq['keypoints_2d'])
            people = [('person_0', 'h36m17', seq['keypoints_2d'][f], seq['confidence'][f])]
            if (
                depth_images is not None
            ):  # the camera's depth arrives just before the detector's keypoints
                header = Header(frame_id='camera_optical_frame')
                header.stamp.sec, header.stamp.nanosec = 1, i
                depth_pub.publish(depth_msg(header, depth_images[f]))
            reply = client.request((1, i), people, timeout=1.0, camera=camera)
            if i >= args.warmup:
                if reply is None:
                    lost += 1
                else:
                    latencies.append(client.latency[(1, i)] * 1000)
            client.spin_for(args.gap)
        client.spin_for(1.2)  # the node's diagnostics name the backend it chose
    finally:
        stop_process(node)
    diagnostics = list(client.diagnostics)
    client.close()
    return (
        latencies,
        lost,
        diagnostics,
        {
            'params_file': params_file,
            'log': log_file,
            'depth_image': 'rendered 16UC1 per frame' if args.depth else 'none',
        },
    )


def measure_attached(args):
    """Measure a running node on the given topics: (latencies ms, dropped, diagnostics, extra
    fields)."""
    topics = {
        'keypoints_2d': args.keypoints_topic,
        'camera_info': args.camera_info_topic,
        'poses_3d': args.poses_topic,
    }
    client = LiftClient(namespace=args.namespace, topics=topics, poses_only=not args.all_outputs)
    poses_topic = client.resolve_topic_name(args.poses_topic)
    try:
        if args.passive:
            if not client.spin_until(
                lambda: client.count_publishers(poses_topic) > 0, args.timeout
            ):
                raise RuntimeError(f'nobody publishes {poses_topic}')
            start, first_dropped = time.monotonic(), None

            def enough():
                nonlocal first_dropped
                if first_dropped is None:
                    first_dropped = node_dropped_frames(client.diagnostics)
                return (
                    len(client.stamp_age) >= args.frames or time.monotonic() - start > args.seconds
                )

            client.spin_until(enough, args.seconds + 1.0)
            client.spin_for(1.2)  # one more /diagnostics, for the drop count over the run
            last_dropped = node_dropped_frames(client.diagnostics)
            latencies = [age * 1000 for age in client.stamp_age.values()]
            dropped = (
                None
                if first_dropped is None or last_dropped is None
                else last_dropped - first_dropped
            )
            return (
                latencies,
                dropped,
                list(client.diagnostics),
                {'mode': 'passive: header stamp -> received here', 'poses_topic': poses_topic},
            )
        if not client.wait_for_node(args.timeout):
            raise RuntimeError(
                f'no node subscribes to {client.resolve_topic_name(args.keypoints_topic)} '
                f'and publishes {poses_topic}'
            )
        seq = load_demo_sequence()
        camera = None if args.no_camera_info else (seq['intrinsics'], *seq['image_size'])
        first = [('bench_e2e', 'h36m17', seq['keypoints_2d'][0], seq['confidence'][0])]
        if camera is not None and not client.prime(first, camera):
            raise RuntimeError(f'the node does not answer on {poses_topic}')
        sent = []
        start = time.monotonic()
        for i in range(args.warmup + args.frames):
            f = i % len(seq['keypoints_2d'])
            people = [('bench_e2e', 'h36m17', seq['keypoints_2d'][f], seq['confidence'][f])]
            stamp = frame_stamp(i, 1000.0, start_sec=7_000)  # unlike any camera's stamps
            if args.rate > 0:  # open loop: frames keep coming whether or not the node keeps up
                client.spin_until(
                    lambda: False, max(0.0, start + i / args.rate - time.monotonic())
                )
                client.send(stamp, people, camera=camera)
            else:
                client.request(stamp, people, timeout=1.0, camera=camera)
                client.spin_for(args.gap)
            if i >= args.warmup:
                sent.append(stamp)
        client.spin_for(1.2)  # late replies, and a /diagnostics
        latencies = [client.latency[s] * 1000 for s in sent if s in client.latency]
        return (
            latencies,
            len(sent) - len(latencies),
            list(client.diagnostics),
            {
                'mode': f'active: publish -> receive, '
                f'{"one frame in flight" if args.rate <= 0 else f"{args.rate} Hz"}',
                'topics': {k: client.resolve_topic_name(v) for k, v in topics.items()},
            },
        )
    finally:
        client.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        '--frames', type=int, default=300, help='measured frames (at least 200 for the report)'
    )
    p.add_argument('--warmup', type=int, default=20, help='frames sent first and not measured')
    p.add_argument(
        '--gap', type=float, default=0.005, help='seconds between a reply and the next frame'
    )
    p.add_argument('--params-file', help='node parameters; default: config/lift.yaml')
    p.add_argument('--backend', help='override the backend parameter')
    p.add_argument(
        '-p',
        '--param',
        action='append',
        default=[],
        metavar='NAME:=VALUE',
        help='override a node parameter (repeatable), e.g. -p num_threads:=1',
    )
    p.add_argument(
        '--depth',
        action='store_true',
        help='also publish a rendered aligned depth image per frame, node with use_depth:=true',
    )
    p.add_argument(
        '--all-outputs',
        action='store_true',
        help='also subscribe to pose_hypotheses and markers, as RViz does (default: poses_3d '
        'only, as a planner does; the node builds the other two only while subscribed)',
    )
    p.add_argument('--out', default=os.path.join('outputs', 'bench_e2e.json'))
    attach = p.add_argument_group('measuring a node that is already running')
    attach.add_argument(
        '--attach',
        action='store_true',
        help='do not start a node: measure the one on these topics',
    )
    attach.add_argument(
        '--namespace', default='', help='namespace of the relative topic names below'
    )
    attach.add_argument(
        '--keypoints-topic', default='keypoints_2d', help='the node\'s Keypoints2DArray input'
    )
    attach.add_argument(
        '--camera-info-topic', default='camera_info', help='the node\'s CameraInfo input'
    )
    attach.add_argument('--poses-topic', default='poses_3d', help='the node\'s Pose3DArray output')
    attach.add_argument(
        '--no-camera-info',
        action='store_true',
        help='publish no camera_info (the node uses the one it has; do this on a live system)',
    )
    attach.add_argument(
        '--rate',
        type=float,
        default=0.0,
        help='frames per second, open loop; 0 = one frame in flight at a time',
    )
    attach.add_argument(
        '--passive',
        action='store_true',
        help='publish nothing: latency from each poses header stamp to its reception',
    )
    attach.add_argument(
        '--seconds', type=float, default=30.0, help='--passive: listen at most this long'
    )
    attach.add_argument(
        '--timeout', type=float, default=30.0, help='seconds to wait for the node\'s topics'
    )
    args = p.parse_args(sys.argv[1:] if argv is None else argv)

    if args.attach and args.depth:
        print(
            'error: --depth starts its own node with use_depth:=true and publishes rendered '
            'depth; it cannot be combined with --attach (publish your depth yourself)',
            file=sys.stderr,
        )
        return 2
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    if args.depth:  # before rclpy.init, and inherited by the node: depth images are large messages
        variables, note = dds_environment(package_file('config', DEFAULT_PROFILE))
        os.environ.update(variables)
        print(note)
    rclpy.init(args=[])  # not sys.argv: its NAME:=VALUE overrides are for the node
    try:
        latencies, dropped, diagnostics, fields = (
            measure_attached if args.attach else measure_own_node
        )(args)
    except RuntimeError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    finally:
        rclpy.try_shutdown()
    if not latencies:
        print(
            'no replies' + (f'; see {fields["log"]}' if 'log' in fields else ''), file=sys.stderr
        )
        return 1

    status = diagnostics[-1] if diagnostics else None
    result = {
        'what': (
            'publish -> receive latency over DDS (Fast DDS), same machine, 1 person, one frame in '
            'flight; subscribed to '
            + ('poses_3d, pose_hypotheses and markers' if args.all_outputs else 'poses_3d')
            if not args.attach
            else f'attached to a running node; {fields["mode"]}'
        ),
        'frames': len(latencies),
        'lost': dropped,
        'latency_ms': percentiles(latencies),
        **{k: v for k, v in fields.items() if k != 'mode'},
        'backend': status.hardware_id if status else 'unknown',
        'node_diagnostics': {kv.key: kv.value for kv in status.values} if status else None,
        'machine': machine_info(threads=0)
        | {
            'load_average_1min': os.getloadavg()[0],
            'rmw': os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp (default)'),
        },
        'date': time.strftime('%Y-%m-%d %H:%M:%S'),
    }
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    m = result['latency_ms']
    dropped_text = 'unknown (no /diagnostics from the node)' if dropped is None else str(dropped)
    print(
        f'{len(latencies)} frames, {dropped_text} dropped, backend {result["backend"]}, '
        f'{result["machine"]["cpu"]} '
        f'x{result["machine"]["cores"]} cores (load {result["machine"]["load_average_1min"]:.1f})'
    )
    print(
        f'end-to-end latency: p50 {m["p50"]:.1f} ms  p90 {m["p90"]:.1f} ms  p99 {m["p99"]:.1f} ms '
        ' '
        f'(mean {m["mean"]:.1f}, max {m["max"]:.1f})'
    )
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
