"""gfpose_ros: lift 2D human keypoints to metric 3D poses with a learned diffusion prior.

The core (everything outside ``gfpose_ros.ros``) imports with numpy and torch alone.
"""

__version__ = "0.1.0"
