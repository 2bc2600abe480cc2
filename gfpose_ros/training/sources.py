"""Training sources: motion-capture files and BVH folders, their held-out split, and one joint
convention.

A source is declared in the training config (see config/train.yaml):

    - name: hdm05                        # letters, digits and '-'; the prefix of its activity
    labels
      path: ../shared/data/mocap/hdm05_17j_mm.npz   # an .npz of (frames, 17, 3) mm arrays, or a
      BVH folder
      share: 0.2                         # sampling share among the training sources
      stride: 1                          # take every stride-th frame (120 fps capture: 4)
      held_out: ["dg_*"]                 # sequence-name patterns (fnmatch) kept for validation
      activity: "^[^_]+_(.+?)[0-9RL]*_[0-9]+$"   # regex; group 1 (lowercased) labels the activity
      joints: {...}                      # BVH only: H36M joint -> BVH joint name or [a, b]
      midpoint
      unit_mm: 10.0                      # BVH only, with joints: millimetres per file unit

Every source is converted to the same joint convention (``harmonise``), because capture labs
disagree on where the pelvis, spine, thorax and neck sit; so do keypoint detectors.
"""

import fnmatch
import glob
import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..skeleton import JOINT_NAMES, NUM_JOINTS


class SourceError(ValueError):
    """A source that cannot be used; the message is one line naming the source."""


@dataclass
class Source:
    name: str
    path: str
    share: float = 1.0
    stride: int = 1
    held_out: list = field(default_factory=list)
    activity: str = "^(.*?)[_0-9]*$"
    joints: dict = None
    unit_mm: float = None
    rig: str = None

    def __post_init__(self):
        where = f"source {self.name!r}"
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9-]+", self.name):
            raise SourceError(
                f"source name {self.name!r} must be letters, digits and '-' (it prefixes labels)"
            )
        if not isinstance(self.share, (int, float)) or not self.share > 0:
            raise SourceError(f"{where}: share must be > 0, got {self.share!r}")
        if not isinstance(self.stride, int) or self.stride < 1:
            raise SourceError(f"{where}: stride must be an integer >= 1, got {self.stride!r}")
        if isinstance(self.held_out, str):
            self.held_out = [self.held_out]
        if not all(isinstance(p, str) for p in self.held_out):
            raise SourceError(f"{where}: held_out must be a list of sequence-name patterns")
        try:
            self._activity = re.compile(self.activity)
        except re.error as exc:
            raise SourceError(f"{where}: activity is not a valid regex: {exc}") from None
        if self.joints is not None:
            unknown = set(self.joints) - set(JOINT_NAMES)
            if unknown or len(self.joints) != NUM_JOINTS:
                raise SourceError(
                    f"{where}: joints must map all of {', '.join(JOINT_NAMES)}"
                    + (f"; unknown {sorted(unknown)}" if unknown else "")
                )
            if not (isinstance(self.unit_mm, (int, float)) and self.unit_mm > 0):
                raise SourceError(
                    f"{where}: a BVH joint mapping needs unit_mm > 0 (millimetres per file unit)"
                )
        if not os.path.exists(self.path):
            raise SourceError(f"{where}: {self.path} does not exist")

    def is_held_out(self, sequence):
        return any(fnmatch.fnmatchcase(sequence, p) for p in self.held_out)

    def activity_of(self, sequence):
        match = self._activity.search(sequence)
        label = match.group(1) if match and match.groups() else sequence
        return f"{self.name}_{(label or sequence).lower()}"

    def sequences(self):
        """Yield (sequence name, poses (frames, 17, 3) mm) in file order, before the stride."""
        if os.path.isdir(self.path):
            from .bvh import BVHError, load_bvh

            files = sorted(glob.glob(os.path.join(self.path, "**", "*.bvh"), recursive=True))
            for path in files:
                name = os.path.relpath(path, self.path)[:-4]
                try:
                    poses, _, _ = load_bvh(
                        path, rig=self.rig, mapping=self.joints, unit_mm=self.unit_mm
                    )
                except BVHError as exc:
                    raise SourceError(f"source {self.name!r}: {exc}") from None
                yield name, poses
            return
        try:
            archive = np.load(self.path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SourceError(f"source {self.name!r}: cannot read {self.path}: {exc}") from None
        with archive:
            for name in archive.files:
                yield name, archive[name]


def load_source(source, split, harmonise_joints=True):
    """[(sequence, poses in metres (frames, 17, 3))] of one split: 'train', 'val' or 'all'."""
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be train, val or all, not {split!r}")
    items, names, frames = [], [], 0
    for sequence, poses in source.sequences():
        names.append(sequence)
        poses = np.asarray(poses)
        if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3):
            raise SourceError(
                f"source {source.name!r}: {sequence} has shape {poses.shape}, expected (frames, "
                "17, 3)"
            )
        frames += len(poses)
        held_out = source.is_held_out(sequence)
        if split != "all" and held_out != (split == "val"):
            continue
        poses = poses[:: source.stride].astype(np.float64) / 1000.0
        if not np.isfinite(poses).all():
            raise SourceError(f"source {source.name!r}: {sequence} has NaN or inf")
        if len(poses):
            items.append(
                (sequence, (harmonise(poses) if harmonise_joints else poses).astype(np.float32))
            )
    if not frames:
        raise SourceError(f"source {source.name!r}: {source.path} has no frames")
    for pattern in source.held_out:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            raise SourceError(
                f"source {source.name!r}: held_out pattern {pattern!r} matches no sequence"
            )
    return items


