"""The whole K-step sampler as one graph: condition in, poses out, noise as an input.

``SamplerGraph`` is what every backend runs: torch runs it eagerly, ONNX Runtime and
TensorRT run its ONNX export. Inputs (B = people x hypotheses, dynamic):

- ``xy`` (B, 17, 2): normalised image coordinates (pixels through the intrinsics)
- ``mask_2d`` (B, 17): 1 where the 2D joint is observed
- ``weight_2d`` (B, 17): how hard each joint pulls in the 2D fit after every denoiser call
  (fit_2d; the lifter's confidence x fit strength; 0 = no fit)
- ``pose_3d`` (B, 17, 3) and ``mask_3d`` (B, 17): partial root-relative 3D in metres, for
completion
- ``noise`` (B, 51): the initial noise x_1

The tracking graph (``WarmSamplerGraph``) has two more inputs:

- ``x_prev`` (B, 51): the track's previous pose, root-relative in the model's units (POSE_SCALE m)
- ``warm`` (B,): 1 = start from x_prev noised to t_start, 0 = start cold from the noise

Output ``poses`` (B, 17, 3): root-relative poses in metres, camera optical frame.

Every graph is named by a ``GraphSpec`` (steps, sampler, t_start, precision); ``graphs_for``
lists the graphs a lifter loads, ``graph_file_name`` is a graph's cache key. Precision ``fp16``
runs the score network in fp16 inside the graph (inputs and outputs stay fp32), which is how a
strongly typed TensorRT engine (TensorRT 11: the only kind) gets its precision.
"""

import contextlib
import copy
import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
import warnings

import torch
from torch import nn

from . import fit_2d
from .model import POSE_SCALE, ScoreNet, alpha_sigma, make_condition, timestep_embedding
from .sampling import SAMPLERS, sample_ddim_tracked
from .settings import ONNXRUNTIME_PRECISIONS, PRECISIONS, BackendSpec
from .skeleton import NUM_JOINTS

INPUT_NAMES = ("xy", "mask_2d", "weight_2d", "pose_3d", "mask_3d", "noise")
WARM_INPUT_NAMES = INPUT_NAMES + ("x_prev", "warm")
OUTPUT_NAME = "poses"
OPSET = 17
# The export code's own version: bump it whenever a change here alters what export_onnx writes
# (the graph's ops, casts, names), so every cached graph is exported again.
EXPORT_VERSION = 4
# The 2D fit the graphs run after every denoiser call: "rays" (shipped), or for the ablation
# (scripts/fit_2d_ablation.py) and `gfpose bench`'s comparison "bones" or "none" (the graph
# without the fit's operations). Part of the cache key; set it with ``fit_method``.
FIT_METHOD = "rays"
FIT_METHODS = fit_2d.METHODS + ("none",)
GRAPH_PRECISIONS = tuple(dict.fromkeys(PRECISIONS + ONNXRUNTIME_PRECISIONS))


@dataclasses.dataclass(frozen=True)
class GraphSpec:
    """One sampler graph: ``t_start`` None is the cold graph, a float the tracking graph (warm
    starts from t_start); ``precision`` is the score network's inside the graph."""

    steps: int
    sampler: str = "ddim"
    t_start: float | None = None
    precision: str = "fp32"

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.sampler not in SAMPLERS:
            raise ValueError(
                f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}"
            )
        if self.t_start is not None and self.sampler != "ddim":
            raise ValueError(f"warm starts need the ddim sampler, not {self.sampler!r}")
        if self.precision not in GRAPH_PRECISIONS:
            raise ValueError(
                f"unknown precision {self.precision!r}; choose {', '.join(GRAPH_PRECISIONS)}"
            )

    @property
    def input_names(self):
        return INPUT_NAMES if self.t_start is None else WARM_INPUT_NAMES

    def describe(self):
        kind = "cold" if self.t_start is None else f"tracking, warm starts from t={self.t_start:g}"
        return f"{self.sampler} {self.steps} steps, {kind}, {self.precision}"


