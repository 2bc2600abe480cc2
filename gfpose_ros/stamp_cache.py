"""Pairing two streams by stamp: the depth image that goes with a keypoints frame.

message_filters' ApproximateTimeSynchronizer does this in ROS, but it has no wheel and would
hold the keypoints back until a depth image arrives. The keypoints drive the lifting here:
each frame takes the cached depth image nearest in time, if one is close enough, and is lifted
without depth otherwise, so a slow or missing depth stream never delays or drops a pose.
"""

import collections
import dataclasses


@dataclasses.dataclass(frozen=True)
class Match:
    item: object  # None when nothing matched
    reason: str  # why nothing matched; '' on a match
    age: float = 0.0  # |stamp difference| in seconds
    kind: str = ''  # 'empty', 'other_frame' or 'stale' when nothing matched


class StampCache:
    """The last ``capacity`` items of a stream, keyed by stamp (seconds) and frame id."""

    def __init__(self, max_age, capacity=8):
        if not max_age > 0:
            raise ValueError(f'max_age must be > 0 seconds, got {max_age}')
        if capacity < 1:
            raise ValueError(f'capacity must be >= 1, got {capacity}')
        self.max_age = float(max_age)
        self._items = collections.deque(maxlen=int(capacity))

    def put(self, stamp, frame_id, item):
        self._items.append((float(stamp), frame_id, item))

    def clear(self):
        self._items.clear()

    def match(self, stamp, frame_id):
        """The item nearest to ``stamp`` in the same frame, within max_age; else why not."""
        if not self._items:
            return Match(None, 'no depth image received yet', kind='empty')
        ages = [(abs(s - stamp), f, item) for s, f, item in self._items]
        same_frame = [(age, item) for age, f, item in ages if f == frame_id]
        if same_frame:
            age, item = min(same_frame, key=lambda pair: pair[0])
            if age <= self.max_age:
                return Match(item, '', age)
        in_time = sorted({f for age, f, _ in ages if age <= self.max_age and f != frame_id})
        if in_time or not same_frame:
            others = in_time or sorted({f for _, f, _ in ages})
            return Match(
                None,
                f'depth images are in frame {", ".join(map(repr, others))}, '
                f'the keypoints in {frame_id!r}: not the same camera',
                kind='other_frame',
            )
        return Match(
            None,
            f'nearest depth image is {age * 1000:.0f} ms from the keypoints '
            f'(max {self.max_age * 1000:.0f} ms)',
            age,
            kind='stale',
        )
