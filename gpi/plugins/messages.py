"""The schema of every message a plugin child sends, and its decoder.

The host trusts nothing a child says: the child runs plugin code, and plugin
code can replace anything in its own process (the encoder, the runner, the
socket), so each message is checked against a schema before the host reads
one field of it. :func:`decode_ready`, :func:`decode_error` and
:func:`decode_result` take what came off the socket or the ring (already
msgpack, already bounded to the channel's message size) and return it with
its fields checked and normalised, or raise :class:`MessageError` (a
:class:`~gpi.plugins.errors.ProtocolError`) naming the plugin, the message
kind, the field and what was wrong. The host turns that into a ``protocol``
fault for the plugin (reported, child restarted, circuit breaker): never an
exception that reaches the tick.

What is checked, per kind (``str(n)``: a string of at most n characters):

=========  =====================================================================
ready      abi int; pid int in 1..2**22; components: at most 4096 maps
           {name str(128), dtype (a dtype description, depth <= 4),
           shape [int 0..2**24] (<= 8 dims)}; systems: at most 1024 maps
           {name str(128), stage str(32), reads/writes/resources/events/
           before/after [str(128)] (<= 256 each), spawns/despawns bool};
           sandbox None (only when no sandbox was asked for) or
           {available bool, detail str, layers {str(32): {name, active bool,
           detail str, required bool}} (<= 32), violations [flat map] (<= 256)}
error      stage one of abi/import/declare/protocol/sandbox; type str(256);
           message str (cut at MAX_TEXT), traceback str (cut at MAX_TRACEBACK)
result     tick int >= 0; sys str(128); cmds None or a map/list (the command
           decoder and validation check the rest, values with
           :func:`gpi.ecs.values.check_value`: a ``rejected`` fault); logs: at
           most LOG_LIMIT [level str(16), text str] pairs (texts cut at
           MAX_LOG_TEXT); dropped, cpu_ns, child_ns ints in 0..2**63; error None
           or {type str(256), message, traceback, violation None or flat map};
           saves None, or (only with the ``save`` capability) at most 4096
           ["put", key str(1..256), value] / ["del", key] with values
           within :func:`gpi.ecs.values.check_value`
arena ref  {off int >= 0, nbytes int >= 0, shape [int >= 0] (<= 32 dims),
           dtype a dtype description}
=========  =====================================================================

Text that a well-behaved plugin can make as long as it likes (a log line, an
exception message) is cut to its bound with a note of how much was dropped;
a field of the wrong type, a count over its bound, or a field the plugin's
grants do not allow (``saves`` without ``save``) is refused. Every walk here
is iterative: a 100,000-deep list costs the host a loop, not its stack.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from gpi.ecs.errors import SchemaError
from gpi.ecs.values import check_value
from gpi.plugins.context import LOG_LIMIT as _CONTEXT_LOG_LIMIT
from gpi.plugins.errors import MessageError

__all__ = [
    "ERROR_STAGES",
    "LOG_LIMIT",
    "MAX_LOG_TEXT",
    "MAX_TEXT",
    "MAX_TRACEBACK",
    "MessageError",
    "check_sandbox_claims",
    "decode_arena_ref",
    "decode_error",
    "decode_ready",
    "decode_result",
    "depth_of",
    "truncate",
]

#: Log lines per call (the SDK's ``ctx.log`` keeps at most this many; see gpi.plugins.context).
LOG_LIMIT = _CONTEXT_LOG_LIMIT
#: Characters kept of one log line; the rest is dropped with a count.
MAX_LOG_TEXT = 4096
#: Characters kept of an exception message, and of its traceback. A plugin may raise on every
#: tick and every fault is kept in the host's fault window (10,000 of them): 20 KiB each at most.
MAX_TEXT = 4096
MAX_TRACEBACK = 16 * 1024
MAX_NAME = 128
MAX_SAVES = 4096
MAX_COMPONENTS = 4096
MAX_SYSTEMS = 1024
MAX_NAMES = 256
MAX_DIMS = 8
MAX_DIM = 1 << 24
MAX_PID = 1 << 22  # Linux pid_max ceiling
MAX_I63 = (1 << 63) - 1
ERROR_STAGES = frozenset({"abi", "import", "declare", "protocol", "sandbox"})
_SYSTEM_LISTS = ("reads", "writes", "resources", "events", "before", "after")
_FLAT = (type(None), bool, int, float, str)


class _Ctx:
    """Who sent what: the pieces of every error message."""

    __slots__ = ("kind", "plugin")

    def __init__(self, plugin: str, kind: str) -> None:
        self.plugin = plugin
        self.kind = kind

    def fail(self, field: str, reason: str) -> MessageError:
        return MessageError(
            f"plugin {self.plugin!r} sent a malformed {self.kind!r} message: field {field!r} {reason}",
            plugin=self.plugin, kind=self.kind, field=field, reason=reason)


def _tname(v: Any) -> str:
    return type(v).__name__


def _show(v: Any) -> str:
    """A short, safe picture of an untrusted value (never its repr: that recurses and may be huge)."""
    if type(v) in (type(None), bool, int, float):
        return repr(v)[:40]
    if type(v) is str:
        return repr(v[:40])
    return f"a {_tname(v)}"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a note of how many were dropped."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} characters dropped]"


def depth_of(value: Any, limit: int) -> int:
    """Nesting depth of ``value`` (lists, tuples, maps), counting at most to ``limit + 1`` (iterative)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > limit:
                return deepest
        t = type(v)
        if t is list or t is tuple:
            stack.extend((x, d + 1) for x in v)
        elif t is dict:
            for k, x in v.items():
                stack.append((k, d + 1))
                stack.append((x, d + 1))
    return deepest


