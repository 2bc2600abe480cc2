"""The lock between a node's frames and everything else it does (lifecycle transitions, parameter
changes): a frame never runs during one of those, and none of those waits behind a stream of
frames.

A plain threading.Lock is not fair. The executor thread that releases it after a frame takes it
back for the next frame before a waiting transition's thread wakes, for as long as frames keep
coming (a camera at 30 Hz into a node that needs more than 33 ms a frame: a lifecycle shutdown
went unanswered for 10 s). So while a control operation waits, frames are skipped instead of
queueing on the lock: the control operation waits for the frame in flight at most.

    gate = FrameGate()
    with gate.frame() as admitted:   # the frame callback
        if admitted:
            ...                      # process the frame
    with gate.control():             # a transition or a parameter change
        ...

Plain threading, no ROS: the nodes of gfpose_ros.ros use it, and it is tested without ROS.
"""

import threading
from contextlib import contextmanager


class FrameGate:
    def __init__(self):
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._controls = 0  # control operations waiting for the lock or holding it

    @contextmanager
    def control(self):
        """Hold the gate for a control operation: waits for the frame in flight only."""
        with self._count_lock:
            self._controls += 1
        try:
            with self._lock:
                yield
        finally:
            with self._count_lock:
                self._controls -= 1

    @contextmanager
    def frame(self):
        """Hold the gate for one frame; yields False (the frame is to be skipped, nothing held)
        while a control operation waits or runs."""
        if self._controls:
            yield False
            return
        with self._lock:
            yield True
