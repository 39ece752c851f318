"""JSON-shaped values: checking them, copying them fast, freezing them inside immutable
records and thawing them for dicts.

JSON-shaped means exactly the types a JSON round trip gives back: ``dict`` with ``str``
keys, ``list``, ``str``, ``int``, finite ``float``, ``bool`` and ``None``.  Subclasses
(``OrderedDict``, ``defaultdict``, ``IntEnum``, ``StrEnum``) are refused too: a copy or a
round trip through a store would quietly turn them into the plain type.  Journey data,
history ``meta`` and snapshots hold only JSON-shaped values, which is what lets
:func:`copy_json` copy them with a ``.copy()`` per container and no ``deepcopy``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from ._errors import DataError

__all__ = [
    "MAX_DEPTH",
    "FrozenDict",
    "FrozenList",
    "check_json",
    "copy_checked",
    "copy_json",
    "freeze",
    "freeze_mapping",
    "frozen_json",
    "restore_json",
    "save_json",
    "thaw",
]

MAX_DEPTH = 200
"""How deeply containers may nest in JSON-shaped data (a cycle is reported as such)."""

_SCALARS = (str, int, float, bool, type(None))


def freeze(value: Any, *, where: str = "value") -> Any:
    """Return an immutable copy of a JSON-able value (dicts become read-only
    :class:`FrozenDict` mappings, which pickle and copy, lists become tuples); raise
    TypeError naming ``where`` for anything not JSON-able."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings, got {k!r}")
            out[k] = freeze(v, where=f"{where}[{k!r}]")
        return FrozenDict(out)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v, where=f"{where}[{i}]") for i, v in enumerate(value))
    raise TypeError(
        f"{where} must be JSON-able (dict, list, str, int, float, bool, None), "
        f"got {type(value).__name__}"
    )


