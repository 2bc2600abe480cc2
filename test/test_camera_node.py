"""The camera pipeline over real DDS: the camera node and the lift node run in another process
(one process, frames handed over without serialisation, as the launch file starts them); this
test process publishes images and camera_info and receives keypoints_2d, poses_3d and markers.

Also the bad inputs: each is skipped with a warning, and the next good frame goes through.
"""

import os

import numpy as np
import pytest

from ros_helpers import PythonProcess, import_gfpose_msgs, import_rclpy_or_skip, rclpy_context
from test_detect import load_photo

pytestmark = pytest.mark.ros  # starts DDS participants or node processes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARAMS_FILE = os.path.join(ROOT, 'config', 'camera.yaml')
NAMESPACE = '/camera_test'
RUN_NODE = '''
import sys
from gfpose_ros.ros.entry import camera
sys.exit(camera())
'''


def need_mediapipe():
    import importlib.util

    if importlib.util.find_spec('mediapipe') is None:
        pytest.skip('mediapipe is not installed (see scripts/setup_env.sh)')


def photo(name):
    need_mediapipe()
    return load_photo(name)


@pytest.fixture(scope='module')
def pipeline():
    import_rclpy_or_skip()
    need_mediapipe()
    node = PythonProcess(
        RUN_NODE,
        args=(
            '--ros-args',
            '--params-file',
            PARAMS_FILE,
            '-r',
            f'__ns:={NAMESPACE}',
            '-p',
            'lift_in_process:=true',
            '-p',
            'publish_debug_image:=true',
            # best effort loses ~1 MB images now and then on a loaded machine
            '-p',
            'image_reliability:=reliable',
        ),
    )
    with rclpy_context() as ctx:
        import_gfpose_msgs()
        from gfpose_ros.tools.camera_bench import CameraClient

        camera = CameraClient(NAMESPACE, context=ctx)
        try:
            if (
                not camera.spin_until(
                    lambda: camera.connected() or node.proc.poll() is not None, 90.0
                )
                or node.proc.poll() is not None
            ):
                pytest.fail(
                    'camera pipeline did not come up; stderr:\n'
                    + '\n'.join(node.stderr_lines[-30:])
                )
            # Best effort: frames sent before discovery completes are lost, so retry briefly.
            assert camera.lift(photo('messi5.jpg'), timeout=3.0, attempts=20)[0], (
                'no answer to the warm-up frame:\n' + '\n'.join(node.stderr_lines[-30:])
            )
            yield camera, node
        finally:
            camera.close()
            node.stop()


def test_portrait_through_dds_completes_the_legs(pipeline):
    camera, node = pipeline
    stamp, seconds = camera.lift(photo('grace_hopper'))
    assert stamp is not None, '\n'.join(node.stderr_lines[-20:])
    # camera_bench's stages, from the outputs' DDS source timestamps: in order, and together the
    # whole trip (keypoints_2d is published before the lift; a small message arrives first).
    camera.spin_until(lambda: stamp in camera.stamps['keypoints'], 1.0)
    stages = camera.stages_ms(stamp)
    assert min(stages) > 0 and abs(sum(stages) - seconds * 1e3) < 1e-3, (stages, seconds)
    from gfpose_ros.ros.conversions import poses_from_msg
    from gfpose_ros.skeleton import LOWER_BODY

    keypoints = camera.received['keypoints'][stamp]
    assert len(keypoints.people) == 1 and keypoints.people[0].layout == 'mediapipe33'
    assert keypoints.header.frame_id == 'camera_optical_frame'
    poses = poses_from_msg(camera.received['poses'][stamp])
    assert poses['poses'].shape == (1, 17, 3)
    assert poses['completed'][0][list(LOWER_BODY)].all()
    observed = ~poses['completed'][0]
    # The seen joints lie in front of the camera (the rest may not: the 60 deg field of view the
    # test's camera_info assumes puts this close-up portrait ~0.4 m away).
    assert np.isfinite(poses['poses']).all() and (poses['poses'][0, observed, 2] > 0).all()
    debug = camera.received['debug'].get(stamp)
    assert debug is None or (debug.width, debug.height, debug.encoding) == (512, 600, 'rgb8')


def test_full_body_legs_observed_through_dds(pipeline):
    camera, node = pipeline
    stamp, _ = camera.lift(photo('basketball1.png'))
    assert stamp is not None, '\n'.join(node.stderr_lines[-20:])
    from gfpose_ros.ros.conversions import poses_from_msg
    from gfpose_ros.skeleton import LOWER_BODY

    poses = poses_from_msg(camera.received['poses'][stamp])
    assert len(poses['ids']) == 1
    assert not poses['completed'][0][list(LOWER_BODY)].any()


