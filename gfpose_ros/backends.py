"""Backends that run the sampler graph, behind one call: ``backend(inputs) -> poses``.

``inputs`` is a dict of float32 numpy arrays named as in ``export.INPUT_NAMES`` (the tracking
graph's: ``export.WARM_INPUT_NAMES``); the result is (B, 17, 3) root-relative metres.
``create_backend`` picks one and says why.

- torch: the reference; eager on CPU, CUDA graphs on a GPU.
- onnxruntime: the exported graph; CUDA provider where onnxruntime-gpu is installed, else CPU,
  where it runs the int8 graph by default (``onnxruntime_precision``).
- tensorrt: a strongly typed engine built from the exported graph of the requested precision
  (TensorRT 10.x with the STRONGLY_TYPED flag, 11.x where every network is strongly typed),
  cached like Isaac ROS's TensorRT node.

``precision`` is TensorRT's: the fp16 graph holds the network in fp16 (export.HalfPrecisionNet).
``onnxruntime_precision`` is ONNX Runtime's on a CPU: int8 (export.quantize_int8) or fp32. Torch
runs fp32.
"""

import dataclasses
import json
import logging
import os

import numpy as np
import torch

from .atomic_file import replaced_atomically
from .settings import (  # noqa: F401  (BACKENDS, PRECISIONS: part of this module's API)
    BACKENDS,
    ONNXRUNTIME_PRECISIONS,
    PRECISIONS,
)

from .export import (  # noqa: F401  (export_onnx, ModelFileError: part of this module's API)
    INPUT_NAMES,
    OUTPUT_NAME,
    WARM_INPUT_NAMES,
    GraphSpec,
    ModelFileError,
    export_onnx,
    file_hash,
    graph_path,
    load_network,
    make_graph,
)

log = logging.getLogger("gfpose_ros.backends")


class BackendError(RuntimeError):
    pass


def default_cache_dir():
    return os.path.join(
        os.environ.get("ROS_HOME", os.path.join(os.path.expanduser("~"), ".ros")), "gfpose_ros"
    )


class TorchBackend:
    name = "torch"

    def __init__(
        self,
        model_path,
        steps,
        sampler="ddim",
        device=None,
        t_start=None,
        net=None,
        precision="fp32",
    ):
        """``net``: the network of ``model_path`` if already loaded; ``precision`` fp16 runs it
        as the fp16 graph does (export.HalfPrecisionNet; meant for a GPU)."""
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.precision = precision
        if net is None:
            net = load_network(model_path)
        self.graph = make_graph(net, steps, sampler, t_start, precision).to(self.device)
        self.input_names = self.graph.input_names
        self._cuda_graphs = {}  # batch size -> (graph, static inputs, static output)

    @torch.inference_mode()
    def __call__(self, inputs):
        tensors = [
            torch.from_numpy(np.ascontiguousarray(inputs[n], dtype=np.float32)).to(self.device)
            for n in self.input_names
        ]
        if self.device.type != "cuda":
            return self.graph(*tensors).numpy()
        batch = tensors[0].shape[0]
        if batch not in self._cuda_graphs:
            static = [t.clone() for t in tensors]
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):  # warm up outside the capture, as CUDA graphs require
                    self.graph(*static)
            torch.cuda.current_stream().wait_stream(stream)
            cuda_graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(cuda_graph):
                output = self.graph(*static)
            self._cuda_graphs[batch] = (cuda_graph, static, output)
        cuda_graph, static, output = self._cuda_graphs[batch]
        for s, t in zip(static, tensors):
            s.copy_(t)
        cuda_graph.replay()
        return output.cpu().numpy()


def onnx_path_for(
    model_path, steps, cache_dir, sampler="ddim", t_start=None, precision="fp32", net=None
):
    """Export the K-step graph once per cache key (export.graph_file_name: model content,
    package and export versions, opset, precision, sampler, steps); later calls reuse it.

    ``t_start`` names the tracking graph (warm starts from t_start), cached beside the cold one;
    ``net`` is the loaded network of ``model_path``, to skip loading it again."""
    return graph_path(model_path, GraphSpec(steps, sampler, t_start, precision), cache_dir, net)[0]


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, onnx_path, threads=0, precision="fp32"):
        """``precision``: the graph's at ``onnx_path`` (export.GraphSpec.precision), for the
        record (diagnostics, benchmarks)."""
        import onnxruntime as ort

        from .onnxruntime_session import session_options

        options = session_options(threads)
        available = ort.get_available_providers()
        providers = [
            p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
        ]
        try:
            self.session = ort.InferenceSession(onnx_path, options, providers=providers)
        except Exception as exc:
            raise BackendError(
                f"ONNX Runtime cannot load {onnx_path}: {str(exc).splitlines()[0][:200]}"
            ) from None
        self.providers = self.session.get_providers()
        self.precision = precision
        self.input_names = tuple(i.name for i in self.session.get_inputs())

    def __call__(self, inputs):
        feed = {n: np.ascontiguousarray(inputs[n], dtype=np.float32) for n in self.input_names}
        return self.session.run(None, feed)[0]


