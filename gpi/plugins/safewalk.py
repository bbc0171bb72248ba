"""Reading a plugin folder without following it out of itself: one walk, used everywhere.

A plugin folder comes from whoever wrote the plugin. A symlink in it may
point anywhere (``/proc/self/pagemap`` reads forever, ``~/.ssh/id_ed25519``
is a secret), a FIFO blocks its reader, a device file is not content. Every
place that reads a plugin folder (hashing for ``--record``, signing,
discovery, the manifest, the host before it starts a child whose Landlock
grant is that folder) goes through :func:`walk_files` / :func:`read_file`:

- the folder itself is resolved once (it may be a link the user made);
- a symlink whose target resolves outside the folder is refused;
- a symlink to a directory inside the folder is not followed (its files are
  reached at their real place); one to a regular file inside is read there;
- a FIFO, socket, character or block device is refused;
- a file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked to be a
  regular file *after* opening (no swap between check and open).

Refusals raise :class:`~gpi.plugins.errors.UnsafePathError` naming the
path and what it is.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from gpi.plugins.errors import UnsafePathError

__all__ = ["UnsafePathError", "check_folder", "open_file", "read_file", "walk_files"]

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device"}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _root(folder: str | os.PathLike[str]) -> str:
    root = os.path.realpath(os.fspath(folder))
    if not os.path.isdir(root):
        raise UnsafePathError(f"{os.fspath(folder)}: not a folder", path=os.fspath(folder), reason="not a folder")
    return root


def _target(root: str, full: str, shown: str) -> tuple[str, os.stat_result]:
    """The real path and stat of ``full`` (a link is resolved), refused if unsafe."""
    st = os.lstat(full)
    if stat.S_ISLNK(st.st_mode):
        real = os.path.realpath(full)
        if not _inside(real, root):
            raise UnsafePathError(
                f"plugin folder {root}: {shown} is a symbolic link to {real}, outside the plugin folder; "
                "plugin files must be inside their folder (copy the file in instead)",
                path=full, reason="link leaves the folder")
        try:
            st = os.stat(real)
        except OSError:
            raise UnsafePathError(f"plugin folder {root}: {shown} is a dangling symbolic link",
                                  path=full, reason="dangling link") from None
        full = real
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise UnsafePathError(
            f"plugin folder {root}: {shown} is {_kind(st.st_mode)}; a plugin folder holds only "
            "regular files and folders", path=full, reason=_kind(st.st_mode))
    return full, st


def walk_files(folder: str | os.PathLike[str],
               exclude: Callable[[tuple[str, ...]], bool] | None = None) -> Iterator[tuple[tuple[str, ...], str]]:
    """``(relative parts, real path)`` of every regular file under ``folder``, sorted, depth first.

    ``exclude(parts)`` skips a file or folder (it is not even looked at).
    Raises :class:`UnsafePathError` at the first link out, FIFO, socket or device.
    """
    root = _root(folder)
    stack: list[tuple[tuple[str, ...], str]] = [((), root)]
    while stack:
        rel_dir, real_dir = stack.pop()
        with os.scandir(real_dir) as it:
            names = sorted(e.name for e in it)
        subdirs: list[tuple[tuple[str, ...], str]] = []
        for name in names:
            rel = (*rel_dir, name)
            if exclude is not None and exclude(rel):
                continue
            full = os.path.join(real_dir, name)
            is_link = os.path.islink(full)
            real, st = _target(root, full, "/".join(rel))
            if stat.S_ISDIR(st.st_mode):
                if not is_link:  # a link to a folder inside: its files are walked where they are
                    subdirs.append((rel, real))
                continue
            yield rel, real
        stack.extend(reversed(subdirs))


def check_folder(folder: str | os.PathLike[str], exclude: Callable[[tuple[str, ...]], bool] | None = None) -> int:
    """Walk ``folder`` and raise :class:`UnsafePathError` if anything in it is unsafe; returns the file count."""
    return sum(1 for _ in walk_files(folder, exclude))


def open_file(folder: str | os.PathLike[str], rel: str | os.PathLike[str]) -> int:
    """An fd (read-only) of the regular file ``rel`` inside ``folder``, refused if unsafe (see module doc)."""
    root = _root(folder)
    full = os.path.join(root, os.fspath(rel))
    real, _ = _target(root, full, os.fspath(rel))
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"plugin folder {root}: {os.fspath(rel)} is {_kind(st.st_mode)}",
                                  path=real, reason=_kind(st.st_mode))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file(folder: str | os.PathLike[str], rel: str | os.PathLike[str], limit: int = 64 << 20) -> bytes:
    """The bytes of ``rel`` inside ``folder`` (at most ``limit``: more is an :class:`UnsafePathError`)."""
    fd = open_file(folder, rel)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafePathError(f"plugin folder {os.fspath(folder)}: {os.fspath(rel)} is over {limit} bytes",
                              path=Path(folder, rel), reason="too large")
    return data
