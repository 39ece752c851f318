"""Tools to test journey rules: assertions that read like the rule, a transition-table
check, a recorder of hook and effect calls, a manual clock, a path explorer, and
hypothesis strategies.  The pytest plugin adds the fixtures ``journey_clock`` and
``journey_recorder`` and the ``--journey-coverage`` report.

>>> from journeyfsm import templates
>>> from journeyfsm.testing import assert_moves, assert_ignored
>>> assert_moves(templates.aida(), "desire", "buy", "action").dest
'action'
>>> assert_ignored(templates.aida(), "attention", "buy").status
'ignored'

Every assertion takes a machine (to run its hooks too) or a definition, builds a journey
directly in the stage under test (with ``data=`` for guards that read journey data), fires
the trigger, and on failure raises ``AssertionError`` showing the stage, the trigger, every
candidate with its guard results, and what is allowed from that stage instead.

An :class:`~journeyfsm.AsyncJourneyMachine` is a target too: from a sync test the same
helpers run its ``explain`` and ``fire`` with ``asyncio.run``; inside a running loop (an
``async def`` test) they cannot, and say so: await the twins ``assert_moves_async``,
``assert_blocked_async``, ``assert_ignored_async`` and ``check_table_async`` there.  The
checks and the messages are the same code for both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import structlog

from .._async_machine import AsyncJourneyMachine
from .._clock import ManualClock
from .._definition import JourneyDefinition
from .._errors import GuardError, JourneyError, did_you_mean
from .._guards import GuardResult
from .._json import copy_json
from .._outcome import Explanation, Outcome
from .._records import Journey
from .._runtime import JourneyMachine
from ._graph import FINAL, INITIAL, WITH_TIMEOUT, Move, StageSet, StageSpec
from ._paths import (
    Path,
    PayloadFactory,
    Step,
    shortest_paths,
    simple_paths,
    stages_without_exit_to_final,
    unreachable_stages,
)
from ._properties import (
    Counterexample,
    Property,
    Verdict,
    assert_every_path,
    assert_keeps_properties,
    assert_no_path,
    assert_no_traps,
    assert_only_from,
    assert_properties,
    check_properties,
    every_path,
    no_path,
    no_traps,
    only_from,
    reachable,
)
from ._recorder import RecordedCall, Recorder

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "FINAL",
    "INITIAL",
    "WITH_TIMEOUT",
    "Counterexample",
    "ManualClock",
    "Move",
    "Path",
    "PayloadFactory",
    "Property",
    "RecordedCall",
    "Recorder",
    "Row",
    "StageSet",
    "StageSpec",
    "Step",
    "Verdict",
    "assert_blocked",
    "assert_blocked_async",
    "assert_every_path",
    "assert_ignored",
    "assert_ignored_async",
    "assert_keeps_properties",
    "assert_moves",
    "assert_moves_async",
    "assert_no_path",
    "assert_no_traps",
    "assert_only_from",
    "assert_properties",
    "check_properties",
    "check_table",
    "check_table_async",
    "definitions",
    "every_path",
    "generated_payloads",
    "no_path",
    "no_traps",
    "only_from",
    "reachable",
    "shortest_paths",
    "simple_paths",
    "stages_without_exit_to_final",
    "trigger_sequences",
    "unreachable_stages",
]

Target = JourneyMachine | AsyncJourneyMachine | JourneyDefinition
# what the checks read of a machine: its definition (both kinds have one)
AnyMachine = JourneyMachine | AsyncJourneyMachine
T = TypeVar("T")


def _drop(logger: Any, method: str, event: Any) -> Any:
    raise structlog.DropEvent


def _machine(target: Target) -> AnyMachine:
    if isinstance(target, (JourneyMachine, AsyncJourneyMachine)):
        return target
    if isinstance(target, JourneyDefinition):
        quiet = structlog.wrap_logger(structlog.testing.ReturnLogger(), processors=[_drop])
        return JourneyMachine(target, clock=ManualClock(), logger=quiet)
    raise TypeError(
        f"expected a JourneyMachine, an AsyncJourneyMachine or a JourneyDefinition, got {target!r}"
    )


def _run_async(helper: str, coro: Coroutine[Any, Any, T]) -> T:
    """Run an AsyncJourneyMachine's check to the end from sync code (``helper``: the name
    of the sync helper); inside a running loop that cannot be done: name the twin."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError(
        f"{helper}() was given an AsyncJourneyMachine inside a running event loop, where "
        f"it cannot run the machine's coroutines: use 'await {helper}_async(...)' there"
    )


