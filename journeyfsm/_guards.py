"""Guards: named, pure predicates over a Context, composable with ``&``, ``|`` and ``~``.

A guard must return a real ``bool``.  Anything else, an exception, or a payload of the
wrong type is a ``GuardError`` naming the guard; it is never read as ``False``.

Theory of operation (DESIGN Semantics 2)
----------------------------------------
Guards are evaluated ONE way everywhere: ``fire``, blocked outcomes, ``explain``,
``enabled_triggers``, the path explorer and coverage.  A candidate's guards are tried in
order and the first failing one ends the candidate; ``a & b`` stops at a failing ``a``,
``a | b`` at a passing ``a``.  ``check`` does that and returns a bool (the hot path of
``fire``); ``evaluate`` does exactly the same calls in the same order and returns a
``GuardResult`` tree in which a part that was not reached is ``passed=None`` ("not
evaluated": it was never run).  :func:`evaluate_guards` does it for a candidate's list.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, overload

import attrs

from ._callables import bridge, is_async_callable
from ._errors import GuardError
from ._records import Context

__all__ = ["Guard", "GuardResult", "evaluate_guards", "guard"]

#: ``fn(ctx) -> bool``, or an ``async def`` one (AsyncJourneyMachine only)
GuardFn = Callable[[Context], "bool | Awaitable[bool]"]
PayloadType = type | tuple[type, ...] | types.UnionType

#: How a part that was not reached reads, wherever results are rendered.
NOT_EVALUATED = "not evaluated"


@attrs.frozen
class GuardResult:
    """The result of one guard (or composite) for one candidate transition.

    ``passed`` is ``True``, ``False``, or ``None`` when the guard was not reached (an
    earlier guard of the candidate failed, or a composite was decided by an earlier part):
    such a guard was never run.  A composite that was not reached has not-evaluated
    ``children``, so the tree still shows its structure.
    """

    name: str
    description: str
    passed: bool | None
    children: tuple[GuardResult, ...] = ()

    @property
    def evaluated(self) -> bool:
        """The guard was reached and run (``passed`` is a bool)."""
        return self.passed is not None

    def failing(self) -> list[GuardResult]:
        """The failing leaf guards under this result (itself if it is a failing leaf).

        Parts that were not evaluated never count as failing.
        """
        if self.passed is not False:
            return []
        if not self.children:
            return [self]
        out: list[GuardResult] = []
        for child in self.children:
            out.extend(child.failing())
        return out or [self]

    def lines(self, indent: int = 0, *, all_parts: bool = False) -> list[str]:
        """Readable lines: ``ok``/``FAIL``/``-`` (padded to 4) then name and description, parts indented.

        A part that was not reached reads ``-    name: description (not evaluated)``.  A
        composite's parts are shown when it failed (why), or always with ``all_parts``.
        This is the one rendering of guard results (``explain``, assertion messages).

        >>> r = GuardResult("(a & b)", "", False, (GuardResult("a", "A", False),
        ...                                        GuardResult("b", "", None)))
        >>> print("\\n".join(r.lines()))
        FAIL (a & b)
          FAIL a: A
          -    b (not evaluated)
        """
        text = f"{self.name}: {self.description}" if self.description else self.name
        if self.passed is None:
            out = [f"{' ' * indent}-    {text} ({NOT_EVALUATED})"]
        else:
            out = [f"{' ' * indent}{'ok  ' if self.passed else 'FAIL'} {text}"]
        if all_parts or self.passed is False:
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
        """Evaluate as :meth:`check` does (same calls, same order) and return the result tree.

        Parts a short-circuit skipped are in the tree with ``passed=None``.

        >>> from journeyfsm import guard
        >>> no = guard(lambda ctx: False, name="no")
        >>> yes = guard(lambda ctx: True, name="yes")
        >>> [(r.name, r.passed) for r in (no & yes).evaluate(None).children]
        [('no', False), ('yes', None)]
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def _trace(self, ctx: Context, out: list[Any]) -> bool:
        """Evaluate as :meth:`check` does, appending what :meth:`_rebuild` needs to ``out``
        (a leaf's bool; here, for a guard without a cheaper way, its whole result)."""
        result = self.evaluate(ctx)
        out.append(result)
        return result.passed is True

    def _rebuild(self, trace: Iterator[Any]) -> GuardResult:
        """The result tree :meth:`evaluate` gives, from what :meth:`_trace` recorded,
        running nothing."""
        result: GuardResult = next(trace)
        return result

    def not_evaluated(self) -> GuardResult:
        """The result tree of this guard when it is not reached: every part ``passed=None``.

        >>> from journeyfsm import guard
        >>> a = guard(lambda ctx: True, name="a")
        >>> (~a).not_evaluated()
        GuardResult(name='~a', description='not (a)', passed=None, children=(GuardResult(name='a', description='', passed=None, children=()),))
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def to_ref(self) -> Any:
        """The JSON-able reference used in definition dicts (a name or a composite)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def leaves(self) -> list[Predicate]:
        """The named predicates this guard is built from."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __and__(self, other: Guard) -> Guard:
        return AllOf((self, _operand(self, "&", other)))

    def __or__(self, other: Guard) -> Guard:
        return AnyOf((self, _operand(self, "|", other)))

    def __rand__(self, other: object) -> Guard:
        raise _bad_operand(self, "&", other, left=True)

    def __ror__(self, other: object) -> Guard:
        raise _bad_operand(self, "|", other, left=True)

    def __invert__(self) -> Guard:
        return Not(self)

    def __repr__(self) -> str:
        return f"<guard {self.name}>"


def evaluate_guards(guards: Sequence[Guard], ctx: Context) -> tuple[bool, tuple[GuardResult, ...]]:
    """Evaluate one candidate's guards as ``fire`` does: in order, up to the first failure.

    Returns whether they all passed and a result for EVERY guard of the list; the guards
    after the first failing one are not run and read ``passed=None``.  A faulty guard that
    is reached raises ``GuardError``; one that is not reached is never called.

    >>> from journeyfsm import guard
    >>> no = guard(lambda ctx: False, name="no")
    >>> boom = guard(lambda ctx: 1 / 0, name="boom")
    >>> passed, results = evaluate_guards([no, boom], None)
    >>> passed, [(r.name, r.passed) for r in results]
    (False, [('no', False), ('boom', None)])
    """
    results: list[GuardResult] = []
    passed = True
    for g in guards:
        if passed:
            result = g.evaluate(ctx)
            passed = result.passed is True
        else:
            result = g.not_evaluated()
        results.append(result)
    return passed, tuple(results)


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
    """A named leaf guard wrapping a function ``fn(ctx) -> bool`` (or an ``async def`` one).

    ``payload_type`` is checked here, at construction (see :func:`guard`).  An async ``fn``
    is wrapped once, here, by the bridge that AsyncJourneyMachine drives (_callables.py);
    a sync machine refuses a definition holding one (``is_async``).
    """

    name: str
    fn: GuardFn  # functions compare by identity
    description: str = ""
    payload_type: PayloadType | None = None
    # what isinstance() is given: payload_type with TypedDicts read as dict and unions as tuples
    _isinstance_type: type | tuple[type, ...] | None = attrs.field(
        init=False, eq=False, default=None
    )
    # what check() calls: fn itself, or for an async fn its bridge to the caller's loop
    _call: Callable[[Context], Any] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        fn: Any = self.fn
        object.__setattr__(
            self, "_call", bridge(fn, "guard", self.name) if is_async_callable(fn) else fn
        )
        if self.payload_type is not None:
            checked = _isinstance_type(self.name, self.payload_type)
            object.__setattr__(self, "_isinstance_type", checked)

    def check(self, ctx: Context) -> bool:
        wanted = self._isinstance_type
        if wanted is not None and not isinstance(ctx.payload, wanted):
            raise _fail(
                ctx,
                self.name,
                f"expects a payload of type {_type_name(self.payload_type)}, got "
                f"{type(ctx.payload).__name__}; pass a matching payload= to fire()",
                "payload_type",
            )
        try:
            result = self._call(ctx)
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

    @property
    def is_async(self) -> bool:
        """``fn`` is an ``async def`` function: only AsyncJourneyMachine can run this guard."""
        return self._call is not self.fn

    def evaluate(self, ctx: Context) -> GuardResult:
        return GuardResult(self.name, self.description, self.check(ctx))

    def _trace(self, ctx: Context, out: list[Any]) -> bool:
        ok = self.check(ctx)
        out.append(ok)
        return ok

    def _rebuild(self, trace: Iterator[Any]) -> GuardResult:
        return GuardResult(self.name, self.description, next(trace))

    def not_evaluated(self) -> GuardResult:
        return GuardResult(self.name, self.description, None)

    def to_ref(self) -> Any:
        return self.name

    def leaves(self) -> list[Predicate]:
        return [self]


def _is_typeddict(t: object) -> bool:
    # typing.is_typeddict misses typing_extensions' TypedDict on some versions; every
    # TypedDict class is a dict subclass carrying __required_keys__ and __total__
    return (
        isinstance(t, type)
        and issubclass(t, dict)
        and hasattr(t, "__required_keys__")
        and hasattr(t, "__total__")
    )


def _type_name(t: object) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    if isinstance(t, types.UnionType):
        return " or ".join(_type_name(x) for x in typing.get_args(t))
    if _is_typeddict(t):
        return f"{getattr(t, '__name__', t)} (a dict)"
    return str(getattr(t, "__name__", t))


def _isinstance_type(name: str, given: object) -> type | tuple[type, ...]:
    """What ``isinstance`` checks for ``payload_type=given``, or a TypeError saying the fix."""

    def refuse(what: str, fix: str) -> TypeError:
        return TypeError(f"guard {name!r}: payload_type={given!r} {what}; {fix}")

    parts: tuple[object, ...]
    if isinstance(given, tuple):
        parts = given
    elif isinstance(given, types.UnionType) or typing.get_origin(given) is typing.Union:
        parts = typing.get_args(given)
    else:
        parts = (given,)
    if not parts:
        raise refuse("accepts no payload at all", "name at least one class")
    out: list[type] = []
    for part in parts:
        if isinstance(part, str):
            raise refuse(
                f"names the type {part!r} as a string, which isinstance cannot check",
                "pass the class itself (payload_type=Order, not 'Order')",
            )
        if _is_typeddict(part):
            out.append(dict)  # a TypedDict is a dict at run time: its keys are not checked
            continue
        if typing.get_origin(part) is not None:
            origin = typing.get_origin(part)
            plain = getattr(origin, "__name__", str(origin))
            raise refuse(
                f"is a parameterised generic ({part!r}), which isinstance cannot check",
                f"pass the plain class (payload_type={plain}) and check the contents "
                "inside the guard",
            )
        if getattr(part, "_is_protocol", False) and not getattr(
            part, "_is_runtime_protocol", False
        ):
            raise refuse(
                f"is a Protocol ({getattr(part, '__name__', part)}) that isinstance cannot check",
                "decorate it with @typing.runtime_checkable or pass a concrete class",
            )
        if not isinstance(part, type):
            raise refuse(
                f"contains {part!r}, which is not a class",
                "pass a class or a tuple of classes, as for isinstance()",
            )
        try:
            isinstance(None, part)
        except TypeError as err:
            raise refuse(
                f"cannot be used with isinstance ({err})",
                "pass a class or a tuple of classes, as for isinstance()",
            ) from err
        out.append(part)
    return out[0] if len(out) == 1 else tuple(out)


def _bad_operand(g: Guard, symbol: str, other: object, *, left: bool = False) -> TypeError:
    expr = f"{other!r} {symbol} {g!r}" if left else f"{g!r} {symbol} {other!r}"
    return TypeError(
        f"guards combine with guards: {expr} needs a Guard on both sides; make one with "
        "journeyfsm.guard(fn, name=...)"
    )


def _operand(g: Guard, symbol: str, other: object) -> Guard:
    if not isinstance(other, Guard):
        raise _bad_operand(g, symbol, other)
    return other


@attrs.frozen(repr=False)
class _Combined(Guard):
    """``a & b`` / ``a | b``: the subclass says how parts combine and how they read."""

    _SYMBOL: ClassVar[str]
    _WORD: ClassVar[str]
    _REF: ClassVar[str]
    _combine: ClassVar[Callable[[Iterable[bool]], bool]]
    # the part result that decides the whole and ends the evaluation (False for &, True for |)
    _DECIDES: ClassVar[bool]

    parts: tuple[Guard, ...]
    name: str = attrs.field(init=False, eq=False)
    description: str = attrs.field(init=False, eq=False)

    def __attrs_post_init__(self) -> None:
        names = f" {self._SYMBOL} ".join(p.name for p in self.parts)
        words = f" {self._WORD} ".join(p.description or p.name for p in self.parts)
        object.__setattr__(self, "name", f"({names})")
        object.__setattr__(self, "description", words)

    def check(self, ctx: Context) -> bool:
        # all()/any() over a generator short-circuit: the order evaluate() follows
        return type(self)._combine(p.check(ctx) for p in self.parts)

    def evaluate(self, ctx: Context) -> GuardResult:
        return self._result(lambda p: p.evaluate(ctx))

    def _trace(self, ctx: Context, out: list[Any]) -> bool:
        decides = self._DECIDES
        for p in self.parts:
            if p._trace(ctx, out) is decides:
                return decides
        return not decides

    def _rebuild(self, trace: Iterator[Any]) -> GuardResult:
        return self._result(lambda p: p._rebuild(trace))

    def _result(self, part_result: Callable[[Guard], GuardResult]) -> GuardResult:
        """The composite's result from its parts' (evaluated now, or rebuilt from a
        trace), in order, short-circuiting as :meth:`check` does."""
        decides = self._DECIDES
        passed = not decides
        children: list[GuardResult] = []
        for p in self.parts:
            if passed is decides:
                children.append(p.not_evaluated())
                continue
            child = part_result(p)
            children.append(child)
            if child.passed is decides:
                passed = decides
        return GuardResult(self.name, self.description, passed, tuple(children))

    def not_evaluated(self) -> GuardResult:
        children = tuple(p.not_evaluated() for p in self.parts)
        return GuardResult(self.name, self.description, None, children)

    def to_ref(self) -> Any:
        return {self._REF: [p.to_ref() for p in self.parts]}

    def leaves(self) -> list[Predicate]:
        return [leaf for p in self.parts for leaf in p.leaves()]


@attrs.frozen(repr=False)
class AllOf(_Combined):
    """``a & b``: passes when every part passes; stops at the first failing part."""

    _SYMBOL = "&"
    _WORD = "and"
    _REF = "all"
    _combine = all
    _DECIDES = False


@attrs.frozen(repr=False)
class AnyOf(_Combined):
    """``a | b``: passes when at least one part passes; stops at the first passing part."""

    _SYMBOL = "|"
    _WORD = "or"
    _REF = "any"
    _combine = any
    _DECIDES = True


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
        return GuardResult(self.name, self.description, child.passed is False, (child,))

    def _trace(self, ctx: Context, out: list[Any]) -> bool:
        return not self.part._trace(ctx, out)

    def _rebuild(self, trace: Iterator[Any]) -> GuardResult:
        child = self.part._rebuild(trace)
        return GuardResult(self.name, self.description, child.passed is False, (child,))

    def not_evaluated(self) -> GuardResult:
        return GuardResult(self.name, self.description, None, (self.part.not_evaluated(),))

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
    payload_type: PayloadType | None = None,
) -> Callable[[GuardFn], Predicate]: ...
@overload
def guard(
    fn: GuardFn,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    payload_type: PayloadType | None = None,
) -> Predicate: ...
def guard(
    fn: GuardFn | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    payload_type: PayloadType | None = None,
) -> Predicate | Callable[[GuardFn], Predicate]:
    """Make a named guard from ``fn(ctx) -> bool`` (decorator or call form).

    ``fn`` may be an ``async def`` function: the guard is then awaited by
    ``AsyncJourneyMachine`` (still in order, still short-circuiting), and a sync
    ``JourneyMachine`` refuses a definition that holds it, naming the guard.

    The name defaults to the function's name, the description to its docstring's
    first line.  ``payload_type`` makes a payload of another type a ``GuardError`` (the
    function is then not called).  It is what ``isinstance`` accepts: a class, a tuple of
    classes, a union (``dict | list``) or a ``@runtime_checkable`` Protocol.  A
    ``TypedDict`` is accepted as "a dict": the payload must be a dict, its keys are not
    checked (the error then reads "expects a payload of type Order (a dict)").  A string,
    a parameterised generic (``dict[str, int]``) or a plain Protocol is refused here, at
    construction, with a ``TypeError`` naming the guard and the fix.

    >>> from journeyfsm import guard
    >>> @guard(description="order total is at least 50")
    ... def big_order(ctx):
    ...     return ctx.payload["total"] >= 50
    >>> big_order
    <guard big_order>
    >>> paid = guard(lambda ctx: ctx.payload.get("paid") is True, name="paid", payload_type=dict)
    >>> paid.name
    'paid'
    >>> guard(lambda ctx: True, name="typed", payload_type=dict[str, int])
    Traceback (most recent call last):
    TypeError: guard 'typed': payload_type=dict[str, int] is a parameterised generic ...
    """

    def make(f: GuardFn) -> Predicate:
        if not callable(f):
            raise TypeError(f"guard() takes a callable fn(ctx) -> bool, got {f!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"guard() name must be a str, got {name!r} ({type(name).__name__})")
        if description is not None and not isinstance(description, str):
            raise TypeError(
                f"guard() description must be a str, got {description!r} "
                f"({type(description).__name__})"
            )
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
