"""The one path a frame takes, for the node, the demo and evaluation alike:

    keypoints (+ depth) (+ track state) -> select people -> lift (one graph call)
        -> pose, hypotheses, spread, flags, position source, track id

    pipeline = FramePipeline(Lifter(spec, settings))
    frame = pipeline.lift_frame(people, K, stamp)    # people: [selection.Person2D]
    frame.ids, frame.result, frame.skipped

Tracking is a setting (``LiftSettings.tracking``), not another path: with it, people the
detector sends without an id get a stable track id (selection's validated keypoints go to
``tracking.PersonTracker``), continuing tracks warm-start from their last pose in the same
graph call (unless their last pose no longer fits the frame's 2D: then cold), and a
constant-velocity Kalman filter per track (``motion.PersonMotion``) gives the velocities and,
with ``motion_filter``, the published joints; ``smooth_poses`` adds a One-Euro filter. Without
tracking, the ids are the detector's, every person starts cold and no velocity is known. A
new camera (``frame_id`` or intrinsics) ends every track: its people are not the same. Each
frame reads ``lifter.settings`` once, so a settings swap between two frames applies whole to the
next one; a change of a tracking setting starts the tracks over.
"""

from dataclasses import dataclass, field

import numpy as np

from .camera import check_intrinsics, pixels_to_normalized
from .depth_fusion import DEPTH
from .lifter import LiftResult
from .motion import MotionArrays, PersonMotion, unknown_motion
from .selection import select_people
from .tracking import DEFAULT_SMOOTHING, OneEuroFilter, PersonTracker

# The settings that shape the tracks: changing one starts them over.
TRACK_SETTINGS = (
    "tracking",
    "warm_start",
    "track_max_age",
    "smooth_poses",
    "motion_filter",
    "confidence_threshold",
)


@dataclass
class FrameResult:
    ids: list  # per lifted person: the detector's id, or with tracking the track's id
    result: LiftResult
    skipped: list = field(default_factory=list)  # [(kind, reason)] of the people not lifted
    indices: list = field(default_factory=list)  # each lifted person's index in the input
    tracks: object = None  # tracking.TrackState with tracking, else None
    # motion.MotionArrays per lifted person: velocities and their uncertainty (unknown = zeros
    # and known False: without tracking, on a track's first frame, after a restart).
    motion: object = None

    def __post_init__(self):
        if self.motion is None:
            self.motion = unknown_motion(len(self.ids))


