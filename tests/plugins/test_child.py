"""The child process and the wire protocol, spoken by hand from the test."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gpi
from gpi.plugins import wire
from gpi.plugins.errors import ProtocolError
from gpi.shm import Channel, recv_with_fds, send_with_fds

FIX = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]


class Child:
    """A raw child: socket, channel and process."""

    def __init__(self) -> None:
        self.channel = Channel.create("test-child", kinds=["run"])
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([sys.executable, "-m", "gpi.plugins.child", "--sock", str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], cwd=ROOT)
        theirs.close()
        self.channel.set_peer_pid(self.proc.pid)
        self.sock.settimeout(30)

    def hello(self, plugin: str, **over: Any) -> dict[str, Any]:
        msg = wire.make("hello", abi=gpi.ABI_VERSION, plugin=plugin, dir=str(FIX / plugin), entry="main",
                        granted=[], seed=1, dt=0.1, sandbox=None, channel=self.channel.child_spec())
        msg.update(over)
        send_with_fds(self.sock, msg, self.channel.child_fds())
        reply, fds = recv_with_fds(self.sock)
        assert fds == []
        return reply

    def close(self) -> int:
        try:
            code = self.proc.wait(10)
        finally:
            self.sock.close()
            self.channel.close()
        return code


@pytest.mark.subprocess
def test_ready_reports_declarations_and_shutdown_ends_the_child() -> None:
    c = Child()
    reply = wire.check(c.hello("allinone"), ["ready"])
    assert reply["abi"] == gpi.ABI_VERSION and reply["pid"] == c.proc.pid
    assert [d["name"] for d in reply["components"]] == ["Position", "Velocity", "Tag"]
    assert [d["name"] for d in reply["systems"]] == ["churn", "steer", "move", "count"]
    assert reply["sandbox"] is None
    c.channel.send(wire.make("shutdown"))
    assert c.close() == 0


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("plugin", "over", "stage", "code", "words"),
    [
        ("noop", {"v": 99}, "protocol", 2, "protocol version 99"),
        ("noop", {"abi": 99}, "abi", 3, "ABI 99"),
        ("broken_import", {}, "import", 5, "gpi_no_such_module_xyz"),
    ],
)
def test_start_up_failures_are_error_messages(plugin: str, over: dict, stage: str, code: int, words: str) -> None:
    c = Child()
    reply = wire.check(c.hello(plugin, **over), ["error"])
    assert reply["stage"] == stage
    assert words in reply["message"]
    assert c.close() == code


def test_wire_checks_kind_version_and_fields() -> None:
    msg = wire.make("run", tick=1, sys="s", epoch=0)
    assert wire.check(msg, ["run"]) is msg
    with pytest.raises(ProtocolError, match="unknown message kind"):
        wire.make("teleport")
    with pytest.raises(ProtocolError, match="missing fields"):
        wire.make("run", tick=1)
    with pytest.raises(ProtocolError, match="protocol version 2"):
        wire.check({**msg, "v": 2})
    with pytest.raises(ProtocolError, match="unknown message kind"):
        wire.check({**msg, "kind": "nope"})
    with pytest.raises(ProtocolError, match="where \\['result'\\] was expected"):
        wire.check(msg, ["result"])
    with pytest.raises(ProtocolError, match="msgpack map"):
        wire.check([1, 2])
    assert wire.check({**msg, "future_field": 1})["future_field"] == 1  # unknown fields are ignored


def test_pack_value_round_trips_arrays() -> None:
    value = {"a": np.arange(6, dtype=np.int16).reshape(2, 3), "b": [np.float32(1.5), "x"]}
    back = wire.unpack_value(wire.pack_value(value))
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["a"].dtype == np.int16 and back["b"] == [1.5, "x"]
