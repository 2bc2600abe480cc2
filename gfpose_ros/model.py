"""The score network, its condition and the diffusion schedule (all torch, no ROS).

Poses inside the model are root-relative, in the camera's optical frame, in units of
POSE_SCALE metres, flattened to 51 numbers. The network is a residual MLP like GFPose's,
sized for a CPU (see models/MODEL_CARD.md for the measured trade-off).

Parameterisation: the network F predicts the clean pose as x0 = alpha(t) x_t + sigma(t) F,
which is EDM's preconditioning for unit-variance data written for a VP SDE (v-prediction).
It keeps the 1-step estimate at t = 1 well conditioned, which few-step samplers need, while
the score -(x_t - alpha x0) / sigma^2 is still available for the 1000-step reference sampler.
"""

import math

import torch
from torch import nn

from .skeleton import NUM_JOINTS

POSE_SCALE = 0.3  # metres; root-relative joint coordinates have about this std
POSE_DIM = NUM_JOINTS * 3
# Condition: normalised 2D (34) + 2D mask (17) + 3D (51) + 3D mask (17) + person centre ray (2).
CONDITION_DIM = NUM_JOINTS * 2 + NUM_JOINTS + POSE_DIM + NUM_JOINTS + 2
BETA_MIN, BETA_MAX = 0.1, 20.0  # GFPose's SDE constants
T_MIN = 1e-3


def log_alpha(t):
    """VP SDE with linear beta: alpha(t) = exp(-(beta_max - beta_min) t^2 / 4 - beta_min t / 2)."""
    return -0.25 * t**2 * (BETA_MAX - BETA_MIN) - 0.5 * t * BETA_MIN


def alpha_sigma(t):
    a = torch.exp(log_alpha(t))
    return a, torch.sqrt((1.0 - a * a).clamp_min(1e-12))


def beta(t):
    return BETA_MIN + t * (BETA_MAX - BETA_MIN)


def normalize_2d(xy, mask):
    """Centre and scale normalised image points (..., 17, 2) by the observed joints.

    Returns (points relative to the centre in units of the scale, centre (..., 2)). The scale
    is the RMS distance of observed joints from their centroid, so the network sees the pose's
    shape whatever the person's distance, and the centre ray says where in the view they are.
    """
    m = mask[..., None]
    count = m.sum(-2).clamp_min(1.0)
    centre = (xy * m).sum(-2) / count
    offsets = (xy - centre[..., None, :]) * m
    scale = torch.sqrt((offsets**2).sum((-1, -2)) / count[..., 0]).clamp_min(1e-4)
    return offsets / scale[..., None, None], centre


def make_condition(xy, mask_2d, pose_3d=None, mask_3d=None):
    """The network's condition vector (B, CONDITION_DIM).

    xy (B, 17, 2) normalised image coordinates, mask_2d (B, 17) 1 = observed;
    pose_3d (B, 17, 3) root-relative in POSE_SCALE units with mask_3d for 3D completion.
    """
    mask_2d = mask_2d.to(xy.dtype)
    points, centre = normalize_2d(xy, mask_2d)
    if pose_3d is None:
        pose_3d = xy.new_zeros(xy.shape[:-2] + (NUM_JOINTS, 3))
        mask_3d = xy.new_zeros(xy.shape[:-1])
    mask_3d = mask_3d.to(xy.dtype)
    centre = centre * (mask_2d.sum(-1, keepdim=True) > 0)
    return torch.cat(
        [
            points.flatten(-2),
            mask_2d,
            (pose_3d * mask_3d[..., None]).flatten(-2),
            mask_3d,
            centre.clamp(-3, 3),
        ],
        -1,
    )


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=t.dtype, device=t.device) / half
    )
    args = (t * 999.0)[..., None] * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], -1)


class ResidualBlock(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.act = nn.SiLU()

    def forward(self, h, embedding):
        y = self.fc1(self.act(self.norm1(h + embedding)))
        y = self.fc2(self.act(self.norm2(y)))
        return h + y


class ScoreNet(nn.Module):
    """Residual MLP denoiser D(x_t, t | condition) -> x0 estimate.

    The condition embedding does not depend on t, so samplers compute it once per call with
    ``embed_condition`` and reuse it in every step.
    """

    def __init__(self, hidden=512, blocks=3, time_dim=128):
        super().__init__()
        self.config = {"hidden": hidden, "blocks": blocks, "time_dim": time_dim}
        self.time_dim = time_dim
        self.pose_in = nn.Linear(POSE_DIM, hidden)
        self.condition_in = nn.Sequential(
            nn.Linear(CONDITION_DIM, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.time_in = nn.Sequential(
            nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.blocks = nn.ModuleList(ResidualBlock(hidden) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, POSE_DIM))

    def embed_condition(self, condition):
        return self.condition_in(condition)

    def denoise(self, x, t, condition_embedding):
        """x (B, 51) noisy pose at time t (scalar tensor or (B,)) -> x0 estimate (B, 51)."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        # A sampler's t is one scalar for the whole batch: embed it once, not per sample.
        t_rows = t.reshape(-1, 1) if t.dim() else t.reshape(1, 1)
        embedding = condition_embedding + self.time_in(
            timestep_embedding(t_rows[:, 0], self.time_dim)
        )
        alpha, sigma = alpha_sigma(t_rows)
        h = self.pose_in(x)
        for block in self.blocks:
            h = block(h, embedding)
        return alpha * x + sigma * self.out(h)

    def forward(self, x, t, condition):
        return self.denoise(x, t, self.embed_condition(condition))

    def flops_per_evaluation(self):
        """2 x multiply-adds per sample per step: the pose path (the condition is embedded
        once)."""
        linear = [
            m
            for name, m in self.named_modules()
            if isinstance(m, nn.Linear) and not name.startswith(("condition_in", "time_in"))
        ]
        return 2 * sum(m.in_features * m.out_features for m in linear)


def training_loss(net, x0, condition, generator=None):
    """Denoising loss on F's target, uniform in t: EDM's weighting for this parameterisation."""
    n = x0.shape[0]
    t = T_MIN + (1 - T_MIN) * torch.rand(n, generator=generator, dtype=x0.dtype)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    alpha, sigma = alpha_sigma(t)
    xt = alpha[:, None] * x0 + sigma[:, None] * noise
    x0_hat = net(xt, t, condition)
    # x0_hat - x0 = sigma (F - F*), so dividing by sigma gives F's error with unit weight.
    return (((x0_hat - x0) / sigma[:, None]) ** 2).mean()
