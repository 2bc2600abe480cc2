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


# --- tracking never makes a pose worse (issue 18) ----------------------------------------------

from gfpose_ros.camera import project  # noqa: E402
from gfpose_ros.tracking import optimal_assignment  # noqa: E402


def test_a_far_and_a_near_person_do_not_swap_on_scale():
    """The 2D scale gate: at the same place, a person twice the size is not the same track."""
    tracker = PersonTracker()
    first = tracker.update(*frame((300, 200)), stamp=0.0).ids
    big = np.stack([person(300, 200, height=340.0)])
    state = tracker.update(big, np.ones((1, 17), bool), stamp=1 / 30)
    assert state.ids != first and not state.continuing.any()
    assert optimal_assignment(np.array([[0.1]]), 1.0) == [(0, 0)]


@pytest.fixture(scope="module")
def lift_pipeline():
    import torch

    from gfpose_ros.lifter import Lifter
    from gfpose_ros.pipeline import FramePipeline
    from gfpose_ros.settings import BackendSpec, LiftSettings

    torch.set_num_threads(1)
    return FramePipeline(
        Lifter(BackendSpec(backend="torch"), LiftSettings(num_hypotheses=10), seed=0)
    )


@pytest.fixture(scope="module")
def people_clips():
    from gfpose_ros.evaluation.eval_tracking import make_clips

    return make_clips(clips=2, people=(3,), frames=40, noise=0.01, seed=3)


