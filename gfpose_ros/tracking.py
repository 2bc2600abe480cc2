"""People over time: track identities and the One-Euro filter (pipeline.FramePipeline uses both).

    tracker = PersonTracker(max_age=0.5)
    state = tracker.assign(uv, seen, stamp, ids, xy)  # before the lift: ids and warm starts
    state.ids          # per person: the detector's id where it sent one, else a stable integer
    state.previous     # per person: the pose to warm-start from (model units), None = cold start
    state.restarted    # per person: a continuing track whose warm start disagreed with the 2D
    tracker.commit(state, result.model_poses, poses, roots, root_velocities)  # after the lift

``PersonTracker`` keeps the detector's ids, or matches people to tracks by a global (optimal)
assignment on a cost that is the negative log-likelihood of the person under the track's
prediction (see the constants below), where leaving a track or a person unmatched has a cost of
its own, so that a poor pair is not taken just because it is within the gates:

- the mean joint distance to the track's predicted 2D, in units of the track's 2D size (gated);
- the change of 2D scale on the joints seen in both (gated: a far and a near person do not swap);
- with normalised coordinates ``xy``: the track's last pose fitted to the person's 2D, its root
  against the track's predicted 3D root (gated where the pose fits), and its reprojection
  residual (the 2D shape), where both rest on enough joints.

A track's 2D velocity is a constant-velocity Kalman estimate (measured on 4+ joints seen in two
frames, bounded); its joints unseen in a frame move on with it, so a person partly hidden
behind another still matches on them, and its joints never seen are placed where its lifted
pose projects, so a person seen on other joints when back from behind someone still matches.

A continuing track warm-starts from its last pose only when that pose, refitted, reprojects onto
the frame's 2D (residual below ``warm_gate`` of the person's 2D size); otherwise it starts cold
in the same graph call (``restarted``: a fall, a swap, another person in its place). A track
survives gaps up to ``max_age`` seconds; a person whose track was seen in the previous frame
continues it, a new or re-appearing one starts cold. ``OneEuroFilter`` (Casiez et al. 2012)
smooths a track's output if asked.
"""

from dataclasses import dataclass

import numpy as np

from .camera import fit_root_translation

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


