"""What a lifter is configured with, as two frozen objects, each validated in one place.

- ``BackendSpec``: read once, at start-up (a node's configure): the model, the backend and the
  graphs it compiles. Changing one means building a new ``Lifter``.
- ``LiftSettings``: the per-frame policy, which may change between any two frames: how many
  hypotheses, who is lifted, how the result is aggregated, tracking.

The defaults here are the only ones: the lift node declares its parameters with them, and
config/lift.yaml and the README's parameter table are tested against them. A setting's
range lives in ``RANGES`` (and its choices in ``CHOICES``), which the node's parameter
descriptors use too. A caller changes a setting by building a new object
(``settings.replace(num_hypotheses=10)``), so a frame never sees half of a change.
"""

import dataclasses
import os
from dataclasses import dataclass, field

from .depth_fusion import DepthFusionConfig

# realpath: under colcon --symlink-install the package may be imported through build/, whose
# models/ copy can be stale; the source tree's models/ is the one to use.
DEFAULT_MODEL = os.path.join(
    os.path.dirname(os.path.realpath(__file__)), "..", "models", "gfpose_mlp512.pt"
)
BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
PRECISIONS = ("fp16", "fp32")  # of a TensorRT engine
# ONNX Runtime's graph on a CPU: int8 = the network's weights quantised to int8 and its
# activations quantised on every call (onnxruntime.quantization.quantize_dynamic).
ONNXRUNTIME_PRECISIONS = ("int8", "fp32")
SAMPLERS = ("ddim", "euler_maruyama")
AGGREGATIONS = ("reprojection", "mean")
# The training bodies' expected stature in metres (the middle of config/train.yaml's
# stature_range, 1.5-1.95 m): what a lifted person's size is when nothing measures it
# (person_height 0, no depth image). A model trained on another stature range wants its own.
POPULATION_STATURE = 1.725
# The largest people x hypotheses batch of one graph call (the TensorRT engine's batch profile).
MAX_BATCH = 512

# name -> (lowest, highest), inclusive. Integer bounds for integer settings.
RANGES = {
    "steps": (1, 1000),  # 1000: GFPose's own Euler-Maruyama sampler
    "num_threads": (0, 256),
    "warm_steps": (1, 100),
    "warm_t_start": (0.002, 1.0),  # above the SDE's T_MIN = 0.001
    "num_hypotheses": (1, MAX_BATCH),
    "confidence_threshold": (0.0, 1.0),
    "keypoint_noise": (0.0, 10.0),
    "min_joints": (2, 17),
    "person_height": (0.0, 2.5),
    "max_people": (1, MAX_BATCH),
    "track_max_age": (0.05, 10.0),
    "depth_max_age": (0.001, 1.0),
}
CHOICES = {
    "backend": BACKENDS,
    "precision": PRECISIONS,
    "onnxruntime_precision": ONNXRUNTIME_PRECISIONS,
    "sampler": SAMPLERS,
    "aggregation": AGGREGATIONS,
}


class SettingsError(ValueError):
    """A setting that cannot be used; the message is one line naming it."""


def default_model_path():
    """The shipped weights: next to the package in a source tree, or in the ROS share dir."""
    if os.path.exists(DEFAULT_MODEL):
        return os.path.abspath(DEFAULT_MODEL)
    try:
        from ament_index_python.packages import get_package_share_directory

        share = get_package_share_directory("gfpose_ros")
        return os.path.join(share, "models", "gfpose_mlp512.pt")
    except Exception:
        return os.path.abspath(DEFAULT_MODEL)


