"""Start the lift node (gfpose_msgs/Keypoints2DArray -> metric 3D poses) as a lifecycle node.

    ros2 launch gfpose_ros lift.launch.py
    ros2 launch gfpose_ros lift.launch.py namespace:=front keypoints_topic:=/yolo/keypoints \\
        camera_info_topic:=/camera/color/camera_info backend:=tensorrt rviz:=true
    ros2 launch gfpose_ros lift.launch.py use_depth:=true \
        depth_topic:=/camera/aligned_depth_to_color/image_raw   # an RGB-D camera (RealSense-style)

With autostart:=true (the default) the node configures and activates itself, like the console
entry point; with autostart:=false it waits for a lifecycle manager (ros2 lifecycle set ...).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare

from gfpose_ros.ros import launch_support


def lift_node(context):
    # model and backend override params_file only when given, so a params file can choose them.
    overrides = {
        'autostart': LaunchConfiguration('autostart').perform(context).lower() in ('true', '1')
    }
    use_depth = LaunchConfiguration('use_depth').perform(context).lower()
    if use_depth:
        overrides['use_depth'] = use_depth in ('true', '1')
    for argument, parameter in (('model', 'model_path'), ('backend', 'backend')):
        value = LaunchConfiguration(argument).perform(context)
        if value:
            overrides[parameter] = value
    return [
        LifecycleNode(
            package='gfpose_ros',
            executable='gfpose_lift',
            name='gfpose_lift',
            namespace=LaunchConfiguration('namespace'),
            parameters=[LaunchConfiguration('params_file'), overrides],
            remappings=[
                ('keypoints_2d', LaunchConfiguration('keypoints_topic')),
                ('camera_info', LaunchConfiguration('camera_info_topic')),
                ('depth_image', LaunchConfiguration('depth_topic')),
            ],
            output='screen',
        )
    ]


def generate_launch_description():
    share = FindPackageShare('gfpose_ros')
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                'params_file',
                default_value=PathJoinSubstitution([share, 'config', 'lift.yaml']),
                description='Parameter file of the lift node',
            ),
            DeclareLaunchArgument(
                'model',
                default_value='',
                description='Model weights (.pt); empty = as in params_file (the shipped model)',
            ),
            DeclareLaunchArgument(
                'backend',
                default_value='',
                description='auto, tensorrt, onnxruntime or torch; empty = as in params_file',
            ),
            DeclareLaunchArgument(
                'namespace', default_value='', description='Namespace of the node and its topics'
            ),
            DeclareLaunchArgument(
                'keypoints_topic',
                default_value='keypoints_2d',
                description='Input gfpose_msgs/Keypoints2DArray topic',
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
            OpaqueFunction(function=lift_node),
            OpaqueFunction(
                function=launch_support.rviz,
                args=[PathJoinSubstitution([share, 'config', 'gfpose.rviz'])],
            ),
        ]
    )
