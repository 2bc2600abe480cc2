"""gfpose_ros: ament_python package (also installable with plain pip, without ROS)."""

import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'gfpose_ros'
HERE = os.path.dirname(os.path.abspath(__file__))


def _files(pattern):
    """Plain files matching pattern, relative to this file's folder (setup.py must use relative
    paths)."""
    return sorted(
        os.path.relpath(p, HERE)
        for p in glob.glob(os.path.join(HERE, pattern))
        if os.path.isfile(p) and not os.path.basename(p).startswith('.')
    )


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', _files('launch/*.py')),
        ('share/' + PACKAGE + '/config', _files('config/*')),
        ('share/' + PACKAGE + '/models', _files('models/*')),
        ('share/' + PACKAGE + '/data', _files('data/*')),
    ],
    # Core only: `pip install .` on a machine without ROS gives the core and
    # the `gfpose` CLI. ROS (rclpy, message packages) comes from the ROS
    # install or the ros-* wheels (scripts/setup_env.sh).
    install_requires=['numpy', 'torch', 'pyyaml', 'tqdm'],
    zip_safe=True,
    maintainer='gfpose_ros maintainers',
    maintainer_email='gfpose_ros@example.com',
    description='Lift 2D human keypoints to metric 3D with a diffusion pose prior (GFPose).',
    license='Apache-2.0',
    python_requires='>=3.10',
    entry_points={
        'console_scripts': [
            'gfpose = gfpose_ros.cli:main',
            # The entry module sets the signal handling and the parent-death signal before the
            # heavy imports (gfpose_ros/ros/entry.py).
            'gfpose_lift = gfpose_ros.ros.entry:lift',
            'gfpose_camera = gfpose_ros.ros.entry:camera',
        ],
    },
)
