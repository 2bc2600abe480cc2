"""Who in a frame gets lifted: the one per-frame policy of the node, the demo and evaluation.

    people = [Person2D(id, layout, uv, confidence), ...]   # as a detector sends them
    chosen = select_people(people, settings)               # a settings.LiftSettings
    chosen.uv, chosen.confidence, chosen.observed          # (N, 17, ...) in H36M order
    chosen.skipped                                         # [(kind, reason)] of the others

A malformed person (wrong shape, NaN where a joint is claimed to be seen, an unknown layout)
makes the frame invalid: ``InputError`` (or ``LayoutError``) names the person, and nothing is
lifted. A well-formed person with fewer than ``min_joints`` confident joints is skipped with a
reason. Above ``max_people``, the most confident people are kept (the sum of their confident
joints' confidences), in their input order.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .skeleton import NUM_JOINTS, layout_size, to_h36m


class InputError(ValueError):
    pass


class Person2D(NamedTuple):
    id: object  # the detector's id ('' or None: none)
    layout: str  # keypoint layout, see skeleton.LAYOUTS
    uv: np.ndarray  # (K, 2) pixels
    confidence: np.ndarray  # (K,) 0..1; 0 (or NaN uv) = not seen


def people_from_arrays(uv, confidence, layout="h36m17", ids=None):
    """[Person2D] from arrays (N, K, 2) and (N, K) of one layout."""
    ids = [None] * len(uv) if ids is None else ids
    if len(ids) != len(uv):
        raise InputError(f"ids must hold one entry per person: {len(uv)}, got {len(ids)}")
    return [Person2D(i, layout, u, c) for i, u, c in zip(ids, uv, confidence)]


def confident_joints(uv, confidence, threshold):
    """(..., 17) bool: joints that count as observed."""
    return (confidence >= threshold) & (confidence > 0) & np.isfinite(uv).all(-1)


def to_model_layout(uv, confidence, layout):
    """Validate (N, K, 2) pixels and (N, K) confidences of ``layout`` and map them to H36M-17.
    Returns float64 (uv (N, 17, 2), confidence (N, 17)); raises InputError or LayoutError."""
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
    finite = np.isfinite(uv)
    if not finite.all() and (~finite.all(-1) & (confidence > 0)).any():
        raise InputError("uv contains NaN or inf for a joint with confidence > 0")
    return to_h36m(layout, uv, confidence)


@dataclass
class Selection:
    ids: list  # the detector's id of each lifted person
    uv: np.ndarray  # (N, 17, 2) pixels, H36M order
    confidence: np.ndarray  # (N, 17)
    observed: np.ndarray  # (N, 17) bool: confident joints
    indices: list = field(default_factory=list)  # each lifted person's index in the input
    skipped: list = field(default_factory=list)  # [(kind, reason)] of the people not lifted


def select_people(people, settings):
    """Validate every person and choose who is lifted (see the module docstring)."""
    uv, confidence = _validated(people)
    observed = confident_joints(uv, confidence, settings.confidence_threshold)
    counts = observed.sum(1)
    if len(people) <= settings.max_people and (counts >= settings.min_joints).all():
        # The usual frame: everyone is lifted, as given (no copies).
        return Selection(
            [person.id for person in people], uv, confidence, observed, list(range(len(people)))
        )
    skipped = [
        (
            "min_joints",
            f"person {i} (id {people[i].id!r}) dropped: {counts[i]} confident joints, "
            f"at least min_joints={settings.min_joints} needed",
        )
        for i in np.flatnonzero(counts < settings.min_joints)
    ]
    keep = np.flatnonzero(counts >= settings.min_joints)
    if len(keep) > settings.max_people:
        skipped.append(
            (
                "max_people",
                f"{len(keep)} people in the frame; lifting the {settings.max_people} most "
                "confident (max_people)",
            )
        )
        strength = np.where(observed, confidence, 0.0).sum(1)[keep]
        keep = keep[np.sort(np.argsort(strength, kind="stable")[::-1][: settings.max_people])]
    return Selection(
        [people[i].id for i in keep],
        uv[keep],
        confidence[keep],
        observed[keep],
        keep.tolist(),
        skipped,
    )


def _validated(people):
    """Every person's keypoints in H36M order: (uv (N, 17, 2), confidence (N, 17)) float64.
    The usual frame (one layout, well-formed) is validated in one go; otherwise person by
    person, so that an error names the person."""
    if not people:
        return np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS))
    layout = people[0].layout
    if all(person.layout == layout for person in people):
        try:
            return to_model_layout(
                np.stack([person.uv for person in people]),
                np.stack([person.confidence for person in people]),
                layout,
            )
        except ValueError:
            pass  # someone is malformed: find out who below
    uv, confidence = [], []
    for i, person in enumerate(people):
        try:
            p_uv, p_conf = to_model_layout(
                np.asarray(person.uv)[None], np.asarray(person.confidence)[None], person.layout
            )
        except ValueError as exc:
            raise type(exc)(f"person {i} (id {person.id!r}): {exc}") from None
        uv.append(p_uv)
        confidence.append(p_conf)
    return np.concatenate(uv), np.concatenate(confidence)