def freeze_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """attrs converter for ``metadata`` fields."""
    if value is None:
        return FrozenDict()
    frozen = freeze(value, where="metadata")
    if not isinstance(frozen, Mapping):
        raise TypeError(f"metadata must be a dict, got {type(value).__name__}")
    return frozen


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze` and :func:`frozen_json`: plain dicts and lists again."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [thaw(v) for v in value]
    return value


def copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data, much cheaper than ``copy.deepcopy``.

    Exactly the containers :func:`check_json` accepts (``dict`` and ``list``, not their
    subclasses) are copied; everything else is shared, as JSON scalars are immutable.  So
    for a value that passed :func:`check_json` the copy is equal and shares no container.

    >>> data = {"cart": [{"sku": "mug"}]}
    >>> copy = copy_json(data)
    >>> copy == data, copy["cart"] is data["cart"]
    (True, False)
    """
    t = type(value)
    if t is dict:
        return _copy_json_dict(value)
    if t is list:
        return _copy_json_list(value)
    return value


# A C-level .copy() of each container, then only its containers replaced: about twice
# as fast as rebuilding every dict and list item by item.
def _copy_json_dict(value: dict[str, Any]) -> dict[str, Any]:
    out = value.copy()
    for k, v in value.items():
        t = type(v)
        if t is dict:
            out[k] = _copy_json_dict(v)
        elif t is list:
            out[k] = _copy_json_list(v)
    return out


def _copy_json_list(value: list[Any]) -> list[Any]:
    out = value.copy()
    for i, v in enumerate(value):
        t = type(v)
        if t is dict:
            out[i] = _copy_json_dict(v)
        elif t is list:
            out[i] = _copy_json_list(v)
    return out


def save_json(value: dict[str, Any]) -> list[tuple[Any, Any]]:
    """What :func:`restore_json` needs to put ``value`` back in place, all the way down:
    each of its containers (the objects themselves) with a shallow copy of its contents.

    Restoring puts the old contents back into the same objects, so a nested dict or list
    a host held before a move is the journey's again afterwards, with what it held then
    (a copy alone would bring back equal data in new objects, leaving the host's ones as
    the failed move left them).

    >>> data = {"cart": {"items": ["mug"]}}
    >>> saved, cart = save_json(data), data["cart"]
    >>> cart["items"].append("cup"); data["cart"] = {}
    >>> restore_json(saved)
    >>> data["cart"] is cart, data
    (True, {'cart': {'items': ['mug']}})
    """
    saved: list[tuple[Any, Any]] = []
    _save_dict(value, saved)
    return saved


def _save_dict(value: dict[str, Any], saved: list[tuple[Any, Any]]) -> None:
    saved.append((value, value.copy()))
    for v in value.values():
        t = type(v)
        if t is dict:
            _save_dict(v, saved)
        elif t is list:
            _save_list(v, saved)


def _save_list(value: list[Any], saved: list[tuple[Any, Any]]) -> None:
    saved.append((value, value.copy()))
    for v in value:
        t = type(v)
        if t is dict:
            _save_dict(v, saved)
        elif t is list:
            _save_list(v, saved)


def restore_json(saved: list[tuple[Any, Any]]) -> None:
    """Put back, in the same objects, what :func:`save_json` saved."""
    for container, contents in saved:
        if type(container) is dict:
            container.clear()
            container.update(contents)
        else:
            container[:] = contents


# -- check_json ---------------------------------------------------------------------------
# A recursive walk, one call per container: scalars are tested inline against a set of
# exact types (one set lookup each), containers by identity of their type.  The
# path of a refused value is only built when something is refused: each level appends
# its key to the exception on the way out (try/except is free when nothing is raised).

_PLAIN_LEAVES = frozenset({str, bool, type(None)})  # float: finite only; int: bounded
_INT_DIGITS = 4300
"""The most digits an int may have: Python's ``json`` refuses to write a longer one
(``sys.int_info.default_max_str_digits``), so a store could not save it."""
_INT_BOUND = 10**_INT_DIGITS
_INT_LOW = -_INT_BOUND
_GENERIC_HINT = "use dict (str keys), list, str, int, float, bool or None"


class _Refused(Exception):
    """Raised inside the walk; ``steps`` collects the path innermost first."""

    def __init__(self, reason: str, *, too_deep: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_deep = too_deep
        self.steps: list[str | int] = []


def _walk_dict(value: dict[Any, Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Refused(f"nested more than {MAX_DEPTH} levels deep", too_deep=True)
    for k, v in value.items():
        if type(k) is not str:
            raise _Refused(_bad_key(k))
        t = type(v)
        if t is int:  # the most common leaf: first, and its bound test is cheap
            if _INT_LOW < v < _INT_BOUND:
                continue
        elif t in _PLAIN_LEAVES:
            continue
        try:
            if t is dict:
                _walk_dict(v, depth + 1)
            elif t is list:
                _walk_list(v, depth + 1)
            elif t is int:
                raise _Refused(_bad_int(v))
            elif t is float:
                if v - v != 0.0:  # nan and +-inf
                    raise _Refused(_bad_float(v))
            else:
                raise _Refused(_bad_type(v))
        except _Refused as refused:
            refused.steps.append(k)
            raise


def _walk_list(value: list[Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Refused(f"nested more than {MAX_DEPTH} levels deep", too_deep=True)
    for i, v in enumerate(value):
        t = type(v)
        if t is int:  # the most common leaf: first, and its bound test is cheap
            if _INT_LOW < v < _INT_BOUND:
                continue
        elif t in _PLAIN_LEAVES:
            continue
        try:
            if t is dict:
                _walk_dict(v, depth + 1)
            elif t is list:
                _walk_list(v, depth + 1)
            elif t is int:
                raise _Refused(_bad_int(v))
            elif t is float:
                if v - v != 0.0:
                    raise _Refused(_bad_float(v))
            else:
                raise _Refused(_bad_type(v))
        except _Refused as refused:
            refused.steps.append(i)
            raise


def check_json(
    value: object,
    where: str,
    *,
    key: str | None = None,
    stage: str | None = None,
    trigger: str | None = None,
) -> None:
    """Raise ``DataError`` unless ``value`` is JSON-shaped; the message names the path.

    ``where`` names ``value`` itself (``"data"``, ``"history[3].meta"``); ``key``,
    ``stage`` and ``trigger`` say which journey and event the value belongs to.

    >>> check_json({"cart": ["mug", 2, 9.5, True, None]}, "data")
    >>> check_json({"cart": ["mug", {"sku"}]}, "data", key="c-42")
    Traceback (most recent call last):
    ...
    journeyfsm._errors.DataError: data['cart'][1]: set is not JSON-shaped; use a list (journey 'c-42')
    """
    _run(_walk_dict, _walk_list, value, where, key, stage, trigger)


def copy_checked(
    value: Any,
    where: str,
    *,
    key: str | None = None,
    stage: str | None = None,
    trigger: str | None = None,
) -> Any:
    """:func:`check_json` and :func:`copy_json` in one walk (restore and snapshot use it).

    >>> data = {"cart": [{"sku": "mug"}]}
    >>> copy = copy_checked(data, "data")
    >>> copy == data, copy["cart"] is data["cart"]
    (True, False)
    """
    if type(value) is dict:  # the common case, without _run's frame
        try:
            return _copy_dict(value, 1)
        except (_Refused, RecursionError):
            pass  # the walk has no side effects: _run walks again to explain it
    return _run(_copy_dict, _copy_list, value, where, key, stage, trigger)


def _run(
    walk_dict: Callable[[Any, int], Any],
    walk_list: Callable[[Any, int], Any],
    value: Any,
    where: str,
    key: str | None,
    stage: str | None,
    trigger: str | None,
) -> Any:
    t = type(value)
    if t in _PLAIN_LEAVES:
        return value
    try:
        if t is dict:
            return walk_dict(value, 1)
        if t is list:
            return walk_list(value, 1)
        if t is int:
            if not _INT_LOW < value < _INT_BOUND:
                raise _Refused(_bad_int(value))
            return value
        if t is float:
            if value - value != 0.0:
                raise _Refused(_bad_float(value))
            return value
        raise _Refused(_bad_type(value))
    except _Refused as refused:
        steps = refused.steps[::-1]
        reason = refused.reason
        if refused.too_deep:
            steps, reason = _cycle(value, steps) or (steps, reason + ": flatten it")
        raise _data_error(where, steps, reason, key, stage, trigger) from None
    except RecursionError:
        # The walk needs one frame per level; a caller already deep in its own stack
        # can run out before MAX_DEPTH.  Never let RecursionError escape as such.
        raise _data_error(
            where,
            [],
            "nested too deeply to check within the remaining Python stack; flatten it",
            key,
            stage,
            trigger,
        ) from None


def _copy_dict(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    # The same walk as _walk_dict, copying: a C-level dict.copy(), then containers replaced.
    if depth > MAX_DEPTH:
        raise _Refused(f"nested more than {MAX_DEPTH} levels deep", too_deep=True)
    out = value.copy()
    for k, v in value.items():
        if type(k) is not str:
            raise _Refused(_bad_key(k))
        t = type(v)
        if t is int:  # the most common leaf: first, and its bound test is cheap
            if _INT_LOW < v < _INT_BOUND:
                continue
        elif t in _PLAIN_LEAVES:
            continue
        try:
            if t is dict:
                out[k] = _copy_dict(v, depth + 1)
            elif t is list:
                out[k] = _copy_list(v, depth + 1)
            elif t is int:
                raise _Refused(_bad_int(v))
            elif t is float:
                if v - v != 0.0:
                    raise _Refused(_bad_float(v))
            else:
                raise _Refused(_bad_type(v))
        except _Refused as refused:
            refused.steps.append(k)
            raise
    return out


def _copy_list(value: list[Any], depth: int) -> list[Any]:
    if depth > MAX_DEPTH:
        raise _Refused(f"nested more than {MAX_DEPTH} levels deep", too_deep=True)
    out = value.copy()
    for i, v in enumerate(value):
        t = type(v)
        if t is int:  # the most common leaf: first, and its bound test is cheap
            if _INT_LOW < v < _INT_BOUND:
                continue
        elif t in _PLAIN_LEAVES:
            continue
        try:
            if t is dict:
                out[i] = _copy_dict(v, depth + 1)
            elif t is list:
                out[i] = _copy_list(v, depth + 1)
            elif t is int:
                raise _Refused(_bad_int(v))
            elif t is float:
                if v - v != 0.0:
                    raise _Refused(_bad_float(v))
            else:
                raise _Refused(_bad_type(v))
        except _Refused as refused:
            refused.steps.append(i)
            raise
    return out


def _data_error(
    where: str,
    steps: list[str | int],
    reason: str,
    key: str | None,
    stage: str | None,
    trigger: str | None,
) -> DataError:
    path = _path(where, steps)
    shown = path if len(steps) <= 12 else f"{_path(where, steps[:6])}...({len(steps)} levels)"
    who = [f"journey {key!r}"] if key is not None else []
    if stage is not None:
        who.append(f"stage {stage!r}")
    if trigger is not None:
        who.append(f"trigger {trigger!r}")
    context = f" ({', '.join(who)})" if who else ""
    return DataError(
        f"{shown}: {reason}{context}", path=path, key=key, stage=stage, trigger=trigger
    )


def _path(where: str, steps: list[str | int]) -> str:
    return where + "".join(f"[{step!r}]" for step in steps)


def _cycle(value: object, steps: list[str | int]) -> tuple[list[str | int], str] | None:
    """If the too-deep path goes round a cycle, the path to the repeat and the reason."""
    seen: dict[int, int] = {}
    node: Any = value
    for depth in range(len(steps) + 1):
        earlier = seen.setdefault(id(node), depth)
        if earlier != depth:
            kind = type(node).__name__
            return steps[:depth], (
                f"this {kind} contains itself (it is {_path('', steps[:earlier]) or 'the top'}"
                " level); JSON cannot hold cycles: store a copy or an id instead"
            )
        if depth < len(steps):
            node = node[steps[depth]]
    return None


def _bad_key(k: object) -> str:
    return (
        f"key {k!r} ({type(k).__name__}) is not a plain str; JSON object keys are str only: "
        "convert the key to a str"
    )


def _bad_int(v: int) -> str:
    return (
        f"an int of more than {_INT_DIGITS} digits is not JSON text Python can write "
        "(json refuses it, so no store could save it); store it as a str"
    )


def _bad_float(v: object) -> str:
    return (
        f"float {v!r} is not JSON (JSON has no NaN or Infinity, and PostgreSQL jsonb "
        "rejects them); store None or a finite number"
    )


def _bad_type(v: object) -> str:
    name = type(v).__name__
    hint = _GENERIC_HINT
    if isinstance(v, (set, frozenset, tuple)):
        hint = "use a list"
    elif isinstance(v, enum.Enum):
        base = next((b for b in (str, int, float) if isinstance(v, b)), None)
        change = f" would turn it into a plain {base.__name__}" if base else " cannot keep it"
        return (
            f"{name} (an enum) is not JSON-shaped: copies and JSON round trips{change}; "
            "store its .value"
        )
    elif isinstance(v, (str, int, float, dict, list)):
        plain = next(b for b in (str, int, float, dict, list) if isinstance(v, b)).__name__
        return (
            f"{name} (a subclass of {plain}) is not JSON-shaped: copies and JSON round trips "
            f"would turn it into a plain {plain}; store {plain}(value)"
        )
    elif isinstance(v, (datetime, date, time)):
        hint = "store it as an ISO 8601 string (value.isoformat())"
    elif isinstance(v, timedelta):
        hint = "store it as a number of seconds (value.total_seconds())"
    elif isinstance(v, Decimal):
        hint = "store it as a str to keep it exact, or as a float"
    elif isinstance(v, (bytes, bytearray)):
        hint = "decode it to a str (base64 for binary data)"
    elif isinstance(v, UUID):
        hint = "store str(value)"
    elif isinstance(v, Mapping):
        hint = "use a dict: dict(value)"
    return f"{name} is not JSON-shaped; {hint}"


_MUTATION_REFUSED = (
    "this value is read-only (definition metadata, history meta, effect data); copy it to change it"
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
