"""Errors raised by the plugin sandbox."""

from gpi.errors import GpiError

__all__ = ["SandboxError", "SandboxPolicyError"]


class SandboxError(GpiError, RuntimeError):
    """A sandbox layer the policy requires could not be applied in this child."""

    def __init__(self, message: str, layer: str = "") -> None:
        super().__init__(message)
        self.layer = layer


class SandboxPolicyError(GpiError, ValueError):
    """A sandbox policy (or a manifest ``[sandbox]`` table) is malformed."""
