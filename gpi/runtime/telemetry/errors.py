"""Errors raised by telemetry: recording, trace files, plots and leak checks."""

from gpi.errors import GpiError

__all__ = ["PlotError", "TelemetryError", "TraceWriteError"]


class TelemetryError(GpiError):
    """Base class of telemetry errors."""


class TraceWriteError(TelemetryError, OSError):
    """A Chrome trace file could not be written."""


class PlotError(TelemetryError, ValueError):
    """A plot was asked for with data or a size it cannot draw."""