def _bad_frame_then_good(camera, node, send_bad, warning):
    """The bad frame gives no keypoints and a warning; the next good frame is lifted."""

    def warned():
        return any(warning in line for line in node.stderr_lines)

    # Sent again if no warning comes: best effort may drop the image or its camera_info.
    stamps = []
    for _ in range(5):
        stamps.append(send_bad())
        if camera.spin_until(warned, 2.0):
            break
    assert any(warning in line for line in node.stderr_lines), (
        f'no warning containing {warning!r}; stderr:\n' + '\n'.join(node.stderr_lines[-20:])
    )
    assert stamps[-1] not in camera.received['keypoints']
    assert node.proc.poll() is None, 'the node died'
    assert camera.lift(photo('messi5.jpg'))[0] is not None, 'the next good frame was not processed'


@pytest.mark.parametrize('case', ['encoding', 'size', 'truncated', 'empty'])
def test_bad_input_is_skipped_with_a_warning(pipeline, case):
    camera, node = pipeline
    rgb = photo('messi5.jpg')
    if case == 'encoding':
        send, warning = (
            (lambda: camera.send(rgb[..., :2].copy(), encoding='16UC1')),
            "encoding '16UC1'",
        )
    elif case == 'size':
        send, warning = (lambda: camera.send(rgb, info_size=(640, 480))), 'but camera_info'
    elif case == 'truncated':
        send, warning = (
            (lambda: camera.send(rgb, data=rgb.tobytes()[:1000])),
            'truncated image buffer: 1000 bytes',
        )
    else:
        send, warning = (lambda: camera.send(rgb, data=b'')), 'truncated image buffer: 0 bytes'
    _bad_frame_then_good(camera, node, send, warning)


def test_nobody_gives_empty_result_and_clears_markers(pipeline):
    camera, node = pipeline
    from visualization_msgs.msg import Marker

    blank = np.full((240, 320, 3), 90, np.uint8)
    stamp, _ = camera.lift(blank)
    assert stamp is not None
    assert len(camera.received['keypoints'][stamp].people) == 0
    assert len(camera.received['poses'][stamp].people) == 0
    assert camera.spin_until(lambda: stamp in camera.received['markers'], 5.0)
    assert [m.action for m in camera.received['markers'][stamp].markers] == [Marker.DELETEALL]
    # The warning is logged before the poses are published, but the node's stderr is read by
    # another thread of this process: give it a moment to arrive.
    node.wait_for_stderr('nobody detected', 5.0)
    assert camera.lift(photo('messi5.jpg'))[0] is not None


