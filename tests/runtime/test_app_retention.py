"""What the app, its telemetry and its host retain stops growing once the bounded windows are full.

Counts of retained records, not bytes or times: a host that runs for a day
must hold what it held after its windows filled (issue 14's 4 MB/s growth was
every call record of the run kept forever).
"""

from __future__ import annotations

import gc
import weakref

from gpi.runtime.app import App, AppConfig
from gpi.runtime.config import demo_plugin_dirs


def _app() -> App:
    cfg = AppConfig(plugins=demo_plugin_dirs(names=("spawner", "movement")), isolation="none", render=False,
                    population=200, memory_every=2, telemetry_window=40, telemetry_history=60, host_records=50)
    return App(cfg)


def test_retained_counts_are_flat_after_warm_up() -> None:
    with _app() as app:
        app.run_headless(200)  # fills every window: 60 frames, 60 memory samples (one per 2 ticks), ...
        warm = app.retained()
        assert warm["telemetry.frames"] == warm["telemetry.memory"] == 60
        assert warm["telemetry.calls"] == 60 and warm["host.records"] == 50
        assert warm["telemetry.system_windows"] == 40 * len(app.telemetry.systems())
        for _ in range(3):
            app.run_headless(150)
            assert app.retained() == warm
        assert app.telemetry.history_dropped > 0 and app.tick == 650


def test_a_finished_recording_is_not_kept_alive_by_the_host(tmp_path) -> None:
    with _app() as app:
        app.run_headless(5)
        refs = []
        for i in range(3):
            assert app.start_recording(tmp_path / f"r{i}.gpir")
            refs.append(weakref.ref(app.recorder))
            app.run_headless(5)
            app.stop_recording()
        gc.collect()
        assert [r() for r in refs] == [None, None, None]
        app.run_headless(5)  # the host's leftover hooks do nothing
        assert app.recorder is None
