"""Frame statistics of the lift node, reported as diagnostic_msgs/DiagnosticStatus.

Dropped frames are counted from the publisher's sequence numbers, which DDS delivers with each
message (rclpy's MessageInfo): with a queue depth of 1, a frame that arrives while the node is
busy replaces the one waiting, and the replaced one shows up as a gap in the sequence.
"""

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from gfpose_ros.depth_fusion import DEPTH


class FrameStats:
    def __init__(self):
        self.last_sequence = {}  # publisher gid -> last publication sequence number seen
        self.sequence_known = True
        self.received = self.processed = self.dropped = self.skipped = 0
        self.people = 0
        self.last_skip_reason = ''
        self.placed_with_depth = self.placed_monocular = 0
        self.last_depth_fallback = ''
        self._window_start = time.monotonic()
        self._window = dict(received=0, processed=0, dropped=0, skipped=0)
        self._latencies = []

    def arrived(self, message_info):
        """Count a received frame, and the frames of the same publisher it skipped over."""
        self.received += 1
        self._window['received'] += 1
        sequence = message_info.get('publication_sequence_number') if message_info else None
        gid = message_info.get('publisher_gid') if message_info else None
        if sequence is None:  # an RMW that does not report sequence numbers
            self.sequence_known = False
            return
        key = bytes(gid['data']) if gid else b''
        last = self.last_sequence.get(key)
        self.last_sequence[key] = sequence
        # The first frame of a publisher is not compared: frames sent before discovery never
        # counted.
        if last is not None and sequence > last + 1:
            self.dropped += sequence - last - 1
            self._window['dropped'] += sequence - last - 1

    def finished(self, latency, people):
        self.processed += 1
        self._window['processed'] += 1
        self._latencies.append(latency)
        self.people = people

    def placed(self, position_sources, depth_reasons):
        """Count how each lifted person was placed: with the depth image or monocular."""
        for source, reason in zip(position_sources, depth_reasons):
            if source == DEPTH:
                self.placed_with_depth += 1
            else:
                self.placed_monocular += 1
                self.last_depth_fallback = str(reason)

    def skip(self, reason):
        self.skipped += 1
        self._window['skipped'] += 1
        self.last_skip_reason = reason

    def status(self, name, backend, backend_reason):
        """The DiagnosticStatus of the window since the previous call; starts a new window."""
        now = time.monotonic()
        elapsed = max(now - self._window_start, 1e-6)
        window, latencies = self._window, np.asarray(self._latencies) * 1000.0
        rate = (window['received'] + window['dropped']) / elapsed
        level, message = DiagnosticStatus.OK, 'lifting'
        if window['skipped']:
            level, message = (
                DiagnosticStatus.WARN,
                f'skipped {window["skipped"]} bad frame(s): {self.last_skip_reason}',
            )
        elif window['dropped']:
            level, message = (
                DiagnosticStatus.WARN,
                'input faster than lifting: dropping the older frames',
            )
        elif not window['received']:
            message = 'no input'
        values = {
            'backend': backend,
            'backend reason': backend_reason,
            'input rate (Hz)': f'{rate:.1f}',
            'processed rate (Hz)': f'{window["processed"] / elapsed:.1f}',
            'latency p50 (ms)': f'{np.median(latencies):.1f}' if len(latencies) else 'n/a',
            'latency max (ms)': f'{latencies.max():.1f}' if len(latencies) else 'n/a',
            'people': str(self.people),
            'window (s)': f'{elapsed:.2f}',
            'frames received': str(self.received),
            'frames processed': str(self.processed),
            'frames skipped (bad input)': str(self.skipped),
            'frames dropped': str(self.dropped)
            if self.sequence_known
            else 'unknown (RMW gives no sequence numbers)',
            'frames dropped in window': str(window['dropped']),
            'people placed with depth': str(self.placed_with_depth),
            'people placed monocular': str(self.placed_monocular),
            'last reason for monocular': self.last_depth_fallback or 'n/a',
        }
        self._window_start = now
        self._window = dict.fromkeys(window, 0)
        self._latencies = []
        return DiagnosticStatus(
            level=level,
            name=name,
            message=message,
            hardware_id=backend,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
