"""Properties over random definitions WITH goals, re-entry rules, exits and timeouts, and
random event sequences (issue 20 "Goals", issue 17 "one behavioural suite"):

- the sync and the async machine (async hooks) give equal outcomes, hook orders and
  snapshots;
- a snapshot round trip (through JSON) gives the journey back, at every step;
- ``next_due(...).at`` is exactly the first time a ``tick`` does something;
- replay (analytics) of the same log gives the live journeys' final stages, histories and
  goal states.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START, quiet_logger
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from journeyfsm import (
    AsyncJourneyMachine,
    Context,
    DefinitionError,
    Exit,
    Goal,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    Stage,
    Timeout,
)
from journeyfsm.analytics import replay
from journeyfsm.testing import definitions, generated_payloads
from journeyfsm.testing._graph import Graph

H = timedelta(hours=1)
REENTER = "journeyfsm.reenter"
US = timedelta(microseconds=1)
PAYLOADS = generated_payloads()


@st.composite
def goal_definitions(draw: st.DrawFn) -> JourneyDefinition:
    base = draw(definitions(max_stages=5, max_triggers=3))
    stages = list(base.stages)
    names = [s.name for s in stages]
    if draw(st.booleans()):  # an exit criterion to a final stage of its own
        stages.append(Stage("quit", final=True))
        exits = (Exit("unsubscribe", "quit"),)
    else:
        exits = ()
    finals = [s.name for s in stages if s.final]
    non_final = [s.name for s in stages if not s.final]
    timeouts = []
    for s in non_final:
        outs = [t.trigger for t in base.transitions if t.source == s]
        if outs and draw(st.booleans()):
            timeouts.append(Timeout(s, draw(st.integers(1, 48)) * H, draw(st.sampled_from(outs))))
    goals = []
    for i in range(draw(st.integers(1, 3))):
        since = draw(st.one_of(st.none(), st.sampled_from(non_final)))
        within = draw(st.integers(1, 72)) * H
        exit = draw(st.one_of(st.none(), st.sampled_from(finals)))
        if draw(st.booleans()):
            choices = [n for n in names if n != since and (since is not None or n != names[0])]
            assume(choices)
            goals.append(
                Goal(
                    f"g{i}",
                    stage=draw(st.sampled_from(choices)),
                    within=within,
                    since=since,
                    exit=exit,
                )
            )
        else:
            trig = draw(st.sampled_from(list(base.triggers)))
            goals.append(Goal(f"g{i}", trigger=trig, within=within, since=since, exit=exit))
    entry = draw(st.sampled_from(["once", "once_at_a_time", 6 * H]))
    try:
        return JourneyDefinition(
            base.name,
            stages,
            base.transitions,
            timeouts,
            version=base.version,
            exits=exits,
            goals=goals,
            entry=entry,
        )
    except DefinitionError:
        assume(False)
        raise


def events(d: JourneyDefinition) -> st.SearchStrategy[list[tuple[str, int, int]]]:
    """(trigger or "tick", minutes later, payload index)."""
    names = [*d.triggers, "tick"]
    return st.lists(
        st.tuples(
            st.sampled_from(names),
            st.integers(0, 36 * 60),
            st.integers(0, len(PAYLOADS) - 1),
        ),
        min_size=1,
        max_size=10,
    )


def view(o: Any) -> tuple[Any, ...]:
    return (
        o.status,
        o.trigger,
        o.source,
        o.dest,
        o.goals_met,
        o.goals_missed,
        o.reason,
        None if o.entry is None else (o.entry.seq, o.entry.trigger, o.entry.at),
        None if o.reentry is None else o.reentry.seq,
    )


def record(machine: Any, order: list[str], asynchronous: bool) -> None:
    def note(what: str) -> Any:
        if asynchronous:

            async def hook(ctx: Context) -> None:
                order.append(f"{what}:{ctx.trigger}:{ctx.journey.stage}")

        else:

            def hook(ctx: Context) -> None:
                order.append(f"{what}:{ctx.trigger}:{ctx.journey.stage}")

        return hook

    machine.before(note("before"))
    machine.after(note("after"))
    for s in machine.definition.stage_names:
        machine.on_enter(s)(note(f"enter {s}"))
        machine.on_exit(s)(note(f"exit {s}"))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_sync_and_async_machines_agree_and_snapshots_round_trip(data: st.DataObject) -> None:
    d = data.draw(goal_definitions())
    steps = data.draw(events(d))
    clock = ManualClock(START)
    sync = JourneyMachine(d, clock=clock, logger=quiet_logger())
    asyn = AsyncJourneyMachine(d, clock=clock, logger=quiet_logger())
    s_order: list[str] = []
    a_order: list[str] = []
    record(sync, s_order, asynchronous=False)
    record(asyn, a_order, asynchronous=True)
    j, k = sync.start("c-1"), asyn.start("c-1")

    async def run() -> None:
        for trigger, minutes, p in steps:
            clock.advance(minutes * timedelta(minutes=1))
            if trigger == "tick":
                mine = sync.tick(j)
                theirs = await asyn.tick(k)
            else:
                mine = (sync.fire(j, trigger, PAYLOADS[p]),)
                theirs = (await asyn.fire(k, trigger, PAYLOADS[p]),)
            assert [view(o) for o in mine] == [view(o) for o in theirs]
            assert s_order == a_order
            snap = sync.snapshot(j)
            assert snap == asyn.snapshot(k)
            back = sync.restore(json.loads(json.dumps(snap)))
            assert back == j and back.goals == j.goals
            assert sync.snapshot(back) == snap
            assert sync.next_due(j) == asyn.next_due(k)
            assert sync.pending_goals(j) == asyn.pending_goals(k)

    asyncio.run(run())


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_next_due_is_the_first_time_a_tick_does_something(data: st.DataObject) -> None:
    d = data.draw(goal_definitions())
    steps = data.draw(events(d))
    m = JourneyMachine(d, clock=ManualClock(START), logger=quiet_logger())
    j = m.start("c-1", at=START)
    now = START
    for trigger, minutes, p in steps:
        now += minutes * timedelta(minutes=1)
        if trigger != "tick":
            m.tick(j, now)
            m.fire(j, trigger, PAYLOADS[p], at=now)
    for _ in range(20):
        due = m.next_due(j)
        if due is None or due.at.year > 9000:
            break
        # (a tick just before does nothing; at due.at it does something)
        probe = m.restore(m.snapshot(j))
        assert m.tick(probe, due.at - US) == ()
        assert m.tick(j, due.at) != ()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_replay_of_the_live_log_gives_the_live_journeys(
    data: st.DataObject, tmp_path_factory: Any
) -> None:
    d = data.draw(goal_definitions())
    keys = ["a", "b", "c"]
    log: list[dict[str, Any]] = []
    live: dict[str, Any] = {}
    m = JourneyMachine(d, clock=ManualClock(START), logger=quiet_logger())
    now = START
    for trigger, minutes, p in data.draw(events(d)):
        if trigger == "tick":
            continue
        now += minutes * timedelta(minutes=1)
        key = data.draw(st.sampled_from(keys))
        j = live.get(key) or live.setdefault(key, m.start(key, at=now))
        m.tick(j, now)
        m.fire(j, trigger, PAYLOADS[p], at=now)
        log.append({"k": key, "e": trigger, "ts": now.isoformat(), **PAYLOADS[p]})
    assume(log)
    end = now + 10 * 24 * H
    for j in live.values():
        m.tick(j, end)
    path = Path(tmp_path_factory.mktemp("log")) / "events.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in log))
    mapping = {"key": "k", "event": "e", "time": "ts", "payload": [f"g{i}" for i in range(4)]}
    result = replay(d, path, mapping, end=end)
    assert set(result.journeys) == set(live)
    for key, j in live.items():
        got = result.journeys[key]
        assert got.stage == j.stage, key
        assert got.goals == j.goals, key
        assert [(e.trigger, e.source, e.dest, e.at) for e in got.history] == [
            (e.trigger, e.source, e.dest, e.at) for e in j.history
        ], key


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_move_a_real_journey_makes_is_a_move_of_the_path_graph(data: st.DataObject) -> None:
    """The path properties are proved on the graph because it holds every move a real
    journey can make: goal exits, restarts and exits included (docs/testing.md)."""
    d = data.draw(goal_definitions())
    graph = {(m.source, m.trigger, m.dest) for m in Graph(d).moves()}
    m = JourneyMachine(d, clock=ManualClock(START), logger=quiet_logger())
    j = m.start("c-1", at=START)
    now = START
    for trigger, minutes, p in data.draw(events(d)):
        now += minutes * timedelta(minutes=1)
        if trigger == "tick":
            m.tick(j, now)
        else:
            m.fire(j, trigger, PAYLOADS[p], at=now)
    for e in j.history:
        if e.source != e.dest or e.trigger == REENTER:
            assert (e.source, e.trigger, e.dest) in graph, e


def test_the_path_graph_refuses_guards_that_are_not_a_dict() -> None:
    from journeyfsm import templates
    from journeyfsm.testing import assert_no_traps

    d = templates.aida()
    with pytest.raises(TypeError, match="guards= takes a dict of guard name -> True or False"):
        assert_no_traps(d, guards=["g0"])  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_sync_and_async_services_agree_on_journeys_with_goals(data: st.DataObject) -> None:
    from journeyfsm import AsyncJourneyService, JourneyService
    from journeyfsm.stores import AsyncMemoryStore, MemoryStore

    d = data.draw(goal_definitions())
    steps = data.draw(events(d))
    clock = ManualClock(START)
    sync = JourneyService(JourneyMachine(d, clock=clock, logger=quiet_logger()), MemoryStore())
    asyn = AsyncJourneyService(
        AsyncJourneyMachine(d, clock=clock, logger=quiet_logger()), AsyncMemoryStore()
    )

    async def run() -> None:
        for n, (trigger, minutes, p) in enumerate(steps):
            clock.advance(minutes * timedelta(minutes=1))
            if trigger == "tick":
                mine, theirs = sync.tick(), await asyn.tick()
                assert (mine.fired, [view(o) for o in mine.outcomes]) == (
                    theirs.fired,
                    [view(o) for o in theirs.outcomes],
                )
            else:
                a = sync.handle("k", trigger, PAYLOADS[p], event_id=f"e{n}")
                b = await asyn.handle("k", trigger, PAYLOADS[p], event_id=f"e{n}")
                assert view(a) == view(b)
            j, k = sync.get("k"), await asyn.get("k")
            assert (j is None) == (k is None)
            if j is not None and k is not None:
                assert (j.stage, j.version, j.data, j.goals) == (
                    k.stage,
                    k.version,
                    k.data,
                    k.goals,
                )
                assert sync.history("k") == await asyn.history("k")

    asyncio.run(run())


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_explain_says_which_goals_a_fire_meets_and_where_an_exit_ends_it(
    data: st.DataObject,
) -> None:
    d = data.draw(goal_definitions())
    m = JourneyMachine(d, clock=ManualClock(START), logger=quiet_logger())
    j = m.start("c-1", at=START)
    now = START
    for trigger, minutes, p in data.draw(events(d)):
        now += minutes * timedelta(minutes=1)
        if trigger == "tick":
            m.tick(j, now)
            continue
        told = m.explain(j, trigger, PAYLOADS[p], at=now)
        out = m.fire(j, trigger, PAYLOADS[p], at=now)
        assert set(out.goals_missed) == set(told.goals_missed)
        if told.status != "would_move" or (told.reason or "").startswith("re-entry"):
            continue
        assert out.goals_met == told.goals_met
        chosen = told.chosen
        assert chosen is not None
        assert j.stage == (told.goal_exit or chosen.dest or out.source)
