"""How the node processes behave under a robot's process managers, with real processes, real
signals and real DDS:

- a node never outlives what started it: SIGKILL to its parent shell (as when ``ros2 launch`` dies
  without passing a signal on) ends the node cleanly within seconds;
- SIGINT or SIGTERM at any moment of the start-up (imports, rclpy, model loading, graph export,
  configure) ends the process promptly with status 0 and no traceback; a graph export
  interrupted half-way leaves no temporary file and no partial graph;
- the Fast DDS profile that camera.launch.py applies keeps one DDS graph: a node with it and a
  plain rclpy participant without any profile discover each other and talk, both ways.

The nodes run as their console entry points run them (gfpose_ros/ros/entry.py), each in a new
session with SIGINT at its default disposition: a shell with job control, not a background job
of a non-interactive shell (which inherits SIGINT ignored, as POSIX says).
"""

import glob
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from ros_helpers import PythonProcess, import_gfpose_msgs, import_rclpy_or_skip

pytestmark = pytest.mark.ros  # starts DDS participants or node processes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIFT_PARAMS = os.path.join(ROOT, 'config', 'lift.yaml')
CAMERA_PARAMS = os.path.join(ROOT, 'config', 'camera.yaml')
MAX_EXIT_SECONDS = 3.0  # signal (or parent death) -> process gone; generous on a loaded 2-core VM
PROBLEMS = ('Traceback', 'KeyboardInterrupt', 'XMLPARSER', 'XMLProfileManager')


def _launch_file_settings(kind, params):
    """(params file, -p overrides) of a node as the launch files start it (camera: the lift node
    inside)."""
    if kind == 'lift':
        return LIFT_PARAMS, list(params)
    return CAMERA_PARAMS, ['lift_in_process:=true', *params]


def node_arguments(kind, namespace, *params):
    from gfpose_ros.tools import client  # imports rclpy: only once a test runs

    params_file, overrides = _launch_file_settings(kind, params)
    return client.node_arguments(kind, params_file, namespace, overrides)


def node_command(kind, namespace, *params):
    """The console script (what ros2 launch and users run) when installed, else the same entry."""
    from gfpose_ros.tools import client

    params_file, overrides = _launch_file_settings(kind, params)
    return client.node_command(kind, params_file, namespace, overrides, console_script=True)


def _default_sigint():
    # What a shell with job control gives a foreground job; pytest may run with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_node(kind, env, namespace, *params, command=None):
    return subprocess.Popen(
        command + node_arguments(kind, namespace, *params)
        if command
        else node_command(kind, namespace, *params),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )


def check_clean(output, returncode):
    assert returncode == 0, output
    for problem in PROBLEMS:
        assert problem not in output, output


# ------------------------------------------------------------------ no orphans

# A supervisor that, like systemd or docker --init, adopts orphans (PR_SET_CHILD_SUBREAPER), so
# that it can wait for the node after the node's parent shell is killed and read its exit status.
SUPERVISOR = '''
import ctypes, json, os, signal, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
command, log, ready = sys.argv[1:4]
shell = subprocess.Popen(['bash', '-c', command + ' > ' + log + ' 2>&1 & echo $!; wait'],
                         stdout=subprocess.PIPE, text=True)
node = int(shell.stdout.readline())
deadline = time.monotonic() + 180
while time.monotonic() < deadline:
    if os.path.exists(log) and ready in open(log).read():
        break
    time.sleep(0.1)
else:
    print(json.dumps({'error': 'the node did not start'}), flush=True)
    os.kill(node, signal.SIGKILL)
    sys.exit(1)
time.sleep(1.5)  # spinning, past the start-up
killed = time.monotonic()
os.kill(shell.pid, signal.SIGKILL)
shell.wait()
while time.monotonic() - killed < 15:
    pid, status = os.waitpid(node, os.WNOHANG)
    if pid:
        print(json.dumps({'seconds': time.monotonic() - killed,
                          'status': os.waitstatus_to_exitcode(status)}), flush=True)
        break
    time.sleep(0.02)
else:
    os.kill(node, signal.SIGKILL)
    os.waitpid(node, 0)
    print(json.dumps({'error': 'the node outlived its parent by 15 s'}), flush=True)
'''


