"""The public face of the core: 2D keypoints of N people in, metric 3D poses out.

    lifter = Lifter()                        # the shipped model, best available backend
    result = lifter.lift(uv, confidence, K, layout="coco17")
    result.poses        # (N, 17, 3) metres, camera optical frame (x right, y down, z forward)
    result.hypotheses   # (N, H, 17, 3) the samples, each placed by its own root fit
    result.joint_std    # (N, 17) metres, spread of the hypotheses per joint
    result.observed     # (N, 17) bool; False = completed by the prior

The pipeline is normalise -> sample (one backend call for all people x hypotheses) ->
aggregate -> un-normalise; numpy in and out.
"""

import os
from dataclasses import dataclass

import numpy as np

from .backends import create_backend
from .camera import check_intrinsics, fit_root_translation, pixels_to_normalized, toward_rays
from .depth_fusion import DepthFusionConfig, as_depth_image, fuse_depth, place_with_depth
from .model import POSE_SCALE, T_MIN
from .skeleton import NUM_JOINTS, layout_size, stature, to_h36m

# realpath: under colcon --symlink-install the package may be imported through build/, whose
# models/ copy can be stale; the source tree's models/ is the one to use.
DEFAULT_MODEL = os.path.join(
    os.path.dirname(os.path.realpath(__file__)), "..", "models", "gfpose_mlp512.pt"
)
AGGREGATIONS = ("reprojection", "mean")
REPROJECTION_TEMPERATURE = 0.05  # reprojection error scale, in units of the person's 2D size
# Expected 2D keypoint error (per axis) as a fraction of the person's 2D box diagonal, the unit
# of the training noise; it sets how far the published joints move onto their 2D rays
# (measured in models/MODEL_CARD.md on exact, clean and detector-like noisy 2D).
DEFAULT_KEYPOINT_NOISE = 0.03
# Warm starts (a tracked person's previous pose noised to t_start, then warm_steps DDIM steps),
# measured by `gfpose eval-tracking` (see the README). A smaller t_start keeps more of the last
# pose: t = 0.03 cut the jitter to a third, but the body shrank from frame to frame, so the
# distance drifted; t = 0.2 keeps the root error of cold starts and still cuts the jitter by a
# third.
DEFAULT_WARM_STEPS = 2
DEFAULT_WARM_T_START = 0.2


class InputError(ValueError):
    pass


def default_model_path():
    """The shipped weights: next to the package in a source tree, or in the ROS share dir."""
    if os.path.exists(DEFAULT_MODEL):
        return os.path.abspath(DEFAULT_MODEL)
    try:
        from ament_index_python.packages import get_package_share_directory

        return os.path.join(
            get_package_share_directory("gfpose_ros"), "models", "gfpose_mlp512.pt"
        )
    except Exception:
        return os.path.abspath(DEFAULT_MODEL)


@dataclass
class LiftResult:
    poses: np.ndarray  # (N, 17, 3) metres, camera frame
    hypotheses: np.ndarray  # (N, H, 17, 3) metres, camera frame
    weights: np.ndarray  # (N, H) hypothesis weights used by the aggregation, sum to 1
    joint_std: np.ndarray  # (N, 17) metres
    observed: np.ndarray  # (N, 17) bool
    confidence: np.ndarray  # (N,) 0..1: observed share x mean confidence of observed joints
    # (N, 51) the pose root-relative in the model's units (POSE_SCALE m, before person_height):
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


def confident_joints(uv, confidence, threshold):
    """(N, 17) bool: H36M joints that count as observed."""
    return (confidence >= threshold) & (confidence > 0) & np.isfinite(uv).all(-1)


