"""Camera mode: sensor_msgs/Image + CameraInfo -> 2D keypoints -> metric 3D poses, in one launch.

    ros2 launch gfpose_ros camera.launch.py image_topic:=/camera/color/image_raw \\
        camera_info_topic:=/camera/color/camera_info
    ros2 launch gfpose_ros camera.launch.py detector:=mediapipe_hog debug_image:=true rviz:=true
    ros2 launch gfpose_ros camera.launch.py image_topic:=/camera/color/image_raw \
        camera_info_topic:=/camera/color/camera_info use_depth:=true \
        depth_topic:=/camera/aligned_depth_to_color/image_raw     # RGB-D (RealSense-style)

With use_depth:=true the lift node also subscribes to the depth image aligned to the colour
camera and pairs it with each frame's keypoints by stamp (the keypoints carry the colour
image's stamp), in either process layout.

By default (single_process:=true) the camera node and the lift node share one process and a
multi-threaded executor, and the keypoints go from one to the other as a Python object, with no
serialisation (rclpy has no intra-process transport, and Python nodes cannot be composed into a
C++ container). keypoints_2d is still published. single_process:=false starts them as two
lifecycle nodes that talk over keypoints_2d. Both read the same params_file (config/camera.yaml).

Outputs (in the namespace): keypoints_2d, debug_image (debug_image:=true), poses_3d,
pose_hypotheses, markers, /diagnostics.

Camera images are large: the processes this launch starts get the Fast DDS profile
config/fastdds_shm_images.xml (a 16 MB shared-memory segment; default transports and discovery,
so RViz, the ros2 CLI and drivers without it still see and talk to the pipeline), unless your
environment already has DDS settings of its own. dds_profile:=... selects another file (e.g. the
LARGE_DATA opt-in config/fastdds_large_images.xml), dds_profile:='' none. A camera driver that
loads the same profile delivers whole images (see the README).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from gfpose_ros.ros import launch_support


def _flag(context, name):
    return LaunchConfiguration(name).perform(context).lower() in ('true', '1')


def pipeline(context):
    # Arguments override params_file only when given, so a params file can choose them.
    overrides = {
        'autostart': _flag(context, 'autostart'),
        'publish_debug_image': _flag(context, 'debug_image'),
    }
    if LaunchConfiguration('use_depth').perform(context):
        overrides['use_depth'] = _flag(context, 'use_depth')
    for argument, parameter in (
        ('detector', 'detector'),
        ('model', 'model_path'),
        ('backend', 'backend'),
    ):
        value = LaunchConfiguration(argument).perform(context)
        if value:
            overrides[parameter] = value
    params = [LaunchConfiguration('params_file'), overrides]
    image_remappings = [
        ('image', LaunchConfiguration('image_topic')),
        ('camera_info', LaunchConfiguration('camera_info_topic')),
        ('depth_image', LaunchConfiguration('depth_topic')),
    ]
    common = dict(
        package='gfpose_ros', namespace=LaunchConfiguration('namespace'), output='screen'
    )
    if _flag(context, 'single_process'):
        # No name= here: it would rename both nodes of the process (gfpose_camera, gfpose_lift).
        return [
            Node(
                executable='gfpose_camera',
                parameters=params + [{'lift_in_process': True}],
                remappings=image_remappings,
                **common,
            )
        ]
    return [
        LifecycleNode(
            executable='gfpose_camera',
            name='gfpose_camera',
            parameters=params,
            remappings=image_remappings,
            **common,
        ),
        LifecycleNode(
            executable='gfpose_lift',
            name='gfpose_lift',
            parameters=params,
            remappings=[
                ('camera_info', LaunchConfiguration('camera_info_topic')),
                ('depth_image', LaunchConfiguration('depth_topic')),
            ],
            **common,
        ),
    ]


def generate_launch_description():
    share = FindPackageShare('gfpose_ros')
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                'params_file',
                default_value=PathJoinSubstitution([share, 'config', 'camera.yaml']),
                description='Parameter file of the camera and lift nodes',
            ),
            DeclareLaunchArgument(
                'image_topic', default_value='image', description='Input sensor_msgs/Image topic'
            ),
            DeclareLaunchArgument(
                'camera_info_topic',
                default_value='camera_info',
                description='Input sensor_msgs/CameraInfo topic of the same camera',
            ),
            DeclareLaunchArgument(
                'use_depth',
                default_value='',
                description='true: place people with the aligned depth image; empty = as in '
                'params_file',
            ),
            DeclareLaunchArgument(
                'depth_topic',
                default_value='depth_image',
                description='Input sensor_msgs/Image depth aligned to the colour camera (16UC1 or '
                '32FC1)',
            ),
            DeclareLaunchArgument(
                'namespace',
                default_value='',
                description='Namespace of the nodes and their topics',
            ),
            DeclareLaunchArgument(
                'detector',
                default_value='',
                description='mediapipe, mediapipe_hog or onnx; empty = as in params_file',
            ),
            DeclareLaunchArgument(
                'model',
                default_value='',
                description='Lifting model weights (.pt); empty = as in params_file (the shipped '
                'model)',
            ),
            DeclareLaunchArgument(
                'backend',
                default_value='',
                description='auto, tensorrt, onnxruntime or torch; empty = as in params_file',
            ),
            DeclareLaunchArgument(
                'debug_image',
                default_value='false',
                description='Publish debug_image: the 2D skeletons drawn on the image',
            ),
            DeclareLaunchArgument(
                'single_process',
                default_value='true',
                description='Both nodes in one process, keypoints passed without serialisation',
            ),
            DeclareLaunchArgument(
                'autostart',
                default_value='true',
                description='Configure and activate on start (false: wait for a lifecycle '
                'manager)',
            ),
            DeclareLaunchArgument(
                'rviz',
                default_value='false',
                description='Also start RViz with config/gfpose.rviz; without RViz installed: a '
                'warning, '
                'and the nodes run',
            ),
            DeclareLaunchArgument(
                'dds_profile',
                default_value=PathJoinSubstitution(
                    [share, 'config', launch_support.DEFAULT_PROFILE]
                ),
                description='Fast DDS XML profile for the processes this launch starts (default: '
                'a 16 MB shared-memory segment, so camera images arrive whole, with default '
                'transports and discovery); fastdds_large_images.xml = LARGE_DATA (between '
                'machines; participants without it no longer see the pipeline); empty = Fast '
                'DDS defaults. Not applied when FASTDDS_DEFAULT_PROFILES_FILE, '
                'FASTRTPS_DEFAULT_PROFILES_FILE or FASTDDS_BUILTIN_TRANSPORTS is already set',
            ),
            OpaqueFunction(
                function=launch_support.dds_settings
            ),  # before the nodes: they read it at start
            OpaqueFunction(function=pipeline),
            OpaqueFunction(
                function=launch_support.rviz,
                args=[PathJoinSubstitution([share, 'config', 'gfpose.rviz'])],
            ),
        ]
    )
