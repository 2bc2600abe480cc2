"""The gfpose command: one-line errors and non-zero exits on bad input; training resumes."""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gfpose(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "gfpose_ros.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _valid_arrays(n=4):
    rng = np.random.default_rng(0)
    return {
        "poses_3d": rng.normal(0, 300, (n, 17, 3)) + [0, 0, 4000],
        "keypoints_2d": rng.uniform(0, 640, (n, 17, 2)),
        "intrinsics": np.array([[600, 0, 320], [0, 600, 240], [0, 0, 1.0]]),
    }


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda a: a.pop("intrinsics"), "lacks the array 'intrinsics'"),
        (lambda a: a.update(poses_3d=a["poses_3d"][:, :16]), "poses_3d must be (N, 17, 3)"),
        (lambda a: a.update(keypoints_2d=a["keypoints_2d"][:2]), "keypoints_2d must be"),
        (lambda a: a["poses_3d"].__setitem__((0, 0, 0), np.nan), "NaN"),
        (lambda a: a.update(confidence=np.ones((4, 3))), "confidence must be"),
    ],
)
def test_eval_rejects_bad_files_with_one_line(tmp_path, run_gfpose, mutate, message):
    arrays = _valid_arrays()
    mutate(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    result = run_gfpose("eval", "--data", str(path), "--out", str(tmp_path / "out.json"))
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_commands_reject_missing_and_corrupt_files(tmp_path):
    """In real processes: the exit status and stderr a shell sees."""
    bad_model = tmp_path / "model.pt"
    bad_model.write_bytes(b"\x00" * 100)
    for args, message in (
        (("eval", "--data", str(tmp_path / "nope.npz")), "cannot read"),
        (
            ("export", "--model", str(bad_model), "--out", str(tmp_path / "x.onnx")),
            "cannot load model",
        ),
        (("bench", "--model", str(tmp_path / "none.pt"), "--frames", "2"), "not found"),
    ):
        result = gfpose(*args)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
    result = gfpose("eval", "--data", "x.npz", "--steps", "0")
    assert result.returncode == 2 and "values must be >= 1" in result.stderr


def test_eval_on_a_valid_file_writes_json(tmp_path, run_gfpose):
    path = tmp_path / "ok.npz"
    np.savez(
        path, **_valid_arrays(), confidence=np.ones((4, 17)), group=np.array(["a", "a", "b", "b"])
    )
    out = tmp_path / "eval.json"
    result = run_gfpose(
        "eval", "--data", str(path), "--steps", "1,2", "--hypotheses", "1,3", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    import json

    runs = json.loads(out.read_text())["runs"]
    assert [(r["steps"], r["hypotheses"]) for r in runs] == [(1, 1), (1, 3), (2, 1), (2, 3)]
    assert set(runs[0]["groups"]) == {"a", "b"}


def tiny_training_config(out_dir, **changes):
    """A training run of seconds: a 32-wide network on CMU everyday, batches of 32."""
    everyday = os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "data", "mocap", "cmu_everyday_17j_mm.npz"
    )
    config = {
        "data": {"sources": [{"name": "everyday", "path": everyday, "held_out": ["cmu_14_3*"]}]},
        "out_dir": str(out_dir),
        "model": {"hidden": 32, "blocks": 1},
        "batch_size": 32,
        "total_steps": 4,
        "checkpoint_every": 2,
        "validate_every": 2,
        "validation_samples": 16,
        "threads": 1,
    }
    return dict(config, **changes)


def test_training_is_deterministic_and_resumes(tmp_path):
    from gfpose_ros.training.train import load_config, train
    import torch

    config = tiny_training_config(tmp_path / "a")
    train(load_config(None, config))
    train(load_config(None, dict(config, total_steps=6)))  # continues from step 4
    state = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    assert state["step"] == 6
    train(
        load_config(None, dict(config, out_dir=str(tmp_path / "b"), total_steps=6))
    )  # straight through
    straight = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    for name, value in state["model"].items():
        torch.testing.assert_close(value, straight["model"][name])
    log = (tmp_path / "a" / "log.jsonl").read_text().splitlines()
    assert len(log) == 3 and "val_mpjpe_mm" in log[-1]


def test_training_with_loader_workers_stops_after_its_time_and_resumes(tmp_path):
    """The GPU recipe's two switches on a CPU: batches augmented by worker processes, and a
    time-boxed run that checkpoints when its time is up and continues on the next call."""
    from gfpose_ros.training.train import ConfigError, load_config, train
    import torch

    config = tiny_training_config(
        tmp_path / "w",
        total_steps=1000,
        checkpoint_every=1000,
        validate_every=1000,
        loader_workers=2,
    )
    train(load_config(None, config), stop_after=0.0)  # stops after its first step
    first = torch.load(tmp_path / "w" / "last.pt", weights_only=False)
    assert first["step"] == 1 and (tmp_path / "w" / "ema.pt").exists()
    train(load_config(None, dict(config, total_steps=5)))  # resumes and finishes
    assert torch.load(tmp_path / "w" / "last.pt", weights_only=False)["step"] == 5
    with pytest.raises(ConfigError, match="loader_workers must be an integer >= 0"):
        load_config(None, dict(config, loader_workers=-1))
