"""The entry rule (issue 20, "Entry and re-entry"): ``entry="once" | "once_at_a_time" |
timedelta`` on the definition; a finished journey restarts in one atomic two-entry move
(machine, async machine, service on every store and driver, replay, path graph)."""

from __future__ import annotations

import asyncio
import copy
import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START, quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import ServiceFactory, make_service, open_store, store, store_factory

from journeyfsm import (
    AsyncJourneyMachine,
    DefinitionError,
    InvalidTransition,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    JourneyService,
    ManualClock,
    guard,
)
from journeyfsm.analytics import replay
from journeyfsm.stores import MemoryStore, Store
from journeyfsm.testing._graph import Graph

__all__ = ["make_service", "open_store", "store", "store_factory"]  # fixtures

REENTER = "journeyfsm.reenter"


@guard
def allowed(ctx: Any) -> bool:
    return bool(ctx.journey.data.get("ok", True))


def definition(entry: Any = "once_at_a_time", *, guarded: bool = False) -> JourneyDefinition:
    b = (
        JourneyBuilder("promo", entry=entry)
        .stage("new", initial=True)
        .stage("engaged")
        .stage("won", final=True)
        .stage("lost", final=True)
        .transition("open", "new", "engaged", guards=[allowed] if guarded else [])
        .transition("buy", "engaged", "won")
        .transition("drop", ["new", "engaged"], "lost")
        .transition("note", "won", None)  # an internal transition of a final stage
    )
    return b.build()


def chain_ok(history: Any) -> None:
    """DESIGN semantics 8: seqs 1..n, each entry's source the previous entry's dest."""
    entries = list(history)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    for before, after in itertools.pairwise(entries):
        assert after.source == before.dest


def triples(history: Any) -> list[tuple[int, str, str, str]]:
    return [(e.seq, e.trigger, e.source, e.dest) for e in history]


def finished(m: JourneyMachine, key: str = "c-1", **kw: Any) -> Any:
    j = m.start(key, **kw)
    m.fire(j, "open", event_id="e-open")
    m.fire(j, "buy", event_id="e-buy")
    assert j.stage == "won"
    return j


# -- the machine -------------------------------------------------------------------------
def test_a_finished_journey_restarts_with_two_entries_in_one_move() -> None:
    clock = ManualClock(START)
    m = JourneyMachine(definition(), clock=clock, logger=quiet_logger())
    j = finished(m)
    started = j.started_at
    clock.advance(timedelta(hours=1))
    out = m.fire(j, "open", event_id="e-2")
    assert out.moved and out.dest == "engaged" and out.source == "new"
    assert out.reentry is not None and out.reentry.seq == 3
    assert (out.reentry.trigger, out.reentry.source, out.reentry.dest) == (REENTER, "won", "new")
    assert out.entry is not None and out.entry.seq == 4
    assert triples(j.history)[2:] == [(3, REENTER, "won", "new"), (4, "open", "new", "engaged")]
    chain_ok(j.history)
    assert j.version == 4 and j.entry_seq == 4 and j.entered_at == START + timedelta(hours=1)
    assert j.timeouts_fired == 0 and j.started_at == started


def test_the_default_once_refuses_with_a_reason_and_strict_says_the_same() -> None:
    m = JourneyMachine(definition("once"), logger=quiet_logger())
    j = finished(m)
    before = m.snapshot(j)
    out = m.fire(j, "open")
    assert out.ignored and out.reason == "re-entry refused: entry='once'"
    assert 'reason="re-entry refused' in repr(out)
    with pytest.raises(InvalidTransition, match=r"re-entry refused: entry='once'") as info:
        m.fire(j, "open", policy="strict")
    assert info.value.reason == "re-entry refused: entry='once'"
    assert m.snapshot(j) == before
    # a trigger the initial stage does not know: ignored as ever, no reason
    assert m.fire(j, "buy").reason is None


def test_a_cooldown_counts_from_when_the_journey_finished() -> None:
    clock = ManualClock(START)
    m = JourneyMachine(definition(timedelta(days=7)), clock=clock, logger=quiet_logger())
    j = finished(m)  # finished at START
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    out = m.fire(j, "open")
    assert out.ignored and out.reason == "re-entry refused: cooldown until 2026-01-08T09:00:00Z"
    with pytest.raises(InvalidTransition, match="cooldown until 2026-01-08T09:00:00Z"):
        m.fire(j, "open", policy="strict")
    assert j.version == 2
    clock.advance(timedelta(seconds=1))
    assert m.fire(j, "open").moved and j.version == 4


