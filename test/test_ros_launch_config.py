"""The launch file, the parameter file and the RViz config agree with the node.

The launch system is not installable from wheels: the launch file is loaded with the real
`launch_ros` where it is importable (a ROS 2 install), and otherwise with small stand-ins that
record what it builds, so its wiring (arguments, remappings, parameter overrides) is checked.
"""
import os
import py_compile

import yaml

from ros_helpers import import_gfpose_msgs, import_rclpy_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_FILE = os.path.join(ROOT, 'launch', 'lift.launch.py')


def test_launch_file_compiles(tmp_path):
    py_compile.compile(LAUNCH_FILE, cfile=str(tmp_path / 'lift.launch.pyc'), doraise=True)
    with open(LAUNCH_FILE) as f:
        source = f.read()
    for argument in ('params_file', 'model', 'backend', 'namespace', 'keypoints_topic', 'camera_info_topic'):
        assert f"DeclareLaunchArgument('{argument}'" in source


class _Recorded:
    """Stand-in for a launch action or substitution: remembers how it was built."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Recorded):
    def perform(self, context):
        return context[self.args[0]]


def _stub_launch_modules(monkeypatch):
    """Minimal launch/launch_ros stand-ins (the real ones are not installable from wheels)."""
    import sys
    import types

    names = {
        'launch': {'LaunchDescription': _Recorded},
        'launch.actions': {'DeclareLaunchArgument': _Recorded, 'OpaqueFunction': _Recorded},
        'launch.conditions': {'IfCondition': _Recorded},
        'launch.substitutions': {'LaunchConfiguration': _LaunchConfiguration, 'PathJoinSubstitution': _Recorded},
        'launch_ros': {},
        'launch_ros.actions': {'LifecycleNode': _Recorded, 'Node': _Recorded},
        'launch_ros.substitutions': {'FindPackageShare': _Recorded},
    }
    for module_name, attributes in names.items():
        module = types.ModuleType(module_name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, module_name, module)


def _load_launch_file():
    import importlib.util

    spec = importlib.util.spec_from_file_location('lift_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_description_starts_the_lifecycle_node(monkeypatch):
    try:
        import launch_ros  # noqa: F401  a real ROS 2 install: load the file with the real API
    except ImportError:
        _stub_launch_modules(monkeypatch)
        real = False
    else:
        real = True
    description = _load_launch_file().generate_launch_description()
    if real:
        assert description.entities
        return
    entities = description.args[0]
    arguments = {e.args[0]: e.kwargs['default_value'] for e in entities if 'default_value' in e.kwargs}
    assert {'params_file', 'model', 'backend', 'namespace', 'keypoints_topic', 'camera_info_topic',
            'autostart'} <= set(arguments)
    opaque = [e for e in entities if 'function' in e.kwargs][0]
    context = {'autostart': 'true', 'model': '/tmp/m.pt', 'backend': ''}
    node = opaque.kwargs['function'](context)[0]
    assert (node.kwargs['package'], node.kwargs['executable']) == ('gfpose_ros', 'gfpose_lift')
    params_file, overrides = node.kwargs['parameters']
    assert params_file.args == ('params_file',)
    assert overrides == {'autostart': True, 'model_path': '/tmp/m.pt'}  # an empty backend keeps the file's
    remapped = {source: target.args[0] for source, target in node.kwargs['remappings']}
    assert remapped == {'keypoints_2d': 'keypoints_topic', 'camera_info': 'camera_info_topic'}
    assert node.kwargs['namespace'].args == ('namespace',)


def test_params_file_matches_the_node_declarations():
    import_rclpy_or_skip()
    import_gfpose_msgs()
    from gfpose_ros.ros.lift_node import PARAMETERS, validation_error

    with open(os.path.join(ROOT, 'config', 'lift.yaml')) as f:
        params = yaml.safe_load(f)['/**']['ros__parameters']
    assert set(params) == set(PARAMETERS)
    for name, (default, _) in PARAMETERS.items():
        assert params[name] == default and type(params[name]) is type(default), name
    assert validation_error(params) is None


def test_rviz_config_shows_the_markers():
    with open(os.path.join(ROOT, 'config', 'gfpose.rviz')) as f:
        rviz = yaml.safe_load(f)
    displays = rviz['Visualization Manager']['Displays']
    markers = [d for d in displays if d['Class'] == 'rviz_default_plugins/MarkerArray']
    assert markers and markers[0]['Topic']['Value'] == '/markers'