def engine_cache_key(
    onnx_hash,
    trt_version,
    gpu_name,
    compute_capability,
    precision,
    min_batch,
    opt_batch,
    max_batch,
):
    """Everything an engine depends on; any difference means a different engine file."""
    return {
        "onnx_sha256": onnx_hash,
        "tensorrt": trt_version,
        "gpu": gpu_name,
        "compute_capability": list(compute_capability),
        "precision": precision,
        "batch_profile": [min_batch, opt_batch, max_batch],
    }


def engine_file_name(key):
    import hashlib

    return (
        "engine_"
        + hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        + ".plan"
    )


def read_cached_engine(path, key):
    """The engine bytes if ``path`` holds an engine written for exactly ``key``, else None.

    The engine file carries its key in a JSON sidecar and its own SHA-256 there, so a
    truncated, corrupt or mismatched file is detected before TensorRT ever sees it.
    """
    meta_path = path + ".json"
    if not (os.path.exists(path) and os.path.exists(meta_path)):
        return None
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        with open(path, "rb") as f:
            blob = f.read()
    except (OSError, ValueError) as exc:
        log.warning("engine cache entry %s unreadable (%s); rebuilding", path, exc)
        return None
    import hashlib

    if meta.get("key") != key:
        log.warning("engine %s was built for %s, not %s; rebuilding", path, meta.get("key"), key)
        return None
    if meta.get("sha256") != hashlib.sha256(blob).hexdigest():
        log.warning("engine %s is corrupt (checksum mismatch); rebuilding", path)
        return None
    return blob


def write_cached_engine(path, key, blob):
    import hashlib

    for target, content, mode in (
        (path, blob, "wb"),
        (
            path + ".json",
            json.dumps({"key": key, "sha256": hashlib.sha256(blob).hexdigest()}),
            "w",
        ),
    ):
        with replaced_atomically(target, mode) as f:
            f.write(content)