def _journey(m: AnyMachine, stage: str, data: Mapping[str, Any] | None, key: str) -> Journey:
    m.definition.stage(stage)  # KeyError with close matches for a typo
    return Journey(key, stage, copy_json(dict(data or {})))


def _alternatives(m: AnyMachine, stage: str) -> str:
    parts = []
    for trigger, cands in m.definition.table.get(stage, {}).items():
        dests = " | ".join(repr(c.dest) if c.dest is not None else "(internal)" for c in cands)
        parts.append(f"{trigger} -> {dests}")
    return ", ".join(parts) or "nothing (final stage)"


def _details(m: AnyMachine, exp: Explanation | Outcome, payload: Any, data: Any) -> str:
    lines = [f"  payload: {payload!r}", f"  journey data: {data or {}!r}"]
    # an Outcome when explain raised (a guard fire never reached): what fire tried
    stage = exp.source if isinstance(exp, Outcome) else exp.stage
    if exp.candidates:
        lines.append(f"  candidates for {exp.trigger!r} from {stage!r}, tried in order:")
    for i, c in enumerate(exp.candidates, 1):
        lines.extend(c.lines(i, 4, all_parts=True))
    lines.append(f"  allowed from {stage!r}: {_alternatives(m, stage)}")
    return "\n".join(lines)


def _what_happened(outcome: Outcome) -> str:
    if outcome.moved:
        return f"it moved to {outcome.dest!r}"
    if outcome.blocked:
        return f"it was blocked by {', '.join(outcome.failed_guards)}"
    if outcome.ignored and outcome.reason is not None:
        return f"it was ignored: {outcome.reason}"
    if outcome.ignored:
        return f"it was ignored: no transition for {outcome.trigger!r} from {outcome.source!r}"
    return f"it was {outcome.status}"


def _failing_names(outcome: Outcome) -> set[str]:
    names: set[str] = set()

    def walk(r: GuardResult) -> None:
        if r.passed is False:  # a guard that was not evaluated did not fail
            names.add(r.name)
        for child in r.children:
            walk(child)

    for c in outcome.candidates:
        for g in c.guards:
            walk(g)
    return names


# fire runs first, and decides: explain (for the details of a failure) evaluates every
# candidate, so a guard fire never reaches may raise there; then the details show what
# fire tried instead (DESIGN semantics 2: the helper passes or fails as fire decides)
async def _steps(
    m: AsyncJourneyMachine, journey: Journey, trigger: str, payload: Any, at: Any
) -> tuple[Explanation | Outcome, Outcome]:
    twin = Journey(journey.key, journey.stage, copy_json(journey.data))
    outcome = await m.fire(journey, trigger, payload, at=at, policy="ignore")
    try:
        return await m.explain(twin, trigger, payload, at=at), outcome
    except GuardError:
        return outcome, outcome


def _sync_steps(
    m: JourneyMachine, journey: Journey, trigger: str, payload: Any, at: Any
) -> tuple[Explanation | Outcome, Outcome]:
    twin = Journey(journey.key, journey.stage, copy_json(journey.data))
    outcome = m.fire(journey, trigger, payload, at=at, policy="ignore")
    try:
        return m.explain(twin, trigger, payload, at=at), outcome
    except GuardError:
        return outcome, outcome


def _run(
    helper: str,
    target: Target,
    source: str,
    trigger: str,
    payload: Any,
    data: Any,
    at: Any,
    key: str,
) -> tuple[AnyMachine, Journey, Explanation | Outcome, Outcome]:
    m = _machine(target)
    journey = _journey(m, source, data, key)
    if isinstance(m, AsyncJourneyMachine):
        exp, outcome = _run_async(helper, _steps(m, journey, trigger, payload, at))
    else:
        exp, outcome = _sync_steps(m, journey, trigger, payload, at)
    return m, journey, exp, outcome


async def _arun(
    target: Target, source: str, trigger: str, payload: Any, data: Any, at: Any, key: str
) -> tuple[AnyMachine, Journey, Explanation | Outcome, Outcome]:
    m = _machine(target)
    journey = _journey(m, source, data, key)
    if isinstance(m, AsyncJourneyMachine):
        exp, outcome = await _steps(m, journey, trigger, payload, at)
    else:
        exp, outcome = _sync_steps(m, journey, trigger, payload, at)
    return m, journey, exp, outcome


