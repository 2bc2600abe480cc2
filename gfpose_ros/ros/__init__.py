"""The ROS 2 layer: nodes, message conversion, markers, diagnostics (everything that imports
rclpy)."""
