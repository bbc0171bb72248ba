"""Transport benchmark: channel round trip vs os.pipe and multiprocessing.Pipe; arena vs memcpy.

All round trips run between this process and a real child process:

- ``pipe``: 1-byte ``os.pipe`` ping-pong (the floor for a kernel-mediated wake-up).
- ``mp_pipe``: ``multiprocessing.Pipe`` carrying the same msgpack message the channel sends.
- ``channel``: ``Channel.request({"kind": "ping"})`` answered by ``{"kind": "pong"}``
  (msgpack framing, version check, SPSC rings, doorbell wake-ups). Also shown, not a
  target: the same with ``spin_us=20`` (both sides spin 20 us before sleeping); on a
  shared two-core machine the spinner holds the CPU its peer needs, which is why the
  channel does not spin by default.

Arena throughput: the child writes a 64 MiB float32 array into its output arena
and the host copies it out, compared with ``np.copyto`` of 64 MiB inside one
process. The target uses the streamed path (``Channel.send_arrays`` /
``Channel.copy_out``: the reference is sent first and the host copies each 1 MiB
chunk as soon as the child has written it). Also shown: write-then-copy (serial,
two full copies back to back) and the zero-copy path (child writes, host only
takes the view).

Usage: ``python benchmarks/transport_bench.py [--quick] [--json]``. Repetitions
are interleaved (A B C A B C ...) and the median is reported.
"""

from __future__ import annotations

import multiprocessing.connection as mpc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import _common as bc  # noqa: E402

ROOT = bc.use()

from gpi.shm import Channel, recv_with_fds, send_with_fds  # noqa: E402

ARRAY_BYTES = 64 << 20
MSG = {"v": 1, "kind": "ping"}
REPLY = {"v": 1, "kind": "pong"}


# -- child side ---------------------------------------------------------------------


def _child_pipe(rfd: int, wfd: int) -> None:
    while True:
        b = os.read(rfd, 1)
        if not b or b == b"q":
            return
        os.write(wfd, b)


def _child_mp(fd: int) -> None:
    conn = mpc.Connection(fd)
    packb, unpackb = msgpack.packb, msgpack.unpackb
    reply = packb(REPLY)
    while True:
        msg = unpackb(conn.recv_bytes())
        if msg["kind"] == "shutdown":
            return
        conn.send_bytes(reply)


