"""One-Euro filter (less jitter on a noisy constant, little lag on a ramp) and PersonTracker
(ids)."""

import numpy as np
import pytest

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
    ramp = np.repeat((1.0 * t)[:, None], 3, axis=1)  # 1 m/s
    slow = run(OneEuroFilter(min_cutoff=1.0, beta=0.0), ramp)
    fast = run(OneEuroFilter(min_cutoff=1.0, beta=5.0), ramp)
    lag_slow = np.abs(slow[100:] - ramp[100:]).mean()
    lag_fast = np.abs(fast[100:] - ramp[100:]).mean()
    assert lag_fast < 0.3 * lag_slow
    assert lag_fast < 0.05  # under 5 cm at 1 m/s


def test_reset_forgets_previous_track():
    f = OneEuroFilter()
    f(np.zeros(3), 0.0)
    f(np.zeros(3), 0.1)
    f.reset()
    assert np.allclose(f(np.full(3, 5.0), 0.2), 5.0)


# --- PersonTracker -----------------------------------------------------------------------------

from gfpose_ros.selection import confident_joints  # noqa: E402
from gfpose_ros.tracking import PersonTracker, greedy_assignment  # noqa: E402


def person(x, y, height=170.0):
    """A crude 17-joint 2D stick figure (pixels) with its pelvis at (x, y)."""
    offsets = np.stack([np.linspace(-0.2, 0.2, 17), np.linspace(-0.5, 0.5, 17)], 1) * height
    return np.array([x, y]) + offsets


def frame(*centres):
    """(uv, seen): the people's keypoints and their joints that count as observed."""
    uv = np.stack([person(x, y) for x, y in centres])
    return uv, np.ones(uv.shape[:2], dtype=bool)


def test_greedy_assignment_takes_the_cheapest_pairs_within_the_gate():
    cost = np.array([[0.1, 0.05, np.inf], [0.2, 0.9, 0.3], [np.inf, np.inf, np.inf]])
    assert greedy_assignment(cost, 0.5) == [(0, 1), (1, 0)]
    assert greedy_assignment(cost, 0.01) == []
    assert greedy_assignment(np.zeros((0, 3)), 1.0) == []


def test_detector_ids_are_kept():
    tracker = PersonTracker()
    state = tracker.update(*frame((100, 200), (400, 200)), stamp=0.0, ids=["alice", "bob"])
    assert state.ids == ["alice", "bob"] and not state.continuing.any()
    # The detector swaps who is where: its ids win over the keypoints.
    state = tracker.update(*frame((100, 200), (400, 200)), stamp=1 / 30, ids=["bob", "alice"])
    assert state.ids == ["bob", "alice"] and state.continuing.all()
    # Integer ids >= 0 count too; -1 and "" mean "none" and get the tracker's own, unused integer.
    state = tracker.update(
        *frame((100, 200), (400, 200), (700, 200)), stamp=2 / 30, ids=[5, -1, ""]
    )
    assert state.ids[0] == 5 and len(set(map(str, state.ids))) == 3
    assert not {str(i) for i in state.ids[1:]} & {"5", "alice", "bob"}


def test_ids_are_stable_across_frames_in_any_order():
    tracker = PersonTracker()
    rng = np.random.default_rng(0)
    first = tracker.update(*frame((100, 200), (400, 220)), stamp=0.0)
    who = dict(zip(first.ids, ("left", "right")))
    for t in range(1, 30):
        order = rng.permutation(2)
        centres = np.array([(100 + 3 * t, 200), (400 - 2 * t, 220)])[order]
        state = tracker.update(*frame(*centres), stamp=t / 30)
        assert [who[i] for i in state.ids] == [("left", "right")[k] for k in order]
        assert state.continuing.all()


def test_a_track_survives_a_one_frame_gap_and_restarts_cold():
    tracker = PersonTracker(max_age=0.5)
    a = tracker.update(
        *frame((100, 200), (400, 200)), stamp=0.0, model_poses=np.zeros((2, 51))
    ).ids
    tracker.update(
        *frame((400, 200)), stamp=1 / 30, model_poses=np.zeros((1, 51))
    )  # the left one is missed
    back = tracker.update(
        *frame((104, 200), (400, 200)), stamp=2 / 30, model_poses=np.ones((2, 51))
    )
    assert back.ids == a
    assert list(back.continuing) == [False, True]  # re-appearing: cold start; the other continues
    assert back.previous[0] is None and back.previous[1] is not None
    again = tracker.update(*frame((106, 200), (400, 200)), stamp=3 / 30)
    assert again.continuing.all() and np.array_equal(again.previous[0], np.ones(51))


def test_new_ids_after_max_age():
    tracker = PersonTracker(max_age=0.2)
    first = tracker.update(*frame((100, 200)), stamp=0.0).ids
    tracker.update(
        *frame((600, 200)), stamp=0.1
    )  # someone else, far away: the first one is unseen
    later = tracker.update(
        *frame((100, 200)), stamp=0.35
    )  # 0.35 s > max_age since the first was seen
    assert later.ids != first and not later.continuing.any()
    assert first[0] not in tracker.tracks


def test_time_going_back_starts_over():
    tracker = PersonTracker()
    tracker.update(*frame((100, 200)), stamp=5.0)
    state = tracker.update(*frame((100, 200)), stamp=1.0)  # a replayed recording
    assert not state.continuing.any() and len(tracker.tracks) == 1


def test_no_id_switch_for_non_crossing_people_on_a_heldout_clip():
    from gfpose_ros.evaluation.eval_tracking import id_switches, make_clips

    clip = make_clips(clips=1, people=(3,), frames=60, seed=1)[0]
    tracker = PersonTracker()
    rng = np.random.default_rng(0)
    ids = np.empty(clip["uv"].shape[:2], dtype=object)
    for t in range(len(ids)):
        order = rng.permutation(ids.shape[1])
        seen = confident_joints(clip["uv"][t, order], clip["confidence"][t, order], 0.3)
        ids[t, order] = tracker.update(clip["uv"][t, order], seen, stamp=t / 30).ids
    assert id_switches(ids) == 0 and len(set(ids.ravel())) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (("--frames", "2"), "frames must be >= 3"),
        (("--source", "nope"), "unknown sources"),
        (("--t-start", "0"), "warm_t_start must be in"),
        (("--warm-steps", "5"), "warm_steps 5 > steps 4"),
    ],
)
def test_eval_tracking_rejects_bad_arguments_with_one_line(tmp_path, run_gfpose, args, message):
    """Before any model loads or clip is made: a bad argument costs no time."""
    result = run_gfpose("eval-tracking", *args, "--out", tmp_path / "x.json")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
