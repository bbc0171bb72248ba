"""Text that came from a plugin, made safe to print: one function, :func:`neutralise`.

Plugin text (log lines, exception messages, stdout, names) reaches the
user's terminal, rich tables and the log. Raw, it could carry ANSI/OSC
escape sequences (recolour or rewrite the terminal, set its title, hide
text), carriage returns and newlines (overwrite or forge other plugins'
lines), Unicode bidi overrides (show text in another order) and rich
markup (``[/red]`` raises MarkupError in ``console.print``). Every C0 and C1
control character, DEL and the bidi controls become visible escapes
(``\\x1b``, ``\\r``, ``\\n``, ``\\u202e``); with ``markup=True`` square
brackets that rich would read as a tag are escaped too. A backslash is left
alone: it cannot act on a terminal.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["neutralise", "neutralise_lines"]

_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI]


def _escape(cp: int) -> str:
    named = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
    if cp in named:
        return named[cp]
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


_TABLE = {cp: _escape(cp) for cp in _CONTROLS}
_TABLE_KEEP_TAB = {**_TABLE, 0x09: "\t"}
# rich.markup's own rule for what looks like a tag: [name], [/name], [#hex], [@click]
_MARKUP = re.compile(r"(\\*)(\[[a-zA-Z#/@].*?])")


def neutralise(text: Any, *, markup: bool = False, limit: int | None = None) -> str:
    """``text`` (anything; non-strings are ``str()``-ed) as one printable line.

    Control characters are escaped, so the result is exactly one record on
    one line; ``markup=True`` also escapes rich markup; ``limit`` cuts the
    result to that many characters with a note of how many were dropped.
    """
    s = text if type(text) is str else _str(text)
    if limit is not None and len(s) > limit:
        s = f"{s[:limit]}... [{len(s) - limit} characters dropped]"
    s = s.translate(_TABLE_KEEP_TAB)
    if markup:
        s = _MARKUP.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", s)
    return s


def neutralise_lines(text: Any, *, markup: bool = False, limit: int | None = None) -> list[str]:
    """``text`` split at its newlines, each line :func:`neutralise`-d (for tracebacks: print each with a prefix)."""
    s = text if type(text) is str else _str(text)
    if limit is not None and len(s) > limit:
        s = f"{s[:limit]}... [{len(s) - limit} characters dropped]"
    return [neutralise(line, markup=markup) for line in s.replace("\r\n", "\n").split("\n")]


def _str(value: Any) -> str:
    """``str(value)`` that never raises (a hostile ``__str__``, or nesting past the recursion limit)."""
    try:
        return str(value)
    except RecursionError:
        return f"<{type(value).__name__}: nested too deep to print>"
    except Exception as exc:
        return f"<{type(value).__name__}: str() failed: {type(exc).__name__}>"
