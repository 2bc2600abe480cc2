"""One-Euro filter: less jitter on a noisy constant, little lag on a ramp."""

import numpy as np

from gfpose_ros.tracking import OneEuroFilter


def run(filt, signal, dt=1.0 / 30.0):
    return np.stack([filt(x, i * dt) for i, x in enumerate(signal)])


def test_reduces_jitter_on_noisy_constant():
    rng = np.random.default_rng(0)
    noisy = 1.0 + 0.01 * rng.standard_normal((300, 17, 3))
    out = run(OneEuroFilter(min_cutoff=0.5, beta=0.0), noisy)
    assert out[30:].std() < 0.3 * noisy[30:].std()
    assert abs(out[30:].mean() - 1.0) < 0.002


def test_little_lag_on_ramp_with_beta():
    t = np.arange(300) / 30.0
    ramp = np.repeat((1.0 * t)[:, None], 3, axis=1)          # 1 m/s
    slow = run(OneEuroFilter(min_cutoff=1.0, beta=0.0), ramp)
    fast = run(OneEuroFilter(min_cutoff=1.0, beta=5.0), ramp)
    lag_slow = np.abs(slow[100:] - ramp[100:]).mean()
    lag_fast = np.abs(fast[100:] - ramp[100:]).mean()
    assert lag_fast < 0.3 * lag_slow
    assert lag_fast < 0.05                                    # under 5 cm at 1 m/s


def test_reset_forgets_previous_track():
    f = OneEuroFilter()
    f(np.zeros(3), 0.0)
    f(np.zeros(3), 0.1)
    f.reset()
    assert np.allclose(f(np.full(3, 5.0), 0.2), 5.0)