def _child_channel(sock_fd: int, nbytes: int) -> None:
    sock = socket.socket(fileno=sock_fd)
    spec, fds = recv_with_fds(sock)
    ch = Channel.attach(spec, fds)
    src = np.arange(nbytes // 4, dtype=np.float32)
    pong = {"kind": "pong"}
    msg = ch.recv()
    while True:
        kind = msg["kind"]
        if kind == "ping":
            msg = ch.request(pong)  # answer and wait for the next request, one kernel call
        elif kind == "call" and msg["mode"] == "stream":
            ch.arena.reset()
            ch.send_arrays({"kind": "result"}, {"ref": src})
            msg = ch.recv()
        elif kind == "call":
            ch.arena.reset()
            ch.send({"kind": "result", "ref": ch.arena.write(src)})
            msg = ch.recv()
        else:
            ch.close()
            return


def child_main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "pipe":
        _child_pipe(int(argv[1]), int(argv[2]))
    elif mode == "mp":
        _child_mp(int(argv[1]))
    else:
        _child_channel(int(argv[1]), int(argv[2]))


# -- host side ----------------------------------------------------------------------


def _spawn(*args: Any, fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *map(str, args)]
    return subprocess.Popen(cmd, pass_fds=fds)


class PipePeer:
    def __init__(self) -> None:
        self.h2c = os.pipe()
        self.c2h = os.pipe()
        self.proc = _spawn("pipe", self.h2c[0], self.c2h[1], fds=(self.h2c[0], self.c2h[1]))
        os.close(self.h2c[0])
        os.close(self.c2h[1])

    def run(self, n: int) -> float:
        w, r = self.h2c[1], self.c2h[0]
        write, read = os.write, os.read
        t0 = time.perf_counter()
        for _ in range(n):
            write(w, b"x")
            read(r, 1)
        return (time.perf_counter() - t0) / n

    def close(self) -> None:
        os.write(self.h2c[1], b"q")
        self.proc.wait(10)
        os.close(self.h2c[1])
        os.close(self.c2h[0])


class MpPeer:
    def __init__(self) -> None:
        import multiprocessing as mp

        self.host, child = mp.Pipe()
        self.proc = _spawn("mp", child.fileno(), fds=(child.fileno(),))
        child.close()

    def run(self, n: int) -> float:
        conn = self.host
        packb, unpackb = msgpack.packb, msgpack.unpackb
        t0 = time.perf_counter()
        for _ in range(n):
            conn.send_bytes(packb(MSG))
            unpackb(conn.recv_bytes())
        return (time.perf_counter() - t0) / n

    def close(self) -> None:
        self.host.send_bytes(msgpack.packb({"v": 1, "kind": "shutdown"}))
        self.proc.wait(10)
        self.host.close()


class ChannelPeer:
    def __init__(self, nbytes: int, spin_us: float = 0.0) -> None:
        self.ch = Channel.create(
            "bench",
            ring_capacity=1 << 16,
            arena_size=nbytes + (1 << 20),
            drawlist_size=4096,
            spin_us=spin_us,
        )
        host_sock, child_sock = socket.socketpair()
        self.proc = _spawn("channel", child_sock.fileno(), nbytes, fds=(child_sock.fileno(),))
        child_sock.close()
        send_with_fds(host_sock, self.ch.child_spec(), self.ch.child_fds())
        self.ch.release_child_fds()
        host_sock.close()
        self.ch.set_peer_pid(self.proc.pid)
        self.ch.request({"kind": "ping"}, timeout=30)  # child is up

    def run(self, n: int) -> float:
        request = self.ch.request
        msg = {"kind": "ping"}
        t0 = time.perf_counter()
        for _ in range(n):
            request(msg)
        return (time.perf_counter() - t0) / n

    def arena(self, dst: np.ndarray, mode: str) -> float:
        """Seconds for the child to write the array and the host to get it (copy or view)."""
        t0 = time.perf_counter()
        reply = self.ch.request({"kind": "call", "mode": mode}, timeout=30)
        if mode == "stream":
            self.ch.copy_out(reply["ref"], dst, timeout=30)
        elif mode == "copy":
            np.copyto(dst, self.ch.arena.view(reply["ref"]))
        else:
            view = self.ch.arena.view(reply["ref"])
            assert view.shape == dst.shape
        return time.perf_counter() - t0

    def close(self) -> None:
        self.ch.send({"kind": "shutdown"})
        self.proc.wait(10)
        self.ch.close()


def measure(quick: bool) -> dict[str, Any]:
    n = 2000 if quick else 20000
    reps = 3 if quick else 7
    arena_reps = 3 if quick else 7
    pipe, mpp, chan = PipePeer(), MpPeer(), ChannelPeer(ARRAY_BYTES)
    spinner = ChannelPeer(1 << 20, spin_us=20.0)
    try:
        for peer in (pipe, mpp, chan, spinner):  # warm-up
            peer.run(n // 4)
        rtt = bc.interleaved_medians(
            {"pipe": lambda: pipe.run(n), "mp_pipe": lambda: mpp.run(n),
             "channel": lambda: chan.run(n), "spin": lambda: spinner.run(n)},
            reps,
        )

        src = np.arange(ARRAY_BYTES // 4, dtype=np.float32)
        dst = np.empty_like(src)
        np.copyto(dst, src)
        chan.arena(dst, "copy")  # warm-up: faults the arena pages in on both sides

        def memcpy() -> float:
            t0 = time.perf_counter()
            np.copyto(dst, src)
            return time.perf_counter() - t0

        def stream() -> float:
            dst[:] = 0
            t = chan.arena(dst, "stream")
            assert np.array_equal(dst, src)
            return t

        times = bc.interleaved_medians(
            {"memcpy": memcpy, "stream": stream, "copy": lambda: chan.arena(dst, "copy"),
             "view": lambda: chan.arena(dst, "view")},
            arena_reps,
        )
    finally:
        for peer in (pipe, mpp, chan, spinner):
            peer.close()

    us = {k: v * 1e6 for k, v in rtt.items()}
    gib = {k: ARRAY_BYTES / v / (1 << 30) for k, v in times.items()}
    figures = {
        "rtt_pipe_us": round(us["pipe"], 2),
        "rtt_mp_pipe_us": round(us["mp_pipe"], 2),
        "rtt_channel_us": round(us["channel"], 2),
        "rtt_channel_spin20_us": round(us["spin"], 2),
        "memcpy_64mib_gib_s": round(gib["memcpy"], 2),
        "arena_streamed_copy_out_64mib_gib_s": round(gib["stream"], 2),
        "arena_serial_copy_out_64mib_gib_s": round(gib["copy"], 2),
        "arena_zero_copy_64mib_gib_s": round(gib["view"], 2),
        "arena_serial_vs_memcpy": round(gib["copy"] / gib["memcpy"], 3),
        "arena_zero_copy_vs_memcpy": round(gib["view"] / gib["memcpy"], 3),
        "round_trips_per_rep": n,
        "reps": reps,
    }
    rtt_vs_pipe = us["channel"] / us["pipe"]
    rtt_vs_mp = us["channel"] / us["mp_pipe"]
    arena_ratio = gib["stream"] / gib["memcpy"]
    targets = {
        "rtt_vs_pipe": bc.target(round(rtt_vs_pipe, 3), "<=", 3.0),
        "rtt_below_mp_pipe": bc.target(round(rtt_vs_mp, 3), "<", 1.0),
        "arena_vs_memcpy": bc.target(round(arena_ratio, 3), ">=", 0.5),
    }
    return {"figures": figures, "targets": targets}


def table(result: dict[str, Any]) -> Any:
    """The table of round trips and arena throughput."""
    f = result["figures"]
    return bc.rows_table(
        f"transport: {f['round_trips_per_rep']} round trips x {f['reps']} reps, 64 MiB array",
        ("measurement", "value"),
        [
            ("os.pipe 1-byte ping-pong", f"{f['rtt_pipe_us']:.2f} us"),
            ("multiprocessing.Pipe, msgpack ping/pong", f"{f['rtt_mp_pipe_us']:.2f} us"),
            ("Channel.request ping/pong (default: no spin)", f"{f['rtt_channel_us']:.2f} us"),
            ("Channel.request ping/pong, spin_us=20", f"{f['rtt_channel_spin20_us']:.2f} us"),
            ("numpy memcpy 64 MiB", f"{f['memcpy_64mib_gib_s']:.2f} GiB/s"),
            ("arena: child streams it in, host copies out (overlapped)",
             f"{f['arena_streamed_copy_out_64mib_gib_s']:.2f} GiB/s"),
            ("arena: child writes, then host copies out (serial)",
             f"{f['arena_serial_copy_out_64mib_gib_s']:.2f} GiB/s"),
            ("arena: child writes, host views (zero copy)",
             f"{f['arena_zero_copy_64mib_gib_s']:.2f} GiB/s"),
        ],
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return 0
    args = bc.parse_args(__doc__, quick_help="fewer round trips and repetitions")
    result = measure(args.quick)
    bc.report(result["figures"], result["targets"], table(result), json_line=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