class TensorRTBackend:
    """TensorRT engine over the exported graph, with the official Python API and torch CUDA
    buffers."""

    name = "tensorrt"

    def __init__(
        self,
        onnx_path,
        cache_dir,
        precision="fp16",
        max_batch=512,
        opt_batch=20,
        force_rebuild=False,
        input_names=INPUT_NAMES,
    ):
        import tensorrt as trt

        self.input_names = input_names
        self.precision = precision
        self.plan = tensorrt_build_plan(trt.__version__, precision)  # too old: one clear line
        if not torch.cuda.is_available():
            raise BackendError("TensorRT needs a CUDA GPU and none is visible")
        self.trt = trt
        self.logger = trt.Logger(trt.Logger.WARNING)
        props = torch.cuda.get_device_properties(0)
        self.key = engine_cache_key(
            file_hash(onnx_path),
            trt.__version__,
            props.name,
            (props.major, props.minor),
            precision,
            1,
            min(opt_batch, max_batch),
            max_batch,
        )
        self.engine_path = os.path.join(cache_dir, engine_file_name(self.key))
        blob = None if force_rebuild else read_cached_engine(self.engine_path, self.key)
        engine = self._deserialize(blob) if blob else None
        if engine is None:
            log.info(
                "building TensorRT %s engine for batch 1..%d (this takes a while once)",
                precision,
                max_batch,
            )
            blob = build_engine(onnx_path, precision, self.key["batch_profile"], self.logger)
            write_cached_engine(self.engine_path, self.key, blob)
            engine = self._deserialize(blob)
            if engine is None:
                raise BackendError("TensorRT could not deserialize the engine it just built")
        self.engine = engine
        self.context = engine.create_execution_context()
        self.max_batch = max_batch

    def _deserialize(self, blob):
        runtime = self.trt.Runtime(self.logger)
        engine = runtime.deserialize_cuda_engine(blob)
        if engine is None:
            log.warning("cached engine %s failed to load; rebuilding", self.engine_path)
        return engine

    def __call__(self, inputs):
        batch = inputs["xy"].shape[0]
        if batch > self.max_batch:
            raise BackendError(f"batch {batch} exceeds the engine's maximum {self.max_batch}")
        stream = torch.cuda.current_stream()
        buffers = {}
        for name in self.input_names:
            buffers[name] = torch.from_numpy(
                np.ascontiguousarray(inputs[name], dtype=np.float32)
            ).cuda()
            self.context.set_input_shape(name, tuple(buffers[name].shape))
        output = torch.empty((batch, 17, 3), dtype=torch.float32, device="cuda")
        for name, tensor in list(buffers.items()) + [(OUTPUT_NAME, output)]:
            self.context.set_tensor_address(name, tensor.data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise BackendError("TensorRT execution failed")
        stream.synchronize()
        return output.cpu().numpy()


MIN_TENSORRT = (10, 0)  # the first GA release with NetworkDefinitionCreationFlag.STRONGLY_TYPED


@dataclasses.dataclass(frozen=True)
class TensorRTBuildPlan:
    """Every TensorRT-version-dependent choice of an engine build, as plain names.

    network_flags: NetworkDefinitionCreationFlag members for builder.create_network;
    builder_flags: BuilderFlag members to set (precision flags never: the graph holds it);
    graph_precision: the exported graph to parse (export.GraphSpec.precision);
    io_binding: how I/O is bound: by tensor name (set_input_shape, set_tensor_address,
    execute_async_v3), the same names (export.INPUT_NAMES, OUTPUT_NAME) on 10.x and 11.x."""

    tensorrt: str
    network_flags: tuple = ()
    builder_flags: tuple = ()
    graph_precision: str = "fp32"
    io_binding: str = "tensor_name"


def tensorrt_build_plan(version, precision):
    """The build plan for TensorRT ``version`` (e.g. "10.3.0", "11.4.0.11") and ``precision``.

    From NVIDIA's "Migrating from TensorRT 10.x to 11.x": 11.x removed weak typing (BuilderFlag
    FP16, BF16, INT8, FP8, INT4, FP4, OBEY/PREFER_PRECISION_CONSTRAINTS, DIRECT_IO) and every
    network is strongly typed, so no creation flag is needed; on 10.x strong typing is opt-in
    with NetworkDefinitionCreationFlag.STRONGLY_TYPED. Either way the precision lives in the
    graph. Older TensorRT raises BackendError."""
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}; choose fp32 or fp16")
    try:
        major, minor = (int(part) for part in str(version).split(".")[:2])
    except ValueError:
        raise BackendError(f"cannot read the TensorRT version {version!r}") from None
    if (major, minor) < MIN_TENSORRT:
        raise BackendError(
            f"TensorRT {version} is too old: strongly typed engines need TensorRT "
            f"{MIN_TENSORRT[0]}.{MIN_TENSORRT[1]} or newer"
        )
    network_flags = () if major >= 11 else ("STRONGLY_TYPED",)
    return TensorRTBuildPlan(str(version), network_flags, (), precision)


