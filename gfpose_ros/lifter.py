"""The public face of the core: 2D keypoints of N people in, metric 3D poses out.

    lifter = Lifter()                        # the shipped model, best available backend
    result = lifter.lift(uv, confidence, K, layout="coco17")
    result.poses        # (N, 17, 3) metres, camera optical frame (x right, y down, z forward)
    result.hypotheses   # (N, H, 17, 3) the samples, each placed by its own root fit
    result.joint_std    # (N, 17) metres, spread of the hypotheses per joint
    result.observed     # (N, 17) bool; False = completed by the prior

``Lifter(spec, settings)`` takes a ``settings.BackendSpec`` (start-up: model, backend, graphs)
and a ``settings.LiftSettings`` (per frame; ``lifter.settings = ...`` swaps it whole). The
pipeline is normalise -> sample (one backend call for all people x hypotheses) -> aggregate ->
un-normalise; numpy in and out. ``lift`` validates arrays and lifts them all;
``lift_people`` lifts people that ``selection.select_people`` already validated, and is what a
frame of the node, the demo and evaluation goes through (pipeline.FramePipeline).
"""

import functools
from dataclasses import dataclass

import numpy as np

from .backends import create_backend
from .camera import (
    check_intrinsics,
    pixels_to_normalized,
    root_fit_operator,
    toward_rays,
)
from .fit_2d import fit_strength
from .depth_fusion import as_depth_image, fuse_depth, place_with_depth
from .model import POSE_SCALE
from .selection import InputError, confident_joints, to_model_layout
from .spread_calibration import read_spread_scale
from .settings import (
    POPULATION_STATURE,
    BackendSpec,
    LiftSettings,
    SettingsError,
    default_model_path,
)
from .skeleton import NUM_JOINTS, stature

__all__ = ["InputError", "LiftResult", "Lifter", "confident_joints", "default_model_path"]
REPROJECTION_TEMPERATURE = 0.05  # reprojection error scale, in units of the person's 2D size
_ONES2, _ONES3, _ONES_J = np.ones(2), np.ones(3), np.ones(NUM_JOINTS)  # sums as matrix products


@dataclass
class LiftResult:
    poses: np.ndarray  # (N, 17, 3) metres, camera frame
    hypotheses: np.ndarray  # (N, H, 17, 3) metres, camera frame
    weights: np.ndarray  # (N, H) hypothesis weights used by the aggregation, sum to 1
    joint_std: np.ndarray  # (N, 17) metres
    observed: np.ndarray  # (N, 17) bool
    confidence: np.ndarray  # (N,) 0..1: observed share x mean confidence of observed joints
    # (N, 51) the pose root-relative in the model's units (POSE_SCALE m, before the scaling to
    # person_height or the population's stature):
    # what the person's next frame warm-starts from (Lifter.lift's ``previous``).
    model_poses: np.ndarray = None
    # Per person (N,): where the absolute position came from, 'depth' (a depth image fixed the
    # distance and the body's size) or 'monocular' (the 2D fit at the model's body size); why
    # depth was or was not used; and the body's size relative to the monocular pose (1 = not
    # rescaled).
    position_source: np.ndarray = None
    depth_reason: np.ndarray = None
    body_scale: np.ndarray = None

    def __post_init__(self):
        n = len(self.poses)
        if self.position_source is None:
            self.position_source = np.full(n, "monocular")
        if self.depth_reason is None:
            self.depth_reason = np.full(n, "no depth image")
        if self.body_scale is None:
            self.body_scale = np.ones(n)

    @classmethod
    def empty(cls, hypotheses):
        """The result of a frame with nobody in it."""
        j = NUM_JOINTS
        return cls(
            np.zeros((0, j, 3)),
            np.zeros((0, hypotheses, j, 3)),
            np.zeros((0, hypotheses)),
            np.zeros((0, j)),
            np.zeros((0, j), dtype=bool),
            np.zeros(0),
            np.zeros((0, j * 3)),
        )


