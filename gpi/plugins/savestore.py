"""Per-plugin key/value save store on SQLite.

Plugins cannot open files (the sandbox forbids it); they persist data by
issuing save commands, which the host applies here, and read it back through
the SDK. Each plugin has its own namespace and a byte quota.

Storage: one SQLite database in WAL mode with ``synchronous=FULL``; table
``kv(plugin, key, value)`` where ``value`` is the msgpack encoding of the
stored object. A batch of writes is one transaction, so a crash (even SIGKILL
of the host) leaves either the whole batch or none of it: never a half-written
value. The path :data:`MEMORY` keeps the database in memory (replay
re-simulations: nothing to persist, and a confined verify worker may not
write files).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgpack

from gpi.errors import GpiError

__all__ = ["DEFAULT_QUOTA", "MAX_KEY_LEN", "MEMORY", "SaveStore", "SaveStoreError", "QuotaExceeded"]

MEMORY = ":memory:"

DEFAULT_QUOTA = 4 << 20  # bytes of encoded values per plugin
MAX_KEY_LEN = 256
_DELETE = object()


class SaveStoreError(GpiError, ValueError):
    """A save-store operation was refused (bad key, unencodable value, closed store)."""


class QuotaExceeded(SaveStoreError):
    """A write would take a plugin past its byte quota; nothing was written."""


class SaveStore:
    """Per-plugin key/value store; every write batch is atomic."""

    _db: sqlite3.Connection | None = None

    def __init__(self, path: str | Path, *, quota_bytes: int = DEFAULT_QUOTA) -> None:
        self.path = Path(path)
        self.quota_bytes = int(quota_bytes)
        if str(path) != MEMORY:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(str(self.path), isolation_level=None)
        except sqlite3.Error as exc:
            raise SaveStoreError(f"save store {self.path}: cannot open: {exc}") from exc
        self._db = db
        try:
            if str(path) == MEMORY:
                db.execute("PRAGMA temp_store=MEMORY")  # no temporary files either
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS kv (plugin TEXT NOT NULL, key TEXT NOT NULL,"
                " value BLOB NOT NULL, PRIMARY KEY (plugin, key)) WITHOUT ROWID"
            )
        except sqlite3.Error as exc:
            self.close()
            raise SaveStoreError(f"save store {self.path}: not a usable database: {exc}") from exc

    # -- reads ----------------------------------------------------------------------

    def get(self, plugin: str, key: str, default: Any = None) -> Any:
        """The stored object, or ``default`` when the key is absent."""
        row = self._conn().execute(
            "SELECT value FROM kv WHERE plugin=? AND key=?", (plugin, key)
        ).fetchone()
        return default if row is None else msgpack.unpackb(row[0], raw=False)

    def items(self, plugin: str) -> dict[str, Any]:
        """Every key of one plugin with its object, in key order."""
        rows = self._conn().execute(
            "SELECT key, value FROM kv WHERE plugin=? ORDER BY key", (plugin,)
        ).fetchall()
        return {k: msgpack.unpackb(v, raw=False) for k, v in rows}

    def usage(self, plugin: str) -> int:
        """Bytes of encoded values the plugin holds."""
        row = self._conn().execute(
            "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM kv WHERE plugin=?", (plugin,)
        ).fetchone()
        return int(row[0])

    # -- writes ---------------------------------------------------------------------

    def put(self, plugin: str, key: str, value: Any) -> None:
        """Store one object (atomic)."""
        self.write(plugin, {key: value})

    def delete(self, plugin: str, key: str) -> None:
        """Remove one key (absent keys are fine)."""
        self.write(plugin, {}, deletes=[key])

    def write(self, plugin: str, puts: Mapping[str, Any], deletes: list[str] | tuple[str, ...] = ()) -> None:
        """Apply a batch of puts and deletes in one transaction, or none of it.

        Raises :class:`QuotaExceeded` if the plugin would hold more than its
        quota afterwards, :class:`SaveStoreError` for a bad key or value.
        """
        encoded: dict[str, bytes] = {}
        for key, value in puts.items():
            self._check_key(plugin, key)
            try:
                encoded[key] = msgpack.packb(value, use_bin_type=True)
            except (TypeError, ValueError, OverflowError) as exc:
                raise SaveStoreError(
                    f"plugin {plugin!r} key {key!r}: value cannot be stored ({exc}); "
                    "use numbers, strings, bytes, lists and maps"
                ) from exc
        for key in deletes:
            self._check_key(plugin, key)
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            for key in deletes:
                db.execute("DELETE FROM kv WHERE plugin=? AND key=?", (plugin, key))
            db.executemany(
                "INSERT INTO kv(plugin, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT(plugin, key) DO UPDATE SET value=excluded.value",
                [(plugin, k, v) for k, v in encoded.items()],
            )
            used = self.usage(plugin)
            if used > self.quota_bytes:
                raise QuotaExceeded(
                    f"plugin {plugin!r}: save store quota exceeded ({used} > {self.quota_bytes} bytes); "
                    "nothing from this batch was written"
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def replace(self, plugin: str, items: Mapping[str, Any]) -> None:
        """Make ``items`` the plugin's whole content, in one transaction (quota checked)."""
        current = self._conn().execute("SELECT key FROM kv WHERE plugin=?", (plugin,)).fetchall()
        self.write(plugin, items, [k for (k,) in current if k not in items])

    # -- lifetime -------------------------------------------------------------------

    def integrity_ok(self) -> bool:
        """True when SQLite's integrity check passes."""
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def _check_key(self, plugin: str, key: str) -> None:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LEN:
            raise SaveStoreError(
                f"plugin {plugin!r}: save key must be a non-empty string of at most "
                f"{MAX_KEY_LEN} characters, got {key!r}"
            )

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise SaveStoreError(f"save store {self.path} is closed")
        return self._db

    def close(self) -> None:
        """Close the database; safe to call twice."""
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> SaveStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SaveStore {str(self.path)!r} quota={self.quota_bytes}{' closed' if self._db is None else ''}>"