def load_sources(sources, split, harmonise_joints=True):
    """{source name: [(sequence, poses in metres)]} for a list of Source."""
    return {s.name: load_source(s, split, harmonise_joints) for s in sources}


def parse_sources(entries):
    """Sources from the config's list of mappings."""
    if not isinstance(entries, list) or not entries:
        raise SourceError("data.sources must be a non-empty list of sources")
    sources, known = [], set(Source.__dataclass_fields__)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SourceError(f"data.sources[{i}] must be a mapping with name and path")
        unknown = set(entry) - known
        if unknown:
            raise SourceError(
                f"data.sources[{i}]: unknown keys {sorted(unknown)}; known: "
                f"{', '.join(sorted(known))}"
            )
        missing = {"name", "path"} - set(entry)
        if missing:
            raise SourceError(f"data.sources[{i}]: missing {', '.join(sorted(missing))}")
        entry = dict(entry, path=os.path.expanduser(str(entry["path"])))
        sources.append(Source(**entry))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise SourceError(f"source names must be unique, got {names}")
    return sources


# ---------------------------------------------------------------------------------------------
# Joint convention.
#
# pelvis = midpoint of the hips, thorax = midpoint of the shoulders; spine and neck/nose sit
# halfway along pelvis->thorax and thorax->head top, keeping each source's own bend (the
# joint's offset from that line). Hips, shoulders, knees, ankles, elbows, wrists and head top
# are left as captured. Why these: a hip or shoulder midpoint is defined the same way by every
# lab and every 2D detector (COCO and MediaPipe have hips and shoulders but no pelvis or
# thorax), while the sources' own thorax sits 30-50 mm above or below the shoulders and their
# neck/nose joint 40-170 mm above them (`gfpose sources` prints the offsets per source).
# ---------------------------------------------------------------------------------------------
SPINE_FRACTION = 0.5
NECK_FRACTION = 0.5


def _on_segment(joint, start, end, fraction):
    """Move ``joint`` to ``fraction`` of the way start->end, keeping its offset perpendicular to
    it."""
    axis = end - start
    length2 = np.maximum((axis * axis).sum(-1, keepdims=True), 1e-12)
    along = ((joint - start) * axis).sum(-1, keepdims=True) / length2
    perpendicular = (joint - start) - along * axis
    return start + fraction * axis + perpendicular


def harmonise(poses):
    """Poses (..., 17, 3) in any source's convention -> the project's convention (same unit)."""
    out = np.array(poses, dtype=np.float64, copy=True)
    out[..., 0, :] = 0.5 * (poses[..., 1, :] + poses[..., 4, :])
    out[..., 8, :] = 0.5 * (poses[..., 11, :] + poses[..., 14, :])
    out[..., 7, :] = _on_segment(poses[..., 7, :], out[..., 0, :], out[..., 8, :], SPINE_FRACTION)
    out[..., 9, :] = _on_segment(
        poses[..., 9, :], out[..., 8, :], poses[..., 10, :], NECK_FRACTION
    )
    return out


def convention_offsets(poses):
    """How far a source's own joints sit from the harmonised ones (metres, medians over frames)."""
    poses = np.asarray(poses, dtype=np.float64)
    out = harmonise(poses)
    up = out[..., 8, :] - out[..., 0, :]
    up /= np.linalg.norm(up, axis=-1, keepdims=True).clip(1e-9)
    offsets = {}
    for joint in (0, 7, 8, 9):
        delta = poses[..., joint, :] - out[..., joint, :]
        offsets[JOINT_NAMES[joint]] = {
            "distance": float(np.median(np.linalg.norm(delta, axis=-1))),
            "along_trunk": float(np.median((delta * up).sum(-1))),
        }
    return offsets