class Lifter:
    def __init__(self, spec=None, settings=None, seed=0):
        self.spec = spec or BackendSpec()
        self.settings = settings or LiftSettings()
        self.model_path = self.spec.model_file
        self.backend, self.backend_reason = self._create_backend(
            self.spec.backend, self.spec.steps
        )
        self._warm_backend = None  # the tracking graph, built on first use: warm_backend()
        self.rng = np.random.default_rng(seed)
        # Per-joint factors on the published spread, fitted with the weights (or None).
        self.spread_scale = read_spread_scale(self.model_path)

    @property
    def settings(self):
        return self._settings

    @settings.setter
    def settings(self, settings):
        """Swap the per-frame settings whole (validated against this backend's batch limit)."""
        if not isinstance(settings, LiftSettings):
            raise SettingsError(f"settings must be a LiftSettings, got {type(settings).__name__}")
        if not isinstance(self.spec, BackendSpec):
            raise SettingsError(f"spec must be a BackendSpec, got {type(self.spec).__name__}")
        self._settings = settings.check_batch(self.spec.max_batch)

    def warm_backend(self):
        """The tracking graph (cold and warm rows in one call) on the cold graph's backend; built
        on first use, so a lifter that never warm-starts never exports it. A node calls this at
        configure time to keep the export out of its first tracked frame."""
        if self._warm_backend is None:
            if self.spec.sampler != "ddim":
                raise InputError(f"warm starts need the ddim sampler, not {self.spec.sampler!r}")
            # auto again under auto: a tracking engine that fails to build falls back too.
            kind = "auto" if self.spec.backend == "auto" else self.backend.name
            self._warm_backend, _ = self._create_backend(
                kind, self.spec.warm_steps, self.spec.warm_t_start
            )
        return self._warm_backend

    def wrap_graphs(self, wrap):
        """Replace the graph backends by ``wrap(backend)`` (instrumentation: timing, counting;
        ``wrap`` returns the backend itself to leave one as it is), building the tracking graph
        first when the settings warm-start. Returns the graphs now in use: [cold] or
        [cold, tracking]."""
        if self.settings.tracking and self.settings.warm_start:
            self.warm_backend()
        self.backend = wrap(self.backend)
        if self._warm_backend is not None:
            self._warm_backend = wrap(self._warm_backend)
        return [b for b in (self.backend, self._warm_backend) if b is not None]

    def _create_backend(self, kind, steps, t_start=None):
        """(backend, reason) of the cold graph, or with ``t_start`` the tracking graph."""
        spec = self.spec
        return create_backend(
            kind,
            self.model_path,
            steps,
            spec.engine_cache_dir or None,
            spec.precision,
            spec.max_batch,
            threads=spec.num_threads,
            sampler=spec.sampler,
            t_start=t_start,
            onnxruntime_precision=spec.onnxruntime_precision,
        )

    def lift(
        self,
        uv,
        confidence,
        K,
        layout="h36m17",
        noise=None,
        pose_3d=None,
        mask_3d=None,
        previous=None,
        depth=None,
    ):
        """Validate and lift N people, all of them (no max_people cap: see select_people).

        ``uv`` (N, K, 2) pixels and ``confidence`` (N, K) of ``layout``; ``K`` (3, 3) or (N, 3, 3).
        Raises InputError, LayoutError or CameraError on bad input, and InputError when a person
        has fewer than ``min_joints`` confident joints. The other arguments as ``lift_people``.
        """
        settings = self.settings
        uv, confidence = to_model_layout(uv, confidence, layout)
        K = check_intrinsics(K)
        K = np.broadcast_to(K, (len(uv), 3, 3)) if K.ndim == 2 else K
        if K.shape != (len(uv), 3, 3):
            raise InputError(f"intrinsics must be (3, 3) or ({len(uv)}, 3, 3), got {K.shape}")
        observed = confident_joints(uv, confidence, settings.confidence_threshold)
        counts = observed.sum(1)
        if (counts < settings.min_joints).any():
            worst = int(np.argmin(counts))
            raise InputError(
                f"person {worst} has {counts[worst]} confident joints; "
                f"at least {settings.min_joints} needed"
            )
        return self.lift_people(
            uv, confidence, observed, K, settings, noise, pose_3d, mask_3d, previous, depth
        )

    def lift_people(
        self,
        uv,
        confidence,
        observed,
        K,
        settings=None,
        noise=None,
        pose_3d=None,
        mask_3d=None,
        previous=None,
        depth=None,
    ):
        """Lift people that are already validated, in H36M order: uv (N, 17, 2) pixels,
        confidence (N, 17), observed (N, 17) bool, K (N, 3, 3) checked intrinsics.

        ``noise`` (N, H, 51) makes a run reproducible; by default it is drawn here.
        ``pose_3d`` (N, 17, 3) root-relative metres with ``mask_3d`` (N, 17) adds known 3D joints
        (3D completion). ``previous`` (see pipeline.FramePipeline) gives per person the last
        frame's ``model_poses`` row (51 numbers) or None: those people warm-start from it (noised
        to warm_t_start, warm_steps steps), the others start cold, all in one call of the
        tracking graph; with no previous pose at all the cold graph runs, exactly as without.
        ``depth`` (H, W) float metres (0 or NaN = no data), a depth image aligned to the image
        the keypoints come from (depth_fusion.depth_to_metres converts a ROS one): it sets each
        person's distance and body size where it can (``position_source`` 'depth'), else the
        monocular fit stays, with the reason in ``depth_reason``; bad data never raises.
        """
        settings = settings or self.settings
        n, h = len(uv), settings.num_hypotheses
        if n * h > self.spec.max_batch:
            raise InputError(
                f"{n} people x {h} hypotheses exceeds max_batch {self.spec.max_batch}"
            )
        if noise is None:
            noise = self.rng.standard_normal((n, h, NUM_JOINTS * 3), dtype=np.float32)
        noise = np.asarray(noise, dtype=np.float32)
        if noise.shape != (n, h, NUM_JOINTS * 3):
            raise InputError(f"noise must have shape {(n, h, NUM_JOINTS * 3)}, got {noise.shape}")
        if depth is not None:
            try:
                depth = as_depth_image(depth)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        warm = _warm_starts(previous, n)
        if n == 0:
            return LiftResult.empty(h)
        xy = pixels_to_normalized(uv, K)
        weights_2d = np.where(observed, confidence, 0.0)
        fit_weight = fit_strength(settings.keypoint_noise) if settings.fit_2d else 0.0
        fit_weights = np.minimum(np.maximum(weights_2d, 0.0), 1.0) * fit_weight
        inputs = {
            "xy": _per_hypothesis(np.where(observed[..., None], xy, 0.0), h),
            "mask_2d": _per_hypothesis(observed, h),
            "weight_2d": _per_hypothesis(fit_weights, h),
            "pose_3d": _zeros((n * h, NUM_JOINTS, 3))
            if pose_3d is None
            else _per_hypothesis(pose_3d, h),
            "mask_3d": _zeros((n * h, NUM_JOINTS))
            if mask_3d is None
            else _per_hypothesis(mask_3d, h),
            "noise": noise.reshape(n * h, -1),
        }
        if warm is None:
            rel = self.backend(inputs)
        else:
            x_prev, is_warm = warm
            inputs.update(x_prev=_per_hypothesis(x_prev, h), warm=_per_hypothesis(is_warm, h))
            rel = self.warm_backend()(inputs)
        rel = rel.astype(np.float64).reshape(n, h, NUM_JOINTS, 3)
        rel -= rel[:, :, :1]
        if settings.person_height:  # a known stature: every hypothesis at that height
            factor = settings.person_height / stature(rel)  # (N, H)
        elif not settings.population_size:  # the network's own size
            factor = np.ones((n, h))
        else:
            # One camera cannot see size, so the answer is the training population's expected
            # body: the few-step sampler alone answers about 4% small on that population, and
            # about 9% on adults from other labs (models/MODEL_CARD.md). A person's hypotheses
            # are scaled together, so their spread in size stays.
            factor = np.repeat(POPULATION_STATURE * h / stature(rel).sum(1, keepdims=True), h, 1)
        rel *= factor[..., None, None]
        height_scale = factor.sum(1) / h
        result = aggregate(rel, xy, weights_2d, observed, confidence, settings)
        if settings.calibrated_spread and self.spread_scale is not None:
            result.joint_std = result.joint_std * self.spread_scale
        # Back in the model's units (undoing person_height), as the next frame's warm start.
        result.model_poses = (
            (result.poses - result.poses[:, :1]) / (POSE_SCALE * height_scale[:, None, None])
        ).reshape(n, -1)
        if depth is not None:
            fits = fuse_depth(depth, uv, xy, weights_2d, result.poses, settings.depth_fusion)
            result = place_with_depth(result, fits)
        return result


