"""Guards written as expressions over the event's payload columns: ``col("total") > 0``.

Theory of operation
-------------------
A guard made with :func:`~._guards.guard` is a function: nothing outside it can tell
what it reads, so a replay must call it once per event.  A guard written as an
expression over the payload (``col("total") > 0``, ``col("plan").is_in(["pro", "team"])``,
``col("coupon").is_null()``, combined with ``&``, ``|``, ``~``) says what it reads, so
the columnar replay engine (:mod:`journeyfsm.analytics`) evaluates it on a whole
column at once; everywhere else it is an ordinary leaf guard (:class:`Expr` is a
:class:`~._guards.Predicate`): ``fire``, ``explain``, blocked outcomes, the path
explorer and coverage evaluate it on ``ctx.payload`` in the same order, with the same
short-circuit, as any guard.  Its name is its text (``col('total') > 0``), and its
dict form (``{"expr": {"col": "total", "op": ">", "value": 0}}``) round-trips through
``JourneyDefinition.to_dict`` / ``from_dict`` with no guard registry.

The value of a column is ``payload[name]``; a payload that is ``None`` (a stage
timeout's), a missing key or a ``None`` value is *null*.  The rules, the same in the
vector form:

- every comparison and ``is_in`` of a null value is ``False`` (``col(x) != 1`` too);
  test for it with ``is_null()``;
- numbers compare with numbers, strings with strings, bools with bools (``==``/``!=``);
  a string compared with a number is read as a number (CSV cells are text): one that
  is not a number raises;
- any other pairing (a number against a string literal, a list value, a payload that is
  not a dict) raises, which ``fire`` reports as a ``GuardError`` naming the guard.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ._guards import Predicate
from ._records import Context

__all__ = ["OPS", "Column", "Expr", "Literal", "col", "expr_from_ref", "payload_value"]

#: a literal an expression compares with
Literal = int | float | str | bool

#: comparison operators, as written
OPS: dict[str, Any] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_KINDS = (*OPS, "in", "is_null")


def _literal(value: Any, column: str) -> Literal:
    if value is None:
        raise TypeError(
            f"col({column!r}) compared with None: test a missing value with "
            f"col({column!r}).is_null() (or ~col({column!r}).is_null())"
        )
    if not isinstance(value, (int, float, str)):  # bool is an int
        raise TypeError(
            f"col({column!r}) compares with numbers, strings or bools, got "
            f"{type(value).__name__} {value!r}"
        )
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"col({column!r}) compared with NaN, which equals nothing")
    return value


def payload_value(payload: Any, column: str) -> Any:
    """``payload[column]`` (None when the payload is None or lacks it); a payload that is
    not a mapping raises ``TypeError``."""
    if payload is None:
        return None
    if not isinstance(payload, Mapping):
        raise TypeError(
            f"col({column!r}) reads a dict payload, got {type(payload).__name__}; pass the "
            "event's columns as a dict"
        )
    return payload.get(column)


def _coerce(value: Any, literal: Literal, column: str) -> tuple[Any, Literal]:
    """The value and the literal as two values of one kind, or ``TypeError``."""
    if isinstance(literal, bool):
        if isinstance(value, bool):
            return value, literal
    elif isinstance(literal, (int, float)):
        if isinstance(value, bool):
            pass
        elif isinstance(value, (int, float)):
            return value, literal
        elif isinstance(value, str):
            try:
                return float(value), literal
            except ValueError:
                raise TypeError(
                    f"column {column!r} holds {value!r}, not a number, compared with {literal!r}"
                ) from None
    elif isinstance(value, str):
        return value, literal
    raise TypeError(
        f"column {column!r} holds {type(value).__name__} {value!r}, which does not compare "
        f"with {type(literal).__name__} {literal!r}"
    )


class Expr(Predicate):
    """A leaf guard over one payload column (made by :func:`col`'s operators).

    ``kind`` is a comparison operator (``"=="``, ``">"`` ...), ``"in"`` or ``"is_null"``;
    ``value`` the literal (a tuple for ``"in"``, None for ``"is_null"``).

    >>> g = col("total") >= 50
    >>> g, g.kind, g.column, g.value
    (<guard col('total') >= 50>, '>=', 'total', 50)
    >>> g.test({"total": 70}), g.test({"total": "12.5"}), g.test(None)
    (True, False, False)
    """

    kind: str
    column: str
    value: Any

    def __init__(self, kind: str, column: str, value: Any = None) -> None:
        if kind not in _KINDS:
            raise ValueError(f"unknown expression kind {kind!r}; kinds: {', '.join(_KINDS)}")
        if not isinstance(column, str) or not column:
            raise TypeError(f"col() takes a column name (a non-empty str), got {column!r}")
        if kind == "in":
            value = tuple(_literal(v, column) for v in value)
            if not value:
                raise ValueError(f"col({column!r}).is_in() needs at least one value")
        elif kind != "is_null":
            value = _literal(value, column)
        name, description = _render(kind, column, value)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "column", column)
        object.__setattr__(self, "value", value)
        super().__init__(name, self._check_ctx, description, None)

    def _check_ctx(self, ctx: Context) -> bool:
        return self.test(ctx.payload)

    def test(self, payload: Any) -> bool:
        """The guard's result on ``payload`` (the rules of the module docs)."""
        return self.test_value(payload_value(payload, self.column))

    def test_value(self, value: Any) -> bool:
        """The guard's result on one column ``value`` (None: null)."""
        kind = self.kind
        if kind == "is_null":
            return value is None
        if value is None:
            return False
        if kind == "in":
            for literal in self.value:
                a, b = _coerce(value, literal, self.column)
                if a == b:
                    return True
            return False
        a, b = _coerce(value, self.value, self.column)
        return bool(OPS[kind](a, b))

    def to_ref(self) -> Any:
        value = list(self.value) if self.kind == "in" else self.value
        body: dict[str, Any] = {"col": self.column, "op": self.kind}
        if self.kind != "is_null":
            body["value"] = value
        return {"expr": body}

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Expr:
            return NotImplemented
        assert isinstance(other, Expr)
        return (self.kind, self.column, self.value) == (other.kind, other.column, other.value)

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash((Expr, self.kind, self.column, self.value))

    def __reduce__(self) -> Any:
        return (Expr, (self.kind, self.column, self.value))

    def __bool__(self) -> bool:
        # `col("a") > 0 and col("b") < 5`, `not g` or `0 < col("t") < 10` would keep one
        # half and drop the other without a word: refuse, as SQLAlchemy and polars do
        raise TypeError(
            f"{self.name} is a guard, not a truth value: combine guards with & | ~ "
            "(not and / or / not), and write a range as (col(...) > a) & (col(...) < b)"
        )


def _render(kind: str, column: str, value: Any) -> tuple[str, str]:
    ref = f"col({column!r})"
    if kind == "is_null":
        return f"{ref}.is_null()", f"payload {column!r} is missing"
    if kind == "in":
        values = ", ".join(map(repr, value))
        return f"{ref}.is_in([{values}])", f"payload {column!r} is one of {values}"
    return f"{ref} {kind} {value!r}", f"payload {column!r} {kind} {value!r}"


class Column:
    """A payload column in a guard expression; comparing it makes a guard.

    >>> col("total") > 0
    <guard col('total') > 0>
    >>> (col("plan").is_in(["pro", "team"]) & ~col("coupon").is_null()).name
    "(col('plan').is_in(['pro', 'team']) & ~col('coupon').is_null())"
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"col() takes a column name (a non-empty str), got {name!r}")
        self.name = name

    def __eq__(self, other: object) -> Expr:  # type: ignore[override]
        return Expr("==", self.name, other)

    def __ne__(self, other: object) -> Expr:  # type: ignore[override]
        return Expr("!=", self.name, other)

    def __lt__(self, other: Literal) -> Expr:
        return Expr("<", self.name, other)

    def __le__(self, other: Literal) -> Expr:
        return Expr("<=", self.name, other)

    def __gt__(self, other: Literal) -> Expr:
        return Expr(">", self.name, other)

    def __ge__(self, other: Literal) -> Expr:
        return Expr(">=", self.name, other)

    __hash__ = None  # type: ignore[assignment]

    def is_in(self, values: Iterable[Literal]) -> Expr:
        """Passes when the value equals one of ``values`` (``col("plan").is_in(["pro"])``)."""
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"col({self.name!r}).is_in() takes a list of values, got {values!r}")
        return Expr("in", self.name, tuple(values))

    def is_null(self) -> Expr:
        """Passes when the payload has no value for the column (``~`` for "has one")."""
        return Expr("is_null", self.name)

    def __bool__(self) -> bool:
        raise TypeError(
            f"col({self.name!r}) is not a guard by itself: compare it (col({self.name!r}) > 0) "
            "or test it (.is_null(), .is_in([...]))"
        )

    def __repr__(self) -> str:
        return f"col({self.name!r})"


def col(name: str) -> Column:
    """The payload column ``name``, to write a guard as an expression.

    Comparisons (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``), ``.is_in([...])`` and
    ``.is_null()`` make guards, combined with ``&``, ``|`` and ``~`` like any guard.
    Such guards run in ``fire`` on the event's payload, and let a replay use the
    columnar engine (docs/replay.md).

    >>> from journeyfsm import JourneyBuilder, JourneyMachine, col
    >>> d = (JourneyBuilder("shop").stage("cart", initial=True).stage("paid", final=True)
    ...      .transition("pay", "cart", "paid", guards=[col("total") > 0]).build())
    >>> m = JourneyMachine(d)
    >>> m.fire(m.start("c1"), "pay", {"total": 0}).status
    'blocked'
    >>> m.fire(m.start("c2"), "pay", {"total": 12.5}).dest
    'paid'
    """
    return Column(name)


def expr_from_ref(body: Any) -> Expr:
    """An :class:`Expr` from the ``{"col": ..., "op": ..., "value": ...}`` of its dict
    form; ``ValueError`` (or ``TypeError``) saying what is wrong."""
    if not isinstance(body, Mapping) or not isinstance(body.get("col"), str):
        raise ValueError(
            'an expression guard reads {"expr": {"col": NAME, "op": OP, "value": V}}, got '
            f"{body!r}"
        )
    extra = set(body) - {"col", "op", "value"}
    if extra:
        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, extra)))} in {body!r}")
    kind = body.get("op")
    if kind not in _KINDS:
        raise ValueError(f"expression op must be one of {', '.join(_KINDS)}, got {kind!r}")
    if kind == "in" and not isinstance(body.get("value"), list):
        raise ValueError(f"an 'in' expression takes a list value, got {body.get('value')!r}")
    return Expr(kind, body["col"], body.get("value"))
