"""Errors raised by the plugin sandbox."""

from typing import Any

from gpi.errors import GpiError

__all__ = ["SandboxError", "SandboxPolicyError"]


class SandboxError(GpiError, RuntimeError):
    """A sandbox layer the policy requires could not be applied in this child.

    ``layer`` names it; ``report`` (a ``SandboxReport`` or None) holds the layers
    applied up to the failure, so the child can still tell the host.
    """

    def __init__(self, message: str, layer: str = "") -> None:
        super().__init__(message)
        self.layer = layer
        self.report: Any = None


class SandboxPolicyError(GpiError, ValueError):
    """A sandbox policy (or a manifest ``[sandbox]`` table) is malformed."""
