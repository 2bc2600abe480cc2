"""Warm-start (SDEdit) DDIM: sample_ddim_warm against sample_ddim and an analytic prior."""

import pytest
import torch

from gfpose_ros.model import alpha_sigma
from gfpose_ros.sampling import sample_ddim, sample_ddim_warm

torch.set_num_threads(1)

D = 51


def gaussian_denoiser(mean, var):
    """Exact x0 = E[x0 | x_t] for data ~ N(mean, var I): a denoiser with a known answer."""
    def denoiser(x, t):
        alpha, sigma = alpha_sigma(t)
        gain = alpha * var / (alpha ** 2 * var + sigma ** 2)
        return mean + gain * (x - alpha * mean)
    return denoiser


def test_t_start_one_equals_cold_ddim():
    g = torch.Generator().manual_seed(0)
    denoiser = gaussian_denoiser(torch.randn(D, generator=g), 0.3)
    x_prev = torch.randn(4, D, generator=g)
    noise = torch.randn(4, D, generator=g)
    alpha_1, sigma_1 = alpha_sigma(torch.tensor(1.0))
    warm = sample_ddim_warm(denoiser, x_prev, noise, steps=8, t_start=1.0)
    cold = sample_ddim(denoiser, alpha_1 * x_prev + sigma_1 * noise, steps=8)
    assert torch.equal(warm, cold)


def test_small_t_start_stays_near_previous_pose():
    g = torch.Generator().manual_seed(1)
    mean = torch.randn(D, generator=g)
    denoiser = gaussian_denoiser(mean, 1.0)
    x_prev = mean + torch.randn(16, D, generator=g)   # in-distribution previous poses
    noise = torch.randn(16, D, generator=g)
    warm = sample_ddim_warm(denoiser, x_prev, noise, steps=4, t_start=0.05)
    cold = sample_ddim(denoiser, noise, steps=4)
    warm_dist = (warm - x_prev).norm(dim=1).mean()
    cold_dist = (cold - x_prev).norm(dim=1).mean()
    # Cold samples are independent draws: about sqrt(2 D) away. Warm ones stay close.
    assert cold_dist > 8.0
    assert warm_dist < 0.25 * cold_dist
    # Larger t_start forgets more of x_prev.
    far = sample_ddim_warm(denoiser, x_prev, noise, steps=4, t_start=0.6)
    assert (far - x_prev).norm(dim=1).mean() > warm_dist


@pytest.mark.parametrize("t_start", [0.0, 1.5])
def test_t_start_out_of_range_raises(t_start):
    x = torch.zeros(1, D)
    with pytest.raises(ValueError):
        sample_ddim_warm(gaussian_denoiser(torch.zeros(D), 1.0), x, x, steps=2, t_start=t_start)


def test_shipped_model_warm_start_is_more_consistent_between_frames():
    """Consecutive demo frames: warm-started lifts jump less between frames than cold ones."""
    import os
    import numpy as np
    from gfpose_ros.camera import pixels_to_normalized
    from gfpose_ros.export import load_network
    from gfpose_ros.model import POSE_SCALE, make_condition

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    net = load_network(os.path.join(root, "models", "gfpose_mlp512.pt"))
    demo = np.load(os.path.join(root, "data", "demo_sequence.npz"))
    xy = torch.as_tensor(pixels_to_normalized(demo["keypoints_2d"][:20], demo["intrinsics"]), dtype=torch.float32)
    mask = torch.as_tensor(demo["confidence"][:20] > 0.3, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        embedding = net.embed_condition(make_condition(xy, mask))
        denoiser = lambda x, t, e=embedding: net.denoise(x, t, e)
        noise = torch.randn(20, 51, generator=g)
        cold = sample_ddim(denoiser, noise, steps=8)
        # Warm frame i from the cold result of frame i-1, with fresh noise.
        prev = torch.cat([cold[:1], cold[:-1]])
        fresh = torch.randn(20, 51, generator=g)
        cold_fresh = sample_ddim(denoiser, fresh, steps=8)
        warm = sample_ddim_warm(denoiser, prev, fresh, steps=4, t_start=0.1)
    # Mean joint jump (metres) from the previous frame's pose, both lifts with fresh noise.
    jump = lambda x: float((x[1:] - prev[1:]).view(-1, 17, 3).norm(dim=-1).mean() * POSE_SCALE)
    cold_jump, warm_jump = jump(cold_fresh), jump(warm)
    assert warm_jump < 0.8 * cold_jump, (warm_jump, cold_jump)
