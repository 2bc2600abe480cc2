"""When a node's input has gone quiet: a frame-by-frame node is otherwise silent when nothing
arrives, and "configured, then nothing" is what a wrong topic or remapping, a QoS or DDS
transport mismatch and a stopped driver all look like.

    watch = InputWatch()
    watch.start()                 # at activation
    watch.arrived()               # in the input's callback
    quiet = watch.silent_for()    # from a timer: seconds without input, once past the limit

Plain Python, no ROS: the nodes of gfpose_ros.ros use it (GfposeLifecycleNode.check_input says
why), and it is tested without ROS.
"""

import time

# Seconds without input, after activation or after the last message, before a node says so. A
# camera driver sends 10-60 frames a second and a detector several: 5 s is a silence, not a gap.
INPUT_SILENCE = 5.0


class InputWatch:
    def __init__(self, silence=INPUT_SILENCE, clock=time.monotonic):
        self.silence = float(silence)
        self.clock = clock
        self.start()

    def start(self):
        """Count from now (the node's activation), with nothing received yet."""
        self.last = self.clock()
        self.received = 0

    def arrived(self):
        self.last = self.clock()
        self.received += 1

    def silent_for(self):
        """Seconds since the last message (or the start), once at least ``silence``; else None."""
        quiet = self.clock() - self.last
        return quiet if quiet >= self.silence else None