# -- the checks: one for the sync and the async helpers ---------------------------------
def _check_moves(
    m: AnyMachine,
    journey: Journey,
    exp: Explanation | Outcome,
    outcome: Outcome,
    source: str,
    trigger: str,
    dest: str,
    payload: Any,
    data: Any,
) -> Outcome:
    if not outcome.moved or journey.stage != dest:
        raise AssertionError(
            f"expected {trigger!r} from stage {source!r} to move to {dest!r}, but "
            f"{_what_happened(outcome)}\n{_details(m, exp, payload, data)}"
        )
    return outcome


def _check_blocked(
    m: AnyMachine,
    exp: Explanation | Outcome,
    outcome: Outcome,
    source: str,
    trigger: str,
    by: str | Iterable[str] | None,
    payload: Any,
    data: Any,
) -> Outcome:
    wanted = [by] if isinstance(by, str) else list(by or [])
    label = f" by {', '.join(repr(w) for w in wanted)}" if wanted else ""
    missing = [w for w in wanted if w not in _failing_names(outcome)]
    if not outcome.blocked or missing:
        raise AssertionError(
            f"expected {trigger!r} from stage {source!r} to be blocked{label}, but "
            f"{_what_happened(outcome)}\n{_details(m, exp, payload, data)}"
        )
    return outcome


def _check_ignored(
    m: AnyMachine,
    exp: Explanation | Outcome,
    outcome: Outcome,
    source: str,
    trigger: str,
    payload: Any,
    data: Any,
) -> Outcome:
    if not outcome.ignored:
        raise AssertionError(
            f"expected {trigger!r} from stage {source!r} to be ignored, but "
            f"{_what_happened(outcome)}\n{_details(m, exp, payload, data)}"
        )
    return outcome


def assert_moves(
    target: Target,
    source: str,
    trigger: str,
    dest: str,
    payload: Any = None,
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    key: str = "test-journey",
) -> Outcome:
    """Assert that ``trigger`` (with ``payload``) moves a journey in ``source`` to ``dest``.

    For an internal transition ``dest`` is ``source``.  Returns the outcome.

    >>> from journeyfsm import templates
    >>> assert_moves(templates.aida(), "attention", "engage", "interest").moved
    True
    """
    m, journey, exp, outcome = _run("assert_moves", target, source, trigger, payload, data, at, key)
    return _check_moves(m, journey, exp, outcome, source, trigger, dest, payload, data)


async def assert_moves_async(
    target: Target,
    source: str,
    trigger: str,
    dest: str,
    payload: Any = None,
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    key: str = "test-journey",
) -> Outcome:
    """:func:`assert_moves`, awaited: for an ``async def`` test of an AsyncJourneyMachine.

    >>> import asyncio
    >>> from journeyfsm import AsyncJourneyMachine, templates
    >>> machine = AsyncJourneyMachine(templates.aida())
    >>> asyncio.run(assert_moves_async(machine, "attention", "engage", "interest")).moved
    True
    """
    m, journey, exp, outcome = await _arun(target, source, trigger, payload, data, at, key)
    return _check_moves(m, journey, exp, outcome, source, trigger, dest, payload, data)


def assert_blocked(
    target: Target,
    source: str,
    trigger: str,
    by: str | Iterable[str] | None = None,
    payload: Any = None,
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    key: str = "test-journey",
) -> Outcome:
    """Assert that guards block ``trigger`` from ``source``; ``by`` names guard(s) that must fail.

    A name may be a leaf guard (``"cart_not_empty"``) or a composite as it prints
    (``"~is_blocked"``).

    >>> from journeyfsm import JourneyBuilder, guard
    >>> @guard
    ... def cart_not_empty(ctx):
    ...     return bool(ctx.journey.data.get("cart"))
    >>> shop = (JourneyBuilder("shop").stage("cart", initial=True).stage("paid", final=True)
    ...         .transition("pay", "cart", "paid", guards=[cart_not_empty]).build())
    >>> assert_blocked(shop, "cart", "pay", by="cart_not_empty", data={"cart": []}).status
    'blocked'
    """
    m, _, exp, outcome = _run("assert_blocked", target, source, trigger, payload, data, at, key)
    return _check_blocked(m, exp, outcome, source, trigger, by, payload, data)


async def assert_blocked_async(
    target: Target,
    source: str,
    trigger: str,
    by: str | Iterable[str] | None = None,
    payload: Any = None,
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    key: str = "test-journey",
) -> Outcome:
    """:func:`assert_blocked`, awaited: for an ``async def`` test of an AsyncJourneyMachine."""
    m, _, exp, outcome = await _arun(target, source, trigger, payload, data, at, key)
    return _check_blocked(m, exp, outcome, source, trigger, by, payload, data)


