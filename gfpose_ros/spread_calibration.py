"""A published spread a planner can trust: per-joint factors on the hypotheses' spread, fitted on
one set and stored with the weights.

The spread of a few deterministic sampler steps understates the error: by about 1.45x on the
training sources' held-out sequences and 1.5-1.75x on sources left out (models/MODEL_CARD.md).
``joint_std`` is the planner's only measure of how wrong a joint may be, so each joint's spread
is multiplied by the ratio of its mean error to its mean spread, measured on held-out data of
the sources the model was trained on (``gfpose calibrate-spread``), and judged on sources left
out. The factors live in the model file (key ``spread_scale``), so they travel with the weights
they were fitted for; a model without them publishes the raw spread.

A held-out split of the sources trained on still flatters: on a source left out whole the
error exceeds that spread by 1.07-1.3x. So the factors also carry one scalar for people from
sources the model never saw (``unseen_source_factor``): the error / spread that 2-LOSO's models,
already calibrated on their own held-out split, show on the source each one left out. A model
judged on a source gets the factor measured on the *other* sources only (cross-fitted).
"""

import json

import numpy as np
import torch

from .skeleton import NUM_JOINTS

KEY = "spread_scale"
FITTED_ON_KEY = "spread_scale_fitted_on"
UNSEEN_KEY = "spread_unseen_source_factor"


def fit_spread_scale(errors, spreads):
    """Per-joint factors (17,): mean error / mean spread of each joint over the frames given.
    ``errors`` and ``spreads`` (N, 17) in the same unit; a joint without spread (the root) or
    without error keeps 1."""
    errors, spreads = np.asarray(errors, dtype=np.float64), np.asarray(spreads, dtype=np.float64)
    if errors.shape != spreads.shape or errors.ndim != 2 or errors.shape[1] != NUM_JOINTS:
        raise ValueError(
            f"errors and spreads must both be (N, {NUM_JOINTS}), got {errors.shape} and "
            f"{spreads.shape}"
        )
    mean_error, mean_spread = errors.mean(0), spreads.mean(0)
    usable = (mean_spread > 1e-9) & (mean_error > 0)
    return np.where(usable, mean_error / np.where(usable, mean_spread, 1.0), 1.0)


def unseen_source_factor(eval_paths, hypotheses=20):
    """The geometric mean of error / spread over the ``gfpose eval`` JSON results given (each a
    source left out whole, judged by a model calibrated on its own held-out split), at
    ``hypotheses`` hypotheses. An empty list gives 1."""
    ratios = []
    for path in eval_paths:
        with open(path) as f:
            runs = json.load(f)["runs"]
        ratio = [r["error_to_spread_ratio"] for r in runs if r["hypotheses"] == hypotheses]
        if not ratio or ratio[-1] is None or not ratio[-1] > 0:
            raise ValueError(f"{path}: no error / spread ratio at {hypotheses} hypotheses")
        ratios.append(ratio[-1])
    return float(np.exp(np.mean(np.log(ratios)))) if ratios else 1.0


def read_spread_scale(model_path):
    """The model file's per-joint spread factors (17,), or None when it has none."""
    state = torch.load(model_path, map_location="cpu", weights_only=True)
    scale = state.get(KEY) if isinstance(state, dict) else None
    if scale is None:
        return None
    scale = np.asarray(scale, dtype=np.float64)
    if scale.shape != (NUM_JOINTS,) or not (np.isfinite(scale) & (scale > 0)).all():
        raise ValueError(f"{model_path}: {KEY} must be {NUM_JOINTS} positive numbers")
    return scale


def write_spread_scale(model_path, scale, out_path, fitted_on="", unseen_factor=1.0):
    """Copy ``model_path`` to ``out_path`` (may be the same file) with the spread factors: the
    per-joint ``scale`` times ``unseen_factor``, which is also stored on its own."""
    if not (np.isfinite(unseen_factor) and unseen_factor > 0):
        raise ValueError(f"the unseen-source factor must be positive, got {unseen_factor!r}")
    state = torch.load(model_path, map_location="cpu", weights_only=True)
    state[KEY] = [float(s) * float(unseen_factor) for s in scale]
    state[FITTED_ON_KEY] = str(fitted_on)
    state[UNSEEN_KEY] = float(unseen_factor)
    torch.save(state, out_path)
