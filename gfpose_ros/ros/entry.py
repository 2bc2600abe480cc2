"""The console entry points of the nodes (``gfpose_lift``, ``gfpose_camera``).

This module imports only the standard library. The node modules import rclpy, torch, ONNX Runtime
and MediaPipe: seconds of start-up in which the interpreter's own signal handling would turn a
Ctrl-C into a ``KeyboardInterrupt`` traceback and a SIGTERM into death by signal (exit 143).
So the first thing a node process does, before any of those imports, is:

1. **Signals.** SIGINT and SIGTERM end the process at once with status 0 and one log line. When
   the node modules are loaded, ``node_tools.StopRequest`` takes over: during the rest of the
   start-up (rclpy, node construction, configure: model loading, graph export) a signal unwinds
   the start-up (``StartupInterrupted``), so that the atomic writes of graphs and engines remove
   their temporary files, and the process ends with status 0. Once the nodes spin, a signal stops
   them after the callback in flight (``node_tools.run_nodes``).
2. **No orphans.** The process asks the kernel to send it SIGTERM when its parent dies (Linux
   ``prctl(PR_SET_PDEATHSIG)``; elsewhere a thread that watches the parent's pid does the same),
   so a node never outlives the ``ros2 launch``, shell or supervisor that started it. The SIGTERM
   takes the clean path above, and the log says that the parent exited.
"""

import os
import signal
import sys
import threading
import time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_SECONDS = 0.5  # the parent watch where prctl is not available
# A start-up interrupted by a signal ends within this many seconds even if something swallowed
# the StartupInterrupted exception or the teardown hangs.
STARTUP_EXIT_DEADLINE = 3.0

_state = {'node': 'gfpose', 'parent': None}


class StartupInterrupted(BaseException):  # noqa: N818  not an error: a stop request
    """Raised (by node_tools.StopRequest) in the main thread when SIGINT or SIGTERM arrives during
    the start-up; the entry point ends the process with status 0. A BaseException, so that the
    ``except Exception`` of the start-up code (configure) lets it through."""


def log(message, severity='INFO'):
    """One line in the format of the ROS console logger (which may not be loaded yet). Written
    with os.write: it may run in a signal handler that interrupted a write to sys.stderr."""
    line = f'[{severity}] [{time.time():.9f}] [{_state["node"]}]: {message}\n'
    try:
        os.write(2, line.encode())
    except OSError:
        pass


def parent_pid():
    """The pid of the process that started this one (as seen at start-up)."""
    return _state['parent']


def parent_exited():
    """True when the process that started this one has exited (this one was re-parented)."""
    return _state['parent'] is not None and os.getppid() != _state['parent']


def signal_reason(signum):
    """The signal's name, and why it came when it is the parent-death signal."""
    name = signal.Signals(signum).name
    if signum == signal.SIGTERM and parent_exited():
        return f'{name} (the parent process {_state["parent"]} exited)'
    return name


def process_age():
    """Seconds since this process started (the kernel's start time on Linux; elsewhere since the
    entry point ran)."""
    try:
        with open('/proc/self/stat') as f:
            start_ticks = int(f.read().rsplit(')', 1)[1].split()[19])
        with open('/proc/uptime') as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf('SC_CLK_TCK'))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _state.get('entered', time.monotonic())


def _exit_now(signum, frame):
    log(f'{signal_reason(signum)} during start-up: exiting')
    os._exit(0)


def _watch_parent(parent):
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def watch_parent():
    """SIGTERM to this process when its parent dies. Returns how: 'prctl' or 'thread'."""
    parent = os.getppid()
    _state['parent'] = parent
    if sys.platform.startswith('linux'):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0:
                # The parent may have died before prctl: then nobody will send the signal.
                if os.getppid() != parent:
                    os.kill(os.getpid(), signal.SIGTERM)
                return 'prctl'
        except (OSError, AttributeError):
            pass
    watcher = threading.Thread(target=_watch_parent, args=(parent,), name='parent-watch')
    watcher.daemon = True
    watcher.start()
    return 'thread'


def prepare_process(node_name):
    """Everything a node process does before its heavy imports (see the module's docstring)."""
    _state['node'] = node_name
    _state['entered'] = time.monotonic()
    for signum in STOP_SIGNALS:
        signal.signal(signum, _exit_now)
    watch_parent()


def _run(node_name, module, args):
    prepare_process(node_name)
    try:
        if module == 'lift':
            from .lift_node import main
        else:
            from .camera_node import main
        return main(args)  # ends the process itself (node_tools.exit_process)
    except StartupInterrupted as stop:
        from .node_tools import exit_process, shut_down_after_startup_interrupted

        shut_down_after_startup_interrupted(str(stop))
        exit_process(0)


def lift(args=None):
    """``gfpose_lift``: the lift node."""
    return _run('gfpose_lift', 'lift', args)


def camera(args=None):
    """``gfpose_camera``: the camera node (with ``lift_in_process``, the lift node too)."""
    return _run('gfpose_camera', 'camera', args)


if __name__ == '__main__':  # python -m gfpose_ros.ros.entry lift|camera [--ros-args ...]
    if len(sys.argv) < 2 or sys.argv[1] not in ('lift', 'camera'):
        sys.stderr.write('usage: python -m gfpose_ros.ros.entry lift|camera [--ros-args ...]\n')
        sys.exit(2)
    which = sys.argv.pop(1)
    # The package's module, not this __main__ copy: node_tools raises its StartupInterrupted.
    from gfpose_ros.ros import entry

    sys.exit(entry.lift() if which == 'lift' else entry.camera())
