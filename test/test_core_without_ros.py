"""The core imports and runs with numpy and torch alone: no ROS, ONNX Runtime, OpenCV or
matplotlib."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CODE = """
import sys
for name in ("rclpy", "gfpose_msgs", "onnxruntime", "onnx", "cv2", "matplotlib", "mediapipe",
             "tensorrt"):
    sys.modules[name] = None  # importing any of these now raises ImportError
import numpy as np
import gfpose_ros, gfpose_ros.cli, gfpose_ros.training.train, gfpose_ros.training.bvh
import gfpose_ros.evaluation.evaluate
from gfpose_ros.lifter import Lifter
from gfpose_ros.settings import LiftSettings
from gfpose_ros.camera import intrinsics
lifter = Lifter(settings=LiftSettings(num_hypotheses=3))
uv = np.random.default_rng(0).uniform(200, 400, (1, 17, 2))
result = lifter.lift(uv, np.ones((1, 17)), intrinsics(600, 600, 320, 240))
assert np.isfinite(result.poses).all()
print(lifter.backend.name, lifter.backend_reason)
"""


def test_core_runs_without_ros_or_optional_packages(tmp_path):
    env = dict(os.environ, ROS_HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", CODE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # auto falls back to torch when neither TensorRT nor ONNX Runtime can be imported, and says why
    assert result.stdout.startswith("torch auto: neither TensorRT nor ONNX Runtime is usable")
