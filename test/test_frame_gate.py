"""The nodes' gate between frames and transitions (gfpose_ros/ros/frame_gate.py), without ROS:
a transition waits for the frame in flight only, however fast frames come, and never overlaps
a frame."""

import threading
import time

from gfpose_ros.ros.frame_gate import FrameGate

FRAME_SECONDS = 0.03  # a frame that holds the interpreter, as a detector's Python does


def busy_frames(gate, stop, inside, overlaps, in_control):
    """Frames back to back, as an executor thread runs them when images wait in the queue."""
    while not stop.is_set():
        with gate.frame() as admitted:
            if not admitted:
                time.sleep(0.001)  # the skipped image: the next one is already waiting
                continue
            inside.set()
            started = time.perf_counter()
            while time.perf_counter() - started < FRAME_SECONDS:
                pass
            if in_control.is_set():
                overlaps.append(time.perf_counter())
            inside.clear()


def test_a_transition_waits_for_the_frame_in_flight_only():
    gate, stop, inside, in_control, overlaps = FrameGate(), *(threading.Event() for _ in "abc"), []
    frames = threading.Thread(target=busy_frames, args=(gate, stop, inside, overlaps, in_control))
    frames.start()
    waits = []
    try:
        assert inside.wait(5.0)
        for _ in range(10):
            started = time.perf_counter()
            with gate.control():
                waits.append(time.perf_counter() - started)
                in_control.set()
                assert not inside.is_set()
                time.sleep(0.005)
                in_control.clear()
            time.sleep(0.05)
    finally:
        stop.set()
        frames.join(5.0)
    # A plain threading.Lock here: the frame thread takes it back after every frame, and the
    # first wait does not end within two minutes on a 2-core machine.
    assert max(waits) < 20 * FRAME_SECONDS, waits
    assert not overlaps


def test_frames_run_again_after_a_transition():
    gate = FrameGate()
    with gate.control():
        with gate.frame() as admitted:
            assert not admitted  # skipped, and nothing held: no deadlock
    with gate.frame() as admitted:
        assert admitted
