"""scripts/gpu_check.sh on a machine without CUDA: it refuses cleanly (one line, exit 2)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_check_refuses_without_cuda(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), GFPOSE_PYTHON=sys.executable)
    env["CUDA_VISIBLE_DEVICES"] = ""  # no GPU, even on a machine that has one
    run = subprocess.run(
        ["bash", os.path.join(ROOT, "scripts", "gpu_check.sh")],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no CUDA GPU"), run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert not os.listdir(tmp_path)  # no JSON without a GPU
