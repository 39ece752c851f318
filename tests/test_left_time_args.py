"""A naive or non-datetime time names the argument as the caller passed it: the method
and its parameter (``tick(now=...)``), not a stray ``at=``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from journeyfsm import (
    AsyncJourneyMachine,
    AsyncJourneyService,
    JourneyMachine,
    JourneyService,
    ManualClock,
    templates,
)
from journeyfsm.stores import AsyncMemoryStore, MemoryStore
from journeyfsm.testing import shortest_paths, simple_paths, trigger_sequences, unreachable_stages

NAIVE = datetime(2026, 1, 2)


def _run(value: Any) -> Any:
    return asyncio.run(value) if inspect.isawaitable(value) else value  # type: ignore[arg-type]


def _sync() -> JourneyMachine:
    return JourneyMachine(templates.aida(), clock=ManualClock())


def _async() -> AsyncJourneyMachine:
    return AsyncJourneyMachine(templates.aida(), clock=ManualClock())


CASES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "start": ("start(at=...)", lambda v: _sync().start("k", at=v)),
    "fire": ("fire(at=...)", lambda v: (m := _sync()).fire(m.start("k"), "engage", at=v)),
    "explain": ("explain(at=...)", lambda v: (m := _sync()).explain(m.start("k"), "engage", at=v)),
    "enabled": (
        "enabled_triggers(at=...)",
        lambda v: (m := _sync()).enabled_triggers(m.start("k"), at=v),
    ),
    "tick positional": ("tick(now=...)", lambda v: (m := _sync()).tick(m.start("k"), v)),
    "tick keyword": ("tick(now=...)", lambda v: (m := _sync()).tick(m.start("k"), now=v)),
    "async start": ("start(at=...)", lambda v: _async().start("k", at=v)),
    "async fire": (
        "fire(at=...)",
        lambda v: _run((m := _async()).fire(m.start("k"), "engage", at=v)),
    ),
    "async explain": (
        "explain(at=...)",
        lambda v: _run((m := _async()).explain(m.start("k"), "engage", at=v)),
    ),
    "async enabled": (
        "enabled_triggers(at=...)",
        lambda v: _run((m := _async()).enabled_triggers(m.start("k"), at=v)),
    ),
    "async tick": ("tick(now=...)", lambda v: _run((m := _async()).tick(m.start("k"), v))),
    "handle": (
        "handle(at=...) (journey 'k', trigger 'engage')",
        lambda v: JourneyService(_sync(), MemoryStore()).handle("k", "engage", at=v),
    ),
    "handle_many": (
        "handle_many(): events[1].at (journey 'k', trigger 'want')",
        lambda v: JourneyService(_sync(), MemoryStore()).handle_many(
            [("k", "engage"), {"key": "k", "trigger": "want", "at": v}]
        ),
    ),
    "service tick": ("tick(now=...)", lambda v: JourneyService(_sync(), MemoryStore()).tick(v)),
    "service purge": (
        "purge_event_ids(older_than=...)",
        lambda v: JourneyService(_sync(), MemoryStore()).purge_event_ids(v),
    ),
    "store purge": ("purge_event_ids(older_than=...)", lambda v: MemoryStore().purge_event_ids(v)),
    "async handle": (
        "handle(at=...) (journey 'k', trigger 'engage')",
        lambda v: _run(
            AsyncJourneyService(_async(), AsyncMemoryStore()).handle("k", "engage", at=v)
        ),
    ),
    "async service tick": (
        "tick(now=...)",
        lambda v: _run(AsyncJourneyService(_async(), AsyncMemoryStore()).tick(v)),
    ),
    "ManualClock": ("ManualClock(start=...)", lambda v: ManualClock(v)),
    "ManualClock.set": ("ManualClock.set(when=...)", lambda v: ManualClock().set(v)),
    "shortest_paths": ("shortest_paths(at=...)", lambda v: shortest_paths(templates.aida(), at=v)),
    "simple_paths": ("simple_paths(at=...)", lambda v: simple_paths(templates.aida(), 2, at=v)),
    "unreachable_stages": (
        "unreachable_stages(at=...)",
        lambda v: unreachable_stages(templates.aida(), at=v),
    ),
    "trigger_sequences": (
        "trigger_sequences(at=...)",
        lambda v: trigger_sequences(templates.aida(), at=v),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_naive_time_names_the_argument_passed(case: str) -> None:
    label, call = CASES[case]
    with pytest.raises(ValueError) as info:
        call(NAIVE)
    assert str(info.value).startswith(f"{label} is a naive datetime (2026-01-02T00:00:00)")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_time_that_is_not_a_datetime_names_the_argument_passed(case: str) -> None:
    label, call = CASES[case]
    with pytest.raises(TypeError) as info:
        call("2026-01-02")
    assert str(info.value) == f"{label} must be a datetime, got str"
