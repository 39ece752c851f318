"""Guards: named, pure predicates over a Context, composable with ``&``, ``|`` and ``~``.

A guard must return a real ``bool``.  Anything else, an exception, or a payload of the
wrong type is a ``GuardError`` naming the guard; it is never read as ``False``.
``check`` short-circuits (used by ``fire``); ``evaluate`` evaluates every part and returns
a ``GuardResult`` tree (used by ``explain`` and by blocked outcomes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, overload

import attrs

from ._errors import GuardError
from ._records import Context

__all__ = ["Guard", "GuardResult", "guard"]

GuardFn = Callable[[Context], bool]


@attrs.frozen
class GuardResult:
    """The result of one guard (or composite) for one candidate transition."""

    name: str
    description: str
    passed: bool
    children: tuple[GuardResult, ...] = ()

    def failing(self) -> list[GuardResult]:
        """The failing leaf guards under this result (itself if it is a failing leaf)."""
        if self.passed:
            return []
        if not self.children:
            return [self]
        out: list[GuardResult] = []
        for child in self.children:
            out.extend(child.failing())
        return out or [self]

    def lines(self, indent: int = 0, *, all_parts: bool = False) -> list[str]:
        """Readable lines, ``ok  ``/``FAIL`` then name and description, parts indented.

        A composite's parts are shown when it failed (why), or always with ``all_parts``.

        >>> r = GuardResult("(a & b)", "", False, (GuardResult("a", "A", True),
        ...                                        GuardResult("b", "", False)))
        >>> print("\\n".join(r.lines()))
        FAIL (a & b)
          ok   a: A
          FAIL b
        """
        text = f"{self.name}: {self.description}" if self.description else self.name
        out = [f"{' ' * indent}{'ok  ' if self.passed else 'FAIL'} {text}"]
        if all_parts or not self.passed:
            for child in self.children:
                out.extend(child.lines(indent + 2, all_parts=all_parts))
        return out


class Guard:
    """Base of every guard.  Make guards with :func:`guard`; combine them with operators.

    >>> from journeyfsm import guard
    >>> @guard
    ... def cart_not_empty(ctx):
    ...     "the cart holds at least one item"
    ...     return bool(ctx.journey.data.get("cart"))
    >>> @guard
    ... def is_blocked(ctx):
    ...     return ctx.journey.data.get("blocked", False) is True
    >>> cart_not_empty & ~is_blocked
    <guard (cart_not_empty & ~is_blocked)>
    """

    __slots__ = ()
    name: str
    description: str

    def check(self, ctx: Context) -> bool:
        """Evaluate with short-circuit; raise GuardError for a faulty guard."""
        raise NotImplementedError  # pragma: no cover - abstract

    def evaluate(self, ctx: Context) -> GuardResult:
        """Evaluate every part (no short-circuit) and return the result tree."""
        raise NotImplementedError  # pragma: no cover - abstract

    def to_ref(self) -> Any:
        """The JSON-able reference used in definition dicts (a name or a composite)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def leaves(self) -> list[Predicate]:
        """The named predicates this guard is built from."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __and__(self, other: Guard) -> Guard:
        return AllOf((self, other))

    def __or__(self, other: Guard) -> Guard:
        return AnyOf((self, other))

    def __invert__(self) -> Guard:
        return Not(self)

    def __repr__(self) -> str:
        return f"<guard {self.name}>"


def _fail(ctx: Context, guard: str, why: str, reason: str = "raised") -> GuardError:
    return GuardError(
        f"guard {guard!r} {why} (journey {ctx.journey.key!r}, stage {ctx.source!r}, "
        f"trigger {ctx.trigger!r})",
        guard=guard,
        reason=reason,
        key=ctx.journey.key,
        stage=ctx.source,
        trigger=ctx.trigger,
    )


@attrs.frozen(repr=False)
class Predicate(Guard):
    """A named leaf guard wrapping a function ``fn(ctx) -> bool``."""

    name: str
    fn: GuardFn  # functions compare by identity
    description: str = ""
    payload_type: type | tuple[type, ...] | None = None

    def check(self, ctx: Context) -> bool:
        if self.payload_type is not None and not isinstance(ctx.payload, self.payload_type):
            raise _fail(
                ctx,
                self.name,
                f"expects a payload of type {_type_name(self.payload_type)}, got "
                f"{type(ctx.payload).__name__}; pass a matching payload= to fire()",
                "payload_type",
            )
        try:
            result = self.fn(ctx)
        except Exception as err:
            raise _fail(ctx, self.name, f"raised {type(err).__name__}: {err}") from err
        if result is True or result is False:
            return result
        raise _fail(
            ctx,
            self.name,
            f"returned {result!r} ({type(result).__name__}), not a bool; "
            "return True or False (e.g. wrap the expression in bool(...))",
            "not_bool",
        )

    def evaluate(self, ctx: Context) -> GuardResult:
        return GuardResult(self.name, self.description, self.check(ctx))

    def to_ref(self) -> Any:
        return self.name

    def leaves(self) -> list[Predicate]:
        return [self]


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


@attrs.frozen(repr=False)
class _Combined(Guard):
    """``a & b`` / ``a | b``: the subclass says how parts combine and how they read."""

    _SYMBOL: ClassVar[str]
    _WORD: ClassVar[str]
    _REF: ClassVar[str]
    _combine: ClassVar[Callable[[Iterable[bool]], bool]]

    parts: tuple[Guard, ...]
    name: str = attrs.field(init=False, eq=False)
    description: str = attrs.field(init=False, eq=False)

    def __attrs_post_init__(self) -> None:
        names = f" {self._SYMBOL} ".join(p.name for p in self.parts)
        words = f" {self._WORD} ".join(p.description or p.name for p in self.parts)
        object.__setattr__(self, "name", f"({names})")
        object.__setattr__(self, "description", words)

    def check(self, ctx: Context) -> bool:
        # all()/any() over a generator short-circuit, as fire may
        return type(self)._combine(p.check(ctx) for p in self.parts)

    def evaluate(self, ctx: Context) -> GuardResult:
        children = tuple(p.evaluate(ctx) for p in self.parts)
        passed = type(self)._combine(c.passed for c in children)
        return GuardResult(self.name, self.description, passed, children)

    def to_ref(self) -> Any:
        return {self._REF: [p.to_ref() for p in self.parts]}

    def leaves(self) -> list[Predicate]:
        return [leaf for p in self.parts for leaf in p.leaves()]


@attrs.frozen(repr=False)
class AllOf(_Combined):
    """``a & b``: passes when every part passes."""

    _SYMBOL = "&"
    _WORD = "and"
    _REF = "all"
    _combine = all


@attrs.frozen(repr=False)
class AnyOf(_Combined):
    """``a | b``: passes when at least one part passes."""

    _SYMBOL = "|"
    _WORD = "or"
    _REF = "any"
    _combine = any


@attrs.frozen(repr=False)
class Not(Guard):
    """``~a``: passes when ``a`` fails."""

    part: Guard
    name: str = attrs.field(init=False, eq=False)
    description: str = attrs.field(init=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "name", f"~{self.part.name}")
        object.__setattr__(self, "description", f"not ({self.part.description or self.part.name})")

    def check(self, ctx: Context) -> bool:
        return not self.part.check(ctx)

    def evaluate(self, ctx: Context) -> GuardResult:
        child = self.part.evaluate(ctx)
        return GuardResult(self.name, self.description, not child.passed, (child,))

    def to_ref(self) -> Any:
        return {"not": self.part.to_ref()}

    def leaves(self) -> list[Predicate]:
        return self.part.leaves()


@overload
def guard(fn: GuardFn, /) -> Predicate: ...
@overload
def guard(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    payload_type: type | tuple[type, ...] | None = None,
) -> Callable[[GuardFn], Predicate]: ...
@overload
def guard(
    fn: GuardFn,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    payload_type: type | tuple[type, ...] | None = None,
) -> Predicate: ...
def guard(
    fn: GuardFn | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    payload_type: type | tuple[type, ...] | None = None,
) -> Predicate | Callable[[GuardFn], Predicate]:
    """Make a named guard from ``fn(ctx) -> bool`` (decorator or call form).

    The name defaults to the function's name, the description to its docstring's
    first line.  ``payload_type`` makes a payload of another type a ``GuardError``.

    >>> from journeyfsm import guard
    >>> @guard(description="order total is at least 50")
    ... def big_order(ctx):
    ...     return ctx.payload["total"] >= 50
    >>> big_order
    <guard big_order>
    >>> paid = guard(lambda ctx: ctx.payload.get("paid") is True, name="paid", payload_type=dict)
    >>> paid.name
    'paid'
    """

    def make(f: GuardFn) -> Predicate:
        if not callable(f):
            raise TypeError(f"guard() takes a callable fn(ctx) -> bool, got {f!r}")
        gname = name or getattr(f, "__name__", None)
        if not gname or gname == "<lambda>":
            raise ValueError("guard() needs name=... for a lambda or an unnamed callable")
        doc = description
        if doc is None:
            raw = (getattr(f, "__doc__", None) or "").strip()
            doc = raw.splitlines()[0] if raw else ""
        return Predicate(gname, f, doc, payload_type)

    if fn is None:
        return make
    return make(fn)
