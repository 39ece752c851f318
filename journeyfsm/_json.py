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


def check_json(value: object, where: str, *, key: str | None = None) -> None:
    """Raise DataError unless ``value`` is JSON-shaped (interim version; see wt-snap)."""
    from ._errors import DataError

    def walk(v: object, path: str) -> None:
        t = type(v)
        if t is dict:
            for k, x in v.items():  # type: ignore[attr-defined]
                if type(k) is not str:
                    raise DataError(f"{path}: key {k!r} is not a str", path=path, key=key)
                walk(x, f"{path}[{k!r}]")
        elif t is list:
            for i, x in enumerate(v):  # type: ignore[arg-type]
                walk(x, f"{path}[{i}]")
        elif t not in (str, int, float, bool, type(None)):
            hint = (
                "use a list"
                if t in (set, tuple, frozenset)
                else "use dict, list, str, int, float, bool or None"
            )
            who = f" (journey {key!r})" if key else ""
            raise DataError(
                f"{path}: {t.__name__} is not JSON-shaped; {hint}{who}", path=path, key=key
            )

    walk(value, where)


_MUTATION_REFUSED = (
    "this value is a read-only copy (history meta, effect data); copy it to change it"
)


def _refuse(self: object, *args: object, **kwargs: object) -> Any:
    raise TypeError(_MUTATION_REFUSED)


class FrozenDict(dict):  # type: ignore[type-arg]
    """A read-only dict: equal to plain dicts, ``json.dumps``-able, refuses changes."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> Any:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


class FrozenList(list):  # type: ignore[type-arg]
    """A read-only list: equal to plain lists, ``json.dumps``-able, refuses changes."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse

    def __reduce__(self) -> Any:
        return (FrozenList, (list(self),))

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


def frozen_json(value: Any) -> Any:
    """A read-only deep copy of JSON-shaped ``value`` (FrozenDict / FrozenList inside)."""
    t = type(value)
    if t is dict or t is FrozenDict:
        return FrozenDict({k: frozen_json(v) for k, v in value.items()})
    if t is list or t is FrozenList:
        return FrozenList([frozen_json(v) for v in value])
    return value
