"""The fork-server: real forks, exit codes, signals, and nothing outliving the host."""

import os
import signal

import pytest

from gpi.plugins.zygote import ForkServer, ZygoteError

pytestmark = pytest.mark.subprocess


def test_spawn_runs_target_with_fds_and_reports_exit_code() -> None:
    with ForkServer(preload=("numpy",)) as zs:
        r, w = os.pipe()
        child = zs.spawn("gpi.plugins.zygote:diagnostic_child", {"text": "hello", "exit": 3}, [w])
        os.close(w)
        assert os.read(r, 100) == b"hello"
        os.close(r)
        assert child.wait(10) == 3
        child.close()


def test_children_die_with_the_zygote() -> None:
    zs = ForkServer(preload=())
    r, w = os.pipe()
    child = zs.spawn("gpi.plugins.zygote:_test_block", {}, [r])
    assert not child.exited(0.05)
    os.kill(zs.pid, signal.SIGKILL)
    assert child.exited(10)  # PR_SET_PDEATHSIG against the zygote
    child.close()
    zs.close()
    os.close(r)
    os.close(w)


def test_kill_running_child() -> None:
    with ForkServer(preload=()) as zs:
        r, w = os.pipe()
        # a child that blocks forever reading a pipe nobody writes
        child = zs.spawn("gpi.plugins.zygote:_test_block", {}, [r])
        assert not child.exited(0.05)
        child.kill()
        assert child.wait(10) == -signal.SIGKILL
        os.close(w)
        child.close()


def test_bad_target_exits_nonzero() -> None:
    with ForkServer(preload=()) as zs:
        child = zs.spawn("gpi.no_such_module:func", {}, [])
        assert child.wait(10) == 1
        child.close()


def test_closed_server_is_clear_error() -> None:
    zs = ForkServer(preload=())
    zs.close()
    zs.close()
    with pytest.raises(ZygoteError, match="closed"):
        zs.spawn("gpi.plugins.zygote:diagnostic_child", {}, [])
