"""How many camera images arrive: ``python -m gfpose_ros.tools.image_delivery_bench``.

A best-effort publisher (sensor-data QoS, as camera drivers publish) in one process sends
``rgb8`` images at camera rate to a subscriber in another process that subscribes as the camera
node does (best effort, depth 1). The subscriber counts the frames it receives; the delivered
fraction is received / sent. Each size is measured with Fast DDS's default transports, with
config/fastdds_shm_images.xml (the default of camera.launch.py: a larger shared-memory segment)
and with config/fastdds_large_images.xml (LARGE_DATA, the opt-in), so the figures say what each
profile changes on this machine. Prints a table and writes
outputs/bench/image_delivery.json, naming the machine.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

# Profile choices: none = Fast DDS's defaults, or a shipped profile by name (or an XML path).
SHIPPED_PROFILES = {
    'shm': 'fastdds_shm_images.xml',  # camera.launch.py's default
    'large_data': 'fastdds_large_images.xml',  # opt-in
}
PROFILES = ('none',) + tuple(SHIPPED_PROFILES)
PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')
TOPIC = '/gfpose_image_delivery/image'


def image_qos():
    """The camera node's image subscription (see CameraNode.on_activate)."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=qos_profile_sensor_data.durability,
    )


def run_subscriber(topic):
    """Count distinct frames (by stamp) until the publisher says it is done; print them as JSON."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_msgs.msg import Empty

    rclpy.init()
    node = rclpy.create_node('image_delivery_subscriber')
    received, done = set(), []
    node.create_subscription(
        Image,
        topic,
        lambda msg: received.add((msg.header.stamp.sec, msg.header.stamp.nanosec)),
        image_qos(),
    )
    # "done" travels reliably, so the count ends only after every image had its chance to arrive.
    node.create_subscription(Empty, topic + '_done', lambda msg: done.append(time.monotonic()), 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    print('ready', flush=True)
    while not done or time.monotonic() - done[0] < 0.5:
        executor.spin_once(timeout_sec=0.05)
    print(json.dumps({'received': len(received)}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def run_publisher(topic, width, height, rate, frames):
    """Wait for the subscriber, then publish ``frames`` images at ``rate`` Hz on a fixed
    schedule."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import Empty

    rclpy.init()
    node = rclpy.create_node('image_delivery_publisher')
    publisher = node.create_publisher(Image, topic, qos_profile_sensor_data)
    done = node.create_publisher(Empty, topic + '_done', 10)
    deadline = time.monotonic() + 30.0
    while (
        publisher.get_subscription_count() == 0 or done.get_subscription_count() == 0
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # discovery is complete in both directions only a little after the match
    msg = Image(width=width, height=height, encoding='rgb8', step=width * 3)
    msg.data = (
        np.random.default_rng(0).integers(0, 256, width * height * 3, dtype=np.uint8).tobytes()
    )
    start = time.monotonic()
    for i in range(frames):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1, i
        publisher.publish(msg)
    elapsed = time.monotonic() - start
    for _ in range(5):
        done.publish(Empty())
        time.sleep(0.05)
    print(
        json.dumps(
            {'sent': frames, 'rate_hz': round((frames - 1) / elapsed, 1) if frames > 1 else rate}
        ),
        flush=True,
    )
    node.destroy_node()
    rclpy.shutdown()


def profile_env(profile, base=None):
    """The environment of both processes for one profile choice."""
    from .client import package_file

    env = dict(os.environ if base is None else base)
    # One machine is measured: keep discovery on it, unless told otherwise.
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    for name in PROFILE_VARIABLES + ('RMW_FASTRTPS_USE_QOS_FROM_XML',):
        env.pop(name, None)
    from gfpose_ros.ros.launch_support import profile_variable

    if profile in SHIPPED_PROFILES:
        env[profile_variable(env)] = package_file('config', SHIPPED_PROFILES[profile])
    elif profile != 'none':
        env[profile_variable(env)] = profile
    return env


def measure(width, height, rate, frames, profile, publisher_profile=True, timeout=120.0):
    """One run: {'sent', 'received', 'delivered', 'rate_hz'}. ``publisher_profile`` False: only the
    subscriber loads the profile, as when a camera driver runs with its own DDS settings."""
    env = profile_env(profile)
    publisher_env = env if publisher_profile else profile_env('none')
    topic = f'{TOPIC}_{width}x{height}'
    me = [sys.executable, '-m', 'gfpose_ros.tools.image_delivery_bench']
    subscriber = subprocess.Popen(
        me + ['--role', 'subscriber', '--topic', topic],
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    try:
        if subscriber.stdout.readline().strip() != 'ready':
            raise RuntimeError('the subscriber process did not start')
        publisher = subprocess.run(
            me
            + [
                '--role',
                'publisher',
                '--topic',
                topic,
                '--size',
                f'{width}x{height}',
                '--rate',
                str(rate),
                '--frames',
                str(frames),
            ],
            env=publisher_env,
            text=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        if publisher.returncode != 0:
            raise RuntimeError(f'the publisher failed:\n{publisher.stderr[-2000:]}')
        sent = json.loads(publisher.stdout.strip().splitlines()[-1])
        received = json.loads(subscriber.communicate(timeout=timeout)[0].strip().splitlines()[-1])[
            'received'
        ]
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait()
    return {
        'sent': sent['sent'],
        'received': received,
        'delivered': received / sent['sent'],
        'rate_hz': sent['rate_hz'],
    }


def parse_size(text):
    width, height = (int(v) for v in text.lower().split('x'))
    return width, height


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', default='640x480,1280x720', help='comma-separated WIDTHxHEIGHT')
    p.add_argument('--rate', type=float, default=30.0, help='frames per second')
    p.add_argument('--seconds', type=float, default=10.0, help='seconds of images per measurement')
    p.add_argument(
        '--profiles',
        default=','.join(PROFILES),
        help='comma-separated: none (Fast DDS defaults), shm (config/fastdds_shm_images.xml, '
        "camera.launch.py's default), large_data (config/fastdds_large_images.xml) or the path "
        'of your own XML profile',
    )
    p.add_argument(
        '--subscriber-only',
        action='store_true',
        help='load the profile in the subscriber only (the publisher keeps Fast DDS defaults), as '
        'when '
        'the camera driver is started without it',
    )
    p.add_argument('--out', default=os.path.join('outputs', 'bench', 'image_delivery.json'))
    # The two sides of one measurement, run as child processes by the measurement itself.
    p.add_argument('--role', choices=('subscriber', 'publisher'), help=argparse.SUPPRESS)
    p.add_argument('--topic', default=TOPIC, help=argparse.SUPPRESS)
    p.add_argument('--size', default='640x480', help=argparse.SUPPRESS)
    p.add_argument('--frames', type=int, default=300, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == 'subscriber':
        run_subscriber(args.topic)
        return 0
    if args.role == 'publisher':
        run_publisher(args.topic, *parse_size(args.size), args.rate, args.frames)
        return 0

    from gfpose_ros.tools.offline_demo import machine_name

    frames = max(2, int(round(args.seconds * args.rate)))
    results = []
    print(f'{"image":>10} {"profile":>10} {"sent":>5} {"received":>8} {"delivered":>9}')
    for size in args.sizes.split(','):
        width, height = parse_size(size)
        for profile in args.profiles.split(','):
            r = measure(
                width,
                height,
                args.rate,
                frames,
                profile,
                publisher_profile=not args.subscriber_only,
            )
            results.append(
                {
                    'width': width,
                    'height': height,
                    'encoding': 'rgb8',
                    'profile': profile,
                    'profile_loaded_by': 'subscriber' if args.subscriber_only else 'both',
                    **r,
                }
            )
            print(
                f'{width:>4}x{height:<5} {profile:>10} {r["sent"]:>5} {r["received"]:>8} '
                f'{100 * r["delivered"]:>8.1f}%'
                f'   (published at {r["rate_hz"]} Hz)',
                flush=True,
            )
    record = {
        'machine': machine_name(),
        'load_average_1min': round(os.getloadavg()[0], 2),
        'rmw': os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp (default)'),
        'discovery_range': os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE', '(default)'),
        'measured': 'best-effort publisher (sensor-data QoS) in one process -> subscriber with '
        'the camera '
        "node's image QoS (best effort, depth 1) in another; delivered = received / sent",
        'date': time.strftime('%Y-%m-%d %H:%M:%S'),
        'results': results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(record, f, indent=1)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
