"""Backends that run the sampler graph, behind one call: ``backend(inputs) -> poses``.

``inputs`` is a dict of float32 numpy arrays named as in ``export.INPUT_NAMES`` (the tracking
graph's: ``export.WARM_INPUT_NAMES``); the result is (B, 17, 3) root-relative metres.
``create_backend`` picks one and says why.

- torch: the reference; eager on CPU, CUDA graphs on a GPU.
- onnxruntime: the exported graph; CUDA provider where onnxruntime-gpu is installed, else CPU.
- tensorrt: an engine built from the exported graph, cached like Isaac ROS's TensorRT node.
"""

import json
import logging
import os

import numpy as np
import torch

from .export import INPUT_NAMES, WARM_INPUT_NAMES, export_onnx, file_hash, load_network, make_graph

log = logging.getLogger("gfpose_ros.backends")
BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
PRECISIONS = ("fp32", "fp16")


class BackendError(RuntimeError):
    pass


def default_cache_dir():
    return os.path.join(
        os.environ.get("ROS_HOME", os.path.join(os.path.expanduser("~"), ".ros")), "gfpose_ros"
    )


class TorchBackend:
    name = "torch"

    def __init__(self, model_path, steps, sampler="ddim", device=None, t_start=None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.graph = make_graph(load_network(model_path, self.device), steps, sampler, t_start).to(
            self.device
        )
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


def onnx_path_for(model_path, steps, cache_dir, sampler="ddim", t_start=None):
    """Export the K-step graph once per model file content; later calls reuse it.

    ``t_start`` names the tracking graph (warm starts from t_start), cached beside the cold one."""
    key = f"{file_hash(model_path)[:16]}_{sampler}_k{steps}" + (
        "" if t_start is None else f"_warm{t_start:g}"
    )
    path = os.path.join(cache_dir, f"sampler_{key}.onnx")
    if not os.path.exists(path):
        export_onnx(model_path, steps, path, sampler, t_start)
    return path


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, onnx_path, threads=0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
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

    os.makedirs(os.path.dirname(path), exist_ok=True)
    for target, content, mode in (
        (path, blob, "wb"),
        (
            path + ".json",
            json.dumps({"key": key, "sha256": hashlib.sha256(blob).hexdigest()}),
            "w",
        ),
    ):
        with open(target + ".tmp", mode) as f:
            f.write(content)
        os.replace(target + ".tmp", target)


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
        for name, tensor in list(buffers.items()) + [("poses", output)]:
            self.context.set_tensor_address(name, tensor.data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise BackendError("TensorRT execution failed")
        stream.synchronize()
        return output.cpu().numpy()


def build_engine(onnx_path, precision, batch_profile, logger):
    """Serialized engine bytes for ``onnx_path`` with one optimisation profile over the batch."""
    import tensorrt as trt

    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    with open(onnx_path, "rb") as f:
        if not parser.parse(f.read()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
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
):
    """Build the backend ``kind`` ('auto' picks TensorRT, then ONNX Runtime, then torch).

    With ``t_start`` it runs the tracking graph (export.WARM_INPUT_NAMES: warm starts).
    Returns (backend, reason); the reason says why this backend was chosen.
    """
    if kind not in BACKENDS:
        raise BackendError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}; choose fp32 or fp16")
    load_network(model_path)  # a missing or corrupt model fails here, whatever the backend
    cache_dir = cache_dir or default_cache_dir()
    if kind == "auto":
        for candidate, check in (
            ("tensorrt", tensorrt_available),
            ("onnxruntime", onnxruntime_available),
        ):
            ok, why = check()
            if ok:
                backend, _ = create_backend(
                    candidate,
                    model_path,
                    steps,
                    cache_dir,
                    precision,
                    max_batch,
                    force_rebuild,
                    threads,
                    sampler,
                    t_start,
                )
                return backend, f"auto: {why}"
            log.info("auto: skipping %s: %s", candidate, why)
        return (
            TorchBackend(model_path, steps, sampler, t_start=t_start),
            "auto: neither TensorRT nor ONNX Runtime is usable",
        )
    if kind == "torch":
        return TorchBackend(model_path, steps, sampler, t_start=t_start), "requested"
    onnx_path = onnx_path_for(model_path, steps, cache_dir, sampler, t_start)
    if kind == "onnxruntime":
        return OnnxRuntimeBackend(onnx_path, threads), "requested"
    ok, why = tensorrt_available()
    if not ok:
        raise BackendError(f"tensorrt backend unavailable: {why}")
    return TensorRTBackend(
        onnx_path,
        cache_dir,
        precision,
        max_batch,
        force_rebuild=force_rebuild,
        input_names=INPUT_NAMES if t_start is None else WARM_INPUT_NAMES,
    ), "requested"