@functools.lru_cache(maxsize=16)
def _zeros(shape):
    """A float32 zero input of the graph (no 3D given), kept between frames: the backends
    read their inputs and never write them (torch.from_numpy warns about a read-only array, so
    it is not flagged as one)."""
    return np.zeros(shape, np.float32)


def _per_hypothesis(a, h):
    """(N, ...) -> (N * h, ...) float32: each person's rows for its h hypotheses."""
    return np.repeat(np.asarray(a, dtype=np.float32), h, axis=0)


def _warm_starts(previous, n):
    """(x_prev (N, 51), warm (N,)) from ``previous``, or None when nobody has a previous pose."""
    if previous is None:
        return None
    if len(previous) != n:
        raise InputError(
            f"previous must hold one entry (a pose or None) per person: {n}, got {len(previous)}"
        )
    if all(p is None for p in previous):
        return None
    x_prev, is_warm = np.zeros((n, NUM_JOINTS * 3)), np.zeros(n)
    for i, pose in enumerate(previous):
        if pose is None:
            continue
        pose = np.asarray(pose, dtype=np.float64).reshape(-1)
        if pose.shape != (NUM_JOINTS * 3,) or not np.isfinite(pose).all():
            raise InputError(
                f"previous[{i}] must be None or {NUM_JOINTS * 3} finite numbers "
                "(a model_poses row)"
            )
        x_prev[i], is_warm[i] = pose, 1.0
    return x_prev, is_warm