# The association cost of a track and a person is the negative log-likelihood of the person's
# 2D (and, where it means something, 3D) under the track's prediction: per residual, its
# square in units of its tolerance (Student's t with TAIL_2D or TAIL_3D degrees of freedom:
# predictions fail now and then, a person stops or turns, a detector jumps, and a large miss
# then costs in proportion to its log) plus twice the log of that tolerance over the tolerance
# of a fresh, wholly seen track. So a vaguer prediction (a track unseen for a while, a velocity
# measured on a few joints, a person seen on a few joints) explains a person less well than a
# sharp one that fits as closely: a barely seen person does not win a track cheaply from a
# wholly seen one. A residual that cannot be measured counts with the tolerance of its gate.
# The tolerances and tails are fitted to the residuals between tracks and their own people on
# `gfpose eval-tracking`'s walking clips (with the 2D tolerances about twice the spread of the
# residuals: tighter ones, or lighter tails, lose people coming back after a gap).
TAIL_2D = 2.0
TAIL_3D = 4.0
# 2D: the mean joint distance to the track's prediction (units of the track's 2D box diagonal)
# has the tolerance KP_NOISE / sqrt(joints) (2D noise and the limbs' swing) plus, per second
# unseen, the track's velocity uncertainty and KP_DRIFT (the limbs move on while the track
# only translates its last keypoints).
KP_NOISE = 0.14
KP_DRIFT = 0.42
KP_REFERENCE = KP_NOISE / np.sqrt(17)
# The 2D scale (|log| of the size ratio on the joints seen in both) has the tolerance
# SCALE_NOISE / (joints - 2) + SCALE_DRIFT * seconds unseen, times how much more bunched the
# shared joints are than the whole body (a head and shoulders measure a size poorly). It is
# measured on MIN_JOINTS_FOR_SHAPE joints or more, and gates (max_scale_change, times the same
# factor) on MIN_JOINTS_FOR_SCALE_GATE or more: on 4 the ratio is too noisy to forbid.
SCALE_NOISE = 0.32
SCALE_DRIFT = 0.4
SCALE_REFERENCE = SCALE_NOISE / 15
MIN_JOINTS_FOR_SHAPE = 4
MIN_JOINTS_FOR_SCALE_GATE = 6
# 3D: the track's last pose fitted to the person's 2D gives a root, compared with the track's
# predicted root (units of max_root_distance's: 0.3 m + 15% of the distance; gated), and a
# reprojection residual, the 2D shape (units of the person's 2D size). Both count only where
# the track's pose was lifted from, and the person is seen on, MIN_JOINTS_FOR_3D joints or more
# (a pose lifted from a few joints is a guess, and a fit on a few joints fits any pose and puts
# the root anywhere along the ray), and where the pose explains someone in the frame (a
# residual of at most FIT_FOR_ROOT: a pose that fits nobody says nothing); the root, only where
# it explains this person. Tolerances: the root's ROOT_NOISE * 17 / joints + ROOT_DRIFT per
# second unseen; the residual's RESIDUAL_NOISE + RESIDUAL_DRIFT per second unseen (a walker's
# shape changes: after a quarter of a second their last pose fits them no better than someone
# else); neither above its gate's.
MIN_JOINTS_FOR_3D = 8
FIT_FOR_ROOT = 0.5
ROOT_NOISE = 0.08
ROOT_DRIFT = 2.5
RESIDUAL_NOISE = 0.06
RESIDUAL_DRIFT = 1.0
# What leaving a track or a person unmatched costs (a track unseen this frame, a new person):
# a pair is taken only below twice this. A wholly seen person costs about 5 to its own track,
# one seen on 4 joints about 20 (mostly the terms it cannot measure); someone else, 22 or more.
UNMATCHED_COST = 15.0
# A track's 2D velocity (pixels/s) is a constant-velocity Kalman estimate of the motion of its
# joints, in 2D box diagonals per second: measured on the joints seen in two frames (at least
# MIN_JOINTS_FOR_VELOCITY; their centroid, so that an occlusion that hides some joints does not
# move it), with a measurement noise of POSITION_NOISE box diagonals per joint and frame; it
# drifts as a random walk of VELOCITY_DRIFT diagonals^2/s^3 (a walker changes pace slowly), and
# starts unknown, at UNKNOWN_SPEED diagonals/s. The fastest a person moves is
# MAX_SPEED_DIAGONALS diagonals/s (about 4 m/s for an adult).
MIN_JOINTS_FOR_VELOCITY = 4
POSITION_NOISE = 0.02
VELOCITY_DRIFT = 0.1
UNKNOWN_SPEED = 1.0
MAX_SPEED_DIAGONALS = 2.0
_BIG = 1e9  # a forbidden pair in optimal_assignment (finite, so the potentials stay finite)


