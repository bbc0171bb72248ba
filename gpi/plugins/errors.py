"""Errors raised by the plugin layer: manifests, signatures, dependencies, children.

Every class derives from :class:`gpi.errors.GpiError` (through
:class:`PluginError`) and from the builtin that matches the failure, so callers
may catch either. Messages say what was wrong, where (file, field, plugin,
key) and what to do about it. :class:`ProtocolError` (a malformed message
between host and child) is the transport layer's
:class:`gpi.shm.errors.ProtocolError`, re-exported: one class for the
channel's frames and the plugin protocol's messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gpi.errors import GpiError
from gpi.shm.errors import ProtocolError  # one class for frames and messages: the transport's

__all__ = [
    "CapabilityError",
    "DependencyError",
    "DiscoveryError",
    "KeyringError",
    "ManifestError",
    "ManifestNotFoundError",
    "MessageError",
    "PluginCrashedError",
    "PluginError",
    "PluginLoadError",
    "PluginSystemError",
    "ProtocolError",
    "SignatureError",
    "UnsafePathError",
]


class PluginError(GpiError):
    """Base class of plugin errors."""


class ManifestError(PluginError, ValueError):
    """A ``plugin.toml`` is missing, unreadable or invalid.

    ``path`` is the manifest file and ``field`` the offending field
    (``"[plugin].version"``), or ``None`` when the whole file is at fault.
    """

    def __init__(self, message: str, *, path: Path | str | None = None, field: str | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.field = field


class ManifestNotFoundError(ManifestError, FileNotFoundError):
    """A plugin folder has no ``plugin.toml`` (or the folder does not exist)."""

    def __str__(self) -> str:  # OSError would format (errno, strerror)
        return str(self.args[0]) if self.args else ""


class DependencyError(PluginError, ValueError):
    """Plugin dependencies cannot be satisfied: missing, incompatible or cyclic.

    ``chain`` is the path of plugin names that leads to the problem, e.g.
    ``["game", "physics", "math"]``.
    """

    def __init__(self, message: str, *, chain: Sequence[str] = ()):
        super().__init__(message)
        self.chain: list[str] = list(chain)


class SignatureError(PluginError, ValueError):
    """A plugin's signature is missing, invalid, from an unknown key, or its files changed.

    ``state`` is the verification state (``"unsigned"``, ``"tampered"``,
    ``"unknown_key"``, ``"bad_signature"``) and ``path`` the plugin folder.
    """

    def __init__(self, message: str, *, state: str = "", path: Path | str | None = None):
        super().__init__(message)
        self.state = state
        self.path = Path(path) if path is not None else None


class KeyringError(PluginError, ValueError):
    """A key file or keyring folder is missing or malformed."""


class DiscoveryError(PluginError, LookupError):
    """A plugin search path or entry point does not lead to a plugin folder."""


class CapabilityError(PluginError, PermissionError):
    """A plugin used a capability it did not request or that the host did not grant."""


class PluginLoadError(PluginError, ImportError):
    """Plugin code could not be imported in its child (its traceback is in the message)."""


class PluginSystemError(PluginError, RuntimeError):
    """A plugin system raised an exception; ``traceback`` holds the child's traceback text."""

    def __init__(self, message: str, *, plugin: str = "", system: str = "", traceback: str = ""):
        super().__init__(message)
        self.plugin = plugin
        self.system = system
        self.traceback = traceback


class PluginCrashedError(PluginError, ChildProcessError):
    """A plugin's child process died (signal, exit, or killed by the sandbox)."""


class MessageError(ProtocolError):
    """A child's message failed its schema (:mod:`gpi.plugins.messages`).

    ``plugin`` sent it, ``kind`` is the message kind, ``field`` the offending
    field (``"logs[3] text"``) and ``reason`` what was wrong with it.
    """

    def __init__(self, message: str, *, plugin: str = "", kind: str = "", field: str = "", reason: str = ""):
        super().__init__(message)
        self.plugin = plugin
        self.kind = kind
        self.field = field
        self.reason = reason


class UnsafePathError(PluginError, PermissionError):
    """A plugin folder holds a link that leaves it, a FIFO, a socket or a device (:mod:`gpi.plugins.safewalk`).

    ``path`` is the offending entry and ``reason`` what it is.
    """

    def __init__(self, message: str, *, path: Path | str | None = None, reason: str = ""):
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.reason = reason

    def __str__(self) -> str:  # OSError would format (errno, strerror)
        return str(self.args[0]) if self.args else ""