def test_guards_of_the_initial_stage_that_block_leave_the_journey_unchanged() -> None:
    m = JourneyMachine(definition(guarded=True), logger=quiet_logger())
    j = finished(m)
    ran: list[str] = []
    m.on_exit("won", lambda ctx: ran.append("exit"))
    m.on_enter("new", lambda ctx: ran.append("enter"))
    j.data["ok"] = False
    before = m.snapshot(j)
    out = m.fire(j, "open", event_id="e-x")
    assert out.blocked and out.source == "won" and out.failed_guards == ("allowed",)
    assert m.snapshot(j) == before and ran == []
    # the same event id is judged again once the guard lets it through
    j.data["ok"] = True
    assert m.fire(j, "open", event_id="e-x").moved


def test_an_enter_hook_that_makes_the_guard_fail_rolls_back_to_blocked() -> None:
    m = JourneyMachine(definition(guarded=True), logger=quiet_logger())
    j = finished(m)

    def spoil(ctx: Any) -> None:
        ctx.journey.data["ok"] = False

    m.on_enter("new", spoil)
    before = m.snapshot(j)
    out = m.fire(j, "open")
    assert out.blocked and out.source == "won"
    assert m.snapshot(j) == before and "ok" not in j.data


def test_an_internal_transition_of_the_final_stage_wins() -> None:
    d = (
        JourneyBuilder("p", entry="once_at_a_time")
        .stage("new", initial=True)
        .stage("done", final=True)
        .transition("go", "new", "done")
        .transition("go", "done", None)
        .build()
    )
    m = JourneyMachine(d, logger=quiet_logger())
    j = m.start("k")
    m.fire(j, "go")
    out = m.fire(j, "go")
    assert out.moved and out.reentry is None and j.stage == "done"
    assert triples(j.history) == [(1, "go", "new", "done"), (2, "go", "done", "done")]


def test_hooks_run_in_order_exit_final_enter_initial_then_the_move() -> None:
    m = JourneyMachine(definition(), logger=quiet_logger())
    j = finished(m)
    ran: list[tuple[str, str, str | None, int]] = []

    def hook(name: str) -> Any:
        return lambda ctx: ran.append((name, ctx.trigger, ctx.dest, ctx.journey.version))

    m.on_exit("won", hook("exit won"))
    m.on_enter("new", hook("enter new"))
    m.on_exit("new", hook("exit new"))
    m.on_enter("engaged", hook("enter engaged"))
    m.on_transition("open", hook("on open"))
    m.fire(j, "open")
    assert ran == [
        ("exit won", REENTER, "new", 2),
        ("enter new", REENTER, "new", 3),
        ("exit new", "open", "engaged", 3),
        ("enter engaged", "open", "engaged", 4),
        ("on open", "open", "engaged", 4),
    ]


@pytest.mark.parametrize(
    "where", [("on_exit", "won"), ("on_enter", "new"), ("on_enter", "engaged")]
)
def test_keyboard_interrupt_in_either_step_leaves_the_journey_exactly_as_before(
    where: tuple[str, str],
) -> None:
    m = JourneyMachine(definition(), logger=quiet_logger())
    j = finished(m)
    j.data["n"] = 1
    ref = j.data

    def boom(ctx: Any) -> None:
        ctx.journey.data["n"] = 99
        ctx.journey.data["new"] = True
        raise KeyboardInterrupt

    getattr(m, where[0])(where[1], boom)
    before = m.snapshot(j)
    fields = (j.stage, j.version, j.entered_at, j.entry_seq, j.timeouts_fired, j.started_at)
    with pytest.raises(KeyboardInterrupt):
        m.fire(j, "open", event_id="e-new")
    assert m.snapshot(j) == before
    assert (j.stage, j.version, j.entered_at, j.entry_seq, j.timeouts_fired, j.started_at) == fields
    assert j.data is ref and ref == {"n": 1}
    assert "e-new" not in j.event_ids and len(j.history) == 2
    # and it was not left in the middle of a move
    m2 = JourneyMachine(definition(), logger=quiet_logger())
    assert m2.fire(m2.restore(before), "open", event_id="e-new").moved