def aggregate(rel, xy, weights_2d, observed, confidence, settings):
    """Hypotheses (N, H, 17, 3) root-relative metres -> LiftResult (everything but the
    model_poses and the depth fields). This runs on every frame around the graph call, so it is
    written for few numpy calls on small arrays: sums over a last axis of 2 or 3 are matrix
    products with ones (numpy's reductions over a short last axis cost twice as much)."""
    n, h = rel.shape[:2]
    # One least-squares map per person places all its hypotheses and then its answer:
    # T = A r = (r A^T)^T, r = pose C.
    C, A = root_fit_operator(xy, weights_2d)
    A_t = A.transpose(0, 2, 1)
    hypotheses = rel + ((rel.reshape(n, h, -1) @ C) @ A_t)[:, :, None]
    projected = hypotheses[..., :2] / hypotheses[..., 2:3]  # (N, H, 17, 2)
    share = weights_2d / weights_2d.sum(-1, keepdims=True)  # (N, 17) each observed joint's weight
    offset = xy - share[:, None] @ xy  # from the weighted centroid
    # (N,) the person's 2D size, squared
    size2 = np.maximum(((offset * offset) @ _ONES2 * share) @ _ONES_J, 1e-12)
    residual = projected - xy[:, None]
    logits = (residual * residual) @ _ONES2  # (N, H, 17)
    logits *= (-0.5 / REPROJECTION_TEMPERATURE**2 / size2)[:, None, None]
    if settings.aggregation == "mean":
        hyp_weights = np.full((n, h), 1.0 / h)
        pose_rel = rel.sum(1) / h
    else:
        seen_share = observed / observed.sum(-1, keepdims=True)  # (N, 17)
        hyp_weights = _softmax((logits @ seen_share[..., None])[..., 0], axis=1)
        # Observed joints: trust the hypotheses that reproject that joint best. Completed joints
        # have no 2D evidence of their own, so they follow the whole-pose weights.
        joint_weights = np.where(
            observed[:, None], _softmax(logits, axis=1), hyp_weights[..., None]
        )
        pose_rel = (joint_weights[..., None] * rel).sum(1)
    pose_rel -= pose_rel[:, :1]
    pose = pose_rel + (pose_rel.reshape(n, 1, -1) @ C) @ A_t
    # Spread given what was seen: each hypothesis is centred on its observed joints first, so an
    # unseen pelvis (a portrait) does not lend its own uncertainty to the joints that were seen.
    aligned = rel - share[:, None, None] @ rel  # (N, H, 17, 3)
    deviation = aligned - aligned.sum(1, keepdims=True) / h
    spread = np.sqrt(((deviation * deviation) @ _ONES3).sum(1) / h)
    # The observed share times the mean confidence of the observed joints.
    conf = (confidence * observed) @ _ONES_J / NUM_JOINTS
    # The 2D error is in the unit of the training noise (data.place_for_cameras): a fraction of
    # the diagonal of the person's 2D box, here the box of the observed joints.
    seen = observed[..., None]
    extent = np.where(seen, xy, -np.inf).max(1) - np.where(seen, xy, np.inf).min(1)
    box = np.sqrt((extent * extent) @ _ONES2)
    weights = ray_weights(pose, xy, projected, observed, confidence, box, settings.keypoint_noise)
    pose = toward_rays(pose, xy, weights)
    return LiftResult(pose, hypotheses, hyp_weights, spread, observed, conf)


