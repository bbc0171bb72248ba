"""Replays of a real plugin host: recording it, re-simulating it, and drawing what it did.

- :mod:`~gpi.runtime.replay.recording`: :class:`HostRecorder` writes a
  running host into a ``.gpir`` file (the App's ``--record`` and record
  button);
- :mod:`~gpi.runtime.replay.simulation`: :class:`HostSimulator`, the
  ``gpi replay`` simulator over a fresh world and plugin host (plugin folders
  found through :mod:`gpi.plugins.discovery`);
- :mod:`~gpi.runtime.replay.render`: PNGs of chosen ticks and the windowed
  player, drawn through :mod:`gpi.runtime.scene` like the app.

The format, reader, verify, diff and seek live in :mod:`gpi.replays`, which
knows nothing of the host; this package is where the two meet.
"""

from gpi.runtime.replay.recording import HostRecorder, header_from_host, make_recorder
from gpi.runtime.replay.render import play, render, render_ticks, replay_camera
from gpi.runtime.replay.simulation import (
    HostSimulator,
    confined_simulator,
    find_plugin_dirs,
    make_simulator,
)

__all__ = [
    "HostRecorder",
    "HostSimulator",
    "confined_simulator",
    "find_plugin_dirs",
    "header_from_host",
    "make_recorder",
    "make_simulator",
    "play",
    "render",
    "render_ticks",
    "replay_camera",
]
