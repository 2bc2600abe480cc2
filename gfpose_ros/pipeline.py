"""The one path a frame takes, for the node, the demo and evaluation alike:

    keypoints (+ depth) (+ track state) -> select people -> lift (one graph call)
        -> pose, hypotheses, spread, flags, position source, track id

    pipeline = FramePipeline(Lifter(spec, settings))
    frame = pipeline.lift_frame(people, K, stamp)    # people: [selection.Person2D]
    frame.ids, frame.result, frame.skipped

Tracking is a setting (``LiftSettings.tracking``), not another path: with it, people the
detector sends without an id get a stable track id (selection's validated keypoints go to
``tracking.PersonTracker``), continuing tracks warm-start from their last pose in the same
graph call, and ``smooth_poses`` filters each track's joints. Without it, the ids are the
detector's and every person starts cold. Each frame reads ``lifter.settings`` once, so a
settings swap between two frames applies whole to the next one; a change of a tracking setting
starts the tracks over.
"""

from dataclasses import dataclass, field

import numpy as np

from .camera import check_intrinsics
from .lifter import LiftResult
from .selection import select_people
from .tracking import DEFAULT_SMOOTHING, OneEuroFilter, PersonTracker

# The settings that shape the tracks: changing one starts them over.
TRACK_SETTINGS = (
    "tracking",
    "warm_start",
    "track_max_age",
    "smooth_poses",
    "confidence_threshold",
)


@dataclass
class FrameResult:
    ids: list  # per lifted person: the detector's id, or with tracking the track's id
    result: LiftResult
    skipped: list = field(default_factory=list)  # [(kind, reason)] of the people not lifted
    indices: list = field(default_factory=list)  # each lifted person's index in the input
    tracks: object = None  # tracking.TrackState with tracking, else None


class FramePipeline:
    def __init__(self, lifter, smoothing=DEFAULT_SMOOTHING):
        self.lifter = lifter
        self.smoothing = dict(smoothing)
        OneEuroFilter(**self.smoothing)  # a bad argument fails here, not on the first frame
        self._track_key = None
        self.tracker = None
        self._filters = {}  # track id -> OneEuroFilter

    def prepare_tracking(self):
        """Build now what the current settings' tracking will need (the tracking graph), so
        that the first tracked frame does not pay for it."""
        settings = self.lifter.settings
        if settings.tracking and settings.warm_start:
            self.lifter.warm_backend()

    def reset(self):
        """Forget every track (a new stream)."""
        self._track_key = None

    def lift_frame(self, people, K, stamp, depth=None, noise=None):
        """Lift one frame: ``people`` [selection.Person2D], ``K`` (3, 3) intrinsics, ``stamp``
        seconds, ``depth`` (H, W) metres or None (see Lifter.lift_people), ``noise`` (N, H, 51)
        for the N people lifted (a reproducible run). Raises InputError, LayoutError or
        CameraError on a malformed frame; people with too few joints are skipped with a reason.
        """
        settings = self.lifter.settings  # once: a swap during this frame applies to the next
        chosen = select_people(people, settings)
        n = len(chosen.ids)
        if n == 0:
            return FrameResult([], LiftResult.empty(settings.num_hypotheses), chosen.skipped)
        K = np.broadcast_to(check_intrinsics(K), (n, 3, 3))
        if not settings.tracking:
            result = self.lifter.lift_people(
                chosen.uv, chosen.confidence, chosen.observed, K, settings, noise, depth=depth
            )
            return FrameResult(chosen.ids, result, chosen.skipped, chosen.indices)
        tracker = self._tracker_for(settings)
        state = tracker.assign(chosen.uv, chosen.observed, stamp, chosen.ids)
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
        tracker.commit(state, result.model_poses)
        if settings.smooth_poses:
            result.poses = self._smooth(state, result.poses)
        return FrameResult(list(state.ids), result, chosen.skipped, chosen.indices, state)

    def _tracker_for(self, settings):
        key = tuple(getattr(settings, name) for name in TRACK_SETTINGS)
        if key != self._track_key:
            self.tracker = PersonTracker(max_age=settings.track_max_age)
            self._filters = {}
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
