"""The sync and async twins over SQLite, on the same event sequences (hypothesis): the
timeout shop through ``JourneyService`` on ``SQLiteStore`` and through
``AsyncJourneyService`` (an AsyncJourneyMachine with async hooks) on ``AsyncSQLiteStore``,
with ``handle``, ``handle_many``, ``tick``, redelivered event ids and time passing, give
equal outcomes and byte-equal databases."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import async_machine_of, dump_sqlite
from test_service_timeouts import timeout_service
from test_timeouts import T0, H

from journeyfsm import AsyncJourneyService, Event, JourneyError, ManualClock
from journeyfsm.stores import AsyncSQLiteStore, MemoryStore, SQLiteStore

TRIGGERS = ["add_to_cart", "checkout", "purchase", "remind", "abandon"]
OPS = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["handle", "many"]),
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(TRIGGERS),
            st.sampled_from([None, {"vip": True}, {"vip": False}]),
            st.one_of(st.none(), st.integers(0, 12)),
        ),
        st.tuples(st.just("tick"), st.integers(1, 3)),
        st.tuples(st.just("advance"), st.sampled_from([1, 2, 25, 24 * 8, 24 * 200])),
    ),
    max_size=25,
)


def _event(op: tuple[Any, ...]) -> Event:
    _, key, trigger, payload, n = op
    return Event(key, trigger, payload, event_id=None if n is None else f"e{n}")


def _result(value: Any) -> Any:
    if isinstance(value, list):
        return [_result(v) for v in value]
    if hasattr(value, "outcomes"):  # a TickReport
        return (value.journeys, value.fired, _result(list(value.outcomes)), value.failed)
    return (value.status, value.key, value.trigger, value.source, value.dest, value.seq)


def _sync(ops: list[tuple[Any, ...]], path: Path) -> list[Any]:
    clock = ManualClock(T0)
    service = timeout_service(SQLiteStore(path, create_schema=True), clock)
    out: list[Any] = []
    for op in ops:
        try:
            if op[0] == "handle":
                e = _event(op)
                out.append(
                    _result(service.handle(e.key, e.trigger, e.payload, event_id=e.event_id))
                )
            elif op[0] == "many":
                out.append(_result(service.handle_many([_event(op), Event(op[1], "remind")])))
            elif op[0] == "tick":
                out.append(_result(service.tick(batch_size=op[1])))
            else:
                clock.advance(op[1] * H)
        except JourneyError as err:
            out.append((type(err).__name__, str(err)))
    return out


async def _async(ops: list[tuple[Any, ...]], path: Path) -> list[Any]:
    clock = ManualClock(T0)
    sent: list[str] = []
    machine = async_machine_of(timeout_service(MemoryStore(), clock, sent).machine)
    store = AsyncSQLiteStore(path, create_schema=True)
    service = AsyncJourneyService(machine, store)
    out: list[Any] = []
    try:
        for op in ops:
            try:
                if op[0] == "handle":
                    e = _event(op)
                    out.append(
                        _result(
                            await service.handle(e.key, e.trigger, e.payload, event_id=e.event_id)
                        )
                    )
                elif op[0] == "many":
                    out.append(
                        _result(await service.handle_many([_event(op), Event(op[1], "remind")]))
                    )
                elif op[0] == "tick":
                    out.append(_result(await service.tick(batch_size=op[1])))
                else:
                    clock.advance(op[1] * H)
            except JourneyError as err:
                out.append((type(err).__name__, str(err)))
    finally:
        await store.close()
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_sync_and_async_twins_give_equal_outcomes_and_rows(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        by_sync = _sync(ops, folder / "sync.db")
        by_async = asyncio.run(_async(ops, folder / "async.db"))
        assert by_async == by_sync
        assert dump_sqlite(folder / "async.db") == dump_sqlite(folder / "sync.db")


def test_the_twins_agree_on_a_long_day() -> None:
    """One fixed sequence that fires every timeout kind (a hypothesis run may not)."""
    ops: list[tuple[Any, ...]] = [
        ("handle", "a", "add_to_cart", None, 1),
        ("handle", "b", "add_to_cart", None, 2),
        ("handle", "b", "checkout", None, 4),
        ("handle", "b", "checkout", None, 4),
        ("many", "c", "add_to_cart", None, 3),
        ("advance", 2),
        ("tick", 2),
        ("advance", 25),
        ("tick", 1),
        ("advance", 24 * 200),
        ("tick", 3),
        ("handle", "b", "purchase", None, 5),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        by_sync = _sync(ops, folder / "sync.db")
        assert asyncio.run(_async(ops, folder / "async.db")) == by_sync
        assert dump_sqlite(folder / "async.db") == dump_sqlite(folder / "sync.db")
        fired = {o[2] for r in by_sync if isinstance(r, tuple) and len(r) == 4 for o in r[2]}
        assert {"remind", "abandon", "lose", "lapse"} <= fired
