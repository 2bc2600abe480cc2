"""The TensorRT path without a GPU: the version-dependent build plan (10.x strongly typed by
flag, 11.x always), no name NVIDIA's 11.x Python API removed, engine builds against a fake
`tensorrt` module, and `auto` surviving a TensorRT that breaks at configure."""

import ast
import logging
import os
import sys
import types

import pytest

from gfpose_ros import backends

MODEL = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models", "gfpose_mlp512.pt")

# "Migrating from TensorRT 10.x to 11.x", Removed Python APIs (weak typing, implicit
# quantization, v1 device-memory queries) and the removed tactic sources / creation flag.
REMOVED_IN_11 = {
    "FP16",  # BuilderFlag.*
    "BF16",
    "INT8",
    "FP8",
    "INT4",
    "FP4",
    "OBEY_PRECISION_CONSTRAINTS",
    "PREFER_PRECISION_CONSTRAINTS",
    "DIRECT_IO",
    "int8_calibrator",  # IBuilderConfig.*
    "set_calibration_profile",
    "get_calibration_profile",
    "set_quantization_flag",
    "get_quantization_flag",
    "quantization_flags",
    "clear_quantization_flag",
    "device_memory_size",  # ICudaEngine.* (replaced by the _v2 forms)
    "device_memory_size_for_profile",
    "platform_has_fast_fp16",  # Builder.*
    "platform_has_fast_int8",
    "set_output_type",  # per-layer precision (weak typing)
    "reset_output_type",
    "reset_precision",
    "algorithm_selector",  # IAlgorithmSelector: use the editable timing cache
    "EXPLICIT_BATCH",  # NetworkDefinitionCreationFlag: every network is explicit batch
    "CUBLAS",  # TacticSource
    "CUBLAS_LT",
    "CUDNN",
}


