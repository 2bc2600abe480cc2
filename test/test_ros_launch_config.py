"""The launch file, the parameter file and the RViz config agree with the node.

The launch system is not installable from wheels, so the launch file is loaded with small
stand-ins of `launch` and `launch_ros` that record what it builds (also where the real ones are
installed): its wiring (arguments, remappings, parameter overrides) is what is checked. The real
`ros2 launch` was tried by hand (see the README).
"""

import os

import pytest
import yaml

from ros_helpers import import_gfpose_msgs, import_rclpy_or_skip

pytestmark = pytest.mark.ros  # needs rclpy and the launch files' ROS packages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_FILE = os.path.join(ROOT, 'launch', 'lift.launch.py')


class _Recorded:
    """Stand-in for a launch action or substitution: remembers how it was built."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Recorded):
    def perform(self, context):
        return context[self.args[0]]


def _stub_launch_modules(monkeypatch):
    """Minimal launch/launch_ros stand-ins (the real ones are not installable from wheels)."""
    import logging
    import sys
    import types

    names = {
        'launch': {'LaunchDescription': _Recorded},
        'launch.actions': {
            'DeclareLaunchArgument': _Recorded,
            'OpaqueFunction': _Recorded,
            'SetEnvironmentVariable': _Recorded,
        },
        'launch.logging': {'get_logger': logging.getLogger},
        'launch.conditions': {'IfCondition': _Recorded},
        'launch.substitutions': {
            'LaunchConfiguration': _LaunchConfiguration,
            'PathJoinSubstitution': _Recorded,
        },
        'launch_ros': {},
        'launch_ros.actions': {'LifecycleNode': _Recorded, 'Node': _Recorded},
        'launch_ros.substitutions': {'FindPackageShare': _Recorded},
    }
    for module_name, attributes in names.items():
        module = types.ModuleType(module_name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, module_name, module)


def _load_launch_file(path=LAUNCH_FILE):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        os.path.basename(path).split('.')[0] + '_launch', path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def opaque_function(entities, name):
    """The OpaqueFunction of a stand-in launch description whose function is called ``name``."""
    [function] = [
        e for e in entities if e.kwargs.get('function') and e.kwargs['function'].__name__ == name
    ]
    return function


def test_launch_description_starts_the_lifecycle_node(monkeypatch):
    # Stand-ins record how the file builds its actions, on a machine with a real ROS 2 install
    # too: what is asserted is the file's own wiring (arguments, parameters, remappings).
    _stub_launch_modules(monkeypatch)
    description = _load_launch_file().generate_launch_description()
    entities = description.args[0]
    arguments = {
        e.args[0]: e.kwargs['default_value'] for e in entities if 'default_value' in e.kwargs
    }
    assert {
        'params_file',
        'model',
        'backend',
        'namespace',
        'keypoints_topic',
        'camera_info_topic',
        'autostart',
    } <= set(arguments)
    opaque = opaque_function(entities, 'lift_node')
    context = {'autostart': 'true', 'model': '/tmp/m.pt', 'backend': '', 'use_depth': ''}
    node = opaque.kwargs['function'](context)[0]
    assert (node.kwargs['package'], node.kwargs['executable']) == ('gfpose_ros', 'gfpose_lift')
    params_file, overrides = node.kwargs['parameters']
    assert params_file.args == ('params_file',)
    assert overrides == {
        'autostart': True,
        'model_path': '/tmp/m.pt',
    }  # an empty backend keeps the file's
    remapped = {source: target.args[0] for source, target in node.kwargs['remappings']}
    assert remapped == {
        'keypoints_2d': 'keypoints_topic',
        'camera_info': 'camera_info_topic',
        'depth_image': 'depth_topic',
    }
    assert node.kwargs['namespace'].args == ('namespace',)
    rgbd = opaque.kwargs['function'](dict(context, use_depth='true'))[0]
    assert rgbd.kwargs['parameters'][1] == {
        'autostart': True,
        'model_path': '/tmp/m.pt',
        'use_depth': True,
    }


def test_params_file_matches_the_node_declarations():
    import_rclpy_or_skip()
    import_gfpose_msgs()
    from gfpose_ros.ros.lift_node import PARAMETERS, settings_from

    with open(os.path.join(ROOT, 'config', 'lift.yaml')) as f:
        params = yaml.safe_load(f)['/**']['ros__parameters']
    assert set(params) == set(PARAMETERS)
    for name, (default, _) in PARAMETERS.items():
        assert params[name] == default and type(params[name]) is type(default), name
    settings_from(params)  # raises on an invalid combination


def test_rviz_config_shows_the_markers():
    with open(os.path.join(ROOT, 'config', 'gfpose.rviz')) as f:
        rviz = yaml.safe_load(f)
    displays = rviz['Visualization Manager']['Displays']
    markers = [d for d in displays if d['Class'] == 'rviz_default_plugins/MarkerArray']
    assert markers and markers[0]['Topic']['Value'] == '/markers'


# ------------------------------------------------------------------ RViz: optional in fact


def _fake_rviz_install(root):
    """An install prefix holding rviz2 as the ament index and ros2 launch see it."""
    index = root / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / 'rviz2').write_text('')
    executable = root / 'lib' / 'rviz2' / 'rviz2'
    executable.parent.mkdir(parents=True)
    executable.write_text('#!/bin/sh\n')
    executable.chmod(0o755)


def _prefix_path_without_rviz():
    return os.pathsep.join(
        p
        for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep)
        if p and not os.path.isdir(os.path.join(p, 'lib', 'rviz2'))
    )


def _rviz_decision(monkeypatch, rviz):
    """What both launch files start for rviz:=<rviz>: the entities of their rviz OpaqueFunction."""
    _stub_launch_modules(monkeypatch)
    started = []
    for launch_file in (LAUNCH_FILE, os.path.join(ROOT, 'launch', 'camera.launch.py')):
        entities = _load_launch_file(launch_file).generate_launch_description().args[0]
        action = opaque_function(entities, 'rviz')
        started.append(action.kwargs['function']({'rviz': rviz}, *action.kwargs.get('args', [])))
    return started


def test_rviz_true_without_rviz2_warns_once_and_starts_nothing(monkeypatch, caplog):
    monkeypatch.setenv('AMENT_PREFIX_PATH', _prefix_path_without_rviz())
    with caplog.at_level('WARNING'):
        started = _rviz_decision(monkeypatch, 'true')
    assert started == [[], []]  # no rviz2 Node: the launch goes on with the pipeline
    warnings = [r.getMessage() for r in caplog.records if r.levelname == 'WARNING']
    assert len(warnings) == 2  # one per launch file, i.e. one per launch
    assert all(
        "package 'rviz2' is not installed" in w and 'running without RViz' in w for w in warnings
    )


def test_rviz_true_with_rviz2_starts_it_with_the_shipped_config(monkeypatch, tmp_path, caplog):
    _fake_rviz_install(tmp_path)
    monkeypatch.setenv(
        'AMENT_PREFIX_PATH', str(tmp_path) + os.pathsep + _prefix_path_without_rviz()
    )
    with caplog.at_level('WARNING'):
        started = _rviz_decision(monkeypatch, 'true')
    for [node] in started:
        assert (node.kwargs['package'], node.kwargs['executable']) == ('rviz2', 'rviz2')
        flag, config = node.kwargs['arguments']
        assert flag == '-d' and config.args[0][1:] == ['config', 'gfpose.rviz']
    assert not [r for r in caplog.records if r.levelname == 'WARNING']
    # rviz:=false starts nothing and says nothing, installed or not.
    assert _rviz_decision(monkeypatch, 'false') == [[], []]


def test_rviz_with_a_broken_install_is_not_started(monkeypatch, tmp_path):
    _fake_rviz_install(tmp_path)
    (tmp_path / 'lib' / 'rviz2' / 'rviz2').unlink()
    monkeypatch.setenv(
        'AMENT_PREFIX_PATH', str(tmp_path) + os.pathsep + _prefix_path_without_rviz()
    )
    from gfpose_ros.ros.launch_support import find_rviz

    found, why = find_rviz()
    assert not found and 'missing or not executable' in why


# ------------------------------------------------------------------ DDS settings for camera images


def test_camera_launch_sets_one_profile_variable_unless_the_user_has_dds_settings(monkeypatch):
    """The default is the shared-memory profile, in the one variable the running Fast DDS reads:
    setting both made Fast DDS 3 log a deprecation warning and "XMLPARSER Error: Error adding
    profile" (the file loaded twice)."""
    from gfpose_ros.ros import launch_support
    from gfpose_ros.ros.launch_support import USER_DDS_VARIABLES, dds_environment

    profile = os.path.join(ROOT, 'config', launch_support.DEFAULT_PROFILE)
    for distro, variable in (
        ('kilted', 'FASTDDS_DEFAULT_PROFILES_FILE'),
        ('rolling', 'FASTDDS_DEFAULT_PROFILES_FILE'),
        ('jazzy', 'FASTRTPS_DEFAULT_PROFILES_FILE'),
        ('humble', 'FASTRTPS_DEFAULT_PROFILES_FILE'),
    ):
        assert dds_environment(profile, environ={'ROS_DISTRO': distro})[0] == {variable: profile}
    # These wheels (no ROS_DISTRO) carry Fast DDS 3.
    assert dds_environment(profile, environ={})[0] == {'FASTDDS_DEFAULT_PROFILES_FILE': profile}
    for own in USER_DDS_VARIABLES:
        variables, message = dds_environment(profile, environ={own: '/etc/my_dds.xml'})
        assert variables == {} and own in message and 'keeping your DDS settings' in message
    assert dds_environment('', environ={})[0] == {}

    # Through the launch file: the default argument is the shared-memory profile, and the
    # environment is set before the nodes start.
    for name in USER_DDS_VARIABLES + ('ROS_DISTRO',):
        monkeypatch.delenv(name, raising=False)
    _stub_launch_modules(monkeypatch)
    entities = (
        _load_launch_file(os.path.join(ROOT, 'launch', 'camera.launch.py'))
        .generate_launch_description()
        .args[0]
    )
    [argument] = [e for e in entities if e.args and e.args[0] == 'dds_profile']
    assert argument.kwargs['default_value'].args[0][-1] == 'fastdds_shm_images.xml'
    dds, pipeline = (
        opaque_function(entities, 'dds_settings'),
        opaque_function(entities, 'pipeline'),
    )
    assert entities.index(dds) < entities.index(pipeline)
    actions = dds.kwargs['function']({'dds_profile': profile})
    assert [a.args for a in actions] == [('FASTDDS_DEFAULT_PROFILES_FILE', profile)]


