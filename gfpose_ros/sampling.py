"""Samplers: small pure functions over a denoiser and a time grid, k-diffusion style.

``denoiser(x, t) -> x0 estimate`` with x (B, D). Every sampler takes its noise as an input,
so the same noise gives the same poses on every backend.
"""

import torch

from .model import T_MIN, alpha_sigma, beta


def time_grid(steps, t_max=1.0, t_min=T_MIN, dtype=torch.float32):
    """``steps + 1`` times from t_max down to t_min, uniform in log-SNR.

    Uniform log-SNR spacing puts the few steps where the VP schedule changes the signal most.
    """
    t = torch.linspace(0.0, 1.0, 1001, dtype=torch.float64) * (t_max - t_min) + t_min
    alpha, sigma = alpha_sigma(t)
    log_snr = torch.log(alpha / sigma)
    targets = torch.linspace(float(log_snr[-1]), float(log_snr[0]), steps + 1, dtype=torch.float64)
    # log-SNR falls monotonically in t; invert by interpolation on a fine grid.
    idx = torch.searchsorted(-log_snr, -targets).clamp(1, 1000)
    lo, hi = log_snr[idx - 1], log_snr[idx]
    w = (targets - lo) / (hi - lo)
    grid = t[idx - 1] + w * (t[idx] - t[idx - 1])
    grid[0], grid[-1] = t_max, t_min
    return grid.to(dtype)


def sample_ddim(denoiser, noise, steps):
    """Deterministic DDIM (first-order probability-flow ODE) in ``steps`` network evaluations.

    Starts from x_1 = noise and returns the last x0 estimate, so ``steps`` = 1 is a single
    denoiser call. Each step keeps the predicted noise direction and moves along the schedule.
    """
    return _ddim(denoiser, noise, time_grid(steps, dtype=noise.dtype).to(noise.device))


def _ddim(denoiser, x, grid):
    """DDIM from x at grid[0] down the grid; returns the last x0 estimate."""
    for i in range(len(grid) - 1):
        t, s = grid[i], grid[i + 1]
        x0 = denoiser(x, t)
        if i == len(grid) - 2:
            return x0
        alpha_t, sigma_t = alpha_sigma(t)
        alpha_s, sigma_s = alpha_sigma(s)
        eps = (x - alpha_t * x0) / sigma_t
        x = alpha_s * x0 + sigma_s * eps
    return x


def sample_euler_maruyama(denoiser, noise, steps=1000):
    """GFPose's sampler: reverse-SDE Euler-Maruyama, no corrector, uniform steps in t.

    ``noise`` is (steps + 1, B, D): noise[0] is x_1, noise[i] the Brownian increment of step i.
    The last step returns the noise-free mean, the denoiser's x0 at t = T_MIN.
    """
    if noise.shape[0] != steps + 1:
        raise ValueError(
            f"Euler-Maruyama with {steps} steps needs noise of shape ({steps + 1}, B, D)"
        )
    grid = torch.linspace(1.0, T_MIN, steps + 1, dtype=noise.dtype, device=noise.device)
    x = noise[0]
    for i in range(steps):
        t, dt = grid[i], grid[i] - grid[i + 1]
        x0 = denoiser(x, t)
        alpha, sigma = alpha_sigma(t)
        score = -(x - alpha * x0) / sigma**2
        b = beta(t)
        x = x + (0.5 * b * x + b * score) * dt + torch.sqrt(b * dt) * noise[i + 1]
    return denoiser(x, grid[-1])


def sample_ddim_warm(denoiser, x_prev, noise, steps, t_start):
    """DDIM started from a previous pose instead of pure noise (SDEdit warm start).

    x_prev is noised to the intermediate time t_start, x = alpha(t_start) x_prev +
    sigma(t_start) noise, then ``steps`` DDIM steps run from t_start down to T_MIN. A small
    t_start keeps the result near x_prev (temporal consistency between frames); t_start = 1
    forgets x_prev and equals sample_ddim(denoiser, noise, steps) up to alpha(1) x_prev.
    """
    grid = _warm_grid(steps, t_start, noise)
    alpha_0, sigma_0 = alpha_sigma(grid[0])
    return _ddim(denoiser, alpha_0 * x_prev + sigma_0 * noise, grid)


def sample_ddim_tracked(denoiser, noise, x_prev, warm, steps, t_start):
    """Cold and warm starts in one batch: ``steps`` network evaluations for every row.

    Rows with ``warm`` (B,) = 1 are sample_ddim_warm(x_prev, noise, steps, t_start): a tracked
    person's previous pose noised to t_start. Rows with warm = 0 are sample_ddim(noise, steps):
    a new person. Each row follows its own time grid, so new and continuing people share one
    graph call; the denoiser gets t per row, shape (B, 1).
    """
    cold = time_grid(steps, dtype=noise.dtype).to(noise.device)
    hot = _warm_grid(steps, t_start, noise)
    is_warm = warm.reshape(-1, 1) > 0.5
    grid = torch.where(is_warm, hot[:, None, None], cold[:, None, None])  # (steps + 1, B, 1)
    alpha_0, sigma_0 = alpha_sigma(hot[0])
    return _ddim(denoiser, torch.where(is_warm, alpha_0 * x_prev + sigma_0 * noise, noise), grid)


def _warm_grid(steps, t_start, like):
    """The time grid of a warm start, from t_start down; on ``like``'s dtype and device."""
    if not T_MIN < t_start <= 1.0:
        raise ValueError(f"t_start must lie in ({T_MIN}, 1], got {t_start}")
    return time_grid(steps, t_max=t_start, dtype=like.dtype).to(like.device)


SAMPLERS = {"ddim": sample_ddim, "euler_maruyama": sample_euler_maruyama}