def test_a_deactivated_in_process_lift_node_gives_no_poses(pipeline):
    """The lift node inside the camera process follows its own lifecycle: deactivated (by a
    lifecycle manager, here this process over its change_state service) it gets no frames
    from the camera node, which still publishes keypoints_2d."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    camera, node = pipeline
    client = camera.create_client(ChangeState, NAMESPACE + '/gfpose_lift/change_state')
    assert client.wait_for_service(timeout_sec=10.0)

    def transition(transition_id):
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        assert camera.spin_until(future.done, 10.0)
        return future.result().success

    image = photo('messi5.jpg')
    assert transition(Transition.TRANSITION_DEACTIVATE)
    try:
        stamps = [camera.send(image) for _ in range(3)]
        assert camera.spin_until(lambda: stamps[-1] in camera.received['keypoints'], 10.0)
        camera.spin_until(lambda: False, 1.0)  # time for any pose to arrive
        assert not any(stamp in camera.received['poses'] for stamp in stamps)
    finally:
        assert transition(Transition.TRANSITION_ACTIVATE)
        camera.destroy_client(client)
    assert camera.lift(image)[0] is not None


# ------------------------------------------------------------------ launch and parameter files


def test_camera_launch_file_wiring(monkeypatch):
    import importlib.util

    from test_ros_launch_config import _stub_launch_modules, opaque_function

    _stub_launch_modules(monkeypatch)  # on a real install too: the file's own wiring is checked
    spec = importlib.util.spec_from_file_location(
        'camera_launch', os.path.join(ROOT, 'launch', 'camera.launch.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    entities = description.args[0]
    arguments = {e.args[0] for e in entities if 'default_value' in e.kwargs}
    assert {
        'params_file',
        'image_topic',
        'camera_info_topic',
        'namespace',
        'detector',
        'debug_image',
        'single_process',
        'autostart',
    } <= arguments
    assert 'dds_profile' in arguments
    pipeline = opaque_function(entities, 'pipeline').kwargs['function']
    context = {
        'autostart': 'true',
        'debug_image': 'false',
        'detector': 'mediapipe_hog',
        'model': '',
        'backend': '',
        'single_process': 'true',
        'use_depth': '',
    }
    [node] = pipeline(context)
    assert node.kwargs['executable'] == 'gfpose_camera' and 'name' not in node.kwargs
    assert node.kwargs['parameters'][1:] == [
        {'autostart': True, 'publish_debug_image': False, 'detector': 'mediapipe_hog'},
        {'lift_in_process': True},
    ]
    remapped = {source: target.args[0] for source, target in node.kwargs['remappings']}
    assert remapped == {
        'image': 'image_topic',
        'camera_info': 'camera_info_topic',
        'depth_image': 'depth_topic',
    }
    camera, lift = pipeline({**context, 'single_process': 'false', 'use_depth': 'true'})
    assert (camera.kwargs['executable'], lift.kwargs['executable']) == (
        'gfpose_camera',
        'gfpose_lift',
    )
    assert camera.kwargs['parameters'] == lift.kwargs['parameters']  # one params file for both
    assert lift.kwargs['parameters'][1]['use_depth'] is True
    assert {source: target.args[0] for source, target in lift.kwargs['remappings']}[
        'depth_image'
    ] == 'depth_topic'


def test_camera_params_file_matches_the_nodes():
    import_rclpy_or_skip()
    import_gfpose_msgs()
    import yaml

    from gfpose_ros.ros import camera_node, lift_node

    with open(PARAMS_FILE) as f:
        params = yaml.safe_load(f)
    camera = params['/**/gfpose_camera']['ros__parameters']
    assert set(camera) == set(camera_node.PARAMETERS)
    for name, (default, _) in camera_node.PARAMETERS.items():
        assert camera[name] == default and type(camera[name]) is type(default), name
    lift = params['/**/gfpose_lift']['ros__parameters']
    assert set(lift) <= set(lift_node.PARAMETERS)
    values = {name: default for name, (default, _) in lift_node.PARAMETERS.items()}
    lift_node.settings_from({**values, **lift})  # raises on an invalid combination


def test_two_processes_from_the_console_entry_points():
    """single_process:=false: camera node and lift node each in its own process, over
    keypoints_2d."""
    import_rclpy_or_skip()
    need_mediapipe()
    namespace = '/camera_test_two'
    args = ('--ros-args', '--params-file', PARAMS_FILE, '-r', f'__ns:={namespace}')
    camera_proc = PythonProcess(RUN_NODE, args=args + ('-p', 'image_reliability:=reliable'))
    lift_proc = PythonProcess(
        'import sys\nfrom gfpose_ros.ros.entry import lift\nsys.exit(lift())', args=args
    )
    try:
        with rclpy_context() as ctx:
            from gfpose_ros.tools.camera_bench import CameraClient
            from gfpose_ros.ros.conversions import poses_from_msg

            camera = CameraClient(namespace, context=ctx)
            try:
                assert camera.spin_until(camera.connected, 90.0), '\n'.join(
                    camera_proc.stderr_lines[-20:]
                )
                stamp, _ = camera.lift(photo('grace_hopper'), attempts=10)
                assert stamp is not None, '\n'.join(
                    camera_proc.stderr_lines[-10:] + lift_proc.stderr_lines[-10:]
                )
                assert len(camera.received['keypoints'][stamp].people) == 1
                assert poses_from_msg(camera.received['poses'][stamp])['poses'].shape == (1, 17, 3)
            finally:
                camera.close()
    finally:
        camera_proc.stop()
        lift_proc.stop()


def test_camera_mode_diagnostics_count_dropped_frames(pipeline):
    """The in-process lift node gets each image's message info from the camera node, so its
    /diagnostics count dropped frames from the driver's sequence numbers instead of saying
    'unknown', and measure latency from the image's reception."""
    from diagnostic_msgs.msg import DiagnosticArray

    camera, node = pipeline
    statuses = []
    sub = camera.create_subscription(
        DiagnosticArray,
        '/diagnostics',
        lambda m: statuses.extend(s for s in m.status if 'gfpose_lift' in s.name),
        10,
    )
    try:
        assert camera.lift(photo('basketball1.png'))[0] is not None
        camera.spin_until(lambda: len(statuses) >= 2, 10.0)
        assert statuses, '\n'.join(node.stderr_lines[-20:])
        values = {kv.key: kv.value for kv in statuses[-1].values}
        assert values['frames dropped'].isdigit(), values
    finally:
        camera.destroy_subscription(sub)
