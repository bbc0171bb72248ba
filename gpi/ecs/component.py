"""Components: a name plus a numpy dtype and a per-entity element shape.

``Component("Position", "float32", (2,))`` means every entity that has a
Position stores two float32 values; the table column is then a
``float32[rows, 2]`` array. Structured dtypes are allowed; object dtypes are
not (columns live in shared memory and must be plain bytes).

Schemas are data: :meth:`Component.to_dict` gives a msgpack-able dict and
:meth:`Component.from_dict` rebuilds the same component in another process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpi.ecs.errors import SchemaError

__all__ = ["MAX_NAME_LENGTH", "Component", "dtype_from_wire", "dtype_to_wire"]

# Names travel in every layout and command message: keep them short identifiers.
MAX_NAME_LENGTH = 64
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:]*$")
_SHORTHAND_RE = re.compile(r"^([A-Za-z0-9<>=|]+)\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]$")


def dtype_to_wire(dt: np.dtype) -> Any:
    """A msgpack-able description of ``dt`` (a dtype string, or a structured descr)."""
    if dt.fields is None and dt.subdtype is None:
        return dt.str
    return _descr(dt)


def _descr(dt: np.dtype) -> list[Any]:
    out: list[Any] = []
    for item in dt.descr:
        name, typ = item[0], item[1]
        if isinstance(typ, list):
            typ = _descr(np.dtype(typ))
        rest = [list(item[2])] if len(item) > 2 else []
        out.append([name, typ, *rest])
    return out


def dtype_from_wire(obj: Any) -> np.dtype:
    """Inverse of :func:`dtype_to_wire`."""
    if isinstance(obj, str):
        return np.dtype(obj)
    if isinstance(obj, (list, tuple)):
        return np.dtype(_to_descr(obj))
    raise SchemaError(f"dtype description must be a string or a list, got {type(obj).__name__}")


def _to_descr(obj: Any) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for item in obj:
        if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
            raise SchemaError(f"malformed structured dtype field {item!r}")
        name, typ = item[0], item[1]
        if isinstance(typ, (list, tuple)):
            typ = _to_descr(typ)
        if len(item) == 3:
            out.append((name, typ, tuple(item[2])))
        else:
            out.append((name, typ))
    return out


@dataclass(frozen=True)
class Component:
    """A component type: ``name``, numpy ``dtype`` and element ``shape`` (``()`` for scalars)."""

    name: str
    dtype: Any  # anything np.dtype() accepts, or "float32[2]"; normalised to np.dtype
    shape: Any = ()  # int or tuple of ints; normalised to tuple[int, ...]

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
            raise SchemaError(
                f"component name {name!r} is invalid: use an identifier "
                f"(letters, digits, '_', '.', ':'; at most {MAX_NAME_LENGTH} characters)"
            )
        raw = self.dtype
        if isinstance(raw, str) and (m := _SHORTHAND_RE.match(raw.strip())):
            # "float32[2]" shorthand, as written in docs and manifests.
            raw = np.dtype((m.group(1), tuple(int(x) for x in m.group(2).split(","))))
        try:
            dt = np.dtype(raw)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"component {name!r}: dtype {self.dtype!r} is not a numpy dtype: {exc}") from exc
        if dt.hasobject:
            raise SchemaError(f"component {name!r}: dtype {dt} holds Python objects; use plain numeric/bytes fields")
        if dt.itemsize == 0:
            raise SchemaError(f"component {name!r}: dtype {dt} has size 0")
        if dt.subdtype is not None:
            # "float32[2]"-style dtypes: fold the sub-array shape into ``shape``.
            base, sub = dt.subdtype
            dt = base
            extra: tuple[int, ...] = tuple(sub)
        else:
            extra = ()
        shp = self.shape
        if isinstance(shp, (int, np.integer)):
            shp = (int(shp),)
        try:
            shp = tuple(int(s) for s in shp)
        except TypeError as exc:
            raise SchemaError(f"component {name!r}: shape {self.shape!r} must be a tuple of ints") from exc
        shp = shp + extra
        if any(s <= 0 for s in shp) or len(shp) > 8:
            raise SchemaError(f"component {name!r}: shape {shp} must have at most 8 positive dimensions")
        object.__setattr__(self, "dtype", dt)
        object.__setattr__(self, "shape", shp)

    @property
    def itemsize(self) -> int:
        """Bytes per entity (dtype size times the element count)."""
        n = 1
        for s in self.shape:
            n *= s
        return self.dtype.itemsize * n

    @property
    def ncols(self) -> int:
        """Scalars per entity (product of ``shape``)."""
        n = 1
        for s in self.shape:
            n *= s
        return n

    def coerce(self, values: Any, count: int, where: str = "") -> np.ndarray:
        """``values`` as an array of shape ``(count, *shape)`` of this dtype (broadcast, maybe a view).

        The rule, the same for numpy arrays, Python numbers and lists (these
        take numpy's default dtype first: int64, float64, bool): the value's
        dtype must cast to the column's with ``np.can_cast(given, expected,
        "same_kind")`` (float64 -> float32 and int -> float are fine, float ->
        int, anything -> bool except bool, complex -> float and strings are
        not); integer -> integer is allowed only when every value fits
        (checked, never wrapped). Otherwise the whole value is rejected:
        :class:`SchemaError` naming the component, the expected and the given
        dtype. Python tuples for a structured (record) dtype are converted to it field by field.
        """
        at = f" ({where})" if where else ""
        target = (int(count), *self.shape)
        try:
            # Python tuples for a structured (record) dtype only mean something given that dtype
            plain = self.dtype.names is not None and not isinstance(values, (np.ndarray, np.generic))
            arr = np.asarray(values, dtype=self.dtype) if plain else np.asarray(values)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SchemaError(f"component {self.name!r}{at}: cannot convert values to {self.dtype}: {exc}") from exc
        if arr.dtype != self.dtype:
            if arr.dtype.kind in "iu" and self.dtype.kind in "iu":
                # integer -> integer: allowed when every value fits (checked, never wrapped)
                info = np.iinfo(self.dtype)
                if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
                    raise SchemaError(
                        f"component {self.name!r}{at}: values in [{int(arr.min())}, {int(arr.max())}] "
                        f"do not fit {self.dtype} [{info.min}, {info.max}]"
                    )
            elif arr.dtype.hasobject or not np.can_cast(arr.dtype, self.dtype, "same_kind"):
                raise SchemaError(
                    f"component {self.name!r}{at}: expected dtype {self.dtype}, given {arr.dtype}; numpy "
                    f"would not cast {arr.dtype} to {self.dtype} with casting='same_kind', so the values "
                    "are rejected; convert them first"
                )
            arr = arr.astype(self.dtype, copy=False)
        try:
            return np.broadcast_to(arr, target)
        except ValueError:
            raise SchemaError(
                f"component {self.name!r}{at}: values of shape {arr.shape} do not fit "
                f"{count} entities of {self!r} (expected {target} or broadcastable to it)"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """A msgpack-able description (``name``, ``dtype``, ``shape``)."""
        return {"name": self.name, "dtype": dtype_to_wire(self.dtype), "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Component:
        """Rebuild a component from :meth:`to_dict` output."""
        if not isinstance(d, dict) or "name" not in d or "dtype" not in d:
            raise SchemaError(f"component description must be a dict with 'name' and 'dtype', got {d!r}")
        try:
            dt = dtype_from_wire(d["dtype"])
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(f"component {d.get('name')!r}: bad dtype {d['dtype']!r}: {exc}") from exc
        return cls(d["name"], dt, tuple(d.get("shape", ())))

    def __repr__(self) -> str:
        shape = f"[{', '.join(map(str, self.shape))}]" if self.shape else ""
        return f"Component({self.name!r}, {self.dtype}{shape})"
