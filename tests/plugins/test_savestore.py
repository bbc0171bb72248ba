"""SQLite save store: namespaces, quotas, atomic batches, SIGKILL of a writer mid-run."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gpi.plugins.savestore import QuotaExceeded, SaveStore, SaveStoreError


def test_put_get_namespaces_and_delete(tmp_path: Path) -> None:
    with SaveStore(tmp_path / "s.db") as store:
        store.put("a", "score", 10)
        store.put("b", "score", {"x": [1, 2]})
        assert store.get("a", "score") == 10
        assert store.get("b", "score") == {"x": [1, 2]}
        assert store.get("a", "missing", "dflt") == "dflt"
        store.delete("a", "score")
        assert store.items("a") == {}
        assert store.items("b") == {"score": {"x": [1, 2]}}


def test_values_survive_reopen(tmp_path: Path) -> None:
    with SaveStore(tmp_path / "s.db") as store:
        store.write("p", {"k1": b"\x00\x01", "k2": 3.5})
    with SaveStore(tmp_path / "s.db") as store:
        assert store.items("p") == {"k1": b"\x00\x01", "k2": 3.5}


def test_quota_rejects_whole_batch(tmp_path: Path) -> None:
    with SaveStore(tmp_path / "s.db", quota_bytes=1000) as store:
        store.put("p", "small", b"x" * 100)
        with pytest.raises(QuotaExceeded, match="quota exceeded"):
            store.write("p", {"other": 1, "big": b"y" * 2000})
        assert store.items("p") == {"small": b"x" * 100}
        assert store.usage("p") < 1000


def test_bad_key_and_value_are_clear_errors(tmp_path: Path) -> None:
    with SaveStore(tmp_path / "s.db") as store:
        with pytest.raises(SaveStoreError, match="non-empty string"):
            store.put("p", "", 1)
        with pytest.raises(SaveStoreError, match="cannot be stored"):
            store.put("p", "k", object())
        assert store.items("p") == {}


def test_close_twice_and_use_after_close(tmp_path: Path) -> None:
    store = SaveStore(tmp_path / "s.db")
    store.close()
    store.close()
    with pytest.raises(SaveStoreError, match="closed"):
        store.get("p", "k")


def test_garbage_file_is_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SaveStoreError, match="not a usable database"):
        SaveStore(bad)


WRITER = textwrap.dedent(
    """
    import sys
    from gpi.plugins.savestore import SaveStore
    store = SaveStore(sys.argv[1], quota_bytes=1 << 30)
    i = 0
    print("ready", flush=True)
    while True:
        # each batch: a counter and a big value stamped with the same counter
        store.write("p", {"n": i, "blob": bytes([i % 256]) * 200_000, "tail": i})
        i += 1
    """
)


@pytest.mark.subprocess
def test_sigkill_mid_write_never_leaves_half_a_batch(tmp_path: Path) -> None:
    db = tmp_path / "kill.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    deadline = time.monotonic() + 20
    with SaveStore(db) as probe:
        while probe.get("p", "n", -1) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    with SaveStore(db) as store:
        assert store.integrity_ok()
        items = store.items("p")
        n = items["n"]
        assert n >= 5
        assert items["tail"] == n
        assert items["blob"] == bytes([n % 256]) * 200_000
