"""Reusable helpers for tests that talk ROS 2 across processes.

Imported by test/conftest.py (which also puts this folder on sys.path, so test
modules can ``from ros_helpers import ...``). Nothing here imports rclpy at
module level: the core tests must run on a machine without ROS.

Isolation: every pytest session takes its own ROS_DOMAIN_ID (see
:func:`allocate_domain_id`) and keeps DDS discovery on localhost, so parallel
test runs on one machine never see each other's topics.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from typing import Callable, Iterator, Optional

import pytest

# Domain ids 1..101: valid for every RMW and clear of the Linux ephemeral port
# range with Fast DDS's default port mapping (0 is left to interactive use).
DOMAIN_ID_MIN = 1
DOMAIN_ID_MAX = 101

_LOCK_DIR = os.path.join(tempfile.gettempdir(), 'gfpose_ros_test_domains')


def allocate_domain_id() -> tuple[int, object]:
    """Pick a ROS domain id no other live test session on this machine holds.

    Starts from a pid-derived id and takes an exclusive non-blocking flock on a
    per-id lock file; the lock lasts as long as the returned file object stays
    open (i.e. the pytest session). Returns (domain_id, lock_file).
    """
    os.makedirs(_LOCK_DIR, exist_ok=True)
    span = DOMAIN_ID_MAX - DOMAIN_ID_MIN + 1
    start = os.getpid() % span
    for i in range(span):
        domain = DOMAIN_ID_MIN + (start + i) % span
        f = open(os.path.join(_LOCK_DIR, f'{domain}.lock'), 'a+')
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        f.seek(0)
        f.truncate()
        f.write(f'{os.getpid()}\n')
        f.flush()
        return domain, f
    raise RuntimeError(
        f'all ROS domain ids {DOMAIN_ID_MIN}..{DOMAIN_ID_MAX} are in use by other test runs'
    )


def isolate_ros_environment(domain_id: int, environ=os.environ) -> None:
    """Set the variables that keep this process's DDS traffic private and local."""
    environ['ROS_DOMAIN_ID'] = str(domain_id)
    # Kilted: discovery only on this host (replaces ROS_LOCALHOST_ONLY).
    environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    environ.pop('ROS_LOCALHOST_ONLY', None)
    environ.pop('ROS_STATIC_PEERS', None)


def import_rclpy_or_skip():
    """Return the rclpy module; skip the test only when rclpy is not importable at all."""
    try:
        import rclpy  # noqa: F401
    except ImportError as exc:
        pytest.skip(
            f'rclpy is not importable ({exc}); ROS tests need ROS 2: run `make test`, '
            'or `bash scripts/setup_env.sh && source scripts/env.sh`'
        )
    return rclpy


def import_gfpose_msgs():
    """Return gfpose_msgs.msg. rclpy being there but not our messages is a broken build: fail."""
    try:
        import gfpose_msgs.msg as m
    except ImportError as exc:
        pytest.fail(
            f'rclpy imports but gfpose_msgs does not ({exc}); build the workspace and '
            'source it: `bash scripts/setup_env.sh && source scripts/env.sh`'
        )
    return m


@contextlib.contextmanager
def rclpy_context() -> Iterator[object]:
    """A fresh, initialised rclpy Context, shut down on exit."""
    rclpy = import_rclpy_or_skip()
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    try:
        yield ctx
    finally:
        with contextlib.suppress(Exception):
            rclpy.shutdown(context=ctx)


