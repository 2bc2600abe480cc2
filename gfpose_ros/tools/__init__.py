"""Demos, benchmarks, the GPU check and the ROS test client: programs built on the core and the
nodes, never imported by them."""