def graphs_for(
    steps,
    sampler="ddim",
    warm_steps=BackendSpec.warm_steps,
    warm_t_start=BackendSpec.warm_t_start,
    warm_starts=True,
    precision="fp32",
):
    """Every graph a lifter with these settings loads: the cold graph (``steps``), and with
    warm starts the tracking graph (``warm_steps`` steps from ``warm_t_start``; see
    Lifter.warm_backend). The tracking graph needs the ddim sampler."""
    specs = [GraphSpec(steps, sampler, None, precision)]
    if warm_starts:
        specs.append(GraphSpec(warm_steps, sampler, float(warm_t_start), precision))
    return specs


def package_version():
    from . import __version__  # read at call time, so a version bump is seen (and patchable)

    return __version__


def graph_file_name(model_hash, spec):
    """The cache key of ``spec``'s graph for the model file with SHA-256 ``model_hash``.

    It holds everything the exported file depends on: the model, the package version, the
    export code's version, the opset, the precision, the 2D fit (when not the shipped one), the
    sampler, steps and warm start. Any
    change names a different file, so it is exported again; the name ends in
    ``_{sampler}_k{steps}[_warm{t_start}].onnx``."""
    tail = f"{spec.sampler}_k{spec.steps}" + (
        "" if spec.t_start is None else f"_warm{spec.t_start:g}"
    )
    return (
        f"sampler_{model_hash[:16]}_v{package_version()}-x{EXPORT_VERSION}-op{OPSET}"
        f"-{spec.precision}{'' if FIT_METHOD == 'rays' else '-fit' + FIT_METHOD}_{tail}.onnx"
    )


class ModelFileError(RuntimeError):
    pass