def _hungarian(cost):
    """Row -> column of the minimum-cost perfect matching of a square matrix (Kuhn-Munkres with
    potentials, O(n^3), the inner loop over columns in numpy; n is a frame's people + tracks)."""
    n = len(cost)
    u, v = np.zeros(n + 1), np.zeros(n + 1)
    p, way = np.zeros(n + 1, dtype=int), np.zeros(n + 1, dtype=int)  # p[j]: row of column j
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = np.full(n + 1, np.inf), np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            free = ~used[1:]
            current = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (current < minv[1:])
            minv[1:][better] = current[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[p[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    rows = np.empty(n, dtype=int)
    rows[p[1:] - 1] = np.arange(n)
    return rows


def optimal_assignment(cost, max_cost, unmatched_cost=None):
    """[(row, column)] of an exact assignment (inf and NaN, and costs above ``max_cost``, forbid
    a pair). Without ``unmatched_cost``: the most pairs, and among those the lowest total cost.
    With it: the lowest total cost when each row or column left unassigned costs
    ``unmatched_cost``, so a pair dearer than two of those is never taken. The matrix is padded
    with one "unassigned" slot per row and per column.
    """
    cost = np.asarray(cost, dtype=np.float64)
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return []
    allowed = cost <= max_cost  # False for inf and NaN
    if unmatched_cost is not None:
        allowed &= cost <= 2.0 * unmatched_cost
    if rows == 1 or cols == 1:  # one track or one person: the cheapest allowed pair
        flat = int(np.argmin(np.where(allowed, cost, np.inf)))
        r, c = divmod(flat, cols)
        return [(r, c)] if allowed[r, c] else []
    # A pair costs its cost; leaving a row or a column unassigned costs ``unmatched_cost``, or
    # by default a fixed amount larger than any allowed pair, so that more pairs always win.
    skip = 2.0 * (np.abs(np.where(allowed, cost, 0.0)).max() + 1.0)
    if unmatched_cost is not None:
        skip = float(unmatched_cost)
    n = rows + cols
    square = np.full((n, n), _BIG)
    square[:rows, :cols] = np.where(allowed, cost, _BIG)
    square[:rows, cols:][np.diag_indices(rows)] = skip
    square[rows:, :cols][np.diag_indices(cols)] = skip
    square[rows:, cols:] = 0.0
    match = _hungarian(square)
    return sorted(
        (r, int(match[r])) for r in range(rows) if match[r] < cols and allowed[r, match[r]]
    )


def scale_change(track_uv, track_seen, uv, seen, spread=False):
    """(T, N) |log| of the ratio of the person's 2D size to the track's, both measured on the
    joints seen in both (RMS distance from their centroid); inf with fewer than 2 shared. With
    ``spread``, also (T, N) the track's whole 2D size over its size on those joints (>= 1): on
    joints bunched together (a head and shoulders) the ratio is that many times noisier."""
    track_uv, uv = np.nan_to_num(track_uv), np.nan_to_num(uv)
    w = (track_seen[:, None] & seen[None]).astype(np.float64)  # (T, N, J)
    count = w.sum(-1)
    n = np.maximum(count, 1.0)
    # Weighted variance as E[|p|^2] - |E[p]|^2, each a weighted sum over the joints (no (T, N,
    # J, 2) temporaries: this runs on every frame).
    a_mean = np.einsum("tnj,tjc->tnc", w, track_uv) / n[..., None]
    a_var = np.einsum("tnj,tj->tn", w, (track_uv * track_uv).sum(-1)) / n
    b_mean = np.einsum("tnj,njc->tnc", w, uv) / n[..., None]
    b_var = np.einsum("tnj,nj->tn", w, (uv * uv).sum(-1)) / n
    a = np.maximum(a_var - (a_mean * a_mean).sum(-1), 0.0)
    b = np.maximum(b_var - (b_mean * b_mean).sum(-1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.abs(0.5 * np.log(b / a))
    change = np.where((count >= 2) & np.isfinite(change), change, np.inf)
    if not spread:
        return change
    w = track_seen.astype(np.float64)
    n = np.maximum(w.sum(-1), 1.0)[:, None]
    mean = (w[..., None] * track_uv).sum(1) / n
    whole = (w * (track_uv * track_uv).sum(-1)).sum(-1, keepdims=True) / n
    whole = np.maximum(whole - (mean * mean).sum(-1, keepdims=True), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(whole / a)
    return change, np.where(np.isfinite(ratio), np.maximum(ratio, 1.0), np.inf)


def pose_fit(rel, xy, seen):
    """Each track's root-relative pose (T, 17, 3) metres fitted to each person's 2D (N, 17, 2)
    normalised, on the person's seen joints (N, 17): (roots (T, N, 3) metres, residual (T, N):
    the RMS reprojection error of the seen joints in units of the person's 2D size). A residual
    near 0 means the pose explains the person's 2D shape; inf where the fit fails."""
    w = np.asarray(seen, dtype=np.float64)  # (N, J)
    roots = fit_root_translation(rel[:, None], xy[None], w[None])  # (T, N, 3)
    points = rel[:, None] + roots[:, :, None]
    count = np.maximum(w.sum(-1), 1.0)  # (N,)
    # The person's 2D size on its seen joints: the same for every track.
    centre = (w[..., None] * xy).sum(1) / count[:, None]  # (N, 2)
    size = np.sqrt((w * ((xy - centre[:, None]) ** 2).sum(-1)).sum(-1) / count)  # (N,)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = ((points[..., :2] / points[..., 2:3] - xy) ** 2).sum(-1)  # (T, N, J)
        residual = np.sqrt((w * error).sum(-1) / count) / size
    ok = np.isfinite(residual) & (roots[..., 2] > 0)
    return roots, np.where(ok, residual, np.inf)


def keypoint_cost(track_uv, track_seen, uv, seen, min_shared=3, track_known=None):
    """(T, N) mean distance of the joints seen in both, in units of the track's 2D box diagonal
    (of its ``track_known`` joints (T, J) where given, else of its seen ones).

    inf where fewer than ``min_shared`` joints are seen in both. The unit makes the gate the
    same for a person near the camera and one far away.
    """
    shared = track_seen[:, None] & seen[None]  # (T, N, J)
    difference = np.nan_to_num(track_uv[:, None] - uv[None])
    distance = np.sqrt((difference * difference).sum(-1))
    count = shared.sum(-1)
    mean = np.where(shared, distance, 0.0).sum(-1) / np.maximum(count, 1)
    # The track's box diagonal (inf for a track with nothing seen: masked by count below).
    known = track_seen if track_known is None else track_known
    low = np.where(known[..., None], track_uv, np.inf).min(1)
    high = np.where(known[..., None], track_uv, -np.inf).max(1)
    diagonal = np.sqrt(((high - low) ** 2).sum(-1))
    cost = mean / np.maximum(diagonal, 1.0)[:, None]
    return np.where(count >= min_shared, cost, np.inf)


def _diagonal(uv, seen):
    """The diagonal of the 2D box of one person's seen joints (J, 2), at least 1."""
    if not seen.any():
        return 1.0
    points = uv[seen]
    return max(float(np.linalg.norm(points.max(0) - points.min(0))), 1.0)


def _pixels_from_normalised(uv, xy, seen):
    """(3, 2) M with pixels = [x, y, 1] @ M, from a frame's keypoints in both units (N, J, 2) on
    their seen joints (the intrinsics, without being given them); None if they do not fix it."""
    points = np.concatenate([xy[seen], np.ones((int(seen.sum()), 1))], axis=1)
    if len(points) < 3 or np.linalg.matrix_rank(points) < 3:
        return None
    return np.linalg.lstsq(points, uv[seen], rcond=None)[0]


def _projected(pose, to_pixels, uv, seen):
    """A lifted pose (J, 3) metres projected to pixels (J, 2) with to_pixels, shifted onto the
    person's seen keypoints uv (J, 2); None where it does not project (behind the camera)."""
    if not (pose[:, 2] > 0).all() or not seen.any():
        return None
    points = pose[:, :2] / pose[:, 2:3] @ to_pixels[:2] + to_pixels[2]
    return points + (uv[seen] - points[seen]).mean(0)


def _log_likelihood(residual, tolerance, reference, tail=None):
    """A residual's share of the association cost: its square in units of its tolerance (with
    ``tail``, Student's t with that many degrees of freedom: a large residual costs in proportion
    to its log), plus twice the log of the tolerance over the reference one."""
    with np.errstate(divide="ignore", invalid="ignore"):
        square = (residual / tolerance) ** 2
        if tail is not None:
            square = tail * np.log1p(square / tail)
        return square + 2 * np.log(tolerance / reference)


def _lifted(track):
    """The joints of a track's uv placed from its lifted pose (none for a track made by hand)."""
    return np.zeros_like(track.seen) if track.lifted is None else track.lifted


def _observed(track):
    """The joints seen when the track was last seen (a track made by hand: its seen ones)."""
    return track.seen if track.observed is None else track.observed


@dataclass
class Track:
    id: object
    # (J, 2) pixels: each joint where last seen, moved on with the track while hidden; a joint
    # never seen, where the track's lifted pose projects
    uv: np.ndarray
    seen: np.ndarray  # (J,) bool: the joints seen at least once
    velocity: np.ndarray  # (2,) pixels/s of the seen joints' centroid: predicts the next frame
    stamp: float  # seconds, last seen
    frame: int  # tracker update count when last seen
    from_detector: bool  # its id came from the detector (then only that id matches it)
    pose: np.ndarray = None  # (51,) model units: the last lifted pose, the next warm start
    rel: np.ndarray = None  # (17, 3) metres: the last pose, root-relative (for the 3D cost)
    root: np.ndarray = None  # (3,) metres: the last root (the motion filter's, where given)
    root_velocity: np.ndarray = None  # (3,) m/s: predicts the root
    observed: np.ndarray = None  # (J,) bool: the joints seen when last seen (the velocity's)
    lifted: np.ndarray = None  # (J,) bool: the joints of uv placed from the lifted pose
    velocity_variance: float = UNKNOWN_SPEED**2  # (box diagonals/s)^2: the velocity's


@dataclass
class TrackState:
    """The tracker's answer for one frame, per person in input order."""

    ids: list  # the detector's id where it sent one, else the tracker's integer
    continuing: np.ndarray  # (N,) bool: its track was seen in the previous frame
    previous: list  # (51,) model-units pose to warm-start from, or None: start cold
    uv: np.ndarray  # (N, J, 2) the frame's keypoints, kept for commit
    seen: np.ndarray  # (N, J) bool
    from_detector: np.ndarray  # (N,) bool: the id is the detector's
    stamp: float
    # (N,) bool: a continuing track whose last pose does not fit the frame's 2D (a fall, a
    # swap): it starts cold, and its motion filter starts over.
    restarted: np.ndarray = None
    xy: np.ndarray = None  # (N, 17, 2) normalised keypoints, or None: places a lifted pose in uv
    # (3, 2) M with pixels = [x, y, 1] @ M (the intrinsics), or None: recovered from uv and xy.
    to_pixels: np.ndarray = None

    def __post_init__(self):
        if self.restarted is None:
            self.restarted = np.zeros(len(self.ids), dtype=bool)


class PersonTracker:
    """Stable ids for the people of consecutive frames; see the module docstring.

    ``max_age`` seconds: a track unseen for longer is dropped (its person comes back new).
    ``max_cost``: the 2D gate, mean joint distance in units of the track's 2D box diagonal.
    ``max_scale_change``: the gate on |log| of the 2D size ratio (1.5x by default).
    ``max_root_distance``: the 3D gate, root distance in units of (0.3 m + 15% of the distance).
    ``warm_gate``: a warm start's largest reprojection residual, in units of the 2D size.
    ``warm_gap`` seconds: a continuing track older than this starts cold anyway (a stalled stream).
    """

    def __init__(
        self,
        max_age=0.5,
        max_cost=0.3,
        warm_gap=0.25,
        min_shared_joints=3,
        max_scale_change=np.log(1.5),
        max_root_distance=3.0,
        warm_gate=0.25,
    ):
        if not max_age > 0:
            raise ValueError(f"max_age must be > 0 seconds, got {max_age}")
        if not max_cost > 0:
            raise ValueError(f"max_cost must be > 0, got {max_cost}")
        self.max_age = float(max_age)
        self.max_cost = float(max_cost)
        self.warm_gap = float(warm_gap)
        self.min_shared_joints = int(min_shared_joints)
        self.max_scale_change = float(max_scale_change)
        self.max_root_distance = float(max_root_distance)
        self.warm_gate = float(warm_gate)
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

    def assign(self, uv, seen, stamp, ids=None, xy=None, K=None):
        """Ids and warm starts for the N people of a frame: uv (N, J, 2) pixels, seen (N, J) the
        joints that count as observed (selection.confident_joints), stamp seconds, ids: the
        detector's per person, or None; xy (N, 17, 2) the keypoints in normalised image
        coordinates (H36M order), which adds the 3D cost and the warm-start check; K (3, 3) the
        intrinsics they came from, if known (else commit() recovers them from uv and xy).
        Changes no track: commit() does."""
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
        # People without a detector id: match them to the tracker's own tracks.
        people = [i for i in range(n) if assigned[i] is None]
        tracks = [t for t in live.values() if not t.from_detector]
        residuals = {}  # (track id, person) -> the pose fit's residual, computed once
        if people and tracks:
            cost, residual = self._cost(tracks, uv[people], seen[people], stamp, xy, people)
            for r, c in optimal_assignment(cost, _BIG / 2, UNMATCHED_COST):
                assigned[people[c]] = tracks[r].id
                if residual is not None and np.isfinite(residual[r, c]):
                    residuals[tracks[r].id, people[c]] = residual[r, c]
        for i in range(n):
            if assigned[i] is None:
                assigned[i] = self._new_id(assigned)
        continuing = np.zeros(n, dtype=bool)
        restarted = np.zeros(n, dtype=bool)
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
                if xy is not None and track.rel is not None:
                    residual = residuals.get((track_id, i))
                    if residual is None:
                        _, fit = pose_fit(track.rel[None], xy[i : i + 1], seen[i : i + 1])
                        residual = fit[0, 0]
                    if not residual <= self.warm_gate:
                        previous[i], restarted[i] = None, True
        xy = None if xy is None else np.asarray(xy, dtype=np.float64)
        to_pixels = None
        if K is not None:
            K = np.asarray(K, dtype=np.float64)
            to_pixels = np.array([[K[0, 0], 0.0], [K[0, 1], K[1, 1]], [K[0, 2], K[1, 2]]])
        return TrackState(
            assigned,
            continuing,
            previous,
            uv,
            seen,
            from_detector,
            stamp,
            restarted,
            xy,
            to_pixels,
        )

    def _cost(self, tracks, uv, seen, stamp, xy, people):
        """(T, N) association cost of the tracker's own tracks and the people without an id
        (see the constants above), inf where a gate forbids the pair; and (T, N) the pose fits'
        residuals (inf where not computed), or None without ``xy``."""
        track_seen = np.stack([t.seen for t in tracks])
        known = track_seen | np.stack([_lifted(t) for t in tracks])
        age = np.array([stamp - t.stamp for t in tracks])
        predicted = np.stack([t.uv + t.velocity * a for t, a in zip(tracks, age)])
        # 2D: on the joints seen in both; where too few, on the track's joints placed from its
        # lifted pose too (a person back from behind someone, seen on other joints than before).
        shared = (track_seen[:, None] & seen[None]).sum(-1)  # (T, N)
        estimated = shared < self.min_shared_joints
        distance = keypoint_cost(
            predicted, track_seen, uv, seen, self.min_shared_joints, track_known=known
        )
        if estimated.any():
            distance = np.where(
                estimated,
                keypoint_cost(predicted, known, uv, seen, self.min_shared_joints),
                distance,
            )
        # The gate widens with the time a track was unseen, as its prediction drifts.
        distance = np.where(distance <= self.max_cost * (1 + 2 * age)[:, None], distance, np.inf)
        joints = np.where(estimated, (known[:, None] & seen[None]).sum(-1), shared)
        speed_sd = np.sqrt(np.array([t.velocity_variance for t in tracks]) + VELOCITY_DRIFT * age)
        tolerance = (
            KP_NOISE / np.sqrt(np.maximum(joints, 1)) + ((speed_sd + KP_DRIFT) * age)[:, None]
        )
        cost = _log_likelihood(distance, tolerance, KP_REFERENCE, TAIL_2D)
        # The scale, on the joints seen in both.
        scale, spread = scale_change(predicted, track_seen, uv, seen, spread=True)
        tolerance = SCALE_NOISE / np.maximum(shared - 2, 1) + SCALE_DRIFT * age[:, None]
        cost += np.where(
            shared >= MIN_JOINTS_FOR_SHAPE,
            _log_likelihood(scale, tolerance * spread, SCALE_REFERENCE, TAIL_2D),
            _log_likelihood(0.0, self.max_scale_change, SCALE_REFERENCE),
        )
        forbidden = (scale > self.max_scale_change * spread) & (
            shared >= MIN_JOINTS_FOR_SCALE_GATE
        )
        cost = np.where(forbidden, np.inf, cost)
        # 3D, where it means something (see MIN_JOINTS_FOR_3D).
        vague_root = _log_likelihood(0.0, self.max_root_distance, ROOT_NOISE)
        vague = vague_root + _log_likelihood(0.0, 1.0, RESIDUAL_NOISE)
        with_3d = [k for k, t in enumerate(tracks) if t.rel is not None and t.root is not None]
        residuals = None if xy is None else np.full(cost.shape, np.inf)
        extra = np.full(cost.shape, vague)
        if xy is not None and with_3d:
            rel = np.stack([tracks[k].rel for k in with_3d])
            roots, residual = pose_fit(rel, np.asarray(xy)[people], seen)
            expected = np.stack(
                [
                    tracks[k].root + tracks[k].root_velocity * (stamp - tracks[k].stamp)
                    for k in with_3d
                ]
            )
            unit = 0.3 + 0.15 * np.abs(expected[:, 2:3])
            root_distance = np.linalg.norm(roots - expected[:, None], axis=-1) / unit
            fits = residual <= FIT_FOR_ROOT
            # The joints the 3D rests on: the fewer of the track's pose's and the person's.
            lifted_from = np.array([_observed(tracks[k]).sum() for k in with_3d])
            joints = np.minimum(lifted_from[:, None], seen.sum(-1)[None])
            reliable = (joints >= MIN_JOINTS_FOR_3D) & fits.any(1, keepdims=True)
            unseen = age[with_3d, None]
            tolerance = ROOT_NOISE * 17 / np.maximum(joints, 1) + ROOT_DRIFT * unseen
            tolerance = np.minimum(tolerance, self.max_root_distance)
            sharp = np.where(
                fits, _log_likelihood(root_distance, tolerance, ROOT_NOISE, TAIL_3D), vague_root
            )
            tolerance = np.minimum(RESIDUAL_NOISE + RESIDUAL_DRIFT * unseen, 1.0)
            sharp += _log_likelihood(np.minimum(residual, 1.0), tolerance, RESIDUAL_NOISE, TAIL_3D)
            sharp = np.where(fits & (root_distance > self.max_root_distance), np.inf, sharp)
            extra[with_3d] = np.where(reliable, sharp, vague)
            residuals[with_3d] = residual
        return cost + extra, residuals

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

    def commit(self, state, model_poses=None, poses=None, roots=None, root_velocities=None):
        """Record the frame: tracks move to the people's keypoints (and their lifted poses,
        Lifter's ``model_poses``, the next warm starts; ``poses`` (N, 17, 3) metres for the 3D
        cost, with ``roots`` (N, 3) and ``root_velocities`` (N, 3) from a motion filter where
        there is one); stale tracks are dropped."""
        if self._went_back(state.stamp):
            self.reset()
        self.frame += 1
        self.tracks = self._live_tracks(state.stamp)
        to_pixels = None
        if poses is not None and state.xy is not None:
            to_pixels = state.to_pixels
            if to_pixels is None:
                to_pixels = _pixels_from_normalised(state.uv, state.xy, state.seen)
        for i, track_id in enumerate(state.ids):
            pose = None if model_poses is None else np.array(model_poses[i], dtype=np.float64)
            rel = root = root_velocity = None
            if poses is not None:
                rel = poses[i] - poses[i, :1]
                root = poses[i, 0] if roots is None else roots[i]
                root_velocity = np.zeros(3) if root_velocities is None else root_velocities[i]
            track = self.tracks.get(track_id)
            seen = state.seen[i]
            if state.from_detector[i]:
                self._detector_ids.add(str(track_id))
            if track is None:
                track = self.tracks[track_id] = Track(
                    track_id,
                    state.uv[i].copy(),
                    seen.copy(),
                    np.zeros(2),
                    state.stamp,
                    self.frame,
                    bool(state.from_detector[i]),
                    pose,
                    rel,
                    root,
                    root_velocity,
                    seen.copy(),
                )
            else:
                self._move(track, state.uv[i], seen, state.stamp)
                track.stamp, track.frame, track.pose = state.stamp, self.frame, pose
                track.rel, track.root, track.root_velocity = rel, root, root_velocity
            if to_pixels is not None:
                lifted = _projected(poses[i], to_pixels, state.uv[i], seen)
                if lifted is not None:
                    # Joints never seen: where the lifted pose puts them (refreshed every frame).
                    track.uv = np.where(track.seen[:, None], track.uv, lifted)
                    track.lifted = ~track.seen
        self.stamp = state.stamp

    def _move(self, track, uv, seen, stamp):
        """Move a track to its person's keypoints uv (J, 2), seen (J,) at ``stamp``, and update
        its 2D velocity (see MIN_JOINTS_FOR_VELOCITY)."""
        dt = max(stamp - track.stamp, 0.0)
        variance = track.velocity_variance + VELOCITY_DRIFT * dt
        # Joints seen in both frames, where they were seen (not where they were predicted).
        both = seen & _observed(track)
        if dt > 0 and both.sum() >= MIN_JOINTS_FOR_VELOCITY:
            measured = (uv[both].mean(0) - track.uv[both].mean(0)) / dt
            noise = 2 * POSITION_NOISE**2 / (both.sum() * dt**2)
            gain = variance / (variance + noise)
            velocity = track.velocity + gain * (measured - track.velocity)
            variance *= 1 - gain
            limit = MAX_SPEED_DIAGONALS * _diagonal(track.uv, track.seen | _lifted(track))
            speed = np.linalg.norm(velocity)
            track.velocity = velocity * min(1.0, limit / speed) if speed > 0 else velocity
        track.velocity_variance = min(variance, UNKNOWN_SPEED**2)
        # Joints unseen now move on with the person, so that a person partly hidden for a while
        # still matches on them.
        track.uv = np.where(seen[:, None], uv, track.uv + track.velocity * dt)
        track.seen = seen | track.seen
        track.observed = seen.copy()

    def _went_back(self, stamp):
        return self.stamp is not None and stamp < self.stamp

    def _live_tracks(self, stamp):
        """The tracks seen within max_age of ``stamp``; older ones are gone for good."""
        return {k: t for k, t in self.tracks.items() if stamp - t.stamp <= self.max_age}
