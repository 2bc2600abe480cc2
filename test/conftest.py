"""Shared pytest setup.

ROS isolation happens at configure time, before any test module can call
rclpy.init(): this session gets its own ROS_DOMAIN_ID (locked, so parallel
runs on one machine never cross) and DDS discovery stays on localhost. Child
processes inherit it through os.environ.

Fixtures for ROS tests (all skip cleanly when rclpy is not importable):
  ros_domain_id  the session's domain id (int)
  ros_env        a copy of os.environ for child processes
  rclpy_ctx      a fresh initialised rclpy Context, shut down after the test
  spawn_python   factory: spawn_python(code) -> ros_helpers.PythonProcess, stopped after the test

Layers (markers, see setup.cfg): tests that start DDS participants or node processes are
marked ``ros``; ``slow`` ones take over ~8 s each; ``make test-fast`` runs neither, ``make test``
runs everything.

  run_gfpose     run_gfpose(*args) -> CliResult(returncode, stdout, stderr): the gfpose command
                 in this process (no interpreter start-up); a subprocess test covers the real exit.
"""

import contextlib
import io
import os
import sys
from typing import NamedTuple

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ros_helpers  # noqa: E402

_domain_lock = None


def pytest_configure(config):
    global _domain_lock
    if _domain_lock is None:
        domain_id, _domain_lock = ros_helpers.allocate_domain_id()
        ros_helpers.isolate_ros_environment(domain_id)


def pytest_unconfigure(config):
    global _domain_lock
    if _domain_lock is not None:
        _domain_lock.close()
        _domain_lock = None


def pytest_report_header(config):
    return f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID')} (private to this run)"


@pytest.fixture(scope='session')
def ros_domain_id():
    return int(os.environ['ROS_DOMAIN_ID'])


@pytest.fixture
def ros_env(ros_domain_id):
    env = dict(os.environ)
    assert env['ROS_DOMAIN_ID'] == str(ros_domain_id)
    return env


@pytest.fixture
def rclpy_ctx():
    with ros_helpers.rclpy_context() as ctx:
        yield ctx


@pytest.fixture
def spawn_python(ros_env):
    procs = []

    def spawn(code, **kwargs):
        kwargs.setdefault('env', ros_env)
        p = ros_helpers.PythonProcess(code, **kwargs)
        procs.append(p)
        return p

    yield spawn
    for p in procs:
        p.stop()


class CliResult(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_gfpose():
    from gfpose_ros import cli

    def run(*args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main([str(a) for a in args])
            except SystemExit as exc:  # argparse's own errors
                code = exc.code
        return CliResult(code, out.getvalue(), err.getvalue())

    return run