def _check_fields(settings):
    """Types, ranges and choices of every field named in RANGES and CHOICES."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name in CHOICES and value not in CHOICES[f.name]:
            raise SettingsError(
                f"{f.name} must be one of {', '.join(CHOICES[f.name])}, got {value!r}"
            )
        if f.name not in RANGES:
            continue
        low, high = RANGES[f.name]
        kind = int if isinstance(low, int) else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise SettingsError(f"{f.name} must be a number, got {value!r}")
        if not low <= value <= high:
            raise SettingsError(f"{f.name} must be in [{low}, {high}], got {value!r}")


class _Settings:
    def replace(self, **changes):
        """A copy with ``changes`` (checked like any new object); raises SettingsError."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SettingsError(
                f"unknown {type(self).__name__} setting(s): {', '.join(sorted(unknown))}"
            )
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class BackendSpec(_Settings):
    """Start-up settings: which model runs on which backend, and which graphs it needs."""

    model_path: str = ""  # empty = the shipped model
    backend: str = "auto"
    precision: str = "fp16"  # of the TensorRT engine
    # Of ONNX Runtime's graph on a CPU (on its CUDA provider it runs fp32): int8 makes the graph
    # about a third faster with 2-LOSO unchanged (models/MODEL_CARD.md).
    onnxruntime_precision: str = "int8"
    steps: int = 4  # sampler steps of a cold start (network evaluations per hypothesis)
    engine_cache_dir: str = ""  # exported graphs and engines; empty = $ROS_HOME/gfpose_ros
    num_threads: int = 2  # ONNX Runtime CPU threads; 0 = one per core
    max_batch: int = MAX_BATCH  # people x hypotheses of one graph call
    sampler: str = "ddim"
    # Warm starts (a tracked person's previous pose noised to warm_t_start, then warm_steps DDIM
    # steps), measured by `gfpose eval-tracking` (see the README). A smaller t_start keeps more of
    # the last pose: t = 0.03 cut the jitter to a third, but the body shrank from frame to frame,
    # so the distance drifted; t = 0.2 keeps the root error of cold starts and still cuts the
    # jitter by a third.
    warm_steps: int = 2
    warm_t_start: float = 0.2

    def __post_init__(self):
        """Every BackendSpec is valid: a bad value raises SettingsError with the reason."""
        _check_fields(self)
        if not isinstance(self.max_batch, int) or self.max_batch < 1:
            raise SettingsError(f"max_batch must be an integer >= 1, got {self.max_batch!r}")

    @property
    def model_file(self):
        return os.path.abspath(self.model_path) if self.model_path else default_model_path()


@dataclass(frozen=True)
class LiftSettings(_Settings):
    """Per-frame policy: may change between any two frames."""

    num_hypotheses: int = 20
    aggregation: str = "reprojection"
    confidence_threshold: float = 0.3  # 2D joints below it are unseen and completed
    # Expected 2D keypoint error (per axis) as a fraction of the person's 2D box diagonal, the
    # unit of the training noise; it sets how far the published joints move onto their 2D rays
    # (measured in models/MODEL_CARD.md on exact, clean and detector-like noisy 2D).
    keypoint_noise: float = 0.03
    # Fit each denoising step's pose to the 2D (fit_2d: bones keep their length, joints move
    # onto their rays by their confidence); false: the 2D only conditions the network.
    fit_2d: bool = True
    # Publish joint_std with the model's per-joint calibration (spread_calibration), where the
    # model file has one; false: the hypotheses' raw spread.
    calibrated_spread: bool = True
    min_joints: int = 4  # people with fewer confident joints are not lifted
    person_height: float = 0.0  # stature in metres; 0 = the population's (POPULATION_STATURE)
    # With person_height 0: scale each person to POPULATION_STATURE (false: the network's size).
    population_size: bool = True
    max_people: int = 10  # the most confident are lifted above this count
    tracking: bool = True  # track ids and (with warm_start) warm starts
    warm_start: bool = True
    track_max_age: float = 0.5  # seconds a track survives unseen
    smooth_poses: bool = False  # One-Euro on each track's published joints
    # With tracking: publish each track's joints from its constant-velocity Kalman filter
    # (motion.PersonMotion: less jitter, no lag). Velocities are published either way.
    motion_filter: bool = True
    depth_max_age: float = 0.05  # seconds between a keypoints frame and its depth image
    depth_fusion: DepthFusionConfig = field(default_factory=DepthFusionConfig)

    def __post_init__(self):
        """Every LiftSettings is valid on its own: a bad value raises SettingsError."""
        _check_fields(self)
        if not (self.person_height == 0 or 0.5 <= self.person_height <= 2.5):
            raise SettingsError(
                "person_height must be 0 (the population's expected stature) or 0.5..2.5 m, "
                f"got {self.person_height}"
            )
        for name in (
            "tracking",
            "warm_start",
            "smooth_poses",
            "motion_filter",
            "population_size",
            "fit_2d",
        ):
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.depth_fusion, DepthFusionConfig):
            raise SettingsError(
                "depth_fusion must be a depth_fusion.DepthFusionConfig, "
                f"got {type(self.depth_fusion).__name__}"
            )

    def check_batch(self, max_batch=MAX_BATCH):
        """Returns self if max_people x num_hypotheses fits one graph call of ``max_batch`` (the
        backend's), else raises SettingsError with the reason."""
        if self.num_hypotheses > max_batch:
            raise SettingsError(
                f"num_hypotheses {self.num_hypotheses} exceeds the batch limit {max_batch}"
            )
        if self.max_people * self.num_hypotheses > max_batch:
            raise SettingsError(
                f"max_people x num_hypotheses = {self.max_people} x {self.num_hypotheses} "
                f"exceeds the batch limit {max_batch}; lower one of them"
            )
        return self
