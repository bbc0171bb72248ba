"""Atomic file writes: the one helper every layer of the package uses.

A file written here is either the old one or the complete new one after a
crash, never a mix or a truncated tail: the bytes go to a temporary file in
the same folder (so the rename never crosses a file system), the file is
flushed and fsynced, renamed over the target with :func:`os.replace`, and
the folder is fsynced so the rename itself is on disk. A failure before the
rename removes the temporary file and leaves the target untouched.

:class:`AtomicFile` is the streaming form (write as you go, :meth:`commit`
at the end: what a long trace needs); :func:`atomic_write` writes bytes or
text in one call. This module imports nothing from :mod:`gpi`, so ``shm``,
``ecs``, ``plugins``, ``replays`` and ``runtime`` may all use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any

__all__ = ["AtomicFile", "atomic_write", "fsync_dir"]


def _new_file_mode(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` would give: the target's own, else 0o666 minus the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        pass
    umask = 0o022
    try:  # read without os.umask(), which would change it for every thread for a moment
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError):
        pass
    return 0o666 & ~umask


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """fsync a folder, so a rename or a new entry in it survives a crash."""
    fd = os.open(os.fspath(folder), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A temporary file beside ``path`` that becomes ``path`` on :meth:`commit`.

    ``mode`` is ``"wb"`` or ``"w"`` (text, with ``encoding``). As a context
    manager it commits when the block ends normally and aborts (removes the
    temporary file) when it raises. :meth:`abort` after :meth:`commit`, or
    either twice, does nothing.
    """

    file: IO[Any]
    _done = True  # a failed __init__ leaves nothing to clean up

    def __init__(self, path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None,
                 make_parents: bool = True) -> None:
        if mode not in ("wb", "w"):
            raise ValueError(f"AtomicFile(mode={mode!r}): use 'wb' or 'w'")
        self.path = Path(path)
        if make_parents:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.tmp_path = Path(tmp)
        try:
            os.fchmod(fd, _new_file_mode(self.path))  # mkstemp makes 0o600; keep what open() would
            self.file = os.fdopen(fd, mode, encoding=encoding if mode == "w" else None)
        except BaseException:
            os.close(fd)
            self.tmp_path.unlink(missing_ok=True)
            raise
        self._done = False

    def write(self, data: Any) -> int:
        """Write to the temporary file."""
        return self.file.write(data)

    def commit(self) -> Path:
        """Flush, fsync, rename over the target, fsync the folder; returns the target path."""
        if self._done:
            raise ValueError(f"{self!r} was already committed or aborted")
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.tmp_path, self.path)
        except BaseException:
            self.abort()
            raise
        self._done = True
        fsync_dir(self.path.parent)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; the target is untouched. Safe twice and after commit."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(OSError):
            self.tmp_path.unlink()

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def __del__(self) -> None:
        self.abort()

    def __repr__(self) -> str:
        state = "done" if self._done else "open"
        return f"<AtomicFile {str(self.path)!r} {state}>"


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, encoding: str = "utf-8",
                 make_parents: bool = True) -> Path:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` atomically; returns the path."""
    if isinstance(data, str):
        with AtomicFile(path, "w", encoding=encoding, make_parents=make_parents) as f:
            f.write(data)
    else:
        with AtomicFile(path, "wb", make_parents=make_parents) as f:
            f.write(data)
    return Path(path)