def assert_ignored(
    target: Target,
    source: str,
    trigger: str,
    payload: Any = None,
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    key: str = "test-journey",
) -> Outcome:
    """Assert that ``trigger`` is not valid from ``source`` (no transition; ignored).

    >>> from journeyfsm import templates
    >>> assert_ignored(templates.aida(), "action", "engage").ignored
    True
    """
    m, _, exp, outcome = _run("assert_ignored", target, source, trigger, payload, data, at, key)
    return _check_ignored(m, exp, outcome, source, trigger, payload, data)


async def assert_ignored_async(
    target: Target,
    source: str,
    trigger: str,
    payload: Any = None,
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    key: str = "test-journey",
) -> Outcome:
    """:func:`assert_ignored`, awaited: for an ``async def`` test of an AsyncJourneyMachine."""
    m, _, exp, outcome = await _arun(target, source, trigger, payload, data, at, key)
    return _check_ignored(m, exp, outcome, source, trigger, payload, data)


@attrs.frozen
class Row:
    """One row of :func:`check_table`, for rows that need their own journey ``data``.

    ``expected`` is a stage name, ``"blocked"``, ``"blocked by GUARD[, GUARD...]"`` or
    ``"ignored"`` (a stage of that name wins over the keyword).
    """

    source: str
    trigger: str
    expected: str
    payload: Any = None
    data: Mapping[str, Any] | None = None


def _row(raw: Row | Sequence[Any], data: Mapping[str, Any] | None) -> Row:
    if isinstance(raw, Row):
        return raw if raw.data is not None else attrs.evolve(raw, data=data)
    if len(raw) == 3:
        return Row(raw[0], raw[1], raw[2], None, data)
    if len(raw) == 4:
        return Row(raw[0], raw[1], raw[3], raw[2], data)
    raise ValueError(
        f"a table row is (source, trigger, expected), (source, trigger, payload, expected) "
        f"or a Row(...); got {raw!r}"
    )


