"""JSON-able values: freezing them inside immutable records, thawing them for dicts,
and copying them fast (the runtime copies ``journey.data`` to roll a failed move back)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["copy_json", "freeze", "freeze_mapping", "thaw"]

_SCALARS = (str, int, float, bool, type(None))


def freeze(value: Any, *, where: str = "value") -> Any:
    """Return an immutable copy of a JSON-able value (dicts become read-only mappings,
    lists become tuples); raise TypeError naming ``where`` for anything not JSON-able."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings, got {k!r}")
            out[k] = freeze(v, where=f"{where}[{k!r}]")
        return MappingProxyType(out)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v, where=f"{where}[{i}]") for i, v in enumerate(value))
    raise TypeError(
        f"{where} must be JSON-able (dict, list, str, int, float, bool, None), "
        f"got {type(value).__name__}"
    )


def freeze_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """attrs converter for ``metadata`` fields."""
    if value is None:
        return MappingProxyType({})
    frozen = freeze(value, where="metadata")
    if not isinstance(frozen, Mapping):
        raise TypeError(f"metadata must be a dict, got {type(value).__name__}")
    return frozen


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain dicts and lists again."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data, much cheaper than ``copy.deepcopy``.

    Values that are not dicts or lists are shared, as JSON scalars are immutable.
    """
    if type(value) is dict:
        return {k: (copy_json(v) if type(v) in (dict, list) else v) for k, v in value.items()}
    if type(value) is list:
        return [copy_json(v) if type(v) in (dict, list) else v for v in value]
    return value