def _profiles(name):
    import xml.etree.ElementTree as ET

    ns = {'dds': 'http://www.eprosima.com'}
    return ET.parse(os.path.join(ROOT, 'config', name)).getroot().find('dds:profiles', ns), ns


def test_default_dds_profile_only_enlarges_shared_memory():
    """Transports only (QoS stays the code's): shared memory with a larger segment, plus UDPv4 as
    Fast DDS's defaults have it, and no discovery settings, so participants without the profile
    still discover the pipeline (test_process_behaviour.py checks it over DDS)."""
    profiles, ns = _profiles('fastdds_shm_images.xml')
    assert [child.tag.split('}')[1] for child in profiles] == [
        'transport_descriptors',
        'participant',
    ]
    kinds = {
        d.find('dds:transport_id', ns).text: d
        for d in profiles.findall('dds:transport_descriptors/dds:transport_descriptor', ns)
    }
    assert sorted(d.find('dds:type', ns).text for d in kinds.values()) == ['SHM', 'UDPv4']
    [shm] = [d for d in kinds.values() if d.find('dds:type', ns).text == 'SHM']
    assert int(shm.find('dds:segment_size', ns).text) >= 8 * 2**20  # a few 720p rgb8 images
    participant = profiles.find('dds:participant', ns)
    assert participant.get('is_default_profile') == 'true'
    rtps = participant.find('dds:rtps', ns)
    assert sorted(child.tag.split('}')[1] for child in rtps) == [
        'useBuiltinTransports',
        'userTransports',
    ]
    assert sorted(t.text for t in rtps.findall('dds:userTransports/dds:transport_id', ns)) == (
        sorted(kinds)
    )


def test_large_data_profile_is_a_participant_profile_only():
    """The opt-in for images between machines: it may change transports only."""
    profiles, ns = _profiles('fastdds_large_images.xml')
    assert [child.tag.split('}')[1] for child in profiles] == ['participant']
    participant = profiles.find('dds:participant', ns)
    assert participant.get('is_default_profile') == 'true'
    assert participant.find('dds:rtps/dds:builtinTransports', ns).text == 'LARGE_DATA'
