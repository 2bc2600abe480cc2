"""People over time: track identities and the One-Euro filter (pipeline.FramePipeline uses both).

    tracker = PersonTracker(max_age=0.5)
    state = tracker.assign(uv, seen, stamp, ids)   # before the lift: ids and warm starts
    state.ids          # per person: the detector's id where it sent one, else a stable integer
    state.previous     # per person: the pose to warm-start from (model units), None = cold start
    tracker.commit(state, result.model_poses)     # after the lift

``PersonTracker`` keeps the detector's ids, or matches people to tracks on their 2D keypoints
(mean joint distance over the joints seen in both, in units of the track's 2D size, gated,
greedy lowest cost first). A track survives gaps up to ``max_age`` seconds; a person whose
track was seen in the previous frame continues it (warm start), a new or re-appearing one
starts cold. ``OneEuroFilter`` (Casiez et al. 2012) smooths a track's output if asked.
"""

from dataclasses import dataclass

import numpy as np

# One-Euro settings of smooth_poses (min_cutoff Hz, beta s/m, d_cutoff Hz): the best jitter for at
# most ~1 mm more MPJPE on `gfpose eval-tracking`'s clips (see the README).
DEFAULT_SMOOTHING = {"min_cutoff": 2.0, "beta": 20.0, "d_cutoff": 1.0}


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


def _given(track_id):
    """A detector's id counts when it is a non-empty string or an integer >= 0."""
    if track_id is None or isinstance(track_id, bool):
        return False
    if isinstance(track_id, str):
        return track_id != ""
    return isinstance(track_id, (int, np.integer)) and track_id >= 0


def greedy_assignment(cost, max_cost):
    """[(row, column)] in increasing cost, each row and column at most once, cost <= max_cost.

    Greedy rather than optimal (no scipy): with the few people of a frame and a gate well below
    the distance between people, the cheapest pairs are the right ones.
    """
    pairs, rows, cols = [], set(), set()
    for flat in np.argsort(cost, axis=None, kind="stable"):
        r, c = divmod(int(flat), cost.shape[1])
        if not cost[r, c] <= max_cost:  # sorted: nothing cheaper follows (inf and NaN last)
            break
        if r not in rows and c not in cols:
            pairs.append((r, c))
            rows.add(r)
            cols.add(c)
    return pairs


def keypoint_cost(track_uv, track_seen, uv, seen, min_shared=3):
    """(T, N) mean distance of the joints seen in both, in units of the track's 2D box diagonal.

    inf where fewer than ``min_shared`` joints are seen in both. The unit makes the gate the
    same for a person near the camera and one far away.
    """
    shared = track_seen[:, None] & seen[None]  # (T, N, J)
    distance = np.linalg.norm(np.nan_to_num(track_uv[:, None] - uv[None]), axis=-1)
    count = shared.sum(-1)
    mean = np.where(shared, distance, 0.0).sum(-1) / np.maximum(count, 1)
    low = np.where(track_seen[..., None], track_uv, np.inf).min(1)
    high = np.where(track_seen[..., None], track_uv, -np.inf).max(1)
    diagonal = np.linalg.norm(
        high - low, axis=-1
    )  # inf for a track with nothing seen: masked below
    cost = mean / np.maximum(diagonal, 1.0)[:, None]
    return np.where(count >= min_shared, cost, np.inf)


@dataclass
class Track:
    id: object
    uv: np.ndarray  # (J, 2) pixels, last seen
    seen: np.ndarray  # (J,) bool
    velocity: np.ndarray  # (2,) pixels/s of the seen joints' centroid: predicts the next frame
    stamp: float  # seconds, last seen
    frame: int  # tracker update count when last seen
    from_detector: bool  # its id came from the detector (then only that id matches it)
    pose: np.ndarray = None  # (51,) model units: the last lifted pose, the next warm start


@dataclass
class TrackState:
    """The tracker's answer for one frame, per person in input order."""

    ids: list  # the detector's id where it sent one, else the tracker's integer
    continuing: (
        np.ndarray
    )  # (N,) bool: its track was seen in the previous frame (else new or back)
    previous: list  # (51,) model-units pose to warm-start from, or None: start cold
    uv: np.ndarray  # (N, J, 2) the frame's keypoints, kept for commit
    seen: np.ndarray  # (N, J) bool
    from_detector: np.ndarray  # (N,) bool: the id is the detector's
    stamp: float


