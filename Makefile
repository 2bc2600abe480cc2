# Everything runs inside the environment made by scripts/setup_env.sh
# (.venv with ROS 2 + torch, colcon workspace in build/ install/ log/).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
ENV := source scripts/env.sh

.PHONY: all setup lint test test-fast demo bench bench-e2e bench-camera bench-images clean

all: test

setup:
	bash scripts/setup_env.sh

# ROS 2's flake8 conventions (line length 99) with ruff: ruff.toml.
lint: setup
	$(ENV) && ruff check . && ruff format --check .

# pytest's exit code 5 (no tests collected) fails the target like any non-zero code.
# Everything: the ROS-free layer and the tests that start DDS participants and node processes.
test: lint
	$(ENV) && python -m pytest test -q

# The ROS-free layer (core, config, evaluation, tracking, depth, export) without the slow tests:
# the fast loop while developing (about a minute).
test-fast: setup
	$(ENV) && python -m pytest test -q -m "not ros and not slow"

demo: setup
	$(ENV) && python -m gfpose_ros.tools.demo

bench: setup
	$(ENV) && gfpose bench

bench-e2e: setup
	$(ENV) && python -m gfpose_ros.tools.bench_e2e

bench-camera: setup
	$(ENV) && python -m gfpose_ros.tools.offline_demo --bench && python -m gfpose_ros.tools.camera_bench

# Delivered fraction of best-effort camera images between processes: Fast DDS defaults,
# config/fastdds_shm_images.xml (camera.launch.py's default) and fastdds_large_images.xml
# (LARGE_DATA, opt-in).
bench-images: setup
	$(ENV) && python -m gfpose_ros.tools.image_delivery_bench

clean:
	rm -rf .venv build install log .pytest_cache *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