def ray_weights(pose, xy, projected, observed, confidence, size, keypoint_noise):
    """How far each observed joint moves onto its 2D ray (N, 17), in 0..1.

    The aggregate reprojects a few pixels off the 2D it was lifted from. Each joint's image
    position is known twice: from the keypoint, with an error (per axis) of ``keypoint_noise``
    times ``size``, the diagonal of the person's 2D box, and from the hypotheses, with their
    scatter in the image. Weighting the two by inverse variance trusts the 2D where the prior is
    unsure and the prior where the 2D is noisy; a low-confidence keypoint moves its joint
    proportionally less, and one that disagrees with the pose beyond three standard deviations
    (a detector's gross error) not at all. ``keypoint_noise`` 0 declares the 2D exact: every
    observed joint lands on its ray.
    """
    h = projected.shape[1]
    scatter = projected - projected.sum(1, keepdims=True) / h
    prior_var = ((scatter * scatter) @ _ONES2).sum(1) / h  # (N, 17)
    keypoint_var = 2 * (keypoint_noise * size[:, None]) ** 2
    total_var = prior_var + keypoint_var
    weight = prior_var / np.maximum(total_var, 1e-12)
    residual = pose[..., :2] / pose[..., 2:3] - xy
    # keypoint_noise 0: the 2D is exact, nothing is an outlier.
    consistent = ((residual * residual) @ _ONES2 <= 9 * total_var) | (keypoint_noise == 0)
    confidence = np.minimum(np.maximum(confidence, 0.0), 1.0)
    return np.where(observed & consistent, weight * confidence, 0.0)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
