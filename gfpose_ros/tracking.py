"""Temporal smoothing for tracked poses: a vectorised One-Euro filter (Casiez et al. 2012).

The person tracker of issue 10 is not written yet; only the filter lives here so far.
"""

import numpy as np


def _smoothing_factor(dt, cutoff):
    # Exponential smoothing factor of a first-order low-pass with this cutoff (Hz).
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over an array of any shape (e.g. (17, 3) joints), one cutoff per element.

    Slow signals get the low cutoff ``min_cutoff`` (little jitter); fast ones raise the cutoff by
    ``beta`` * |speed| (little lag). ``d_cutoff`` smooths the speed estimate. Call reset() when a
    track restarts, so a new person does not inherit the old one's state.
    """

    def __init__(self, min_cutoff=1.0, beta=0.0, d_cutoff=1.0):
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self):
        self._x = None
        self._dx = None
        self._t = None

    def __call__(self, x, t):
        """Filter sample x taken at time t (seconds); returns the filtered array (same shape)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape or t <= self._t:
            # First sample, a new shape or a non-increasing stamp: restart from this sample.
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        dt = float(t) - self._t
        a_d = _smoothing_factor(dt, self.d_cutoff)
        dx = a_d * (x - self._x) / dt + (1.0 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(dx)
        a = _smoothing_factor(dt, cutoff)
        self._x = a * x + (1.0 - a) * self._x
        self._dx, self._t = dx, float(t)
        return self._x.copy()
