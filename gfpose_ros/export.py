"""The whole K-step sampler as one graph: condition in, poses out, noise as an input.

``SamplerGraph`` is what every backend runs: torch runs it eagerly, ONNX Runtime and
TensorRT run its ONNX export. Inputs (B = people x hypotheses, dynamic):

- ``xy`` (B, 17, 2): normalised image coordinates (pixels through the intrinsics)
- ``mask_2d`` (B, 17): 1 where the 2D joint is observed
- ``pose_3d`` (B, 17, 3) and ``mask_3d`` (B, 17): partial root-relative 3D in metres, for
completion
- ``noise`` (B, 51): the initial noise x_1

The tracking graph (``WarmSamplerGraph``) has two more inputs:

- ``x_prev`` (B, 51): the track's previous pose, root-relative in the model's units (POSE_SCALE m)
- ``warm`` (B,): 1 = start from x_prev noised to t_start, 0 = start cold from the noise

Output ``poses`` (B, 17, 3): root-relative poses in metres, camera optical frame.
"""

import hashlib
import os

import torch
from torch import nn

from .model import POSE_SCALE, ScoreNet, make_condition
from .sampling import SAMPLERS, sample_ddim_tracked
from .skeleton import NUM_JOINTS

INPUT_NAMES = ("xy", "mask_2d", "pose_3d", "mask_3d", "noise")
WARM_INPUT_NAMES = INPUT_NAMES + ("x_prev", "warm")
OUTPUT_NAME = "poses"
OPSET = 17


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

    def forward(self, xy, mask_2d, pose_3d, mask_3d, noise):
        condition = make_condition(xy, mask_2d, pose_3d / POSE_SCALE, mask_3d)
        embedding = self.net.embed_condition(condition)
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
        x0 = SAMPLERS[self.sampler](
            lambda x, t: self.net.denoise(x, t, embedding), noise, self.steps
        )
        return x0.view(-1, NUM_JOINTS, 3) * POSE_SCALE


class WarmSamplerGraph(SamplerGraph):
    """The tracking graph: per row a cold start (warm = 0) or a warm start from the track's
    previous pose x_prev noised to ``t_start`` (warm = 1), ``steps`` DDIM evaluations for every
    row (sampling.sample_ddim_tracked), so a frame's new and continuing people take one call."""

    input_names = WARM_INPUT_NAMES

    def __init__(self, net, steps, t_start):
        super().__init__(net, steps, "ddim")
        self.t_start = float(t_start)

    def forward(self, xy, mask_2d, pose_3d, mask_3d, noise, x_prev, warm):
        embedding = self.net.embed_condition(
            make_condition(xy, mask_2d, pose_3d / POSE_SCALE, mask_3d)
        )
        x0 = sample_ddim_tracked(
            lambda x, t: self.net.denoise(x, t, embedding),
            noise,
            x_prev,
            warm,
            self.steps,
            self.t_start,
        )
        return x0.view(-1, NUM_JOINTS, 3) * POSE_SCALE


def make_graph(net, steps, sampler="ddim", t_start=None):
    """The cold graph, or with ``t_start`` the tracking graph (warm starts; DDIM only)."""
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


def export_onnx(model_path, steps, out_path, sampler="ddim", t_start=None):
    """Export the ``steps``-step sampler of ``model_path`` as one graph and check it.

    With ``t_start`` it is the tracking graph (WarmSamplerGraph)."""
    import onnx

    graph = make_graph(load_network(model_path), steps, sampler, t_start)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp"
    batch = {0: "batch"}
    names = graph.input_names
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
    os.replace(tmp, out_path)
    return out_path
