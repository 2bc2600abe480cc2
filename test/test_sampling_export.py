"""Samplers, the exported graph and its parity with torch, the engine cache."""

import json
import os

import numpy as np
import pytest
import torch

from gfpose_ros import backends, sampling
from gfpose_ros.export import (
    INPUT_NAMES,
    ModelFileError,
    SamplerGraph,
    example_inputs,
    export_onnx,
    load_network,
)
from gfpose_ros.lifter import default_model_path

MODEL = default_model_path()


class Interrupted(BaseException):
    """What a signal handler raises in the node (like KeyboardInterrupt: not an Exception)."""


@pytest.fixture(scope="module")
def net():
    return load_network(MODEL)


def test_time_grid_is_monotonic_and_spans_the_schedule():
    for steps in (1, 2, 4, 8, 50):
        grid = sampling.time_grid(steps)
        assert len(grid) == steps + 1 and grid[0] == 1.0 and grid[-1] == pytest.approx(1e-3)
        assert (grid[1:] < grid[:-1]).all()


@pytest.mark.parametrize("sampler, steps", [("ddim", 4), ("euler_maruyama", 20)])
def test_samplers_are_deterministic_given_the_noise(net, sampler, steps):
    graph = SamplerGraph(net, steps, sampler)
    inputs = example_inputs(6)
    first, second = graph(*inputs), graph(*inputs)
    assert torch.equal(first, second)
    other = list(inputs)
    other[-1] = torch.randn_like(inputs[-1])
    assert not torch.allclose(graph(*other), first)  # the noise really drives the result


def test_euler_maruyama_needs_noise_for_every_step():
    with pytest.raises(ValueError, match="needs noise of shape"):
        sampling.sample_euler_maruyama(lambda x, t: x, torch.zeros(5, 2, 51), steps=10)


@pytest.mark.slow
def test_short_sampler_agrees_with_the_1000_step_reference(net):
    """On real held-out views the 4-step DDIM pose is close to GFPose's 1000-step sampler."""
    from gfpose_ros.evaluation.evaluate import make_eval_set
    from gfpose_ros.camera import pixels_to_normalized

    arrays = make_eval_set(frames_per_sequence=1, occlusion_prob=0.0, seed=5)
    n = 64
    gt = arrays["poses_3d"][:n] / 1000
    gt = gt - gt[:, :1]
    xy = torch.as_tensor(
        pixels_to_normalized(arrays["keypoints_2d"][:n], arrays["intrinsics"][:n]),
        dtype=torch.float32,
    )
    mask = torch.as_tensor(arrays["confidence"][:n] > 0, dtype=torch.float32)
    noise = torch.randn(n, 51, generator=torch.Generator().manual_seed(0))
    zeros3 = torch.zeros(n, 17, 3)
    errors = {}
    for sampler, steps in (("ddim", 4), ("euler_maruyama", 1000)):
        with torch.no_grad():
            # weight_2d zero: the samplers alone, without the 2D fit between their steps
            pred = SamplerGraph(net, steps, sampler)(
                xy * mask[..., None], mask, torch.zeros(n, 17), zeros3, torch.zeros(n, 17), noise
            )
        pred = pred.numpy() - pred.numpy()[:, :1]
        errors[sampler] = np.linalg.norm(pred - gt, axis=-1).mean() * 1000
    assert errors["ddim"] < 150
    assert errors["ddim"] <= 1.05 * errors["euler_maruyama"], errors


def test_onnx_graph_matches_torch(tmp_path, net):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    path = export_onnx(MODEL, 4, str(tmp_path / "k4.onnx"))
    ort_backend = backends.OnnxRuntimeBackend(path)
    graph = SamplerGraph(net, 4)
    for batch in (1, 37):  # the batch dimension is dynamic
        inputs = example_inputs(batch)
        inputs[1][:, 3] = 0  # a masked joint
        expected = graph(*inputs).numpy()
        got = ort_backend({name: t.numpy() for name, t in zip(INPUT_NAMES, inputs)})
        assert got.shape == (batch, 17, 3)
        assert np.abs(got - expected).max() / 0.3 <= 1e-4  # normalised units (POSE_SCALE = 0.3 m)