class Lifter:
    def __init__(
        self,
        model_path=None,
        backend="auto",
        num_hypotheses=20,
        steps=4,
        aggregation="reprojection",
        confidence_threshold=0.3,
        min_joints=4,
        person_height=0.0,
        cache_dir=None,
        precision="fp16",
        max_batch=512,
        seed=0,
        threads=0,
        sampler="ddim",
        keypoint_noise=DEFAULT_KEYPOINT_NOISE,
        warm_steps=DEFAULT_WARM_STEPS,
        warm_t_start=DEFAULT_WARM_T_START,
        depth_fusion=DepthFusionConfig(),
    ):
        self.model_path = model_path or default_model_path()
        self.backend, self.backend_reason = create_backend(
            backend,
            self.model_path,
            steps,
            cache_dir,
            precision,
            max_batch,
            threads=threads,
            sampler=sampler,
        )
        # The tracking graph is built on the first warm start (warm_backend), with these settings.
        self._warm_backend = None
        self._backend_settings = {
            "cache_dir": cache_dir,
            "precision": precision,
            "max_batch": max_batch,
            "threads": threads,
            "sampler": sampler,
        }
        self.warm_steps = warm_steps
        self.warm_t_start = warm_t_start
        self.steps = steps
        self.max_batch = max_batch
        self.num_hypotheses = num_hypotheses
        self.aggregation = aggregation
        self.confidence_threshold = confidence_threshold
        self.min_joints = min_joints
        self.person_height = person_height
        self.keypoint_noise = keypoint_noise
        self.rng = np.random.default_rng(seed)
        self.depth_fusion = depth_fusion  # frozen: one default instance is safe to share
        self.validate_settings()

    def validate_settings(self):
        if self.aggregation not in AGGREGATIONS:
            raise InputError(
                f"unknown aggregation {self.aggregation!r}; choose one of "
                f"{', '.join(AGGREGATIONS)}"
            )
        if not 1 <= self.num_hypotheses <= self.max_batch:
            raise InputError(
                f"num_hypotheses must be 1..{self.max_batch}, got {self.num_hypotheses}"
            )
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise InputError(
                f"confidence_threshold must be in [0, 1], got {self.confidence_threshold}"
            )
        if not 2 <= self.min_joints <= NUM_JOINTS:
            raise InputError(f"min_joints must be 2..{NUM_JOINTS}, got {self.min_joints}")
        if not 0.0 <= self.keypoint_noise <= 10.0:
            raise InputError(
                f"keypoint_noise must be in [0, 10] (fraction of the person's 2D box diagonal), "
                f"got {self.keypoint_noise}"
            )
        if not (self.person_height == 0 or 0.5 <= self.person_height <= 2.5):
            raise InputError(
                f"person_height must be 0 (use the model's) or 0.5..2.5 m, got "
                f"{self.person_height}"
            )
        if not isinstance(self.depth_fusion, DepthFusionConfig):
            raise InputError(
                f"depth_fusion must be a depth_fusion.DepthFusionConfig, got "
                f"{type(self.depth_fusion).__name__}"
            )
        if not 1 <= self.warm_steps <= 100:
            raise InputError(f"warm_steps must be 1..100, got {self.warm_steps}")
        if not T_MIN < self.warm_t_start <= 1.0:
            raise InputError(f"warm_t_start must be in ({T_MIN}, 1], got {self.warm_t_start}")

    def warm_backend(self):
        """The tracking graph (cold and warm rows in one call) on the cold graph's backend; built
        on first use, so a lifter that never warm-starts never exports it. A node calls this at
        configure time to keep the export out of its first tracked frame."""
        if self._warm_backend is None:
            if self._backend_settings["sampler"] != "ddim":
                raise InputError(
                    f"warm starts need the ddim sampler, not {self._backend_settings['sampler']!r}"
                )
            self._warm_backend, _ = create_backend(
                self.backend.name,
                self.model_path,
                self.warm_steps,
                t_start=self.warm_t_start,
                **self._backend_settings,
            )
        return self._warm_backend

    def prepare(self, uv, confidence, K, layout="h36m17"):
        """Validate and map to H36M-17. Returns (uv (N,17,2), confidence (N,17), K (N,3,3))."""
        size = layout_size(layout)
        uv = np.asarray(uv, dtype=np.float64)
        confidence = np.asarray(confidence, dtype=np.float64)
        if uv.ndim != 3 or uv.shape[1:] != (size, 2):
            raise InputError(
                f"uv must have shape (people, {size}, 2) for layout {layout}, got {uv.shape}"
            )
        if confidence.shape != uv.shape[:2]:
            raise InputError(f"confidence must have shape {uv.shape[:2]}, got {confidence.shape}")
        if not np.isfinite(confidence).all():
            raise InputError("confidence contains NaN or inf")
        if (~np.isfinite(uv).all(-1) & (confidence > 0)).any():
            raise InputError("uv contains NaN or inf for a joint with confidence > 0")
        K = check_intrinsics(K)
        K = np.broadcast_to(K, (len(uv), 3, 3)) if K.ndim == 2 else K
        if K.shape != (len(uv), 3, 3):
            raise InputError(f"intrinsics must be (3, 3) or ({len(uv)}, 3, 3), got {K.shape}")
        uv, confidence = to_h36m(layout, uv, confidence)
        return uv, confidence, K

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
        """Lift N people. ``noise`` (N, H, 51) makes a run reproducible; by default it is drawn
        here.

        ``pose_3d`` (N, 17, 3) root-relative metres with ``mask_3d`` (N, 17) adds known 3D joints
        (3D completion). ``previous`` (a tracker's, see tracking.TrackedLifter) gives per person
        the last frame's ``model_poses`` row (51 numbers) or None: those people warm-start from it
        (noised to warm_t_start, warm_steps steps), the others start cold, all in one call of the
        tracking graph; with no previous pose at all the cold graph runs, exactly as without.
        ``depth`` (H, W) float metres (0 or NaN = no data), a depth image aligned to the image the
        keypoints come from (depth_fusion.depth_to_metres converts a ROS one): it sets each
        person's distance and body size where it can (``position_source`` 'depth'), else the
        monocular fit stays, with the reason in ``depth_reason``; bad data never raises.
        Raises InputError, LayoutError or CameraError on bad input.
        """
        uv, confidence, K = self.prepare(uv, confidence, K, layout)
        if depth is not None:
            try:
                depth = as_depth_image(depth)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        n, h = len(uv), self.num_hypotheses
        observed = confident_joints(uv, confidence, self.confidence_threshold)
        counts = observed.sum(1)
        if (counts < self.min_joints).any():
            worst = int(np.argmin(counts))
            raise InputError(
                f"person {worst} has {counts[worst]} confident joints; at least {self.min_joints} "
                "needed"
            )
        if n * h > self.max_batch:
            raise InputError(f"{n} people x {h} hypotheses exceeds max_batch {self.max_batch}")
        if noise is None:
            noise = self.rng.standard_normal((n, h, NUM_JOINTS * 3))
        noise = np.asarray(noise, dtype=np.float32)
        if noise.shape != (n, h, NUM_JOINTS * 3):
            raise InputError(f"noise must have shape {(n, h, NUM_JOINTS * 3)}, got {noise.shape}")
        warm = self._warm_starts(previous, n)
        if n == 0:
            empty = np.zeros((0, NUM_JOINTS))
            return LiftResult(
                np.zeros((0, NUM_JOINTS, 3)),
                np.zeros((0, h, NUM_JOINTS, 3)),
                np.zeros((0, h)),
                empty,
                empty.astype(bool),
                np.zeros(0),
                np.zeros((0, NUM_JOINTS * 3)),
            )
        xy = pixels_to_normalized(uv, K)
        weights_2d = np.where(observed, confidence, 0.0)
        if pose_3d is None:
            pose_3d, mask_3d = np.zeros((n, NUM_JOINTS, 3)), np.zeros((n, NUM_JOINTS))

        def repeat(a):
            return np.repeat(np.asarray(a, dtype=np.float32), h, axis=0)

        inputs = {
            "xy": repeat(np.where(observed[..., None], xy, 0.0)),
            "mask_2d": repeat(observed),
            "pose_3d": repeat(pose_3d),
            "mask_3d": repeat(mask_3d),
            "noise": noise.reshape(n * h, -1),
        }
        if warm is None:
            rel = self.backend(inputs)
        else:
            x_prev, is_warm = warm
            rel = self.warm_backend()(dict(inputs, x_prev=repeat(x_prev), warm=repeat(is_warm)))
        rel = rel.astype(np.float64).reshape(n, h, NUM_JOINTS, 3)
        rel = rel - rel[:, :, :1]
        height_scale = np.ones(n)
        if self.person_height:
            factor = self.person_height / stature(rel)  # (N, H)
            rel = rel * factor[..., None, None]
            height_scale = factor.mean(1)
        result = self.aggregate(rel, xy, weights_2d, observed, confidence)
        # Back in the model's units (undoing person_height), as the next frame's warm start.
        result.model_poses = (
            (result.poses - result.poses[:, :1]) / (POSE_SCALE * height_scale[:, None, None])
        ).reshape(n, -1)
        if depth is not None:
            result = place_with_depth(
                result, fuse_depth(depth, uv, xy, weights_2d, result.poses, self.depth_fusion)
            )
        return result

    def _warm_starts(self, previous, n):
        """(x_prev (N, 51), warm (N,)) from ``previous``, or None when nobody has a previous
        pose."""
        if previous is None:
            return None
        if len(previous) != n:
            raise InputError(
                f"previous must hold one entry (a pose or None) per person: {n}, got "
                f"{len(previous)}"
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
                    f"previous[{i}] must be None or {NUM_JOINTS * 3} finite numbers (a "
                    "model_poses row)"
                )
            x_prev[i], is_warm[i] = pose, 1.0
        return x_prev, is_warm

    def aggregate(self, rel, xy, weights_2d, observed, confidence):
        n, h = rel.shape[:2]
        roots = fit_root_translation(rel, xy[:, None], weights_2d[:, None])  # (N, H, 3)
        hypotheses = rel + roots[:, :, None]
        projected = hypotheses[..., :2] / hypotheses[..., 2:3]
        share = weights_2d / weights_2d.sum(
            -1, keepdims=True
        )  # (N, 17) each observed joint's weight
        centroid = (share[..., None] * xy).sum(1, keepdims=True)
        size = np.sqrt((share * ((xy - centroid) ** 2).sum(-1)).sum(-1)).clip(1e-6)  # (N,)
        error = (
            np.linalg.norm(projected - xy[:, None], axis=-1) / size[:, None, None]
        )  # (N, H, 17)
        logits = -0.5 * (error / REPROJECTION_TEMPERATURE) ** 2
        per_hypothesis = np.where(observed[:, None], logits, 0).sum(-1) / observed.sum(-1)[:, None]
        hyp_weights = _softmax(per_hypothesis, axis=1)
        if self.aggregation == "mean":
            joint_weights = np.full((n, h, NUM_JOINTS), 1.0 / h)
            hyp_weights = np.full((n, h), 1.0 / h)
        else:
            # Observed joints: trust the hypotheses that reproject that joint best. Completed
            # joints have no 2D evidence of their own, so they follow the whole-pose weights.
            joint_weights = np.where(
                observed[:, None], _softmax(logits, axis=1), hyp_weights[..., None]
            )
        pose_rel = (joint_weights[..., None] * rel).sum(1)
        pose_rel = pose_rel - pose_rel[:, :1]
        root = fit_root_translation(pose_rel, xy, weights_2d)
        # Spread given what was seen: each hypothesis is centred on its observed joints first, so
        # an
        # unseen pelvis (a portrait) does not lend its own uncertainty to the joints that were
        # seen.
        aligned = rel - (share[:, None, :, None] * rel).sum(2, keepdims=True)
        spread = np.sqrt(((aligned - aligned.mean(1, keepdims=True)) ** 2).sum(-1).mean(1))
        conf = observed.mean(1) * (
            np.where(observed, confidence, 0).sum(1) / observed.sum(1).clip(1)
        )
        pose = pose_rel + root[:, None]
        # The 2D error is in the unit of the training noise (data.place_for_cameras): a fraction of
        # the diagonal of the person's 2D box, here the box of the observed joints.
        seen_xy = np.where(observed[..., None], xy, np.nan)
        box = np.linalg.norm(np.nanmax(seen_xy, 1) - np.nanmin(seen_xy, 1), axis=-1)
        pose = toward_rays(
            pose, xy, self.ray_weights(pose, xy, projected, observed, confidence, box)
        )
        return LiftResult(pose, hypotheses, hyp_weights, spread, observed, conf)

    def ray_weights(self, pose, xy, projected, observed, confidence, size):
        """How far each observed joint moves onto its 2D ray (N, 17), in 0..1.

        The aggregate reprojects a few pixels off the 2D it was lifted from. Each joint's image
        position is known twice: from the keypoint, with an error (per axis) of ``keypoint_noise``
        times ``size``, the diagonal of the person's 2D box, and from the hypotheses, with their
        scatter in the image. Weighting the two by inverse variance trusts the 2D where the prior
        is unsure and the prior where the
        2D is noisy; a low-confidence keypoint moves its joint proportionally less, and one that
        disagrees with the pose beyond three standard deviations (a detector's gross error) not at
        all. ``keypoint_noise`` 0 declares the 2D exact: every observed joint lands on its ray.
        """
        prior_var = (
            ((projected - projected.mean(1, keepdims=True)) ** 2).sum(-1).mean(1)
        )  # (N, 17)
        keypoint_var = 2 * (self.keypoint_noise * size[:, None]) ** 2
        weight = prior_var / (prior_var + keypoint_var).clip(1e-12)
        residual2 = ((pose[..., :2] / pose[..., 2:3] - xy) ** 2).sum(-1)
        consistent = (residual2 <= 9 * (prior_var + keypoint_var)) | (
            self.keypoint_noise == 0
        )  # 0: exact 2D
        return np.where(observed & consistent, weight * confidence.clip(0, 1), 0.0)


def _softmax(x, axis):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)
