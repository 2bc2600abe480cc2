#!/usr/bin/env bash
# The prepared GPU check (issue 19): the torch CUDA tests, CUDA-graph sampler latency against
# ONNX Runtime's CPU graph, fp16-vs-fp32 agreement on the GPU and a bf16 training-throughput
# probe, in under 4 minutes, into one JSON: $OUT/gpu_check.json if $OUT is set, else
# outputs/gpu_check.json. ROS-free (the core under gfpose_ros/ only). Without CUDA it refuses
# with one line and exit status 2.
#   bash scripts/gpu_check.sh                       # python3 on PATH (torch with CUDA)
#   GFPOSE_PYTHON=.venv/bin/python bash scripts/gpu_check.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec "${GFPOSE_PYTHON:-python3}" -m gfpose_ros.tools.gpu_check "$@"
