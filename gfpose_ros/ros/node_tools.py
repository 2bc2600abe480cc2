"""What the lift node and the camera node share: parameter descriptors, per-reason warnings, and
how a node process starts and stops (``run_nodes``)."""

import atexit
import os
import select
import signal
import sys
import threading
import time
from importlib.machinery import ExtensionFileLoader

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

from .entry import STARTUP_EXIT_DEADLINE, StartupInterrupted, log, signal_reason

WARN_PERIOD = 5.0  # s between two warnings of the same kind
SILENT_INPUT_PERIOD = 30.0  # s between two "no input" warnings (input_watch.py)
STARTUP_CONSTRAINT = 'read at configure; change it only while the node is unconfigured'


def parameter_descriptor(
    description, low=None, high=None, choices=None, read_only_after_configure=False
):
    """A descriptor with its range (integer or floating point) and its constraints in words."""
    d = ParameterDescriptor(description=description)
    if isinstance(low, int) and isinstance(high, int):
        d.integer_range = [IntegerRange(from_value=low, to_value=high, step=1)]
    elif low is not None:
        d.floating_point_range = [
            FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
        ]
    constraints = []
    if choices:
        constraints.append('one of: ' + ', '.join(choices))
    if read_only_after_configure:
        constraints.append(STARTUP_CONSTRAINT)
    d.additional_constraints = '; '.join(constraints)
    return d


def startup_parameters(parameters):
    """Names of the parameters in ``{name: (default, descriptor)}`` that are read at configure."""
    return {
        name
        for name, (_, d) in parameters.items()
        if STARTUP_CONSTRAINT in d.additional_constraints
    }


class GfposeLifecycleNode(LifecycleNode):
    """Base of the package's lifecycle nodes. Subclasses keep their subscriptions in
    ``self._subs`` and their lifecycle publishers in ``self._pubs`` (a dict)."""

    def warn(self, kind, message, period=WARN_PERIOD):
        """Log each kind at most once per ``period`` s. rclpy throttles per call site, and a node's
        frame warnings come from one, so one bad input would hide another's reason."""
        last = self.__dict__.setdefault('_last_warning_by_kind', {})
        now = time.monotonic()
        if now - last.get(kind, -period) >= period:
            last[kind] = now
            self.get_logger().warning(message)

    def check_input(self, watch, what, topic):
        """From a timer while active: warn (every SILENT_INPUT_PERIOD s) when ``watch`` (an
        InputWatch of the subscription to ``topic``) says its input has gone quiet, with what the
        graph says about the topic's publishers."""
        quiet = watch.silent_for()
        if quiet is None:
            return
        name = self.resolve_topic_name(topic)
        publishers = self.count_publishers(name)
        hint = (
            'no publisher: check the topic name and the remappings'
            if publishers == 0
            else f'{publishers} publisher(s) on it: check their QoS (reliability) against this '
            'subscription\'s, and the DDS transport'
        )
        since = 'since the last one' if watch.received else 'since activation'
        message = f'no {what} on {name} for {quiet:.0f} s {since} ({hint})'
        self.warn('silent input', message, SILENT_INPUT_PERIOD)

    # Called (from the executor's thread) when a lifecycle manager shuts the node down; run_nodes
    # then ends the process.
    on_finalized = None

    def on_shutdown(self, state):
        """Shutdown from any state releases what deactivate and cleanup would have released."""
        if self._subs:
            self.on_deactivate(state)
        if self._pubs:
            self.on_cleanup(state)
        if self.on_finalized is not None:
            self.on_finalized()
        return TransitionCallbackReturn.SUCCESS