class PersonTracker:
    """Stable ids for the people of consecutive frames; see the module docstring.

    ``max_age`` seconds: a track unseen for longer is dropped (its person comes back new).
    ``max_cost``: the gate, mean joint distance in units of the track's 2D box diagonal.
    ``warm_gap`` seconds: a continuing track older than this starts cold anyway (a stalled stream).
    """

    def __init__(
        self,
        max_age=0.5,
        max_cost=0.3,
        warm_gap=0.25,
        min_shared_joints=3,
    ):
        if not max_age > 0:
            raise ValueError(f"max_age must be > 0 seconds, got {max_age}")
        if not max_cost > 0:
            raise ValueError(f"max_cost must be > 0, got {max_cost}")
        self.max_age = float(max_age)
        self.max_cost = float(max_cost)
        self.warm_gap = float(warm_gap)
        self.min_shared_joints = int(min_shared_joints)
        self.reset()

    def reset(self):
        self.tracks = {}  # id -> Track
        self.frame = 0
        self.stamp = None
        self._next_id = 0
        # str() of every id a detector sent: the tracker's own ids skip them.
        self._detector_ids = set()

    def update(self, uv, seen, stamp, ids=None, model_poses=None):
        """assign() then commit(): for a caller that lifts nothing or lifts afterwards."""
        state = self.assign(uv, seen, stamp, ids)
        self.commit(state, model_poses)
        return state

    def assign(self, uv, seen, stamp, ids=None):
        """Ids and warm starts for the N people of a frame: uv (N, J, 2) pixels, seen (N, J) the
        joints that count as observed (selection.confident_joints), stamp seconds, ids: the
        detector's per person, or None. Changes no track: commit() does."""
        uv = np.asarray(uv, dtype=np.float64)
        seen = np.asarray(seen, dtype=bool)
        n = len(uv)
        if ids is not None and len(ids) != n:
            raise ValueError(f"ids must hold one entry per person: {n}, got {len(ids)}")
        stamp = float(stamp)
        # Time going backwards (a replayed recording) starts over: no track continues.
        live = {} if self._went_back(stamp) else self._live_tracks(stamp)
        assigned = [None] * n
        for i, track_id in enumerate(ids if ids is not None else [None] * n):
            if _given(track_id) and track_id not in assigned:  # a duplicate id is no id
                assigned[i] = track_id
        from_detector = np.array([a is not None for a in assigned], dtype=bool)
        # People without a detector id: match them to the tracker's own tracks on their keypoints.
        people = [i for i in range(n) if assigned[i] is None]
        tracks = [t for t in live.values() if not t.from_detector]
        if people and tracks:
            predicted = np.stack([t.uv + t.velocity * (stamp - t.stamp) for t in tracks])
            cost = keypoint_cost(
                predicted,
                np.stack([t.seen for t in tracks]),
                uv[people],
                seen[people],
                self.min_shared_joints,
            )
            for r, c in greedy_assignment(cost, self.max_cost):
                assigned[people[c]] = tracks[r].id
        for i in range(n):
            if assigned[i] is None:
                assigned[i] = self._new_id(assigned)
        continuing = np.zeros(n, dtype=bool)
        previous = [None] * n
        for i, track_id in enumerate(assigned):
            track = live.get(track_id)
            if (
                track is not None
                and track.frame == self.frame
                and stamp - track.stamp <= self.warm_gap
            ):
                continuing[i] = True
                previous[i] = track.pose
        return TrackState(assigned, continuing, previous, uv, seen, from_detector, stamp)

    def _new_id(self, taken):
        """The next integer no track, no person of this frame and no detector has used."""
        taken = (
            {str(t) for t in taken if t is not None}
            | {str(t) for t in self.tracks}
            | self._detector_ids
        )
        while str(self._next_id) in taken:
            self._next_id += 1
        self._next_id += 1
        return self._next_id - 1

    def commit(self, state, model_poses=None):
        """Record the frame: tracks move to the people's keypoints (and their lifted poses,
        Lifter's ``model_poses``, the next warm starts); stale tracks are dropped."""
        if self._went_back(state.stamp):
            self.reset()
        self.frame += 1
        self.tracks = self._live_tracks(state.stamp)
        for i, track_id in enumerate(state.ids):
            pose = None if model_poses is None else np.array(model_poses[i], dtype=np.float64)
            track = self.tracks.get(track_id)
            seen = state.seen[i]
            if state.from_detector[i]:
                self._detector_ids.add(str(track_id))
            if track is None:
                self.tracks[track_id] = Track(
                    track_id,
                    state.uv[i].copy(),
                    seen.copy(),
                    np.zeros(2),
                    state.stamp,
                    self.frame,
                    bool(state.from_detector[i]),
                    pose,
                )
                continue
            dt = state.stamp - track.stamp
            both = seen & track.seen
            if dt > 0 and both.any():
                track.velocity = (state.uv[i][both].mean(0) - track.uv[both].mean(0)) / dt
            # Joints unseen now keep their last position, so a brief occlusion still matches.
            track.uv = np.where(seen[:, None], state.uv[i], track.uv)
            track.seen = seen | track.seen
            track.stamp, track.frame, track.pose = state.stamp, self.frame, pose
        self.stamp = state.stamp

    def _went_back(self, stamp):
        return self.stamp is not None and stamp < self.stamp

    def _live_tracks(self, stamp):
        """The tracks seen within max_age of ``stamp``; older ones are gone for good."""
        return {k: t for k, t in self.tracks.items() if stamp - t.stamp <= self.max_age}
