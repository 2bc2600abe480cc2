"""Decisions the launch files make at launch time: whether RViz can start, and which DDS settings
the camera pipeline gets. Kept here, out of the launch files, so the tests can check them.

The launch modules are imported inside the functions: this module must import without them
(they are not installable from wheels), and the tests swap in stand-ins.
"""

import os

RVIZ_PACKAGE = 'rviz2'
LOGGER = 'gfpose_ros.launch'
# Fast DDS 3 (Kilted and newer) reads the first name, Fast DDS 2 (Humble, Jazzy) the second.
PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')
# Any of these means the user chose their own DDS transport settings.
USER_DDS_VARIABLES = PROFILE_VARIABLES + ('FASTDDS_BUILTIN_TRANSPORTS',)
# The distributions whose rmw_fastrtps links Fast DDS 2.
FASTDDS2_DISTROS = ('humble', 'iron', 'jazzy')
# What camera.launch.py applies by default: a 16 MB shared-memory segment, default transports and
# discovery (plain participants still see the pipeline). LARGE_DATA is the opt-in for images
# between machines (a participant with it and one without do not see each other).
DEFAULT_PROFILE = 'fastdds_shm_images.xml'
LARGE_DATA_PROFILE = 'fastdds_large_images.xml'


def profile_variable(environ=os.environ):
    """The one profile variable that the Fast DDS ROS runs here reads. Setting both makes Fast
    DDS 3 log a deprecation warning and load the file twice ("XMLPARSER Error: Error adding
    profile")."""
    distro = environ.get('ROS_DISTRO', '').lower()
    if distro:
        return PROFILE_VARIABLES[1] if distro in FASTDDS2_DISTROS else PROFILE_VARIABLES[0]
    # No ROS_DISTRO (ROS from wheels): the library that is installed.
    import ctypes.util

    if not ctypes.util.find_library('fastdds') and ctypes.util.find_library('fastrtps'):
        return PROFILE_VARIABLES[1]
    return PROFILE_VARIABLES[0]


def flag(context, name):
    from launch.substitutions import LaunchConfiguration

    return LaunchConfiguration(name).perform(context).lower() in ('true', '1')


def find_rviz():
    """(True, None) when rviz2 is installed where ros2 launch would look for it (the ament index),
    else (False, why)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = get_package_prefix(RVIZ_PACKAGE)
    except PackageNotFoundError:
        return False, f"package '{RVIZ_PACKAGE}' is not installed"
    executable = os.path.join(prefix, 'lib', RVIZ_PACKAGE, 'rviz2')
    if not os.access(executable, os.X_OK):
        return False, f'{executable} is missing or not executable'
    return True, None


def rviz(context, config_file):
    """The RViz node when rviz:=true and RViz is installed. Without RViz: one warning and no node,
    so the launch goes on with the pipeline (a launch_ros Node of a missing package would abort
    the whole launch and leave the nodes already started running as orphans)."""
    if not flag(context, 'rviz'):
        return []
    found, why = find_rviz()
    if not found:
        from launch.logging import get_logger

        get_logger(LOGGER).warning(
            f'rviz:=true, but {why}: running without RViz. Install ros-$ROS_DISTRO-rviz2, or run '
            'RViz on '
            'another machine with config/gfpose.rviz (the markers topic is published either way).'
        )
        return []
    from launch_ros.actions import Node

    return [Node(package=RVIZ_PACKAGE, executable='rviz2', arguments=['-d', config_file])]


def dds_environment(profile, environ=os.environ):
    """The environment variable that selects the Fast DDS profile ``profile`` (a path; empty =
    none), and a line for the log. A user who set their own DDS settings keeps them: the profile
    replaces a participant's whole transport configuration, and theirs may be there for a reason
    (another network, a discovery server)."""
    if not profile:
        return {}, 'dds_profile is empty: Fast DDS keeps its defaults (large images may be lost)'
    own = [name for name in USER_DDS_VARIABLES if environ.get(name)]
    if own:
        return {}, (
            f'{", ".join(own)} already set: keeping your DDS settings, not loading {profile} '
            '(large images may be lost unless they configure shared memory or LARGE_DATA)'
        )
    return {profile_variable(environ): profile}, f'Fast DDS profile for camera images: {profile}'


def dds_settings(context):
    """SetEnvironmentVariable actions for the dds_profile launch argument (see dds_environment).
    They apply to every process the launch starts after them, a camera driver included in the
    same launch too: the sender's settings decide how an image travels."""
    from launch.actions import SetEnvironmentVariable
    from launch.logging import get_logger
    from launch.substitutions import LaunchConfiguration

    variables, message = dds_environment(LaunchConfiguration('dds_profile').perform(context))
    get_logger(LOGGER).info(message)
    return [SetEnvironmentVariable(name, value) for name, value in variables.items()]