class FramePipeline:
    def __init__(self, lifter, smoothing=DEFAULT_SMOOTHING):
        self.lifter = lifter
        self.smoothing = dict(smoothing)
        OneEuroFilter(**self.smoothing)  # a bad argument fails here, not on the first frame
        self._track_key = None
        self.tracker = None
        self._filters = {}  # track id -> OneEuroFilter
        self._motion = {}  # track id -> motion.PersonMotion
        self._camera = None  # (frame_id, K) of the tracks: another camera ends them

    def prepare_tracking(self):
        """Build now what the current settings' tracking will need (the tracking graph), so
        that the first tracked frame does not pay for it."""
        settings = self.lifter.settings
        if settings.tracking and settings.warm_start:
            self.lifter.warm_backend()

    def reset(self):
        """Forget every track (a new stream)."""
        self._track_key = None

    def lift_frame(self, people, K, stamp, depth=None, noise=None, frame_id=None):
        """Lift one frame: ``people`` [selection.Person2D], ``K`` (3, 3) intrinsics, ``stamp``
        seconds, ``depth`` (H, W) metres or None (see Lifter.lift_people), ``noise`` (N, H, 51)
        for the N people lifted (a reproducible run), ``frame_id`` the camera's frame (a new one
        ends the tracks, as new intrinsics do). Raises InputError, LayoutError or CameraError on
        a malformed frame; people with too few joints are skipped with a reason.
        """
        settings = self.lifter.settings  # once: a swap during this frame applies to the next
        chosen = select_people(people, settings)
        n = len(chosen.ids)
        if n == 0:
            return FrameResult([], LiftResult.empty(settings.num_hypotheses), chosen.skipped)
        K = np.repeat(check_intrinsics(K).reshape(1, 3, 3), n, axis=0)  # cheaper than broadcast_to
        if not settings.tracking:
            result = self.lifter.lift_people(
                chosen.uv, chosen.confidence, chosen.observed, K, settings, noise, depth=depth
            )
            return FrameResult(chosen.ids, result, chosen.skipped, chosen.indices)
        tracker = self._tracker_for(settings)
        self._check_camera(frame_id, K[0])
        xy = pixels_to_normalized(chosen.uv, K)
        state = tracker.assign(chosen.uv, chosen.observed, stamp, chosen.ids, xy, K[0])
        previous = state.previous if settings.warm_start else None
        result = self.lifter.lift_people(
            chosen.uv,
            chosen.confidence,
            chosen.observed,
            K,
            settings,
            noise,
            previous=previous,
            depth=depth,
        )
        raw = result.poses
        filtered, motion = self._filter_motion(state, result)
        tracker.commit(
            state,
            result.model_poses,
            raw,
            filtered[:, 0],
            motion.velocity,
        )
        if settings.motion_filter:
            result.poses = filtered
        if settings.smooth_poses:
            result.poses = self._smooth(state, result.poses)
        return FrameResult(list(state.ids), result, chosen.skipped, chosen.indices, state, motion)

    def _check_camera(self, frame_id, K):
        """Another camera (frame_id or intrinsics) ends every track: not the same people."""
        camera = self._camera
        if camera is not None and camera[0] == frame_id and np.array_equal(camera[1], K):
            return  # the same camera (the usual frame: no copy, no tolerance test)
        if camera is not None and (
            camera[0] != frame_id
            or camera[1].shape != K.shape
            or not np.allclose(camera[1], K, rtol=1e-6, atol=1e-9)
        ):
            self.tracker.reset()
            self._filters, self._motion = {}, {}
        self._camera = (frame_id, np.array(K, dtype=np.float64))

    def _filter_motion(self, state, result):
        """Each track's motion filter: (filtered poses (N, 17, 3), motion.MotionArrays)."""
        filtered, estimates = np.empty_like(result.poses), []
        for i, track_id in enumerate(state.ids):
            motion = self._motion.get(track_id)
            if motion is None:
                motion = self._motion[track_id] = PersonMotion()
            estimate = motion.update(
                result.poses[i],
                result.joint_std[i],
                state.stamp,
                depth_measured=result.position_source[i] == DEPTH,
                restart=bool(state.restarted[i]),
            )
            filtered[i] = estimate.pose
            estimates.append(estimate)
        live = self.tracker.tracks.keys() | set(state.ids)
        self._motion = {k: m for k, m in self._motion.items() if k in live}
        return filtered, MotionArrays.stack(estimates)

    def _tracker_for(self, settings):
        key = tuple(getattr(settings, name) for name in TRACK_SETTINGS)
        if key != self._track_key:
            self.tracker = PersonTracker(max_age=settings.track_max_age)
            self._filters, self._motion, self._camera = {}, {}, None
            self._track_key = key
        return self.tracker

    def _smooth(self, state, poses):
        smoothed = np.empty_like(poses)
        for i, track_id in enumerate(state.ids):
            if track_id not in self._filters or not state.continuing[i]:
                self._filters[track_id] = OneEuroFilter(**self.smoothing)  # a new person
            # The root (a monocular distance, much noisier) and the root-relative pose are
            # filtered apart, so the root's noise does not raise the pose's speed-driven cutoff.
            root, rel = poses[i, :1], poses[i] - poses[i, :1]
            filtered = self._filters[track_id](np.concatenate([root, rel]), state.stamp)
            smoothed[i] = filtered[1:] + filtered[:1]
        self._filters = {k: f for k, f in self._filters.items() if k in self.tracker.tracks}
        return smoothed