def _int(ctx: _Ctx, field: str, v: Any, lo: int, hi: int) -> int:
    if type(v) is not int:
        raise ctx.fail(field, f"must be an integer, got {_tname(v)}")
    if not lo <= v <= hi:
        raise ctx.fail(field, f"must be in {lo}..{hi}, got {v}")
    return v


def _str(ctx: _Ctx, field: str, v: Any, limit: int, *, empty: bool = True) -> str:
    if type(v) is not str:
        raise ctx.fail(field, f"must be a string, got {_tname(v)}")
    if len(v) > limit:
        raise ctx.fail(field, f"is {len(v)} characters long, over the limit {limit}")
    if not empty and not v:
        raise ctx.fail(field, "must not be empty")
    return v


def _text(ctx: _Ctx, field: str, v: Any, limit: int) -> str:
    """A free text: must be a string (None reads as empty); cut, not refused, when long."""
    if v is None:
        return ""
    if type(v) is not str:
        raise ctx.fail(field, f"must be a string, got {_tname(v)}")
    return truncate(v, limit)


def _map(ctx: _Ctx, field: str, v: Any) -> dict[Any, Any]:
    if type(v) is not dict:
        raise ctx.fail(field, f"must be a map, got {_tname(v)}")
    return v


def _list(ctx: _Ctx, field: str, v: Any, limit: int) -> list[Any]:
    if type(v) is not list:
        raise ctx.fail(field, f"must be a list, got {_tname(v)}")
    if len(v) > limit:
        raise ctx.fail(field, f"has {len(v)} items, over the limit {limit}")
    return v


def _flat_map(ctx: _Ctx, field: str, v: Any, *, keys: int = 32) -> dict[str, Any]:
    """A map of at most ``keys`` str keys to scalars (short strings): violations, details."""
    m = _map(ctx, field, v)
    if len(m) > keys:
        raise ctx.fail(field, f"has {len(m)} keys, over the limit {keys}")
    out: dict[str, Any] = {}
    for k, x in m.items():
        key = _str(ctx, f"{field} key", k, 64)
        if type(x) not in _FLAT:
            raise ctx.fail(f"{field}.{key}", f"must be a number, bool, string or nil, got {_tname(x)}")
        out[key] = truncate(x, MAX_LOG_TEXT) if type(x) is str else x
    return out