def names_used(source):
    """Attribute names and string constants the code uses (docstrings and comments aside):
    build_engine reaches flags by name with getattr, so strings count too."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                names.update(node.value.replace(".", " ").split())
    return names


def test_build_plan_for_tensorrt_10_and_11():
    ten = backends.tensorrt_build_plan("10.3.0", "fp16")
    assert ten.network_flags == ("STRONGLY_TYPED",) and ten.builder_flags == ()
    assert ten.graph_precision == "fp16" and ten.io_binding == "tensor_name"
    eleven = backends.tensorrt_build_plan("11.4.0.11", "fp16")
    assert eleven.network_flags == () and eleven.builder_flags == ()  # always strongly typed
    assert backends.tensorrt_build_plan("11.0", "fp32").graph_precision == "fp32"
    assert backends.tensorrt_build_plan("10.0.1.6", "fp32").network_flags == ("STRONGLY_TYPED",)
    for version in ("10.3.0", "11.4.0", "12.0"):
        for precision in backends.PRECISIONS:
            plan = backends.tensorrt_build_plan(version, precision)
            assert not set(plan.network_flags + plan.builder_flags) & REMOVED_IN_11


@pytest.mark.parametrize("version", ["8.6.1", "9.3.0", "7.2"])
def test_too_old_tensorrt_is_one_clear_line(version):
    with pytest.raises(backends.BackendError, match="too old") as info:
        backends.tensorrt_build_plan(version, "fp16")
    assert "\n" not in str(info.value) and version in str(info.value)
    with pytest.raises(backends.BackendError, match="unknown precision"):
        backends.tensorrt_build_plan("10.3.0", "int8")


def test_the_scan_finds_a_removed_name():
    assert "FP16" in names_used("config.set_flag(trt.BuilderFlag.FP16)")
    assert "FP16" in names_used("getattr(trt.BuilderFlag, 'FP16')")
    assert "FP16" not in names_used('def f():\n    """BuilderFlag.FP16 is gone."""\n')


def test_backends_use_no_name_tensorrt_11_removed():
    with open(backends.__file__) as f:
        used = names_used(f.read())
    assert not used & REMOVED_IN_11, sorted(used & REMOVED_IN_11)


def fake_tensorrt(version, removed_weak_typing):
    """A `tensorrt` module with just what build_engine calls; it records what was set."""
    calls = {"create_network": [], "set_flag": [], "profiles": {}}
    flag_names = ["TF32", "REFIT"] + ([] if removed_weak_typing else ["FP16", "BF16", "INT8"])
    creation = ["STRONGLY_TYPED"] + ([] if removed_weak_typing else ["EXPLICIT_BATCH"])

    class Tensor:
        def __init__(self, name, shape):
            self.name, self.shape = name, shape

    class Network:
        inputs = [Tensor("xy", (-1, 17, 2)), Tensor("noise", (-1, 51))]
        num_inputs = len(inputs)

        def get_input(self, i):
            return self.inputs[i]

    class Profile:
        def set_shape(self, name, lo, opt, hi):
            calls["profiles"][name] = (lo, opt, hi)

    class Config:
        def set_flag(self, flag):
            calls["set_flag"].append(flag)

        def add_optimization_profile(self, profile):
            pass

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags=0):
            calls["create_network"].append(flags)
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            return b"plan"

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger):
            pass

        def parse(self, blob):
            return True

    module = types.ModuleType("tensorrt")
    module.__version__ = version
    module.Builder, module.OnnxParser = Builder, OnnxParser
    module.BuilderFlag = types.SimpleNamespace(**{n: i for i, n in enumerate(flag_names)})
    module.NetworkDefinitionCreationFlag = types.SimpleNamespace(
        **{n: i for i, n in enumerate(creation)}
    )
    return module, calls


@pytest.mark.parametrize(
    "version, removed, flags", [("10.3.0", False, 1 << 0), ("11.4.0.11", True, 0)]
)
@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_build_engine_sets_the_flags_of_its_version(
    tmp_path, monkeypatch, version, removed, flags, precision
):
    module, calls = fake_tensorrt(version, removed)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    graph = tmp_path / "g.onnx"
    graph.write_bytes(b"onnx")
    assert backends.build_engine(str(graph), precision, (1, 20, 512), None) == b"plan"
    assert calls["create_network"] == [flags]  # 10.x: STRONGLY_TYPED; 11.x: none needed
    assert calls["set_flag"] == []  # no precision flag: the graph holds the precision
    assert calls["profiles"] == {
        "xy": ((1, 17, 2), (20, 17, 2), (512, 17, 2)),
        "noise": ((1, 51), (20, 51), (512, 51)),
    }


def test_auto_survives_a_failing_engine_build(tmp_path, monkeypatch, caplog):
    class BrokenTensorRT:
        def __init__(self, *args, **kwargs):
            raise AttributeError("type object 'tensorrt.BuilderFlag' has no attribute 'FP16'")

    monkeypatch.setattr(backends, "tensorrt_available", lambda: (True, "pretend TensorRT"))
    monkeypatch.setattr(backends, "TensorRTBackend", BrokenTensorRT)
    with caplog.at_level(logging.WARNING, logger="gfpose_ros.backends"):
        backend, reason = backends.create_backend("auto", MODEL, 2, cache_dir=str(tmp_path))
    assert backend.name == "onnxruntime"
    assert reason.startswith("auto: onnxruntime is installed; tensorrt failed (AttributeError")
    assert "no attribute 'FP16'" in reason and "\n" not in reason
    assert any("tensorrt failed" in r.getMessage() for r in caplog.records)
    with pytest.raises(AttributeError):  # an explicit request is not silently replaced
        backends.create_backend("tensorrt", MODEL, 2, cache_dir=str(tmp_path))


def test_auto_falls_back_from_a_too_old_tensorrt(tmp_path, monkeypatch):
    module, _ = fake_tensorrt("8.6.1", removed_weak_typing=False)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(backends, "tensorrt_available", lambda: (True, "pretend TensorRT"))
    backend, reason = backends.create_backend("auto", MODEL, 2, cache_dir=str(tmp_path))
    assert backend.name == "onnxruntime" and "TensorRT 8.6.1 is too old" in reason


def test_auto_falls_back_to_torch_when_every_graph_backend_breaks(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("session failed")

    monkeypatch.setattr(backends, "tensorrt_available", lambda: (True, "pretend TensorRT"))
    monkeypatch.setattr(backends, "TensorRTBackend", broken)
    monkeypatch.setattr(backends, "OnnxRuntimeBackend", broken)
    backend, reason = backends.create_backend("auto", MODEL, 2, cache_dir=str(tmp_path))
    assert backend.name == "torch"
    assert reason.startswith("auto: neither TensorRT nor ONNX Runtime is usable (tensorrt failed")
    assert "onnxruntime failed (RuntimeError: session failed)" in reason