# ------------------------------------------------------------------ the node process

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The longest wait for the callback in flight when stopping (a frame takes milliseconds to tenths
# of a second); past it the process ends without tearing the nodes down under that callback.
CALLBACK_DRAIN_TIMEOUT = 5.0
# A signal that lands while a C extension module initialises comes again this much later.
EXTENSION_INIT_RETRY = 0.01
# The frames under which a C extension module's init runs, and any Python code it calls.
EXTENSION_INIT_CODE = (
    ExtensionFileLoader.create_module.__code__,
    ExtensionFileLoader.exec_module.__code__,
)


class StopRequest:
    """SIGINT, SIGTERM and a lifecycle shutdown, as one wake-up of the main thread.

    rclpy's own signal handlers (what rclpy.init installs by default) shut the context down from
    their own thread while a callback may be publishing ("Failed to publish: publisher's context
    is invalid"), then raise KeyboardInterrupt wherever the main thread happens to be (in a
    Future.__del__, say). Here a signal only writes its number to a pipe (signal.set_wakeup_fd,
    done by the interpreter's C-level handler in whatever thread the signal lands), and the main
    thread, which does nothing but wait on that pipe, has run_nodes stop the executor, let the
    callback in flight finish, then destroy the nodes and shut the context down, in that order.

    Create it before rclpy.init(..., signal_handler_options=SignalHandlerOptions.NO). Until
    run_nodes starts spinning (``starting``), the start-up is in progress in the main thread
    (rclpy, the nodes' construction, configure: model loading, graph export), and a signal ends it
    at once: the handler raises StartupInterrupted there, which unwinds the start-up (the atomic
    writes of graphs and engines remove their temporary files) up to the entry point
    (gfpose_ros.ros.entry), which exits with status 0.

    Not while a C extension module initialises (the lift node's configure imports onnxruntime
    and onnx): an exception raised in Python code that its C++ init calls does not come out as
    itself. pybind11 turns it into ImportError('initialization failed'), which the backend choice
    takes for "onnxruntime is not installed", and the start-up goes on; nanobind (onnx) may abort
    or crash the process. There the handler sends the signal again a moment later, to be handled
    once the init is over. Other code that runs Python from C may still turn the exception into an
    error of its own, and the start-up handle that (as a configure failure, say): so it checks for
    a stop (``check_startup``) after each of its steps, and raises the exception again there.
    """

    def __init__(self):
        self._read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._reason = None
        self.starting = True
        self.interrupted = None  # why the start-up was interrupted (the signal), once it was
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)

    def _handle(self, signum, frame):
        """During start-up: raise StartupInterrupted (once; later, if a C extension module is
        initialising). Afterwards the work is done by the wake-up pipe, but a Python handler must
        still be installed, one that does nothing: it keeps the default actions (KeyboardInterrupt,
        death by SIGTERM) away, so a second signal during shutdown, as ros2 launch sends 0.1-0.2 s
        after the first, is harmless."""
        if not self.starting:
            return
        if self.interrupted is None:
            self.interrupted = signal_reason(signum)
            # Something in the start-up could swallow the exception where no check_startup
            # follows soon (a bare except, a __del__), an extension's init could last, or the
            # teardown could hang: the process ends by this deadline in any case.
            watchdog = threading.Timer(
                STARTUP_EXIT_DEADLINE, _exit_after_deadline, args=(self.interrupted,)
            )
            watchdog.daemon = True
            watchdog.start()
        if _in_extension_init(frame):
            retry = threading.Timer(EXTENSION_INIT_RETRY, os.kill, args=(os.getpid(), signum))
            retry.daemon = True
            retry.start()
            return
        self.starting = False
        raise StartupInterrupted(self.interrupted)

    def check_startup(self):
        """Raise StartupInterrupted if a signal interrupted the start-up and the start-up went on:
        the exception was turned into another one and handled, or is yet to be raised (see the
        class)."""
        if self.interrupted is not None:
            self.starting = False  # a signal sent again must not interrupt the unwinding
            raise StartupInterrupted(self.interrupted)

    def request(self, reason):
        """Ask the main thread to stop (from any thread)."""
        self._reason = self._reason or reason
        os.write(self._write_fd, b'\0')

    def requested(self):
        """Why a stop was requested (the signal's name or a reason), or None; does not block."""
        try:
            data = os.read(self._read_fd, 64)
        except BlockingIOError:
            return self._reason
        if data and data[0] and not self._reason:
            self._reason = signal_reason(data[0])
        return self._reason

    def wait(self):
        """Block until a stop is requested; returns why."""
        while self.requested() is None:
            select.select([self._read_fd], [], [])
        return self._reason


def _in_extension_init(frame):
    while frame is not None:
        if frame.f_code in EXTENSION_INIT_CODE:
            return True
        frame = frame.f_back
    return False


def init_rclpy(args=None):
    """rclpy.init for a node process: a StopRequest (returned) instead of rclpy's signal
    handlers."""
    stop = StopRequest()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    return stop