class PythonProcess:
    """A Python child process in the same (ROS) environment, with its stdout
    read line by line on a background thread."""

    def __init__(
        self,
        code: str = '',
        *,
        env: Optional[dict] = None,
        args: tuple = (),
        command: Optional[list] = None,
    ):
        """Runs ``code`` with ``args``, or the ``command`` line (another Python program)."""
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault('PYTHONUNBUFFERED', '1')
        self.proc = subprocess.Popen(
            command or [sys.executable, '-u', '-c', textwrap.dedent(code), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            text=True,
            bufsize=1,
        )
        self.lines: 'queue.Queue[str]' = queue.Queue()
        self.stderr_lines: list[str] = []
        self._t_out = threading.Thread(
            target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True
        )
        self._t_err = threading.Thread(
            target=self._pump, args=(self.proc.stderr, self.stderr_lines.append), daemon=True
        )
        self._t_out.start()
        self._t_err.start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink(line.rstrip('\n'))

    def readline(self, timeout: float) -> Optional[str]:
        """Next stdout line, or None after timeout seconds."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait_for_line(
        self,
        predicate: Callable[[str], bool],
        timeout: float,
        on_idle: Optional[Callable[[], None]] = None,
        poll: float = 0.1,
    ) -> str:
        """Wait for a stdout line satisfying predicate; call on_idle between polls
        (e.g. to publish again). Raises AssertionError with the child's stderr on
        timeout or early exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if on_idle is not None:
                on_idle()
            line = self.readline(timeout=poll)
            if line is not None:
                if predicate(line):
                    return line
                continue
            if self.proc.poll() is not None and self.lines.empty():
                self._t_out.join(1.0)
                if self.lines.empty():
                    raise AssertionError(
                        f'child process exited with {self.proc.returncode} before the expected '
                        'output;\n'
                        f'stderr:\n' + '\n'.join(self.stderr_lines[-40:])
                    )
        raise AssertionError(
            f'timed out after {timeout:.0f} s waiting for the child process;\n'
            f'stderr:\n' + '\n'.join(self.stderr_lines[-40:])
        )

    def wait_for_stderr(
        self,
        text: str,
        timeout: float,
        on_idle: Optional[Callable[[], None]] = None,
        poll: float = 0.05,
    ) -> str:
        """The first stderr line containing ``text`` (a log line: stderr is read by another
        thread, so a line logged before a reply may arrive after it), waiting up to ``timeout``
        s; on_idle runs between polls (e.g. to publish again). Raises AssertionError with the
        child's stderr on timeout or early exit."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.stderr_lines if text in line]
            if lines:
                return lines[0]
            assert self.proc.poll() is None, (
                f'child process exited with {self.proc.returncode} before logging {text!r}:\n'
                + '\n'.join(self.stderr_lines[-20:])
            )
            assert time.monotonic() < deadline, (
                f'no {text!r} on stderr within {timeout:.0f} s:\n'
                + ('\n'.join(self.stderr_lines[-40:]))
            )
            if on_idle is not None:
                on_idle()
            time.sleep(poll)

    def wait_for_json(self, timeout: float, on_idle: Optional[Callable[[], None]] = None) -> dict:
        """Wait for the first stdout line that is a JSON object and return it."""
        line = self.wait_for_line(lambda s: s.startswith('{'), timeout, on_idle)
        return json.loads(line)

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        for s in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                s.close()


@contextlib.contextmanager
def python_process(code: str, **kwargs) -> Iterator[PythonProcess]:
    """Run code in a child Python process for the duration of the with-block."""
    p = PythonProcess(code, **kwargs)
    try:
        yield p
    finally:
        p.stop()


def spin_until(
    executor, predicate: Callable[[], bool], timeout: float, step: float = 0.05
) -> bool:
    """Spin an rclpy executor until predicate() is true or timeout; returns predicate()."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=step)
    return predicate()


LIFT_PARAMS_FILE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'config', 'lift.yaml'
)


def start_lift_node(namespace: str, *params: str) -> PythonProcess:
    """The lift node as a user starts it, in its own process: config/lift.yaml plus -p
    overrides (the command line of gfpose_ros.tools.client, the one place nodes start from)."""
    from gfpose_ros.tools.client import node_command

    return PythonProcess(command=node_command('lift', LIFT_PARAMS_FILE, namespace, list(params)))