def _head(ctx: _Ctx, msg: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    if type(msg) is not dict:
        raise ctx.fail("(message)", f"must be a map, got {_tname(msg)}")
    if msg.get("kind") != ctx.kind:
        raise ctx.fail("kind", f"must be {ctx.kind!r}, got {_show(msg.get('kind'))}")
    for f in fields:
        if f not in msg:
            raise ctx.fail(f, "is missing")
    return msg


def _dtype_desc(ctx: _Ctx, field: str, v: Any) -> Any:
    if type(v) is str:
        return _str(ctx, field, v, 64, empty=False)
    if type(v) is list:
        if depth_of(v, 4) > 4:
            raise ctx.fail(field, "is a structured dtype nested deeper than 4 levels")
        if len(v) > 256:
            raise ctx.fail(field, f"has {len(v)} fields, over the limit 256")
        return v
    raise ctx.fail(field, f"must be a dtype string or a list of fields, got {_tname(v)}")


# -- ready ---------------------------------------------------------------------------------


def decode_ready(msg: Any, *, plugin: str, sandbox_requested: bool) -> dict[str, Any]:
    """The child's handshake, checked (see the module table); raises :class:`MessageError`."""
    ctx = _Ctx(plugin, "ready")
    _head(ctx, msg, ("abi", "pid", "components", "systems"))
    _int(ctx, "abi", msg["abi"], 0, 1 << 31)
    _int(ctx, "pid", msg["pid"], 1, MAX_PID)
    comps = _list(ctx, "components", msg["components"], MAX_COMPONENTS)
    for i, c in enumerate(comps):
        where = f"components[{i}]"
        _map(ctx, where, c)
        for f in ("name", "dtype"):
            if f not in c:
                raise ctx.fail(f"{where}.{f}", "is missing")
        _str(ctx, f"{where}.name", c["name"], MAX_NAME, empty=False)
        _dtype_desc(ctx, f"{where}.dtype", c["dtype"])
        shape = _list(ctx, f"{where}.shape", c.get("shape", []), MAX_DIMS)
        for n in shape:
            _int(ctx, f"{where}.shape", n, 0, MAX_DIM)
    systems = _list(ctx, "systems", msg["systems"], MAX_SYSTEMS)
    for i, s in enumerate(systems):
        where = f"systems[{i}]"
        _map(ctx, where, s)
        if "name" not in s:
            raise ctx.fail(f"{where}.name", "is missing")
        _str(ctx, f"{where}.name", s["name"], MAX_NAME, empty=False)
        _str(ctx, f"{where}.stage", s.get("stage", "update"), 32, empty=False)
        for f in _SYSTEM_LISTS:
            for n in _list(ctx, f"{where}.{f}", s.get(f, []), MAX_NAMES):
                _str(ctx, f"{where}.{f}", n, MAX_NAME, empty=False)
        for f in ("spawns", "despawns"):
            if type(s.get(f, False)) is not bool:
                raise ctx.fail(f"{where}.{f}", f"must be a bool, got {_tname(s.get(f))}")
    sandbox = msg.get("sandbox")
    if sandbox is None:
        if sandbox_requested:
            raise ctx.fail("sandbox", "is missing, but the host asked for a sandbox")
    elif not sandbox_requested:
        raise ctx.fail("sandbox", "is a sandbox report, but the host asked for no sandbox")
    else:
        _sandbox_report(ctx, sandbox)
    return msg


def _sandbox_report(ctx: _Ctx, rep: Any) -> None:
    _map(ctx, "sandbox", rep)
    if type(rep.get("available", True)) is not bool:
        raise ctx.fail("sandbox.available", f"must be a bool, got {_tname(rep.get('available'))}")
    if "detail" in rep:
        rep["detail"] = _text(ctx, "sandbox.detail", rep["detail"], MAX_LOG_TEXT)
    layers = _map(ctx, "sandbox.layers", rep.get("layers", {}))
    if len(layers) > 32:
        raise ctx.fail("sandbox.layers", f"has {len(layers)} layers, over the limit 32")
    for name, s in layers.items():
        _str(ctx, "sandbox.layers key", name, 32, empty=False)
        where = f"sandbox.layers.{name}"
        _map(ctx, where, s)
        if type(s.get("active")) is not bool:
            raise ctx.fail(f"{where}.active", f"must be a bool, got {_tname(s.get('active'))}")
        if type(s.get("required", False)) is not bool:
            raise ctx.fail(f"{where}.required", f"must be a bool, got {_tname(s.get('required'))}")
        s["detail"] = _text(ctx, f"{where}.detail", s.get("detail", ""), MAX_LOG_TEXT)
        if s.get("name", name) != name:
            raise ctx.fail(f"{where}.name", f"names layer {_show(s.get('name'))} under key {name!r}")
    vs = _list(ctx, "sandbox.violations", rep.get("violations", []), 256)
    for i, v in enumerate(vs):
        vs[i] = _flat_map(ctx, f"sandbox.violations[{i}]", v)


def check_sandbox_claims(pid: int, report: Mapping[str, Any] | None, *, plugin: str) -> None:
    """Check what a sandbox report claims against the kernel's view of ``pid`` (``/proc/PID/status``).

    A child that says seccomp is active while the kernel says its process has
    no filter, or no_new_privs while the flag is clear, sent a forged report:
    :class:`MessageError`. Claims the kernel cannot show (Landlock, netns) are
    taken as said. Silently passes when ``/proc`` cannot be read.
    """
    if not report:
        return
    layers = report.get("layers") or {}
    try:
        with open(f"/proc/{int(pid)}/status", encoding="ascii", errors="replace") as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    except OSError:
        return
    ctx = _Ctx(plugin, "ready")
    checks = (("seccomp", "Seccomp", "2"), ("no_new_privs", "NoNewPrivs", "1"))
    for layer, key, want in checks:
        claim = layers.get(layer)
        if claim and claim.get("active") and key in status and status[key].strip() != want:
            raise ctx.fail(f"sandbox.layers.{layer}.active",
                           f"claims the layer is active, but the kernel reports {key}: {status[key].strip()}")


# -- error ---------------------------------------------------------------------------------


def decode_error(msg: Any, *, plugin: str) -> dict[str, Any]:
    """A start-up failure report, checked; texts cut to :data:`MAX_TEXT` / :data:`MAX_TRACEBACK`."""
    ctx = _Ctx(plugin, "error")
    _head(ctx, msg, ("stage", "type", "message"))
    stage = _str(ctx, "stage", msg["stage"], 32)
    if stage not in ERROR_STAGES:
        raise ctx.fail("stage", f"must be one of {sorted(ERROR_STAGES)}, got {stage!r}")
    _str(ctx, "type", msg["type"], 256)
    msg["message"] = _text(ctx, "message", msg["message"], MAX_TEXT)
    msg["traceback"] = _text(ctx, "traceback", msg.get("traceback"), MAX_TRACEBACK)
    return msg


# -- result --------------------------------------------------------------------------------


def decode_result(msg: Any, *, plugin: str, granted: Collection[str]) -> dict[str, Any]:
    """A per-call result, checked against the schema and the plugin's grants; raises :class:`MessageError`.

    The command list itself (``cmds``) is only checked for type here (no walk
    on the hot path): :meth:`gpi.ecs.CommandBuffer.from_wire` and the world's
    validation own its meaning and its values' bounds (a bad list there is a
    ``rejected`` fault, the child keeps running).
    """
    if type(msg) is dict:  # the fast path: a well-formed call with no logs, error or saves (most calls)
        g = msg.get
        tick, name, cpu, child, dropped, logs = g("tick"), g("sys"), g("cpu_ns"), g("child_ns"), g("dropped"), g("logs")
        if (type(tick) is int and type(name) is str and type(cpu) is int and type(child) is int
                and type(dropped) is int and type(logs) is list and not logs and g("error") is None
                and g("saves") is None and g("kind") == "result" and "cmds" in msg
                and (msg["cmds"] is None or type(msg["cmds"]) is dict)
                and 0 <= tick <= MAX_I63 and 0 <= cpu <= MAX_I63 and 0 <= child <= MAX_I63
                and 0 <= dropped <= MAX_I63 and len(name) <= MAX_NAME):
            return msg
    ctx = _Ctx(plugin, "result")
    _head(ctx, msg, ("tick", "sys", "cmds", "logs", "cpu_ns"))
    _int(ctx, "tick", msg["tick"], 0, MAX_I63)
    _str(ctx, "sys", msg["sys"], MAX_NAME)
    cmds = msg["cmds"]
    if cmds is not None:
        if type(cmds) not in (dict, list):
            raise ctx.fail("cmds", f"must be a command list (map) or nil, got {_tname(cmds)}")
    logs = msg["logs"]
    if logs is None:
        msg["logs"] = []
    else:
        _list(ctx, "logs", logs, LOG_LIMIT)
        for i, entry in enumerate(logs):
            if type(entry) is not list or len(entry) != 2:
                raise ctx.fail(f"logs[{i}]", f"must be a [level, text] pair, got {_tname(entry)}")
            _str(ctx, f"logs[{i}] level", entry[0], 16)
            if type(entry[1]) is not str:
                raise ctx.fail(f"logs[{i}] text", f"must be a string, got {_tname(entry[1])}")
            if len(entry[1]) > MAX_LOG_TEXT:
                entry[1] = truncate(entry[1], MAX_LOG_TEXT)
    msg["dropped"] = _int(ctx, "dropped", msg.get("dropped") or 0, 0, MAX_I63)
    _int(ctx, "cpu_ns", msg["cpu_ns"], 0, MAX_I63)
    msg["child_ns"] = _int(ctx, "child_ns", msg.get("child_ns") or 0, 0, MAX_I63)
    err = msg.get("error")
    if err is not None:
        _map(ctx, "error", err)
        _str(ctx, "error.type", err.get("type"), 256)
        err["message"] = _text(ctx, "error.message", err.get("message"), MAX_TEXT)
        err["traceback"] = _text(ctx, "error.traceback", err.get("traceback"), MAX_TRACEBACK)
        if err.get("violation") is not None:
            err["violation"] = _flat_map(ctx, "error.violation", err["violation"])
    saves = msg.get("saves")
    if saves is not None:
        if "save" not in granted:
            raise ctx.fail("saves", "is present, but the plugin was not granted the 'save' capability")
        _saves(ctx, saves)
    return msg


def _saves(ctx: _Ctx, saves: Any) -> None:
    for i, op in enumerate(_list(ctx, "saves", saves, MAX_SAVES)):
        where = f"saves[{i}]"
        if type(op) is not list or not op:
            raise ctx.fail(where, f"must be ['put', key, value] or ['del', key], got {_tname(op)}")
        verb = op[0]
        if verb == "put" and len(op) == 3:
            pass
        elif verb == "del" and len(op) == 2:
            pass
        else:
            raise ctx.fail(where, f"must be ['put', key, value] or ['del', key], got a {len(op)}-item "
                                  f"list starting {_show(verb)}")
        _str(ctx, f"{where} key", op[1], 256, empty=False)
        if verb == "put":
            try:
                check_value(op[2], f"value of {op[1]!r}")
            except SchemaError as exc:
                raise ctx.fail(f"{where} value", str(exc)) from None


# -- arena references ----------------------------------------------------------------------


def decode_arena_ref(ref: Any, *, plugin: str, kind: str = "result") -> dict[str, Any]:
    """An output-arena reference ``{off, nbytes, shape, dtype}``, checked for types and ranges.

    Bounds against the arena's size are the arena's own check
    (:meth:`gpi.shm.arena.Arena.view`).
    """
    ctx = _Ctx(plugin, kind)
    _map(ctx, "cmds arena", ref)
    for f in ("off", "nbytes", "shape", "dtype"):
        if f not in ref:
            raise ctx.fail(f"cmds arena.{f}", "is missing")
    _int(ctx, "cmds arena.off", ref["off"], 0, MAX_I63)
    _int(ctx, "cmds arena.nbytes", ref["nbytes"], 0, MAX_I63)
    for n in _list(ctx, "cmds arena.shape", ref["shape"], 32):
        _int(ctx, "cmds arena.shape", n, 0, MAX_I63)
    _dtype_desc(ctx, "cmds arena.dtype", ref["dtype"])
    return ref