def autostart(node, stop=None):
    """Configure and activate when the node's autostart parameter says so; False (after logging
    why) when configure fails. With the process's StopRequest, a signal that interrupted either
    transition raises StartupInterrupted here, even if the transition handled the exception."""
    if not node.get_parameter('autostart').value:
        return True
    configured = node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    if stop is not None:
        stop.check_startup()  # before the failure: it may be the interruption's doing
    if not configured:
        node.get_logger().fatal('could not configure the node (see the error above); exiting')
        return False
    node.trigger_activate()
    if stop is not None:
        stop.check_startup()
    return True


def run_nodes(nodes, executor, stop):
    """Start the nodes, spin them until a stop signal or until the first node is shut down through
    its lifecycle, then tear down in order. Returns the exit status (0, or 1 when a node could not
    be configured); re-raises an exception from a callback after the teardown."""
    nodes[0].on_finalized = lambda: stop.request('lifecycle shutdown')
    failures = []
    stopping = threading.Event()
    spinner = None
    try:
        for node in nodes:
            if stop.requested() is None and not autostart(node, stop):
                return 1
        # The nodes' construction, or a node without autostart, may have handled it too; past
        # this point a stop would skip the spinning and end the process without a word of why.
        stop.check_startup()
        if stop.requested() is None:
            for node in nodes:
                executor.add_node(node)
            # Triggered to make the executor's wait return once stopping is set. Its own callback
            # group: it must run even while the node's default group is busy with a transition.
            wake = nodes[0].create_guard_condition(
                lambda: None, callback_group=MutuallyExclusiveCallbackGroup()
            )

            def spin():
                try:
                    while not stopping.is_set() and rclpy.ok():
                        executor.spin_once()
                except BaseException as exc:  # noqa: B036  re-raised by the main thread below
                    failures.append(exc)
                    stop.request('an exception in a callback')

            # The executor spins in a thread so that the main thread is free to wait for signals:
            # Python runs signal handlers only in the main thread, and never while it is blocked
            # in rcl_wait. The thread stops itself: Executor.shutdown() from another thread races
            # with a wait in progress (rclpy 9: "wait set is empty", "destruction was requested").
            spinner = threading.Thread(target=spin, name='executor', daemon=True)
            stop.starting = False  # from here on a signal only wakes the main thread
            spinner.start()
            reason = stop.wait()
            nodes[0].get_logger().info(f'{reason}: shutting down')
            stopping.set()
            wake.trigger()
    finally:
        if spinner is not None:
            # The single-threaded executor runs its callback in that thread: this waits for it.
            spinner.join(CALLBACK_DRAIN_TIMEOUT)
            if spinner.is_alive():
                nodes[0].get_logger().error(
                    f'a callback is still running after {CALLBACK_DRAIN_TIMEOUT} s; '
                    'exiting without waiting for it'
                )
                exit_process(1)
        # No callback starts after this; the multi-threaded executor also waits for those running.
        executor.shutdown()
        # Only now, with no callback running, do the publishers and the context go away.
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    if failures:
        raise failures[0]
    return 0


def _exit_after_deadline(reason):
    log(
        f'{reason} during start-up: still not finished after {STARTUP_EXIT_DEADLINE} s: '
        'exiting now'
    )
    exit_process(0)


def shut_down_after_startup_interrupted(reason):
    """After StartupInterrupted reached the entry point: one log line and rclpy shut down (the
    nodes' participant leaves the graph). The caller ends the process."""
    log(f'{reason} during start-up: shutting down')
    try:
        rclpy.try_shutdown()
    except Exception as exc:  # the context may be half made: the process ends anyway
        log(f'rclpy shutdown after the interrupted start-up: {type(exc).__name__}: {exc}', 'WARN')


def exit_process(status):
    """End the process now, skipping the interpreter's own teardown.

    By now rclpy is shut down and nothing is left that the OS does not release. The teardown of
    the loaded modules would cost about 0.5 s (torch above all, measured on the 2-core development
    machine), and during it the default signal actions are back, so the second SIGINT that
    ros2 launch sends 0.1-0.2 s after the first would kill the process (exit code -2). The atexit
    handlers, which flush the logs (Python's logging, rcl's file logger), still run.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
