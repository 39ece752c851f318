"""The columnar engine's guards: which definitions it runs, and expressions as vectors.

A definition replays on the columnar engine (:mod:`._columnar`) when every guard is an
expression over payload columns (:func:`journeyfsm.col`), composed with ``&``, ``|`` and
``~``: such a guard is a pure function of its row.  :func:`columnar_refusal` says why a
definition is not one; :func:`scalar` decides an expression on one payload (the timeouts'
``None``); :class:`Vectors` decides it over many rows at once, from their Arrow payload
columns, with the Python rule applied to each distinct value where numpy has none (so
the result is the one ``check`` gives, row by row), and :class:`~._colread.Fallback`
where an expression raises on some value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._columns import OPS, Expr
from .._definition import JourneyDefinition
from .._guards import AllOf, AnyOf, Guard, Not
from ._colread import Fallback, arrow, modules

__all__ = ["Vectors", "columnar_refusal", "scalar"]


def columnar_refusal(definition: JourneyDefinition) -> str | None:
    """Why ``definition`` cannot replay on the columnar engine (None: it can)."""
    for t in definition.transitions:
        for g in t.guards:
            for leaf in g.leaves():
                if leaf.__class__ is not Expr:
                    return (
                        f"guard {leaf.name!r} is a function; the columnar engine runs guards "
                        "written as expressions over payload columns (journeyfsm.col)"
                    )
    if arrow() is None:
        return "the columnar engine needs pyarrow and numpy: pip install 'journeyfsm[fast]'"
    return None


def scalar(g: Guard, payload: Any) -> bool:
    """An expression guard's result on one payload (as ``check`` decides it)."""
    if isinstance(g, Expr):
        return g.test(payload)
    if isinstance(g, AllOf):
        return all(scalar(p, payload) for p in g.parts)
    if isinstance(g, AnyOf):
        return any(scalar(p, payload) for p in g.parts)
    if isinstance(g, Not):
        return not scalar(g.part, payload)
    raise Fallback(f"guard {g.name!r} is not an expression")  # pragma: no cover


class Vectors:
    """Guard results over a set of rows (Arrow payload arrays for those rows)."""

    def __init__(self, payload: Mapping[str, Any], n: int) -> None:
        self.payload = payload
        self.n = n
        self.pa, self.pc, self.np = modules()

    def of(self, g: Guard) -> Any:
        np = self.np
        if isinstance(g, Expr):
            return self.expr(g)
        if isinstance(g, AllOf):
            return np.logical_and.reduce([self.of(p) for p in g.parts])
        if isinstance(g, AnyOf):
            return np.logical_or.reduce([self.of(p) for p in g.parts])
        if isinstance(g, Not):
            return ~self.of(g.part)
        raise Fallback(f"guard {g.name!r} is not an expression")  # pragma: no cover

    def expr(self, e: Expr) -> Any:
        pa, pc, np = self.pa, self.pc, self.np
        array = self.payload.get(e.column)
        if array is None:  # not a payload column: null in every row
            return np.full(self.n, e.test_value(None))
        t = array.type
        missing = pc.is_null(array)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            missing = pc.or_(missing, pc.equal(array, ""))
        null = pc.fill_null(missing, True).to_numpy(zero_copy_only=False)
        literal = e.value
        numeric = (pa.types.is_integer(t) or pa.types.is_floating(t)) and not pa.types.is_boolean(t)
        if (
            numeric
            and e.kind in OPS
            and isinstance(literal, (int, float))
            and not isinstance(literal, bool)
        ):
            values = pc.fill_null(array, 0).to_numpy(zero_copy_only=False)
            try:
                result = np.asarray(OPS[e.kind](values, literal), dtype=bool)
            except (OverflowError, TypeError) as err:
                raise Fallback(f"{e.name} does not vectorise ({err})") from None
            result[null] = False
            return result
        if e.kind == "is_null":
            return null.copy()
        # anything else: the scalar rule on each distinct value, gathered back
        try:
            encoded = pc.dictionary_encode(array)
        except pa.ArrowException:
            raise Fallback(f"{e.name}: the column {e.column!r} does not encode") from None
        try:
            decided = [
                e.test_value(None if v is None or v == "" else v)
                for v in encoded.dictionary.to_pylist()
            ]
            on_null = e.test_value(None)
        except (TypeError, ValueError) as err:
            raise Fallback(
                f"{e.name} raises on some row ({err}): the Python path reports it"
            ) from None
        table = np.array([*decided, on_null], dtype=bool)
        indices = pc.fill_null(encoded.indices, len(decided)).to_numpy(zero_copy_only=False)
        result = table[indices]
        result[null] = on_null
        return result