def check_table(
    target: Target,
    rows: Iterable[Row | Sequence[Any]],
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> list[Outcome]:
    """Check a whole transition table at once; one AssertionError lists every wrong row.

    Rows are ``(source, trigger, expected)``, ``(source, trigger, payload, expected)`` or
    :class:`Row`; ``data`` is the journey data of rows that do not bring their own.

    >>> from journeyfsm import templates
    >>> outcomes = check_table(templates.aida(), [
    ...     ("attention", "engage", "interest"),
    ...     ("lost", "re_engage", None, "attention"),
    ...     ("action", "buy", "ignored"),
    ... ])
    >>> [o.status for o in outcomes]
    ['moved', 'moved', 'ignored']
    """
    m = _machine(target)
    if isinstance(m, AsyncJourneyMachine):
        return _run_async("check_table", check_table_async(m, rows, data=data, at=at))
    outcomes: list[Outcome] = []
    failures: list[str] = []
    n = 0
    for n, raw in enumerate(rows, 1):
        try:
            row = _row(raw, data)
            outcomes.append(_check_row(m, row, at))
        except _ROW_ERRORS as err:
            failures.append(_row_failure(n, raw, err))
    if n == 0:
        raise _no_rows()
    if failures:
        raise _table_failed(m, failures, n)
    return outcomes


async def check_table_async(
    target: Target,
    rows: Iterable[Row | Sequence[Any]],
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> list[Outcome]:
    """:func:`check_table`, awaited: for an ``async def`` test of an AsyncJourneyMachine.

    >>> import asyncio
    >>> from journeyfsm import AsyncJourneyMachine, templates
    >>> machine = AsyncJourneyMachine(templates.aida())
    >>> outcomes = asyncio.run(check_table_async(machine, [("action", "buy", "ignored")]))
    >>> [o.status for o in outcomes]
    ['ignored']
    """
    m = _machine(target)
    outcomes: list[Outcome] = []
    failures: list[str] = []
    n = 0
    for n, raw in enumerate(rows, 1):
        try:
            row = _row(raw, data)
            kind, arg = _expectation(m, row)
            if kind == "moves":
                outcome = await assert_moves_async(
                    m, row.source, row.trigger, arg, row.payload, data=row.data, at=at
                )
            elif kind == "ignored":
                outcome = await assert_ignored_async(
                    m, row.source, row.trigger, row.payload, data=row.data, at=at
                )
            else:
                outcome = await assert_blocked_async(
                    m, row.source, row.trigger, arg, row.payload, data=row.data, at=at
                )
            outcomes.append(outcome)
        except _ROW_ERRORS as err:
            failures.append(_row_failure(n, raw, err))
    if n == 0:
        raise _no_rows()
    if failures:
        raise _table_failed(m, failures, n)
    return outcomes


_ROW_ERRORS = (AssertionError, JourneyError, KeyError, TypeError, ValueError)


def _no_rows() -> ValueError:
    # a table of no rows would pass while checking nothing
    return ValueError(
        "check_table() got no rows, so it would check nothing; pass rows such as "
        "('attention', 'engage', 'interest') or Row(source, trigger, expected)"
    )


def _row_failure(n: int, raw: Any, err: Exception) -> str:
    kind = "" if isinstance(err, AssertionError) else f"{type(err).__name__}: "
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return f"row {n}: {tuple(raw) if isinstance(raw, list) else raw!r}\n  {kind}{text}"


def _table_failed(m: AnyMachine, failures: list[str], n: int) -> AssertionError:
    d = m.definition
    return AssertionError(
        f"{len(failures)} of {n} rows of the transition table for {d.name!r} "
        f"(version {d.version}) do not hold:\n\n" + "\n\n".join(failures)
    )


def _expectation(m: AnyMachine, row: Row) -> tuple[str, Any]:
    """What a row expects: ("moves", dest), ("ignored", None) or ("blocked", guard names)."""
    expected = row.expected
    if not isinstance(expected, str):
        raise TypeError(f"the expected result must be a str, got {expected!r}")
    if m.definition.has_stage(expected):
        return "moves", expected
    if expected == "ignored":
        return "ignored", None
    if expected == "blocked" or expected.startswith("blocked by "):
        by = [g.strip() for g in expected[len("blocked by ") :].split(",") if g.strip()]
        return "blocked", by
    choices = [*m.definition.stage_names, "blocked", "ignored"]
    hint = did_you_mean(expected, choices)
    raise ValueError(
        f"expected result {expected!r} is not a stage of {m.definition.name!r}{hint}, "
        "nor 'blocked', 'blocked by GUARD' or 'ignored'"
    )


def _check_row(m: JourneyMachine, row: Row, at: datetime | None) -> Outcome:
    kind, arg = _expectation(m, row)
    if kind == "moves":
        return assert_moves(m, row.source, row.trigger, arg, row.payload, data=row.data, at=at)
    if kind == "ignored":
        return assert_ignored(m, row.source, row.trigger, row.payload, data=row.data, at=at)
    return assert_blocked(m, row.source, row.trigger, arg, row.payload, data=row.data, at=at)


def _strategies_module() -> Any:
    # not `_strategies`: importing the submodule of that name sets it on this package
    try:
        from . import _strategies as module
    except ImportError as err:
        raise ImportError(
            "journeyfsm's hypothesis strategies need hypothesis: "
            "pip install 'journeyfsm[test]' (or pip install hypothesis)"
        ) from err
    return module


def trigger_sequences(
    definition: Target,
    *,
    max_length: int = 20,
    payload_factory: PayloadFactory | None = None,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> SearchStrategy[list[Step]]:
    """Hypothesis strategy: lists of :class:`Step` from the initial stage, each trigger
    allowed from the stage reached; ``step.dest`` is the stage the definition predicts
    (``source`` when blocked or internal).  Needs the ``test`` extra (hypothesis).
    """
    strategy: SearchStrategy[list[Step]] = _strategies_module().trigger_sequences(
        definition, max_length=max_length, payload_factory=payload_factory, data=data, at=at
    )
    return strategy


def definitions(
    *,
    max_stages: int = 6,
    max_triggers: int = 4,
    guards: bool = True,
    internal: bool = True,
    odd_names: bool = False,
) -> SearchStrategy[JourneyDefinition]:
    """Hypothesis strategy: random valid definitions, for testing tools built on journeyfsm.

    Guards ``g0``-``g3`` pass for a payload ``{"gN": True}``; :func:`generated_payloads`
    offers payloads satisfying any of them.  ``internal`` adds internal transitions
    (``dest=None``), also on final stages; ``odd_names`` draws any stage name and
    identifier trigger that validation accepts (``"="``, ``"a b"``, ``"stage"``, ...).
    Needs the ``test`` extra (hypothesis).
    """
    strategy: SearchStrategy[JourneyDefinition] = _strategies_module().definitions(
        max_stages=max_stages,
        max_triggers=max_triggers,
        guards=guards,
        internal=internal,
        odd_names=odd_names,
    )
    return strategy


def generated_payloads() -> list[dict[str, bool]]:
    """Payloads that together satisfy every guard of a :func:`definitions` definition."""
    payloads: list[dict[str, bool]] = _strategies_module().generated_payloads()
    return payloads