def test_onnxruntime_sessions_do_not_spin_between_frames():
    # A node's graph calls come one per frame: spinning worker threads would only take cores
    # from DDS and the detector (onnxruntime_session.session_options).
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from gfpose_ros.onnxruntime_session import session_options

    for threads in (0, 2):
        options = session_options(threads)
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert options.intra_op_num_threads == threads


def test_corrupt_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="cannot load model"):
        load_network(str(bad))
    with pytest.raises(ModelFileError, match="not found"):
        backends.create_backend("onnxruntime", str(tmp_path / "none.pt"), 4)
    with pytest.raises(backends.BackendError, match="unknown backend"):
        backends.create_backend("openvino", MODEL, 4)


def test_auto_backend_says_why(tmp_path):
    backend, reason = backends.create_backend("auto", MODEL, 2, cache_dir=str(tmp_path))
    trt_ok, _ = backends.tensorrt_available()
    expected = "tensorrt" if trt_ok else "onnxruntime"
    assert backend.name == expected and reason.startswith("auto: ")


def test_engine_cache_rejects_corrupt_and_mismatched_files(tmp_path):
    key = backends.engine_cache_key("abc", "10.3", "Orin", (8, 7), "fp16", 1, 20, 512)
    other = dict(key, precision="fp32")
    assert backends.engine_file_name(key) != backends.engine_file_name(other)
    for field, value in (
        ("onnx_sha256", "abd"),
        ("tensorrt", "10.4"),
        ("gpu", "A100"),
        ("compute_capability", [8, 0]),
        ("batch_profile", [1, 20, 256]),
    ):
        assert backends.engine_file_name(dict(key, **{field: value})) != backends.engine_file_name(
            key
        )
    path = str(tmp_path / backends.engine_file_name(key))
    backends.write_cached_engine(path, key, b"engine-bytes")
    assert backends.read_cached_engine(path, key) == b"engine-bytes"
    assert backends.read_cached_engine(path, other) is None  # stale: built for another key
    with open(path, "r+b") as f:
        f.write(b"X")  # corrupt one byte
    assert backends.read_cached_engine(path, key) is None
    with open(path + ".json", "w") as f:
        f.write("{truncated")
    assert backends.read_cached_engine(path, key) is None
    os.remove(path + ".json")
    assert backends.read_cached_engine(path, key) is None
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(path)])  # no temporary file


def test_cache_writes_are_whole_or_absent_and_never_shared(tmp_path, monkeypatch):
    """Engines, checkpoints and reports are written through atomic_file: an exception (a
    signal's, at shutdown) in the middle keeps the old file and leaves no temporary one, and
    two writers of one path use two temporary files (two lift nodes building the same engine
    at start-up used to share ``<engine>.tmp``)."""
    from gfpose_ros.atomic_file import replaced_atomically

    path = tmp_path / "cache" / "engine"
    with replaced_atomically(str(path)) as f:
        f.write(b"old")
    assert path.read_bytes() == b"old" and (path.stat().st_mode & 0o777) == 0o644
    with pytest.raises(Interrupted):
        with replaced_atomically(str(path)) as f:
            f.write(b"half of the n")
            raise Interrupted("SIGTERM")
    assert path.read_bytes() == b"old" and os.listdir(path.parent) == ["engine"]
    with replaced_atomically(str(path)) as first, replaced_atomically(str(path)) as second:
        assert first.name != second.name
        first.write(b"first")
        second.write(b"second")
    assert path.read_bytes() == b"first" and os.listdir(path.parent) == ["engine"]
    key = backends.engine_cache_key("abc", "10.3", "Orin", (8, 7), "fp16", 1, 20, 512)
    real_replace = os.replace

    def interrupted_replace(source, target):
        if str(target).endswith(".json"):
            raise Interrupted("SIGTERM")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", interrupted_replace)
    engine = str(tmp_path / "cache" / backends.engine_file_name(key))
    with pytest.raises(Interrupted):
        backends.write_cached_engine(engine, key, b"engine-bytes")
    monkeypatch.undo()
    assert not [name for name in os.listdir(path.parent) if name.endswith(".tmp")]
    assert backends.read_cached_engine(engine, key) is None  # no metadata: rebuilt, not trusted


