"""Graph identity: which graphs a lifter loads (graphs_for), their versioned cache keys, and
`gfpose build-engine` exporting every one of them when TensorRT is absent. ROS-free."""

import os

import pytest

import gfpose_ros
from gfpose_ros import backends, export
from gfpose_ros.export import GraphSpec, graph_file_name, graphs_for

MODEL = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models", "gfpose_mlp512.pt")
HASH = "0123456789abcdef" * 4

pytest.importorskip("onnx", reason="the export needs onnx")


def test_graphs_for_lists_the_cold_and_the_tracking_graph():
    assert graphs_for(4) == [GraphSpec(4, "ddim", None, "fp32"), GraphSpec(2, "ddim", 0.2, "fp32")]
    assert graphs_for(4, warm_starts=False) == [GraphSpec(4)]
    specs = graphs_for(8, warm_steps=3, warm_t_start=0.3, precision="fp16")
    assert specs == [GraphSpec(8, precision="fp16"), GraphSpec(3, "ddim", 0.3, "fp16")]
    assert specs[0].input_names == export.INPUT_NAMES
    assert specs[1].input_names == export.WARM_INPUT_NAMES
    assert graphs_for(50, "euler_maruyama", warm_starts=False) == [GraphSpec(50, "euler_maruyama")]
    with pytest.raises(ValueError, match="warm starts need the ddim sampler"):
        graphs_for(50, "euler_maruyama")  # the lifter refuses warm starts without ddim too
    assert GraphSpec(4, precision="int8").describe().endswith("int8")
    with pytest.raises(ValueError, match="unknown precision"):
        GraphSpec(4, precision="int4")


def test_each_backend_loads_the_graph_of_its_precision(monkeypatch):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert backends.graph_precision("onnxruntime", "fp16") == "int8"  # the default on a CPU
    assert backends.graph_precision("onnxruntime", "fp16", "fp32") == "fp32"
    assert backends.graph_precision("tensorrt", "fp16", "int8") == "fp16"  # TensorRT's own
    assert backends.graph_precision("torch", "fp16") == "fp32"
    # ONNX Runtime's CUDA provider runs the fp32 graph, whatever the CPU's default.
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider"])
    assert backends.graph_precision("onnxruntime", "fp16", "int8") == "fp32"
    with pytest.raises(backends.BackendError, match="onnxruntime_precision"):
        backends.create_backend("onnxruntime", MODEL, 2, onnxruntime_precision="int4")


def test_cache_key_changes_with_every_version_it_holds(monkeypatch):
    spec = GraphSpec(4)
    base = graph_file_name(HASH, spec)
    assert base.endswith("_ddim_k4.onnx") and base == graph_file_name(HASH, GraphSpec(4))
    assert graph_file_name(HASH, GraphSpec(2, t_start=0.4)).endswith("_ddim_k2_warm0.4.onnx")
    names = {base, graph_file_name(HASH, GraphSpec(4, precision="fp16"))}
    names.add(graph_file_name(HASH, GraphSpec(4, precision="int8")))
    names.add(graph_file_name("f" * 64, spec))  # another model file
    for module, attribute, value in (
        (gfpose_ros, "__version__", "99.0.0"),
        (export, "EXPORT_VERSION", export.EXPORT_VERSION + 1),
        (export, "OPSET", export.OPSET + 1),
    ):
        with monkeypatch.context() as patch:
            patch.setattr(module, attribute, value)
            names.add(graph_file_name(HASH, spec))
    assert len(names) == 7, names


def test_cached_graph_is_reused_and_a_version_bump_exports_again(tmp_path, monkeypatch):
    first = backends.onnx_path_for(MODEL, 2, str(tmp_path))
    mtime = os.stat(first).st_mtime_ns
    exported = []

    def fake_export(model_path, steps, out_path, *args, **kwargs):
        exported.append(out_path)
        with open(out_path, "wb") as f:
            f.write(b"graph")
        return out_path

    monkeypatch.setattr(export, "export_onnx", fake_export)
    assert backends.onnx_path_for(MODEL, 2, str(tmp_path)) == first  # nothing changed: reused
    assert exported == [] and os.stat(first).st_mtime_ns == mtime
    for module, attribute, value in (
        (gfpose_ros, "__version__", "99.0.0"),
        (export, "EXPORT_VERSION", export.EXPORT_VERSION + 1),
        (export, "OPSET", 18),
    ):
        with monkeypatch.context() as patch:
            patch.setattr(module, attribute, value)
            bumped = backends.onnx_path_for(MODEL, 2, str(tmp_path))
        assert bumped != first and exported[-1] == bumped
    fp16 = backends.onnx_path_for(MODEL, 2, str(tmp_path), precision="fp16")
    assert fp16 != first and exported[-1] == fp16
    assert len(exported) == 4


def test_create_backend_loads_the_model_once(tmp_path, monkeypatch):
    loads = []
    real = export.load_network

    def counting(path, *args, **kwargs):
        loads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(export, "load_network", counting)
    monkeypatch.setattr(backends, "load_network", counting)
    for kind in ("onnxruntime", "torch"):
        loads.clear()
        backends.create_backend(kind, MODEL, 2, cache_dir=str(tmp_path), t_start=0.2)
        assert loads == [MODEL], kind  # the onnxruntime run exported the graph with it too


def test_build_engine_without_tensorrt_exports_every_graph(tmp_path, monkeypatch, capsys):
    from gfpose_ros import cli

    monkeypatch.setattr(backends, "tensorrt_available", lambda: (False, "no tensorrt here"))
    cache = str(tmp_path / "cache")
    argv = ["build-engine", "--model", MODEL, "--cache-dir", cache, "--steps", "3"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    specs = graphs_for(3)  # the lifter's defaults: warm_steps 2, warm_t_start 0.2
    assert len(specs) == 2
    graph_lines = [line for line in out if line.startswith("onnx graph")]
    assert len(graph_lines) == 2 and all("exported" in line for line in graph_lines)
    assert any("TensorRT engines need TensorRT" in line for line in out)
    paths = [line.rsplit(": ", 1)[1] for line in graph_lines]
    assert all(os.path.exists(p) and os.path.dirname(p) == cache for p in paths)

    def no_export(*args, **kwargs):
        raise AssertionError("the graph should have come from the cache")

    monkeypatch.setattr(export, "export_onnx", no_export)
    for spec, path in zip(specs, paths):
        backend, reason = backends.create_backend(
            "onnxruntime",
            MODEL,
            spec.steps,
            cache_dir=cache,
            sampler=spec.sampler,
            t_start=spec.t_start,
        )
        assert reason == "requested" and backend.input_names == spec.input_names
    assert cli.main(argv) == 0  # a second run finds them too
    assert "already cached" in capsys.readouterr().out

    assert cli.main(argv + ["--no-warm-starts"]) == 0
    assert len([x for x in capsys.readouterr().out.splitlines() if "onnx graph" in x]) == 1


def test_build_engine_refuses_an_explicit_tensorrt_without_it(tmp_path, monkeypatch, capsys):
    from gfpose_ros import cli

    monkeypatch.setattr(backends, "tensorrt_available", lambda: (False, "no tensorrt here"))
    argv = ["build-engine", "--model", MODEL, "--cache-dir", str(tmp_path), "--backend"]
    assert cli.main(argv + ["tensorrt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gfpose build-engine: error: cannot build a TensorRT engine: no tensorrt here"]
    assert not os.listdir(tmp_path)