def test_an_event_id_of_the_first_run_stays_a_duplicate() -> None:
    m = JourneyMachine(definition(), logger=quiet_logger())
    j = finished(m)
    assert m.fire(j, "open", event_id="e-open").duplicate
    assert m.fire(j, "open", event_id="e-2").moved
    assert "e-open" in j.event_ids and "e-2" in j.event_ids
    assert [e.event_id for e in j.history] == ["e-open", "e-buy", None, "e-2"]


def test_explain_names_the_rule() -> None:
    clock = ManualClock(START)
    m = JourneyMachine(definition(timedelta(hours=1)), clock=clock, logger=quiet_logger())
    j = finished(m)
    refused = m.explain(j, "open")
    assert refused.status == "ignored"
    assert refused.reason == "re-entry refused: cooldown until 2026-01-01T10:00:00Z"
    assert "re-entry refused" in str(refused)
    clock.advance(timedelta(hours=1))
    ok = m.explain(j, "open")
    assert ok.status == "would_move" and ok.reason == "re-entry: restarts in 'new'"
    assert ok.chosen is not None and ok.chosen.dest == "engaged"
    assert j.version == 2
    assert m.explain(j, "note").reason is None


def test_the_async_machine_behaves_identically() -> None:
    clock = ManualClock(START)
    am = AsyncJourneyMachine(definition(timedelta(hours=1)), clock=clock, logger=quiet_logger())

    async def run() -> list[Any]:
        j = am.start("k")
        await am.fire(j, "open")
        await am.fire(j, "buy")
        refused = await am.fire(j, "open")
        with pytest.raises(InvalidTransition, match="cooldown until"):
            await am.fire(j, "open", policy="strict")
        clock.advance(timedelta(hours=1))
        moved = await am.fire(j, "open")
        return [refused, moved, j]

    refused, moved, j = asyncio.run(run())
    assert refused.reason == "re-entry refused: cooldown until 2026-01-01T10:00:00Z"
    assert moved.reentry is not None and moved.entry.seq == 4
    chain_ok(j.history)
    assert triples(j.history)[2][1] == REENTER


def test_effects_of_both_steps_are_scheduled_in_order() -> None:
    m = JourneyMachine(definition(), logger=quiet_logger())
    j = finished(m)
    m.effect(lambda call: None, on_enter="new", name="welcome")
    m.effect(lambda call: None, on_enter="engaged", name="nudge")
    out = m.fire(j, "open", defer_effects=True)
    assert [(c.effect, c.seq) for c in out.pending_effects] == [("welcome", 3), ("nudge", 4)]


# -- the definition ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "stored"),
    [
        ("once_at_a_time", "once_at_a_time"),
        (timedelta(days=2), 172800),
        (timedelta(seconds=1.5), 1.5),
    ],
)
def test_the_dict_form_round_trips(entry: Any, stored: Any) -> None:
    d = definition(entry)
    assert d.to_dict()["entry"] == stored
    assert JourneyDefinition.from_dict(d.to_dict(), guards=[allowed]) == d
    assert d.builder().build() == d


def test_the_default_is_left_out_of_the_dict() -> None:
    d = definition("once")
    assert "entry" not in d.to_dict() and d.entry == "once"
    assert JourneyDefinition.from_dict(d.to_dict(), guards=[allowed]).entry == "once"


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("anytime", "left out on purpose"),
        ("twice", "got 'twice'"),
        (timedelta(0), "cooldown must be positive"),
        (timedelta(seconds=-5), "cooldown must be positive"),
        (None, "got None"),
        (True, "got True"),
    ],
)
def test_invalid_rules_are_definition_problems(entry: Any, words: str) -> None:
    with pytest.raises(DefinitionError, match=words):
        definition(entry)
    raw = definition().to_dict()
    raw["entry"] = entry if not isinstance(entry, timedelta) else entry.total_seconds()
    with pytest.raises(DefinitionError, match=words):
        JourneyDefinition.from_dict(raw, guards=[allowed])


# -- the path graph ----------------------------------------------------------------------
def test_the_graph_has_a_restart_edge_out_of_each_final_stage() -> None:
    moves = {(mv.source, mv.trigger, mv.dest) for mv in Graph(definition()).moves()}
    assert ("won", REENTER, "new") in moves and ("lost", REENTER, "new") in moves
    assert not any(mv.trigger == REENTER for mv in Graph(definition("once")).moves())