def build_engine(onnx_path, precision, batch_profile, logger):
    """Serialized strongly typed engine bytes for ``onnx_path`` (a graph of ``precision``) with
    one optimisation profile over the batch; tensorrt_build_plan holds the version choices."""
    import tensorrt as trt

    plan = tensorrt_build_plan(trt.__version__, precision)
    builder = trt.Builder(logger)
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with open(onnx_path, "rb") as f:
        if not parser.parse(f.read()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    profile = builder.create_optimization_profile()
    lo, opt, hi = batch_profile
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        tail = tuple(tensor.shape)[1:]
        profile.set_shape(tensor.name, (lo,) + tail, (opt,) + tail, (hi,) + tail)
    config.add_optimization_profile(profile)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise BackendError("TensorRT engine build failed")
    return bytes(blob)


def tensorrt_available():
    """(available, reason): TensorRT needs both the ``tensorrt`` module and a CUDA GPU."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False, "the tensorrt Python package is not installed"
    if not torch.cuda.is_available():
        return False, "no CUDA GPU is visible"
    return True, "tensorrt and a CUDA GPU are present"


def onnxruntime_available():
    try:
        import onnxruntime  # noqa: F401
        import onnx  # noqa: F401  (the export checks the graph with it)
    except ImportError as exc:
        return False, f"{exc.name} is not installed"
    return True, "onnxruntime is installed"


def create_backend(
    kind,
    model_path,
    steps,
    cache_dir=None,
    precision="fp16",
    max_batch=512,
    force_rebuild=False,
    threads=0,
    sampler="ddim",
    t_start=None,
    net=None,
    onnxruntime_precision="int8",
):
    """Build the backend ``kind`` ('auto' picks TensorRT, then ONNX Runtime, then torch).

    With ``t_start`` it runs the tracking graph (export.WARM_INPUT_NAMES: warm starts).
    ``precision`` is the TensorRT engine's (its graph's), ``onnxruntime_precision`` ONNX
    Runtime's on a CPU (graph_precision); torch runs fp32.
    The model file is loaded once (or ``net`` is used) and passed on to whatever needs it.
    Returns (backend, reason); the reason says why this backend was chosen. 'auto' never fails
    on a backend that breaks while being built or loaded: it falls back to the next one, logs
    why and says it in the reason.
    """
    if kind not in BACKENDS:
        raise BackendError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}; choose fp32 or fp16")
    if onnxruntime_precision not in ONNXRUNTIME_PRECISIONS:
        raise BackendError(
            f"unknown onnxruntime_precision {onnxruntime_precision!r}; choose "
            + " or ".join(ONNXRUNTIME_PRECISIONS)
        )
    if net is None:  # a missing or corrupt model fails here, whatever the backend
        net = load_network(model_path)
    cache_dir = cache_dir or default_cache_dir()
    settings = dict(
        model_path=model_path,
        steps=steps,
        cache_dir=cache_dir,
        precision=precision,
        max_batch=max_batch,
        force_rebuild=force_rebuild,
        threads=threads,
        sampler=sampler,
        t_start=t_start,
        net=net,
        onnxruntime_precision=onnxruntime_precision,
    )
    if kind != "auto":
        return _build(kind, **settings), "requested"
    failures = []
    for candidate, check in (
        ("tensorrt", tensorrt_available),
        ("onnxruntime", onnxruntime_available),
    ):
        ok, why = check()
        if not ok:
            log.info("auto: skipping %s: %s", candidate, why)
            continue
        try:
            backend = _build(candidate, **settings)
        except Exception as exc:  # auto must never crash at configure: fall back, say why
            failure = f"{candidate} failed ({_one_line(exc)})"
            log.warning("auto: %s; falling back to the next backend", failure)
            failures.append(failure)
            continue
        return backend, f"auto: {why}" + (f"; {'; '.join(failures)}" if failures else "")
    return (
        _build("torch", **settings),
        "auto: neither TensorRT nor ONNX Runtime is usable"
        + (f" ({'; '.join(failures)})" if failures else ""),
    )


def _one_line(exc):
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__


def _build(
    kind,
    model_path,
    steps,
    cache_dir,
    precision,
    max_batch,
    force_rebuild,
    threads,
    sampler,
    t_start,
    net,
    onnxruntime_precision,
):
    """The backend ``kind`` (not 'auto') for the graph (steps, sampler, t_start)."""
    if kind == "torch":
        return TorchBackend(model_path, steps, sampler, t_start=t_start, net=net)
    if kind == "onnxruntime":
        graph = graph_precision(kind, precision, onnxruntime_precision)
        onnx_path = onnx_path_for(model_path, steps, cache_dir, sampler, t_start, graph, net)
        return OnnxRuntimeBackend(onnx_path, threads, graph)
    ok, why = tensorrt_available()
    if not ok:
        raise BackendError(f"tensorrt backend unavailable: {why}")
    onnx_path = onnx_path_for(model_path, steps, cache_dir, sampler, t_start, precision, net)
    return TensorRTBackend(
        onnx_path,
        cache_dir,
        precision,
        max_batch,
        force_rebuild=force_rebuild,
        input_names=INPUT_NAMES if t_start is None else WARM_INPUT_NAMES,
    )


def graph_precision(kind, precision, onnxruntime_precision="int8"):
    """The precision of the ONNX graph backend ``kind`` loads for the node's ``precision`` (a
    TensorRT engine's) and ``onnxruntime_precision`` (ONNX Runtime's on a CPU: its CUDA provider,
    where installed, runs fp32, for which it has kernels throughout)."""
    if kind == "tensorrt":
        return precision
    if kind != "onnxruntime" or onnxruntime_precision == "fp32":
        return "fp32"
    import onnxruntime as ort

    return "fp32" if "CUDAExecutionProvider" in ort.get_available_providers() else "int8"
