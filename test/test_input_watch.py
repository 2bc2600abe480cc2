"""InputWatch (gfpose_ros/ros/input_watch.py), ROS-free: when a node's input counts as silent.
test_ros_lifecycle.py checks the warning a real lift node logs from it."""

from gfpose_ros.ros.input_watch import INPUT_SILENCE, InputWatch


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_silent_only_after_the_limit_since_activation_or_the_last_message():
    clock = FakeClock()
    watch = InputWatch(clock=clock)
    watch.start()
    clock.now += INPUT_SILENCE - 0.1
    assert watch.silent_for() is None
    clock.now += 0.2
    assert abs(watch.silent_for() - (INPUT_SILENCE + 0.1)) < 1e-9
    assert watch.received == 0  # "since activation"
    watch.arrived()
    assert watch.silent_for() is None and watch.received == 1
    clock.now += INPUT_SILENCE + 2.0
    assert abs(watch.silent_for() - (INPUT_SILENCE + 2.0)) < 1e-9


def test_a_new_activation_counts_from_its_own_start():
    clock = FakeClock()
    watch = InputWatch(silence=2.0, clock=clock)
    watch.arrived()
    clock.now += 10.0
    assert watch.silent_for() == 10.0
    watch.start()  # deactivated, then activated again: nothing received in this activation yet
    assert watch.silent_for() is None and watch.received == 0
    clock.now += 2.0
    assert watch.silent_for() == 2.0