# -- the service: every store, every driver --------------------------------------------
def test_the_service_writes_both_entries_in_one_transaction(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    machine = JourneyMachine(definition(timedelta(hours=1)), clock=clock, logger=quiet_logger())
    service = make_service(machine, store)
    service.handle("a", "open", event_id="e-1")
    service.handle("a", "buy", event_id="e-2")
    refused = service.handle("a", "open", event_id="e-3")
    assert refused.ignored and refused.reason is not None and "cooldown until" in refused.reason
    clock.advance(timedelta(hours=1))
    out = service.handle("a", "open", event_id="e-3")
    assert out.moved and out.entry is not None and out.entry.seq == 4
    assert service.handle("a", "open", event_id="e-1").status == "duplicate"
    history = service.history("a")
    assert triples(history) == [
        (1, "open", "new", "engaged"),
        (2, "buy", "engaged", "won"),
        (3, REENTER, "won", "new"),
        (4, "open", "new", "engaged"),
    ]
    chain_ok(history)
    journey = service.get("a")
    assert journey is not None and journey.stage == "engaged" and journey.version == 4
    # a batch: restart and carry on, chained in one write
    service.handle("b", "drop", event_id="b-1")
    clock.advance(timedelta(hours=2))
    outs = service.handle_many(
        [
            _event("b", "open", "b-2"),
            _event("b", "buy", "b-3"),
            _event("a", "buy", "a-5"),
        ]
    )
    assert [o.status for o in outs] == ["moved", "moved", "moved"]
    chain_ok(service.history("b"))
    assert [e.trigger for e in service.history("b")] == ["drop", REENTER, "open", "buy"]


def _event(key: str, trigger: str, event_id: str) -> Any:
    from journeyfsm import Event

    return Event(key, trigger, event_id=event_id)


# -- replay ------------------------------------------------------------------------------
def test_replay_falls_back_to_the_engine_and_equals_the_machine(tmp_path: Path) -> None:
    d = definition(timedelta(hours=1))
    rows = [
        ("a", "open", "2026-01-01T09:00:00Z"),
        ("a", "buy", "2026-01-01T09:10:00Z"),
        ("a", "open", "2026-01-01T09:30:00Z"),  # refused: cooldown
        ("a", "open", "2026-01-01T10:30:00Z"),  # restarts
        ("b", "drop", "2026-01-01T09:00:00Z"),
        ("b", "open", "2026-01-01T11:00:00Z"),
        ("b", "drop", "2026-01-01T11:05:00Z"),
    ]
    log = tmp_path / "events.csv"
    log.write_text("customer,event,ts\n" + "".join(f"{k},{e},{t}\n" for k, e, t in rows))
    result = replay(d, log, {"key": "customer", "event": "event", "time": "ts"})
    assert result.summary.engine == "engine"
    assert "entry rule" in result.summary.engine_note
    m = JourneyMachine(d, logger=quiet_logger())
    mine: dict[str, Any] = {}
    for k, e, t in rows:
        at = datetime.fromisoformat(t.replace("Z", "+00:00"))  # 3.10 reads no Z
        j = mine.get(k) or mine.setdefault(k, m.start(k, at=at))
        m.fire(j, e, at=at)
    for key, j in mine.items():
        got = result.journeys[key]
        assert triples(got.history) == triples(j.history)
        assert [e.at for e in got.history] == [e.at for e in j.history]
        chain_ok(got.history)
    assert [e.trigger for e in result.journeys["a"].history].count(REENTER) == 1
    assert result.journeys["b"].stage == "lost"


# -- hypothesis: service (memory store) and machine agree --------------------------------
TRIGGERS = ["open", "buy", "drop", "note"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entry=st.sampled_from(["once", "once_at_a_time", timedelta(minutes=30)]),
    steps=st.lists(st.tuples(st.sampled_from(TRIGGERS), st.integers(0, 40)), max_size=25),
)
def test_service_and_machine_agree_on_random_events(entry: Any, steps: list[Any]) -> None:
    d = definition(entry, guarded=True)
    clock = ManualClock(START)
    m = JourneyMachine(d, clock=clock, logger=quiet_logger())
    service = JourneyService(JourneyMachine(d, clock=clock, logger=quiet_logger()), MemoryStore())
    j = m.start("k")
    for i, (trigger, minutes) in enumerate(steps):
        clock.advance(timedelta(minutes=minutes))
        mine = m.fire(j, trigger, event_id=f"e-{i}")
        theirs = service.handle("k", trigger, event_id=f"e-{i}")
        assert (theirs.status, theirs.reason) == (mine.status, mine.reason)
        assert (theirs.reentry is None) == (mine.reentry is None)
    chain_ok(j.history)
    assert triples(service.history("k", limit=1000)) == triples(j.history)
    stored = service.get("k")
    if stored is not None:
        assert (stored.stage, stored.version) == (j.stage, j.version)
    assert copy.deepcopy(j.data) == {}


def test_an_exit_criterion_never_restarts_a_journey() -> None:
    d = definition().builder().stage("gone", final=True).exit("unsubscribe", "gone").build()
    m = JourneyMachine(d, logger=quiet_logger())
    j = finished(m)
    out = m.fire(j, "unsubscribe")
    assert out.ignored and out.reason is None and j.stage == "won"
    assert m.fire(j, "open").moved and j.stage == "engaged"
    moves = {(mv.source, mv.trigger) for mv in Graph(d).moves()}
    assert ("gone", REENTER) in moves  # "open" can restart it


def test_enabled_triggers_follow_the_rule() -> None:
    clock = ManualClock(START)
    m = JourneyMachine(definition(timedelta(hours=1)), clock=clock, logger=quiet_logger())
    j = finished(m)
    assert m.enabled_triggers(j) == ("note",)
    clock.advance(timedelta(hours=1))
    assert m.enabled_triggers(j) == ("note", "open", "drop")
    assert m.allowed_triggers(j) == ("note",)  # guards not run, rule not applied
    assert m.fire(j, "drop").moved and j.stage == "lost"


def test_a_hook_error_or_a_reentrant_fire_in_the_restart_step_rolls_it_back() -> None:
    from journeyfsm import HookError, JourneyError

    m = JourneyMachine(definition(), logger=quiet_logger())
    j = finished(m)
    before = m.snapshot(j)

    def fails(ctx: Any) -> None:
        ctx.journey.data["x"] = 1
        raise ValueError("no")

    m.on_enter("new", fails)
    with pytest.raises(HookError):
        m.fire(j, "open", event_id="e-9")
    assert m.snapshot(j) == before

    m2 = JourneyMachine(definition(), logger=quiet_logger())
    j2 = finished(m2)
    before2 = m2.snapshot(j2)
    m2.on_exit("won", lambda ctx: m2.fire(ctx.journey, "note"))
    with pytest.raises(JourneyError, match="re-entrant"):
        m2.fire(j2, "open")
    assert m2.snapshot(j2) == before2


def test_a_service_under_the_strict_policy_raises_the_reason_and_writes_nothing() -> None:
    machine = JourneyMachine(definition(), logger=quiet_logger())
    service = JourneyService(machine, MemoryStore())
    service.handle("a", "open")
    service.handle("a", "buy")
    d2 = JourneyMachine(definition("once"), logger=quiet_logger())
    strict = JourneyService(d2, service.store)
    with pytest.raises(InvalidTransition, match="re-entry refused: entry='once'"):
        strict.handle("a", "open", policy="strict")
    assert [e.seq for e in strict.history("a")] == [1, 2]


def test_a_failing_second_insert_leaves_neither_entry_in_sqlite(tmp_path: Path) -> None:
    import sqlite3
    from contextlib import closing

    from journeyfsm.stores import SQLiteStore

    store = SQLiteStore(tmp_path / "j.db", create_schema=True)
    service = JourneyService(JourneyMachine(definition(), logger=quiet_logger()), store)
    service.handle("a", "open")
    service.handle("a", "buy")
    with closing(sqlite3.connect(store.path)) as conn, conn:  # the second insert fails
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON journeyfsm_history WHEN NEW.seq = 4 "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    with pytest.raises(Exception) as info:
        service.handle("a", "open", event_id="e-3")
    with closing(sqlite3.connect(store.path)) as conn:
        seqs = [
            r[0]
            for r in conn.execute("SELECT seq FROM journeyfsm_history WHERE key = 'a' ORDER BY seq")
        ]
        row = conn.execute(
            "SELECT stage, version FROM journeyfsm_journeys WHERE key = 'a'"
        ).fetchone()
        ids = conn.execute("SELECT count(*) FROM journeyfsm_event_ids WHERE key = 'a'").fetchone()[
            0
        ]
    assert "nothing was written" in str(info.value)  # the store retried, then gave up
    assert seqs == [1, 2] and tuple(row) == ("won", 2) and ids == 0
    store.close()
