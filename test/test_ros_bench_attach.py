"""`bench_e2e --attach` measures a lift node that someone else started, on that node's own topics:
actively (it publishes frames and times the replies) and passively (it only listens)."""

import json
import subprocess
import sys
import time

import pytest

from ros_helpers import (
    LIFT_PARAMS_FILE,
    PythonProcess,
    import_gfpose_msgs,
    import_rclpy_or_skip,
    rclpy_context,
)

pytestmark = pytest.mark.ros  # starts DDS participants or node processes

NAMESPACE = '/bench_attach'
# The deployed node's topics: nothing like the defaults, so the benchmark must be told.
TOPICS = {
    'keypoints_2d': '/detector/people_2d',
    'camera_info': '/cam/info',
    'poses_3d': '/people/poses',
}
RUN_LIFT = 'import sys\nfrom gfpose_ros.ros.entry import lift\nsys.exit(lift())'


def bench(*args, timeout=120):
    return subprocess.run(
        [sys.executable, '-m', 'gfpose_ros.tools.bench_e2e', '--attach', *args],
        text=True,
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def topic_args():
    return [
        '--keypoints-topic',
        TOPICS['keypoints_2d'],
        '--camera-info-topic',
        TOPICS['camera_info'],
        '--poses-topic',
        TOPICS['poses_3d'],
    ]


def test_bench_attaches_to_a_node_started_separately(tmp_path):
    import_rclpy_or_skip()
    import_gfpose_msgs()
    node = PythonProcess(
        RUN_LIFT,
        args=(
            '--ros-args',
            '--params-file',
            LIFT_PARAMS_FILE,
            '-r',
            f'__ns:={NAMESPACE}',
            *[a for source, target in TOPICS.items() for a in ('-r', f'{source}:={target}')],
        ),
    )
    try:
        # Active: one frame in flight; every frame must come back.
        out = tmp_path / 'active.json'
        run = bench(*topic_args(), '--frames', '40', '--warmup', '5', '--out', str(out))
        assert run.returncode == 0, run.stderr[-2000:] + '\n'.join(node.stderr_lines[-20:])
        assert 'p50' in run.stdout and 'p90' in run.stdout and 'p99' in run.stdout
        assert '40 frames, 0 dropped' in run.stdout, run.stdout
        result = json.loads(out.read_text())
        assert result['topics'] == {
            'keypoints_2d': TOPICS['keypoints_2d'],
            'camera_info': TOPICS['camera_info'],
            'poses_3d': TOPICS['poses_3d'],
        }
        assert 0 < result['latency_ms']['p50'] <= result['latency_ms']['p99'] < 1000
        assert result['backend'] != 'unknown'  # it read the node's /diagnostics

        # Passive: someone else (a detector, here this test) feeds the node; the benchmark only
        # listens.
        out = tmp_path / 'passive.json'
        listener = subprocess.Popen(
            [
                sys.executable,
                '-m',
                'gfpose_ros.tools.bench_e2e',
                '--attach',
                '--passive',
                '--poses-topic',
                TOPICS['poses_3d'],
                '--frames',
                '30',
                '--seconds',
                '20',
                '--out',
                str(out),
            ],
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        with rclpy_context() as ctx:
            from gfpose_ros.tools.client import LiftClient, load_demo_sequence

            feeder = LiftClient(context=ctx, topics=TOPICS)
            seq = load_demo_sequence()
            camera = (seq['intrinsics'], *seq['image_size'])
            try:
                deadline = time.monotonic() + 60.0
                while listener.poll() is None and time.monotonic() < deadline:
                    now = time.time_ns()  # a camera's stamp: the capture time
                    person = [('p', 'h36m17', seq['keypoints_2d'][0], seq['confidence'][0])]
                    feeder.send((now // 1_000_000_000, now % 1_000_000_000), person, camera=camera)
                    feeder.spin_for(0.05)
            finally:
                feeder.close()
        stdout, stderr = listener.communicate(timeout=30)
        assert listener.returncode == 0, stderr[-2000:]
        assert 'p50' in stdout and 'dropped' in stdout, stdout
        result = json.loads(out.read_text())
        assert result['frames'] >= 30
        assert (
            0 < result['latency_ms']['p50'] < 1000
        )  # stamp -> reception: the node's time plus transport
        assert result['lost'] == 0  # the node's own count: 20 Hz is well within its rate
    finally:
        node.stop()


def test_bench_attach_says_when_no_node_is_there():
    import_rclpy_or_skip()
    run = bench(
        '--keypoints-topic',
        '/nobody/keypoints',
        '--poses-topic',
        '/nobody/poses',
        '--timeout',
        '2',
    )
    assert run.returncode == 1
    assert 'no node subscribes to /nobody/keypoints' in run.stderr


def test_bench_attach_refuses_depth_with_one_line():
    """--depth renders and publishes depth for a node the bench starts; with --attach it is refused
    in one line (exit 2), before any DDS participant exists, so no profile is ever changed."""
    import_rclpy_or_skip()
    result = bench('--depth', timeout=60)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and '--attach' in lines[0] and 'Traceback' not in result.stderr, lines
    assert 'Fast DDS profile' not in result.stdout, result.stdout
