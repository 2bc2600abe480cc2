"""The torch path on a CUDA GPU: CUDA-graph sampler vs CPU eager, the tracking graph, fp16.

Marked ``cuda`` and skipped without a GPU; scripts/gpu_check.sh runs them on a lent GPU. The
tests take no fixtures, so gpu_check can also call them without pytest."""

import functools
import os

import numpy as np
import pytest
import torch

from gfpose_ros.backends import TorchBackend
from gfpose_ros.export import INPUT_NAMES, WARM_INPUT_NAMES, example_inputs, load_network

MODEL = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models", "gfpose_mlp512.pt")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU (torch.cuda.is_available() is false); scripts/gpu_check.sh "
        "runs these where one is lent",
    ),
]


@functools.lru_cache(maxsize=None)
def _net():
    return load_network(MODEL)


def _inputs(batch, warm=False, seed=0):
    names = WARM_INPUT_NAMES if warm else INPUT_NAMES
    tensors = list(example_inputs(batch, warm=warm))
    tensors[4] = torch.randn(batch, 51, generator=torch.Generator().manual_seed(seed))
    return {n: t.numpy() for n, t in zip(names, tensors)}


def _backend(device, t_start=None, precision="fp32", steps=4):
    return TorchBackend(
        MODEL, steps, device=device, t_start=t_start, net=_net(), precision=precision
    )


def test_cuda_graph_sampler_matches_cpu():
    gpu, cpu = _backend("cuda"), _backend("cpu")
    for batch in (1, 37, 200):  # a CUDA graph per batch size
        inputs = _inputs(batch)
        got, expected = gpu(inputs), cpu(inputs)
        assert got.dtype == np.float32 and got.shape == (batch, 17, 3)
        assert np.abs(got - expected).max() / 0.3 <= 1e-3  # normalised units (POSE_SCALE)
    assert sorted(gpu._cuda_graphs) == [1, 37, 200]


def test_cuda_graph_replays_new_inputs():
    gpu, cpu = _backend("cuda"), _backend("cpu")
    first, second = _inputs(20, seed=1), _inputs(20, seed=2)
    a, b = gpu(first), gpu(second)  # the second call replays the first call's graph
    assert len(gpu._cuda_graphs) == 1 and not np.allclose(a, b)
    assert np.abs(b - cpu(second)).max() / 0.3 <= 1e-3
    assert np.array_equal(gpu(first), a)  # deterministic given the noise


def test_tracking_graph_on_cuda_matches_cpu():
    gpu, cpu = _backend("cuda", t_start=0.2, steps=2), _backend("cpu", t_start=0.2, steps=2)
    inputs = _inputs(64, warm=True)
    assert np.abs(gpu(inputs) - cpu(inputs)).max() / 0.3 <= 1e-3


def test_fp16_network_on_cuda_agrees_with_fp32():
    """The fp16 network (the fp16 graph's) on the GPU vs fp32, same inputs and noise: the
    CPU's ONNX Runtime measured 0.09 mm mean, 1.2 mm worst joint."""
    inputs = _inputs(2000)
    full, half = _backend("cuda")(inputs), _backend("cuda", precision="fp16")(inputs)
    apart = np.linalg.norm(full - half, axis=-1) * 1000  # mm per joint
    assert half.dtype == np.float32
    assert apart.mean() < 0.5 and apart.max() < 5.0, (apart.mean(), apart.max())