def load_network(path, map_location="cpu"):
    """Load shipped weights; a missing or corrupt file raises ModelFileError with the reason."""
    if not os.path.isfile(path):
        raise ModelFileError(f"model file not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
        net = ScoreNet(**state["config"])
        net.load_state_dict(state["state_dict"])
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise ModelFileError(
            f"cannot load model {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        ) from None
    return net.eval().requires_grad_(False)


def file_hash(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Fp32LayerNorm(nn.Module):
    """LayerNorm computed in fp32 inside an fp16 network (its statistics overflow in fp16)."""

    def __init__(self, norm):
        super().__init__()
        self.norm = norm.float()

    def forward(self, h):
        return self.norm(h.float()).to(h.dtype)


class HalfPrecisionNet(nn.Module):
    """A ScoreNet whose linear layers run in fp16, behind fp32 edges: the fp16 graph's network.

    What fp16 would hurt stays fp32: the time embedding (sin and cos of up to 999 t), the
    schedule's alpha and sigma, the x0 = alpha x + sigma F combination the sampler steps on,
    and LayerNorm's statistics. Same interface as ScoreNet (embed_condition, denoise)."""

    def __init__(self, net):
        super().__init__()
        self.net = copy.deepcopy(net).half()
        for module in list(self.net.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, nn.LayerNorm):
                    setattr(module, name, _Fp32LayerNorm(child))
        self.time_dim = net.time_dim

    def embed_condition(self, condition):
        return self.net.embed_condition(condition.half())

    def denoise(self, x, t, condition_embedding):
        """As ScoreNet.denoise: x (B, 51) fp32 at time t -> x0 estimate (B, 51) fp32."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t_rows = t.reshape(-1, 1) if t.dim() else t.reshape(1, 1)
        time = timestep_embedding(t_rows[:, 0], self.time_dim)
        embedding = condition_embedding + self.net.time_in(time.half())
        alpha, sigma = alpha_sigma(t_rows)
        h = self.net.pose_in(x.half())
        for block in self.net.blocks:
            h = block(h, embedding)
        return alpha * x + sigma * self.net.out(h).float()


def network_for(net, precision="fp32"):
    """``net`` as the graph of ``precision`` runs it (fp16: HalfPrecisionNet; int8 is the fp32
    graph quantised after export, see export_onnx)."""
    if precision not in GRAPH_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose {', '.join(GRAPH_PRECISIONS)}")
    return HalfPrecisionNet(net) if precision == "fp16" else net


class SamplerGraph(nn.Module):
    """``sampler`` 'ddim' (the shipped short-step sampler) or 'euler_maruyama' (GFPose's
    reference).

    Euler-Maruyama needs a Brownian increment per step besides x_1; they come from a generator
    seeded with ``seed`` on every call, so the reference is reproducible from the same inputs.
    """

    input_names = INPUT_NAMES

    def __init__(self, net, steps, sampler="ddim", seed=0):
        super().__init__()
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
        self.net = net
        self.steps = steps
        self.sampler = sampler
        self.seed = seed

    def forward(self, xy, mask_2d, weight_2d, pose_3d, mask_3d, noise):
        condition = make_condition(xy, mask_2d, pose_3d / POSE_SCALE, mask_3d)
        embedding = self.net.embed_condition(condition)
        denoiser = fitted_denoiser(lambda x, t: self.net.denoise(x, t, embedding), xy, weight_2d)
        if self.sampler == "euler_maruyama":
            if torch.onnx.is_in_onnx_export():
                increments = torch.randn((self.steps,) + tuple(noise.shape), dtype=noise.dtype)
            else:
                generator = torch.Generator(noise.device).manual_seed(self.seed)
                increments = torch.randn(
                    (self.steps,) + tuple(noise.shape),
                    generator=generator,
                    dtype=noise.dtype,
                    device=noise.device,
                )
            noise = torch.cat([noise[None], increments])
        x0 = SAMPLERS[self.sampler](denoiser, noise, self.steps)
        return x0.view(-1, NUM_JOINTS, 3) * POSE_SCALE


class WarmSamplerGraph(SamplerGraph):
    """The tracking graph: per row a cold start (warm = 0) or a warm start from the track's
    previous pose x_prev noised to ``t_start`` (warm = 1), ``steps`` DDIM evaluations for every
    row (sampling.sample_ddim_tracked), so a frame's new and continuing people take one call."""

    input_names = WARM_INPUT_NAMES

    def __init__(self, net, steps, t_start):
        super().__init__(net, steps, "ddim")
        self.t_start = float(t_start)

    def forward(self, xy, mask_2d, weight_2d, pose_3d, mask_3d, noise, x_prev, warm):
        embedding = self.net.embed_condition(
            make_condition(xy, mask_2d, pose_3d / POSE_SCALE, mask_3d)
        )
        x0 = sample_ddim_tracked(
            fitted_denoiser(lambda x, t: self.net.denoise(x, t, embedding), xy, weight_2d),
            noise,
            x_prev,
            warm,
            self.steps,
            self.t_start,
        )
        return x0.view(-1, NUM_JOINTS, 3) * POSE_SCALE


@contextlib.contextmanager
def fit_method(method):
    """Graphs made (and cached) inside this block run the 2D fit ``method`` (FIT_METHODS)."""
    global FIT_METHOD
    if method not in FIT_METHODS:
        raise ValueError(f"unknown fit method {method!r}; choose one of {', '.join(FIT_METHODS)}")
    before, FIT_METHOD = FIT_METHOD, method
    try:
        yield
    finally:
        FIT_METHOD = before


def fitted_denoiser(denoiser, xy, weight_2d):
    """``denoiser`` whose every x0 estimate is fitted to the 2D (fit_2d.fit_to_2d, FIT_METHOD);
    weight_2d (B, 17) zero: the plain denoiser's answers."""
    method = FIT_METHOD
    if method == "none":
        return denoiser

    def fitted(x, t):
        x0 = denoiser(x, t).view(-1, NUM_JOINTS, 3)
        return fit_2d.fit_to_2d(x0, xy, weight_2d, method).reshape(-1, NUM_JOINTS * 3)

    return fitted


def make_graph(net, steps, sampler="ddim", t_start=None, precision="fp32"):
    """The cold graph, or with ``t_start`` the tracking graph (warm starts; DDIM only), with
    the network in ``precision`` (network_for)."""
    net = network_for(net, precision)
    if t_start is None:
        return SamplerGraph(net, steps, sampler)
    if sampler != "ddim":
        raise ValueError(f"warm starts need the ddim sampler, not {sampler!r}")
    return WarmSamplerGraph(net, steps, t_start)


def example_inputs(batch=2, warm=False):
    g = torch.Generator().manual_seed(0)
    inputs = (
        0.2 * torch.randn(batch, NUM_JOINTS, 2, generator=g),
        torch.ones(batch, NUM_JOINTS),
        torch.full((batch, NUM_JOINTS), 0.9),
        torch.zeros(batch, NUM_JOINTS, 3),
        torch.zeros(batch, NUM_JOINTS),
        torch.randn(batch, NUM_JOINTS * 3, generator=g),
    )
    if warm:  # rows alternate warm and cold, so both branches are traced and checked
        inputs += (
            torch.randn(batch, NUM_JOINTS * 3, generator=g),
            (torch.arange(batch) % 2 == 0).float(),
        )
    return inputs


def export_onnx(
    model_path, steps, out_path, sampler="ddim", t_start=None, precision="fp32", net=None
):
    """Export the ``steps``-step sampler of ``model_path`` as one graph and check it.

    With ``t_start`` it is the tracking graph (WarmSamplerGraph); with ``precision`` fp16 the
    network runs in fp16 inside it (HalfPrecisionNet), inputs and output stay fp32; int8 is the
    fp32 graph with its network's layers quantised (quantize_int8). ``net``: the already loaded
    network of ``model_path`` (else it is loaded here)."""
    import onnx

    if net is None:
        net = load_network(model_path)
    graph = make_graph(net, steps, sampler, t_start, precision)
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    # Every file of the export (the traced graph, onnxruntime's shape-inferred and quantised
    # copies, whose own clean-up a signal can skip) lives in one private folder beside the
    # cache entry, renamed into place only when whole, and removed whatever happens.
    name = os.path.basename(out_path)
    work_dir = tempfile.mkdtemp(prefix=f"{name}.", suffix=".tmp", dir=out_dir)
    tmp = os.path.join(work_dir, "graph.onnx")
    batch = {0: "batch"}
    names = graph.input_names
    try:
        # The tracer's warnings are about Python values (the step grid, the loop count) that are
        # constants of this graph by design: one graph per step count, in the cache key.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(
                graph,
                example_inputs(warm=t_start is not None),
                tmp,
                input_names=list(names),
                output_names=[OUTPUT_NAME],
                dynamic_axes={name: batch for name in names + (OUTPUT_NAME,)},
                opset_version=OPSET,
                dynamo=False,
            )
        onnx.checker.check_model(onnx.load(tmp), full_check=True)
        if precision == "int8":
            quantize_int8(tmp)
        os.replace(tmp, out_path)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return out_path


def quantize_int8(path):
    """Quantise the graph at ``path`` in place for ONNX Runtime on a CPU: the network's layers
    (every Gemm; the 2D fit has none) get int8 weights, and their inputs are quantised on each
    call (dynamic quantisation: no calibration set). onnxruntime writes intermediate files
    beside ``path``, so export_onnx calls this inside its private folder."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = f"{path}.int8"
    # Its one warning, on the root logger (run onnxruntime's pre-processing first), is advice
    # for image models whose shapes it could fold; this graph's shapes are dynamic by design.
    root = logging.getLogger()

    def advice(record):
        return not record.getMessage().startswith("Please consider to run pre-processing")

    root.addFilter(advice)
    try:
        quantize_dynamic(path, quantized, weight_type=QuantType.QInt8)
        os.replace(quantized, path)
    finally:
        root.removeFilter(advice)


def graph_path(model_path, spec, cache_dir, net=None, force=False):
    """The cached graph of ``spec`` for ``model_path`` in ``cache_dir``, exported on first use
    or with ``force`` (``net``: the loaded network, to skip loading it again).

    Returns (path, exported)."""
    path = os.path.join(cache_dir, graph_file_name(file_hash(model_path), spec))
    if os.path.exists(path) and not force:
        return path, False
    export_onnx(model_path, spec.steps, path, spec.sampler, spec.t_start, spec.precision, net)
    return path, True