def unrelated_frames(clips, count, rng, change_camera):
    """Frames of one person each, every one another person (clip, person, time far apart), near
    the image centre; with ``change_camera`` each from other intrinsics."""
    frames = []
    for k in range(count):
        clip = clips[k % len(clips)]
        p = (k // len(clips)) % clip["uv"].shape[1]
        t = int(rng.integers(len(clip["uv"])))
        pose = clip["poses_3d"][t, p]
        K = clip["intrinsics"].copy()
        if change_camera:
            K[0, 0] = K[1, 1] = K[0, 0] * rng.uniform(0.8, 1.2)
        # The root at the image centre whatever the camera.
        K[0, 2] = 640 - K[0, 0] * pose[0, 0] / pose[0, 2]
        K[1, 2] = 360 - K[1, 1] * pose[0, 1] / pose[0, 2]
        frames.append((project(pose, K), np.ones(17), K, pose))
    return frames


def lift_stream(pipeline, frames, settings, noise, frame_ids):
    from gfpose_ros.selection import people_from_arrays

    pipeline.lifter.settings = settings
    pipeline.reset()
    out = []
    for k, (uv, conf, K, _) in enumerate(frames):
        f = pipeline.lift_frame(
            people_from_arrays(uv[None], conf[None]),
            K,
            k / 30,
            noise=noise[k],
            frame_id=frame_ids[k],
        )
        out.append((f.result.poses[0], f))
    return out


@pytest.mark.parametrize("change_camera", [True, False])
def test_unrelated_frames_tracked_within_5_percent_of_independent(
    lift_pipeline, people_clips, change_camera
):
    """Every frame another person near the image centre: tracking must not carry one person's
    pose or position into the next (the camera changes, or the 2D shape does not fit)."""
    rng = np.random.default_rng(0)
    frames = unrelated_frames(people_clips, 24, rng, change_camera)
    noise = rng.standard_normal((len(frames), 1, 10, 51)).astype(np.float32)
    ids = [f"cam{k}" if change_camera else "cam" for k in range(len(frames))]
    settings = lift_pipeline.lifter.settings
    independent = lift_stream(lift_pipeline, frames, settings.replace(tracking=False), noise, ids)
    tracked = lift_stream(lift_pipeline, frames, settings.replace(tracking=True), noise, ids)
    truth = np.stack([f[3] for f in frames])

    def errors(run):
        poses = np.stack([p for p, _ in run])
        rel = np.linalg.norm((poses - poses[:, :1]) - (truth - truth[:, :1]), axis=-1).mean()
        return rel, np.linalg.norm(poses[:, 0] - truth[:, 0], axis=-1).mean()

    (mpjpe_i, root_i), (mpjpe_t, root_t) = errors(independent), errors(tracked)
    assert mpjpe_t <= 1.05 * mpjpe_i, (mpjpe_t, mpjpe_i)
    assert root_t <= 1.05 * root_i, (root_t, root_i)
    if change_camera:  # a new camera ends every track: each frame is a new, cold person
        assert all(not f.tracks.continuing.any() for _, f in tracked[1:])
        np.testing.assert_allclose(
            np.stack([p for p, _ in tracked]), np.stack([p for p, _ in independent])
        )


def test_an_abrupt_change_recovers_within_one_frame(lift_pipeline, people_clips):
    """A tracked person, then another one in the same place (a swap): the swapped frame starts
    cold (restarted) and equals the independent lift of that frame."""
    rng = np.random.default_rng(1)
    clip = people_clips[0]
    K = clip["intrinsics"]
    frames = [
        (clip["uv"][t, 0], clip["confidence"][t, 0], K, clip["poses_3d"][t, 0]) for t in range(8)
    ]
    other = people_clips[1]["poses_3d"][20, 1].copy()
    other += clip["poses_3d"][8, 0, 0] - other[0]  # the other person's pose at the same place
    frames.append((project(other, K), np.ones(17), K, other))
    noise = rng.standard_normal((len(frames), 1, 10, 51)).astype(np.float32)
    ids = ["cam"] * len(frames)
    settings = lift_pipeline.lifter.settings
    tracked = lift_stream(lift_pipeline, frames, settings.replace(tracking=True), noise, ids)
    independent = lift_stream(lift_pipeline, frames, settings.replace(tracking=False), noise, ids)
    last = tracked[-1][1]
    assert last.tracks.restarted[0] or not last.tracks.continuing[0]
    assert last.tracks.previous[0] is None and not last.motion.known[0]
    np.testing.assert_allclose(tracked[-1][0], independent[-1][0], atol=1e-6)
    assert tracked[3][1].tracks.previous[0] is not None  # before the swap: warm starts


# --- crossings and partial occlusion (issue 18) ------------------------------------------------


def test_a_partly_hidden_walker_keeps_its_id_when_seen_whole_again():
    """Walking at 10 px/frame, only its 4 top joints seen for 8 frames (the rest behind someone):
    the hidden joints move on with the track, so when they come back the person still matches.
    (Left where they were last seen, they would be 80 px behind: past the 2D gate.)"""
    tracker = PersonTracker()
    full = np.ones((1, 17), bool)
    top = np.zeros((1, 17), bool)
    top[0, :4] = True
    first = tracker.update(person(100, 200)[None], full, stamp=0.0).ids
    for t in range(1, 4):
        assert tracker.update(person(100 + 10 * t, 200)[None], full, stamp=t / 30).ids == first
    for t in range(4, 12):
        assert tracker.update(person(100 + 10 * t, 200)[None], top, stamp=t / 30).ids == first
    back = tracker.update(person(220, 200)[None], full, stamp=12 / 30)
    assert back.ids == first and back.continuing.all()


def test_a_track_velocity_measured_on_few_joints_is_bounded():
    """Three joints that jump between frames do not become the track's velocity (under 4 shared
    joints it keeps its last), and no velocity exceeds 2 box diagonals per second."""
    tracker = PersonTracker()
    full = np.ones((1, 17), bool)
    first = tracker.update(person(100, 200)[None], full, stamp=0.0).ids
    tracker.update(person(103, 200)[None], full, stamp=1 / 30)
    (track,) = tracker.tracks.values()
    before = track.velocity.copy()
    three = np.zeros((1, 17), bool)
    three[0, :3] = True
    assert tracker.update(person(125, 200)[None], three, stamp=2 / 30).ids == first
    assert np.array_equal(track.velocity, before)  # 3 joints: kept
    assert tracker.update(person(150, 200)[None], full, stamp=3 / 30).ids == first
    diagonal = np.linalg.norm(np.ptp(person(0, 0), axis=0))
    assert np.linalg.norm(track.velocity) <= 2.0 * diagonal + 1e-6


def test_a_track_whose_pose_does_not_fit_is_not_forbidden_by_its_root():
    """A track's last pose lifted from a few joints may fit nobody (its reprojection residual is
    large): its fitted root is then meaningless and must not gate the pair out; the 2D decides."""
    K = np.array([[600.0, 0, 640], [0, 600.0, 360], [0, 0, 1]])
    uv = person(600, 360)[None]
    xy = (uv - K[:2, 2]) / 600.0
    seen = np.ones((1, 17), bool)
    tracker = PersonTracker()
    state = tracker.assign(uv, seen, 0.0, None, xy)
    # A pose all along the optical axis: it projects to one point, so it fits no 2D figure, and
    # its root put 20 m away, far outside the root gate of wherever the fit puts it.
    bad = np.zeros((1, 17, 3))
    bad[0, :, 2] = np.linspace(0.0, 1.0, 17)
    bad[0] += [0.0, 0.0, 20.0]
    tracker.commit(state, np.zeros((1, 51)), bad, bad[:, 0], np.zeros((1, 3)))
    again = tracker.assign(uv + 2.0, seen, 1 / 30, None, xy + 2.0 / 600)
    assert again.ids == state.ids
    assert again.restarted.all()  # and its warm start is replaced by a cold one


def test_id_switches_count_only_the_gaps_the_tracker_bridges():
    """The eval's protocol: a gap counts when the stamps' difference passes the tracker's own
    test (<= track_max_age); a longer one is a return with a new id by design, counted apart."""
    from gfpose_ros.evaluation.eval_tracking import id_switches

    ids = np.array([[0], [0], [None], [1]] + [[None]] * 15 + [[2]], dtype=object)
    # Frames 1 -> 3: a 2-frame gap, bridged, other id: a switch. 3 -> 19: 16 frames > 0.5 s.
    assert id_switches(ids, 0.5, 30.0, returns=True) == (1, 1)
    assert id_switches(ids) == 2  # without max_age every change counts
    # Exactly track_max_age (15 frames at 30 Hz): the tracker keeps the track, so it counts.
    ids = np.array([[0]] + [[None]] * 14 + [[1]], dtype=object)
    stamps_gap = 15 / 30 - 0 / 30
    assert id_switches(ids, 0.5, 30.0) == int(stamps_gap <= 0.5)


# --- people crossing in front of each other (issue 18, item 4) ---------------------------------

K_WALK = np.array([[600.0, 0.0, 640.0], [0.0, 600.0, 360.0], [0.0, 0.0, 1.0]])


def walker(x, depth=6.0):
    """A 17-joint 3D body (metres, camera frame: x right, y down) with its root at x; not flat,
    so that its 2D fixes the camera's scale and centre."""
    k = np.arange(17)
    offsets = np.stack([0.2 * np.cos(k), np.linspace(-0.85, 0.85, 17), 0.1 * np.sin(k)], 1)
    return np.array([x, 0.0, depth]) + offsets


def lifted_frame(tracker, poses, seen, stamp):
    """assign() and commit() of people (N, 17, 3) whose lifted poses are their true ones."""
    poses = np.asarray(poses)
    xy = poses[..., :2] / poses[..., 2:]
    state = tracker.assign(xy * 600.0 + K_WALK[:2, 2], np.asarray(seen), stamp, None, xy)
    tracker.commit(
        state, np.zeros((len(poses), 51)), poses, poses[:, 0], np.zeros((len(poses), 3))
    )
    return state


def test_a_person_back_on_joints_its_track_never_saw_keeps_its_id():
    """Seen on its upper joints only (the rest behind someone nearer), hidden, then seen on its
    lower joints only: not one joint in common with what its track saw. The track's never-seen
    joints are where its lifted pose projects, so the person still matches its track (they
    used to share no joint with it: a new id)."""
    tracker = PersonTracker()
    upper, lower = np.arange(17) < 6, np.arange(17) >= 11
    first = lifted_frame(tracker, [walker(-1.0)], [upper], 0.0).ids
    for t in range(1, 4):  # 1 m/s to the right
        assert lifted_frame(tracker, [walker(-1.0 + t / 30)], [upper], t / 30).ids == first
    back = lifted_frame(tracker, [walker(-1.0 + 8 / 30)], [lower], 8 / 30)
    assert back.ids == first


def test_a_velocity_measured_on_a_few_joints_moves_the_track_less():
    """A track's 2D velocity is a Kalman estimate: a jump measured on 4 joints (whose centroid
    swings with the limbs) changes it less than the same jump measured on the whole body (both
    used to move it halfway)."""

    def change(joints):
        tracker = PersonTracker()
        full = np.ones((1, 17), bool)
        for t in range(8):  # 3 px/frame
            tracker.update(person(100 + 3 * t, 200)[None], full, stamp=t / 30)
        (track,) = tracker.tracks.values()
        before = track.velocity[0]
        seen = (np.arange(17) < joints)[None]
        tracker.update(person(100 + 3 * 8 + 6, 200)[None], seen, stamp=8 / 30)  # 6 px ahead
        return track.velocity[0] - before

    few, whole = change(4), change(17)
    assert 0 < few < 0.5 * whole


def test_a_pair_dearer_than_two_unmatched_is_not_taken():
    """optimal_assignment with an unmatched cost: the cheapest total, not the most pairs. Row 0
    fits column 0; the most pairs would give column 0 to row 1 and the poor column 1 to row 0
    (a person taking a hidden track because a newcomer took theirs)."""
    cost = np.array([[1.0, 9.0], [2.0, np.inf]])
    assert optimal_assignment(cost, 100.0) == [(0, 1), (1, 0)]  # the most pairs
    assert optimal_assignment(cost, 100.0, unmatched_cost=3.0) == [(0, 0)]
    assert optimal_assignment(np.array([[7.0]]), 100.0, unmatched_cost=3.0) == []


def test_given_intrinsics_place_the_lifted_joints_where_recovered_ones_do():
    """assign(..., K): commit() projects the lifted pose with the frame's intrinsics instead of
    recovering them from the keypoints by least squares; both put the never-seen joints at the
    same pixels."""
    upper = np.arange(17) < 6
    placed = []
    for with_k in (False, True):
        tracker = PersonTracker()
        for t in range(3):
            poses = np.array([walker(-1.0 + 0.1 * t)])
            xy = poses[..., :2] / poses[..., 2:]
            uv = xy * 600.0 + K_WALK[:2, 2]
            state = tracker.assign(
                uv, np.array([upper]), t / 30, None, xy, K_WALK if with_k else None
            )
            tracker.commit(state, np.zeros((1, 51)), poses, poses[:, 0], np.zeros((1, 3)))
        assert (state.to_pixels is not None) == with_k
        placed.append(next(iter(tracker.tracks.values())).uv)
    np.testing.assert_allclose(placed[1], placed[0], atol=1e-6)


def test_eval_tracking_table_reports_the_spread_calibration_per_mode():
    """The eval-tracking table carries error / spread and the share within 2 spreads of every
    mode, so the tracked spread is judged beside the cold one."""
    from gfpose_ros.evaluation.eval_tracking import format_row, markdown_table

    run = {
        "mode": "default (tracked + Kalman)",
        "mpjpe_mm": 58.7,
        "root_error_mm": 487.0,
        "root_error_last_third_mm": 487.0,
        "acceleration_error_mm_per_frame2": 20.4,
        "lag_frames": 0,
        "id_switches": 0,
        "error_to_spread_ratio": 0.99,
        "within_two_spread": 0.98,
        "network_evaluations_per_frame": 2.02,
        "warm_started_share": 0.99,
    }
    table = markdown_table({"runs": [run]})
    assert "error / spread (within 2 spreads)" in table.splitlines()[0]
    assert "| 0.99 (98%) |" in table.splitlines()[2]
    assert "error/spread 0.99 (within 2: 98%)" in format_row(run)
    one = {**run, "error_to_spread_ratio": None, "within_two_spread": None}  # one hypothesis
    assert "| - |" in markdown_table({"runs": [one]}).splitlines()[2]


def test_clips_of_a_left_out_source_can_use_all_its_sequences():
    # A model that left a source out whole has seen none of its sequences; its held-out split
    # alone is one actor of HDM05 (harder than the source as a whole, see the model card).
    from gfpose_ros.evaluation.eval_tracking import source_sequences

    heldout = {name for name, _ in source_sequences(None, "hdm05", 90)}
    every = {name for name, _ in source_sequences(None, "hdm05", 90, "all")}
    assert heldout < every and len(every) >= 4 * len(heldout)
    with pytest.raises(ValueError, match="sequences must be one of"):
        source_sequences(None, "hdm05", 90, "train")
