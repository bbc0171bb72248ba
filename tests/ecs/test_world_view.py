"""WorldView: the host world's arrays mapped read-only, in this process and in a real child."""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import socket
from typing import Any

import numpy as np
import pytest

from gpi.ecs import (
    LayoutError,
    World,
    WorldView,
    attach_segments,
    layout_segment_ids,
    missing_segment_ids,
)
from gpi.shm import Segment, recv_with_fds, send_with_fds


def _attach_all(world: World) -> dict[int, Segment]:
    segs = world.segments()
    layout = world.layout()
    return {
        sid: Segment.attach(os.dup(segs[sid].fd), segs[sid].size, readonly=True)
        for sid in layout_segment_ids(layout)
    }


def _summary(w: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"count": w.entity_count, "checksum": w.checksum(), "chunks": []}
    for c in w.query("Position", "Velocity"):
        out["chunks"].append([c.table_id, c.entities.tolist(), c["Position"].tolist()])
    return out


def test_view_in_process_sees_same_values_read_only(world: World) -> None:
    ids = world.spawn(50, {"Position": np.arange(100).reshape(50, 2), "Velocity": 1})
    world.spawn(5, {"Health": 3})
    world.insert_resource("tick", 4)
    world.send_event("boom", [1])
    segs = _attach_all(world)
    try:
        view = WorldView.from_layout(world.layout(), segs)
        view.set_frame_state(world.resources, world.all_events())
        assert _summary(view) == _summary(world)
        assert view.get(ids[7], "Position").tolist() == [14, 15]
        assert view.is_alive(ids[7]) and view.resource("tick") == 4 and view.events("boom") == [[1]]
        assert set(view.components) == set(world.components)
        (c,) = view.query("Position")
        with pytest.raises(ValueError):
            c["Position"][0] = 5
        with pytest.raises(LayoutError, match="read-only"):
            view.query("Position", writable=True)
        # host writes in place: visible with no new layout
        for hc in world.query("Position", "Velocity", writable=True):
            hc["Position"] += hc["Velocity"]
        assert view.get(ids[7], "Position").tolist() == [15, 16]
        # structural change with growth: the view needs the new segments
        world.despawn(ids[:3])
        world.spawn(1000, {"Position": 0, "Velocity": 0})
        layout = world.layout()
        new = missing_segment_ids(layout, segs)
        assert new
        fds = [os.dup(world.segments()[sid].fd) for sid in new]
        segs = attach_segments(layout, new, fds, segs)
        view.update(layout, segs)
        view.set_frame_state(world.resources, {})
        assert _summary(view) == _summary(world)
        assert not view.is_alive(ids[0])
        view.close()
    finally:
        for s in segs.values():
            s.close()


def test_layout_missing_segment_is_a_clear_error(world: World) -> None:
    world.spawn(3, {"Health": 1})
    with pytest.raises(LayoutError, match="needs segment"):
        WorldView.from_layout(world.layout(), {})
    with pytest.raises(LayoutError, match="layout format"):
        WorldView.from_layout({"v": 99}, {})


# -- a real second process ----------------------------------------------------------


def _child(sock: socket.socket) -> None:
    segs: dict[int, Segment] = {}
    view: WorldView | None = None
    try:
        while True:
            msg, fds = recv_with_fds(sock)
            if msg["cmd"] == "stop":
                break
            if msg["cmd"] == "layout":
                segs = attach_segments(msg["layout"], msg["ids"], fds, segs)
                if view is None:
                    view = WorldView.from_layout(msg["layout"], segs)
                else:
                    view.update(msg["layout"], segs)
                view.set_frame_state(msg["resources"], {})
            assert view is not None
            reply = _summary(view)
            reply["pid"] = os.getpid()
            reply["get"] = view.get(msg["probe"], "Position").tolist()
            (c,) = view.query("Position", "Velocity")[:1]
            try:
                c["Position"][0, 0] = 1.0
                reply["numpy_write"] = "allowed"
            except ValueError:
                reply["numpy_write"] = "refused"
            refused = []
            for seg in segs.values():
                try:
                    m = mmap.mmap(seg.fd, seg.size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
                    m.close()
                    refused.append(False)
                except PermissionError:
                    refused.append(True)
            reply["mmap_write_refused"] = refused
            send_with_fds(sock, reply)
    finally:
        for s in segs.values():
            s.close()
        sock.close()


@pytest.mark.subprocess
def test_view_in_a_child_process_is_read_only_at_the_kernel(world: World) -> None:
    ids = world.spawn(100, {"Position": np.arange(200).reshape(100, 2), "Velocity": [0.5, 1]})
    world.insert_resource("tick", 1)
    host, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    host.settimeout(60)
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_child, args=(child_sock,), daemon=True)
    proc.start()
    child_sock.close()
    known: set[int] = set()

    def send_layout() -> dict[str, Any]:
        layout = world.layout()
        new = missing_segment_ids(layout, known)
        known.update(new)
        segs = world.segments()
        send_with_fds(host, {"cmd": "layout", "layout": layout, "ids": new, "resources": world.resources,
                             "probe": int(ids[-1])}, [segs[s].fd for s in new])
        return recv_with_fds(host)[0]

    try:
        r = send_layout()
        assert r["pid"] != os.getpid()
        assert r["count"] == world.entity_count and r["checksum"] == world.checksum()
        assert r["chunks"] == _summary(world)["chunks"]
        assert r["get"] == [198, 199]
        assert r["numpy_write"] == "refused"
        assert r["mmap_write_refused"] and all(r["mmap_write_refused"])

        # values change in place, same layout: the child sees them on its next read
        for c in world.query("Position", "Velocity", writable=True):
            c["Position"] += c["Velocity"]
        send_with_fds(host, {"cmd": "read", "probe": int(ids[-1])})
        r = recv_with_fds(host)[0]
        assert r["get"] == [198.5, 200.0] and r["checksum"] == world.checksum()

        # structural change + growth: only new segments' fds are sent
        world.despawn(ids[:10])
        world.spawn(5000, {"Position": 2, "Velocity": 0})
        r = send_layout()
        assert r["checksum"] == world.checksum() and r["count"] == world.entity_count
        assert r["chunks"] == _summary(world)["chunks"]
        assert all(r["mmap_write_refused"])
        send_with_fds(host, {"cmd": "stop"})
        proc.join(30)
        assert proc.exitcode == 0
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        host.close()