@pytest.mark.parametrize('kind', ['lift', 'camera'])
def test_node_exits_when_its_parent_is_killed(ros_env, tmp_path, kind):
    """ros2 launch ended by SIGTERM (as systemd or docker stop send it) exits without passing the
    signal on; SIGKILL to the parent shell is the same for the node. It must not live on."""
    import_rclpy_or_skip()
    if kind == 'camera':
        pytest.importorskip('mediapipe', reason='mediapipe is not installed')
    log = tmp_path / 'node.log'
    command = shlex.join(node_command(kind, f'/orphan_test_{kind}'))
    # The lift node's configure line (in the camera process too, where it comes last: the camera
    # node's own 'configured in' comes before the lift node's configure, which takes seconds).
    ready = 'gfpose_lift]: model '
    supervisor = subprocess.run(
        [sys.executable, '-c', SUPERVISOR, command, str(log), ready],
        env=ros_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = log.read_text()
    result = json.loads(supervisor.stdout.strip().splitlines()[-1])
    assert 'error' not in result, (result, output)
    print(f'{kind}: parent killed -> node exited after {result["seconds"]:.2f} s')
    assert result['seconds'] < MAX_EXIT_SECONDS, output
    check_clean(output, result['status'])
    assert 'exited): shutting down' in output, output  # the reason, in the node's log


# ------------------------------------------------------------------ signals during start-up

# Moments after the start: the heavy imports (0.3-5 s here), rclpy and the node's construction,
# configure (model loading, graph check), the first moments of spinning. The load of the machine
# moves them; the export test below catches the slowest phase by what it waits for. Before about
# 0.15-0.25 s on this machine the interpreter itself is starting (site, the editable install's
# path finder) and no code of the package has run yet: a signal then has its default effect, as
# for any Python program.
STARTUP_MOMENTS = [
    ('lift', 'SIGINT', 0.3),
    ('lift', 'SIGTERM', 0.3),
    ('lift', 'SIGINT', 0.8),
    ('lift', 'SIGTERM', 1.5),
    ('lift', 'SIGINT', 3.0),
    ('lift', 'SIGTERM', 4.5),
    ('camera', 'SIGINT', 1.0),
    ('camera', 'SIGTERM', 5.0),
]


def signal_and_wait(node, signum):
    sent = time.monotonic()
    node.send_signal(signum)
    try:
        output, _ = node.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        node.kill()
        output, _ = node.communicate()
        pytest.fail(f'still running 15 s after {signal.Signals(signum).name}:\n{output}')
    return time.monotonic() - sent, output


@pytest.mark.parametrize('kind, name, delay', STARTUP_MOMENTS)
def test_signal_during_startup_exits_cleanly(ros_env, tmp_path, kind, name, delay):
    import_rclpy_or_skip()
    if kind == 'camera':
        pytest.importorskip('mediapipe', reason='mediapipe is not installed')
    node = start_node(kind, ros_env, f'/startup_signal_{kind}')
    time.sleep(delay)
    seconds, output = signal_and_wait(node, getattr(signal, name))
    print(f'{kind}: {name} at {delay} s -> exit {node.returncode} after {seconds:.2f} s')
    check_clean(output, node.returncode)
    assert seconds < MAX_EXIT_SECONDS, output
    assert f'{name}' in output and ('during start-up' in output or 'shutting down' in output), (
        output
    )


@pytest.mark.parametrize(
    'name, later', [('SIGINT', 0.0), ('SIGTERM', 0.0), ('SIGTERM', 1.5)], ids=lambda v: str(v)
)
def test_signal_during_graph_export_leaves_no_partial_file(ros_env, tmp_path, name, later):
    """An empty engine cache makes configure export the graphs: the signal lands while a
    temporary graph file exists, or ``later`` seconds after (further into the export: its
    check, the int8 quantisation, the next graph). The process ends with status 0, and the
    cache holds only whole, valid graphs (each export works in a private ``*.tmp`` folder, renames
    the finished graph into the cache and removes the folder). A deterministic version of the
    quantiser's case: test_an_interrupted_int8_export_leaves_nothing_behind."""
    import_rclpy_or_skip()
    onnx = pytest.importorskip('onnx')
    cache = tmp_path / 'cache'
    node = start_node('lift', ros_env, '/export_signal', f'engine_cache_dir:={cache}')
    deadline = time.monotonic() + 120
    while not glob.glob(str(cache / '*.tmp')):
        assert node.poll() is None, node.communicate()[0]
        assert time.monotonic() < deadline, 'no graph export started'
        time.sleep(0.01)
    time.sleep(later)
    seconds, output = signal_and_wait(node, getattr(signal, name))
    print(f'{name} during the export -> exit {node.returncode} after {seconds:.2f} s')
    check_clean(output, node.returncode)
    assert seconds < MAX_EXIT_SECONDS, output
    assert f'{name} during start-up: shutting down' in output, output
    assert not glob.glob(str(cache / '*.tmp*'))
    for graph in glob.glob(str(cache / '*.onnx')):
        onnx.checker.check_model(onnx.load(graph))


# A signal that lands while a C extension module initialises: pybind11 turns whatever the Python
# code its init calls raises into an exception of its own. Here onnxruntime's, which the lift
# node's configure imports: a StartupInterrupted raised there became ImportError('initialization
# failed'), the backend choice took it for "onnxruntime is not installed", and the start-up went on
# and ended with status 0 but without a word of why. The SIGTERM is made to land there: a SIGALRM
# every 0.1 ms while that module initialises, whose handler calls the SIGTERM handler as the signal
# would.
SIGNAL_IN_EXTENSION_INIT = '''
import importlib._bootstrap_external as bootstrap, signal
real_imp = bootstrap._imp

def alarm(signum, frame):
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.getsignal(signal.SIGTERM)(signal.SIGTERM, frame)

class Imp:
    armed = False

    def __getattr__(self, name):
        return getattr(real_imp, name)

    def exec_dynamic(self, module):
        if module.__name__.endswith('onnxruntime_pybind11_state') and not Imp.armed:
            Imp.armed = True
            signal.signal(signal.SIGALRM, alarm)
            signal.setitimer(signal.ITIMER_REAL, 1e-4, 1e-4)
        return real_imp.exec_dynamic(module)

bootstrap._imp = Imp()
from gfpose_ros.ros import entry
entry.lift()
'''


def test_signal_during_extension_module_init_is_not_lost(ros_env):
    """The start-up ends as for a signal anywhere else: the log line, status 0, and no fallback
    to another backend on the way."""
    import_rclpy_or_skip()
    pytest.importorskip('onnxruntime')
    node = start_node(
        'lift',
        ros_env,
        '/swallowed_signal',
        command=[sys.executable, '-c', SIGNAL_IN_EXTENSION_INIT],
    )
    try:
        output, _ = node.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        node.kill()
        pytest.fail(f'still running after 120 s:\n{node.communicate()[0]}')
    check_clean(output, node.returncode)
    assert 'SIGTERM during start-up: shutting down' in output, output
    assert 'neither TensorRT nor ONNX Runtime is usable' not in output, output


# ------------------------------------------------------------------ one DDS graph

# A plain rclpy participant, or a camera driver with the profile: waits for the lift node in
# NAMESPACE, sends it frames and a camera_info until poses_3d comes back, and reports what it saw.
PARTICIPANT = '''
import json, sys, time
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header
from gfpose_msgs.msg import Keypoints2DArray, Pose3DArray
from gfpose_ros.ros.conversions import camera_info_msg, keypoints_msg
from gfpose_ros.tools.client import load_demo_sequence

namespace = sys.argv[1]
rclpy.init()
node = rclpy.create_node('plain_participant')
seq = load_demo_sequence()
kp = node.create_publisher(Keypoints2DArray, namespace + '/keypoints_2d', qos_profile_sensor_data)
info = node.create_publisher(CameraInfo, namespace + '/camera_info', qos_profile_sensor_data)
poses = []
node.create_subscription(Pose3DArray, namespace + '/poses_3d', poses.append, 10)
start, seen = time.monotonic(), {}
while time.monotonic() - start < 60 and not poses:
    rclpy.spin_once(node, timeout_sec=0.05)
    nodes = ['/'.join(p).replace('//', '/') for p in [
        (ns, n) for n, ns in node.get_node_names_and_namespaces()]]
    if namespace + '/gfpose_lift' in nodes and 'node' not in seen:
        seen['node'] = round(time.monotonic() - start, 2)
    if node.count_publishers(namespace + '/poses_3d') and 'publisher' not in seen:
        seen['publisher'] = round(time.monotonic() - start, 2)
    if 'node' in seen:
        header = Header(frame_id='camera')
        header.stamp = node.get_clock().now().to_msg()
        w, h = seq['image_size']
        info.publish(camera_info_msg(header, seq['intrinsics'], w, h))
        kp.publish(keypoints_msg(header, [('p', 'h36m17', seq['keypoints_2d'][0],
                                           seq['confidence'][0])]))
print(json.dumps({'seen': seen, 'poses': len(poses),
                  'people': len(poses[0].people) if poses else 0}), flush=True)
node.destroy_node()
rclpy.shutdown()
'''


@pytest.mark.parametrize('profiled', ['node', 'participant'])
def test_default_camera_profile_keeps_one_dds_graph(ros_env, profiled):
    """The environment camera.launch.py sets by default (launch_support.dds_environment) on one
    side, nothing on the other: the plain side discovers the other (node list, topics) and gets
    an answer. 'node': the lift node has the profile, the participant is plain (RViz, the CLI);
    'participant': a participant with the profile (a driver started with it), a plain node."""
    import_rclpy_or_skip()
    import_gfpose_msgs()
    from gfpose_ros.ros import launch_support

    plain = dict(ros_env)
    for name in launch_support.USER_DDS_VARIABLES:
        plain.pop(name, None)
    profile = os.path.join(ROOT, 'config', launch_support.DEFAULT_PROFILE)
    variables, _ = launch_support.dds_environment(profile, environ=plain)
    assert len(variables) == 1
    with_profile = {**plain, **variables}
    namespace = f'/one_graph_{profiled}'
    node = start_node('lift', with_profile if profiled == 'node' else plain, namespace)
    participant = None
    try:
        participant = PythonProcess(
            PARTICIPANT, env=plain if profiled == 'node' else with_profile, args=(namespace,)
        )
        result = participant.wait_for_json(timeout=120)
        assert {'node', 'publisher'} <= set(result['seen']), result
        assert result['poses'] >= 1 and result['people'] == 1, result
        assert not [
            line for line in participant.stderr_lines if any(p in line for p in PROBLEMS)
        ], participant.stderr_lines
    finally:
        if participant is not None:
            participant.stop()
        seconds, output = signal_and_wait(node, signal.SIGINT)
    check_clean(output, node.returncode)
