# Everything runs inside the environment made by scripts/setup_env.sh
# (.venv with ROS 2 + torch, colcon workspace in build/ install/ log/).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
ENV := source scripts/env.sh

.PHONY: all setup test demo bench bench-e2e bench-camera bench-images clean

all: test

setup:
	bash scripts/setup_env.sh

# pytest's exit code 5 (no tests collected) fails the target like any non-zero code.
test: setup
	$(ENV) && python -m pytest test -q

demo: setup
	$(ENV) && python -m gfpose_ros.ros.demo

bench: setup
	$(ENV) && gfpose bench

bench-e2e: setup
	$(ENV) && python -m gfpose_ros.ros.bench_e2e

bench-camera: setup
	$(ENV) && python -m gfpose_ros.offline_demo --bench && python -m gfpose_ros.ros.camera_bench

# Delivered fraction of best-effort camera images between processes, with and without
# config/fastdds_large_images.xml (the profile camera.launch.py selects).
bench-images: setup
	$(ENV) && python -m gfpose_ros.ros.image_delivery_bench

clean:
	rm -rf .venv build install log .pytest_cache *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