@pytest.mark.skipif(
    not backends.tensorrt_available()[0],
    reason=f"TensorRT backend needs tensorrt and a CUDA GPU: {backends.tensorrt_available()[1]}",
)
def test_tensorrt_matches_onnxruntime(tmp_path):
    onnx_path = backends.onnx_path_for(MODEL, 4, str(tmp_path))
    trt_backend = backends.TensorRTBackend(onnx_path, str(tmp_path), "fp32", max_batch=64)
    ort_backend = backends.OnnxRuntimeBackend(onnx_path)
    inputs = {name: t.numpy() for name, t in zip(INPUT_NAMES, example_inputs(20))}
    np.testing.assert_allclose(trt_backend(inputs), ort_backend(inputs), atol=1e-3)
    with open(trt_backend.engine_path, "r+b") as f:
        f.write(b"garbage")  # a corrupt cached engine is rebuilt, not loaded
    rebuilt = backends.TensorRTBackend(onnx_path, str(tmp_path), "fp32", max_batch=64)
    np.testing.assert_allclose(rebuilt(inputs), ort_backend(inputs), atol=1e-3)
    with open(rebuilt.engine_path + ".json") as f:
        assert json.load(f)["key"] == rebuilt.key


@pytest.fixture(scope="module")
def heldout_inputs():
    """300 held-out views (every source's val split, half with one limb occluded) x 10
    hypotheses, as one graph call's inputs, with the ground truth root-relative in metres."""
    from gfpose_ros.camera import pixels_to_normalized
    from gfpose_ros.evaluation.evaluate import make_eval_set

    arrays = make_eval_set(frames_per_sequence=2, seed=3)
    idx = np.linspace(0, len(arrays["poses_3d"]) - 1, 300).astype(int)
    gt = arrays["poses_3d"][idx] / 1000
    xy = pixels_to_normalized(arrays["keypoints_2d"][idx], arrays["intrinsics"][idx])
    mask = (arrays["confidence"][idx] > 0).astype(np.float32)
    h, n = 10, len(idx)
    inputs = {
        "xy": np.repeat(xy * mask[..., None], h, 0).astype(np.float32),
        "mask_2d": np.repeat(mask, h, 0),
        "weight_2d": np.repeat(mask, h, 0),
        "pose_3d": np.zeros((n * h, 17, 3), np.float32),
        "mask_3d": np.zeros((n * h, 17), np.float32),
        "noise": np.random.default_rng(0).standard_normal((n * h, 51)).astype(np.float32),
    }
    return inputs, gt - gt[:, :1], h


def test_fp16_graph_runs_on_the_cpu_and_agrees_with_fp32(tmp_path, heldout_inputs):
    """The fp16 graph (the one a strongly typed TensorRT engine takes) on ONNX Runtime's CPU:
    fp32 I/O, fp16 network; same inputs and noise as the fp32 graph. Measured on 3000 poses:
    0.09 mm mean and 1.2 mm worst joint apart, MPJPE equal to 0.01 mm (66.3 mm both)."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    import onnx

    inputs, gt, h = heldout_inputs
    poses, mpjpe = {}, {}
    for precision in ("fp32", "fp16"):
        path = backends.onnx_path_for(MODEL, 4, str(tmp_path), precision=precision)
        graph = onnx.load(path)
        assert {i.type.tensor_type.elem_type for i in graph.graph.input} == {1}  # fp32 in
        assert graph.graph.output[0].type.tensor_type.elem_type == 1  # and out
        weights = {t.data_type for t in graph.graph.initializer if len(t.dims) == 2}
        assert weights == ({1} if precision == "fp32" else {10})  # matrices fp32 / fp16
        poses[precision] = backends.OnnxRuntimeBackend(path)(inputs)
        mean = poses[precision].reshape(-1, h, 17, 3).mean(1)
        mpjpe[precision] = np.linalg.norm(mean - mean[:, :1] - gt, axis=-1).mean() * 1000
    apart = np.linalg.norm(poses["fp16"] - poses["fp32"], axis=-1) * 1000  # mm per joint
    assert apart.mean() < 0.5 and apart.max() < 5.0, (apart.mean(), apart.max())
    assert abs(mpjpe["fp16"] - mpjpe["fp32"]) < 1.0, mpjpe
    assert mpjpe["fp32"] < 100, mpjpe  # the held-out protocol's level, not a broken graph


def test_int8_graph_agrees_with_fp32_on_held_out_views(tmp_path, heldout_inputs):
    """The int8 graph (ONNX Runtime's default on a CPU): every layer of the network quantised,
    the 2D fit and the schedule untouched, fp32 I/O, its own cache file. Same inputs and noise
    as the fp32 graph."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    import onnx

    inputs, gt, h = heldout_inputs
    poses, mpjpe, paths = {}, {}, {}
    for precision in ("fp32", "int8"):
        paths[precision] = backends.onnx_path_for(MODEL, 4, str(tmp_path), precision=precision)
        graph = onnx.load(paths[precision])
        ops = {n.op_type for n in graph.graph.node}
        assert {i.type.tensor_type.elem_type for i in graph.graph.input} == {1}  # fp32 in
        assert ("MatMulInteger" in ops, "Gemm" in ops) == (
            (True, False) if precision == "int8" else (False, True)
        )
        poses[precision] = backends.OnnxRuntimeBackend(paths[precision])(inputs)
        mean = poses[precision].reshape(-1, h, 17, 3).mean(1)
        mpjpe[precision] = np.linalg.norm(mean - mean[:, :1] - gt, axis=-1).mean() * 1000
    assert paths["int8"] != paths["fp32"]
    apart = np.linalg.norm(poses["int8"] - poses["fp32"], axis=-1) * 1000  # mm per joint
    # Measured: 10.2 mm mean, 31.8 mm 99th percentile apart; MPJPE 64.3 and 65.8 mm.
    assert apart.mean() < 15.0 and np.percentile(apart, 99) < 45.0, (apart.mean(), apart.max())
    assert abs(mpjpe["int8"] - mpjpe["fp32"]) < 2.5, mpjpe
    assert mpjpe["int8"] < 100, mpjpe


def test_fp16_tracking_graph_agrees_with_fp32(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from gfpose_ros.export import WARM_INPUT_NAMES

    inputs = {n: t.numpy() for n, t in zip(WARM_INPUT_NAMES, example_inputs(64, warm=True))}
    got = {
        p: backends.OnnxRuntimeBackend(
            backends.onnx_path_for(MODEL, 2, str(tmp_path), t_start=0.2, precision=p)
        )(inputs)
        for p in ("fp32", "fp16")
    }
    apart = np.linalg.norm(got["fp16"] - got["fp32"], axis=-1) * 1000
    assert apart.mean() < 0.5 and apart.max() < 5.0, (apart.mean(), apart.max())


def test_half_network_keeps_the_schedule_in_fp32(net):
    from gfpose_ros.export import HalfPrecisionNet

    half = HalfPrecisionNet(net)
    x, t = torch.randn(4, 51), torch.full((4,), 0.5)
    condition = torch.randn(4, net.condition_in[0].in_features)
    out = half.denoise(x, t, half.embed_condition(condition))
    assert out.dtype == torch.float32 and half.net.pose_in.weight.dtype == torch.float16
    norms = [m for m in half.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(m.weight.dtype == torch.float32 for m in norms)
    assert next(net.parameters()).dtype == torch.float32  # the original is left as it was


@pytest.mark.parametrize("when", ["graph check", "shape inference", "quantised copy"])
def test_an_interrupted_int8_export_leaves_nothing_behind(tmp_path, monkeypatch, net, when):
    """A signal can land in any step of the export, including inside onnxruntime's quantiser,
    whose shape-inferred copy (``*-inferred.tmp``) it never removes if interrupted: CI once found
    one left in the engine cache. Whatever the step, the folder ends as it began."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    import onnx

    real_load = onnx.load
    loads = {"graph check": 1, "shape inference": 2, "quantised copy": 3}[when]
    seen = []

    def interrupting_load(path, *args, **kwargs):
        seen.append(str(path))
        if len(seen) == loads:
            raise Interrupted(str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(onnx, "load", interrupting_load)
    out = tmp_path / "cache" / "graph.onnx"
    with pytest.raises(Interrupted):
        export_onnx(MODEL, 2, str(out), precision="int8", net=net)
    assert os.listdir(tmp_path / "cache") == [], seen
