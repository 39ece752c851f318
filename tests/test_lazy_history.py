"""A replay's journeys keep their moves packed and build their history entries on first
read; from then on they are plain journeys.  Nothing a user can do with a journey tells
the two apart: history, equality both ways, copies, pickles, repr, snapshots, ``fire``,
a guard reading the history in the middle of the replay, threads, an interrupted read."""

from __future__ import annotations

import copy
import pickle
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from conftest import quiet_logger

from journeyfsm import Context, Journey, JourneyBuilder, JourneyDefinition, JourneyMachine, guard
from journeyfsm._packed import LazyJourney
from journeyfsm.analytics import breakdown, funnel, replay
from journeyfsm.analytics._fasttable import Track

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MAPPING = {"key": "k", "event": "e", "time": "t", "event_id": "id", "meta": ["ch"]}


def _shop() -> JourneyDefinition:
    return (
        JourneyBuilder("shop")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("abandoned")
        .stage("customer", final=True)
        .transition("view", "browsing", None)
        .transition("add", "browsing", "cart")
        .transition("add", "cart", None)
        .transition("pay", "cart", "customer")
        .transition("abandon", "cart", "abandoned")
        .transition("add", "abandoned", "cart")
        .timeout("cart", timedelta(hours=24), "abandon")
        .build()
    )


def _log(tmp_path: Path, rows: list[tuple[str, str, int, str]]) -> Path:
    path = tmp_path / "log.csv"
    lines = ["k,e,t,id,ch"]
    for key, name, hours, event_id in rows:
        at = (T0 + timedelta(hours=hours)).isoformat()
        lines.append(f"{key},{name},{at},{event_id},{'ads' if key < 'c' else 'mail'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ROWS = [
    ("a", "view", 0, "e1"),
    ("b", "add", 1, "e2"),
    ("a", "add", 2, "e3"),
    ("a", "add", 3, "e3"),  # duplicate
    ("c", "view", 4, ""),
    ("a", "pay", 5, "e4"),
    ("b", "add", 40, "e5"),  # after the 24 h timeout: abandoned, then back in the cart
    ("c", "add", 41, "e6"),
]


def _both(tmp_path: Path) -> tuple[dict[str, Journey], dict[str, Journey]]:
    machine = JourneyMachine(_shop(), logger=quiet_logger())
    path = _log(tmp_path, ROWS)
    # the fast path's packed moves (tests/test_columnar.py has the columnar engine's)
    fast = replay(machine, path, MAPPING, end=T0 + timedelta(days=10), engine="fast")
    slow = replay(machine, path, MAPPING, end=T0 + timedelta(days=10), fast=False)
    assert fast.summary.fast_path and not slow.summary.fast_path
    return dict(fast.journeys), dict(slow.journeys)


def test_the_history_is_built_on_first_read_and_the_journey_is_plain_from_then_on(
    tmp_path: Path,
) -> None:
    fast, slow = _both(tmp_path)
    assert all(type(j) is LazyJourney for j in fast.values())
    b = fast["b"]
    assert [(e.seq, e.trigger, e.source, e.dest) for e in b.history] == [
        (1, "add", "browsing", "cart"),
        (2, "abandon", "cart", "abandoned"),
        (3, "add", "abandoned", "cart"),
        (4, "abandon", "cart", "abandoned"),
    ]
    assert type(b) is Journey
    assert b.history is b.history  # built once
    assert b.history == slow["b"].history
    assert b.history[1].meta == {"timeout": 86400.0}
    assert b.history[0].meta == {"ch": "ads"}
    with pytest.raises(TypeError, match="cannot be edited"):
        b.history.append(b.history[0])


def test_equality_both_ways_repr_copies_and_pickles_see_a_plain_journey(tmp_path: Path) -> None:
    fast, slow = _both(tmp_path)
    assert slow["a"] == fast["a"]  # the plain journey's __eq__ first
    assert type(fast["a"]) is Journey
    assert fast["b"] == slow["b"]
    lazy = _both(tmp_path)[0]
    assert (lazy["c"] != slow["c"]) is False and type(lazy["c"]) is Journey
    assert lazy["a"] != slow["b"]
    fresh = _both(tmp_path)[0]
    assert "history=[HistoryEntry(seq=1" in repr(fresh["a"])
    fresh = _both(tmp_path)[0]
    for made in (
        copy.copy(fresh["a"]),
        copy.deepcopy(fresh["b"]),
        pickle.loads(pickle.dumps(fresh["c"])),
    ):
        assert type(made) is Journey
        assert made == slow[made.key]
    # attrs.evolve keeps the class it finds: a lazy journey holding its built history,
    # which machines settle into a plain one
    evolved = attrs.evolve(_both(tmp_path)[0]["a"])
    assert evolved == slow["a"] and evolved.history == slow["a"].history
    machine = JourneyMachine(_shop(), logger=quiet_logger())
    assert machine.snapshot(evolved) == machine.snapshot(slow["a"])
    assert type(evolved) is Journey
    with pytest.raises(TypeError):
        hash(_both(tmp_path)[0]["a"])


def test_a_replay_result_pickles_with_plain_journeys(tmp_path: Path) -> None:
    machine = JourneyMachine(_shop(), logger=quiet_logger())
    result = replay(machine, _log(tmp_path, ROWS), MAPPING, end=T0 + timedelta(days=10))
    back = pickle.loads(pickle.dumps(result))
    assert all(type(j) is Journey for j in back.journeys.values())
    assert back.journeys == result.journeys


def test_machines_take_lazy_journeys_as_they_are(tmp_path: Path) -> None:
    machine = JourneyMachine(_shop(), logger=quiet_logger())
    fast, slow = _both(tmp_path)
    assert machine.snapshot(fast["a"]) == machine.snapshot(slow["a"])
    outcome = machine.fire(fast["b"], "add", event_id="e5", at=T0 + timedelta(days=3))
    assert outcome.status == "duplicate"  # the event-id window came along
    moved = machine.fire(fast["b"], "add", event_id="e9", at=T0 + timedelta(days=3))
    assert moved.status == "moved" and fast["b"].version == 5 and len(fast["b"].history) == 5
    c = _both(tmp_path)[0]["c"]
    assert c.stage == "abandoned" and machine.explain(c, "add").status == "would_move"
    lazy = _both(tmp_path)[0]["c"]
    assert list(machine.tick(lazy, T0 + timedelta(days=30))) == [] and type(lazy) is Journey


def test_funnels_and_breakdowns_read_the_packed_moves(tmp_path: Path) -> None:
    fast, slow = _both(tmp_path)
    d = _shop()
    assert funnel(fast.values(), d) == funnel(slow.values(), d)
    assert breakdown(fast.values(), d, by="meta.ch") == breakdown(slow.values(), d, by="meta.ch")
    assert all(type(j) is LazyJourney for j in fast.values())  # nothing was built


def test_a_guard_reading_the_history_mid_replay_sees_it_so_far(tmp_path: Path) -> None:
    seen: dict[str, list[list[str]]] = {"fast": [], "slow": []}
    path = "fast"

    @guard
    def not_twice(ctx: Context) -> bool:
        """the journey has not paid before"""
        history = ctx.journey.history
        seen[path].append([e.trigger for e in history])
        return "pay" not in [e.trigger for e in history]

    d = (
        JourneyBuilder("loop")
        .stage("browsing", initial=True)
        .stage("cart")
        .transition("add", "browsing", "cart")
        .transition("pay", "cart", "browsing", guards=[not_twice])
        .build()
    )
    rows = [("a", "add", 0, ""), ("a", "pay", 1, ""), ("a", "add", 2, ""), ("a", "pay", 3, "")]
    rows += [("a", "add", 4, ""), ("a", "pay", 5, "")]
    log = _log(tmp_path, rows)
    machine = JourneyMachine(d, logger=quiet_logger())
    fast = replay(machine, log, MAPPING)
    path = "slow"
    slow = replay(machine, log, MAPPING, fast=False)
    assert fast.summary.fast_path
    assert seen["fast"] == [["add"], ["add", "pay", "add"], ["add", "pay", "add"]]
    # a blocked event's outcome is built from the guards the decision ran: each runs once
    assert seen["slow"] == seen["fast"]
    assert fast.journeys == slow.journeys
    assert [e.trigger for e in fast.journeys["a"].history] == ["add", "pay", "add"]


def test_threads_reading_the_same_histories_all_see_the_whole_of_them(tmp_path: Path) -> None:
    fast, slow = _both(tmp_path)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def read() -> None:
        try:
            barrier.wait()
            for key, journey in fast.items():
                assert journey.history == slow[key].history
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(type(j) is Journey for j in fast.values())


def test_an_interrupted_read_leaves_the_journey_lazy_and_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = _both(tmp_path)
    real = Track.entries
    calls = []

    def interrupted(self: Track) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Track, "entries", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _ = fast["b"].history
    assert type(fast["b"]) is LazyJourney
    assert fast["b"].history == slow["b"].history
    assert type(fast["b"]) is Journey


def test_an_ignored_event_after_the_end_of_observation_is_warned_about_on_both_paths(
    tmp_path: Path,
) -> None:
    # the last event (a pay in browsing: ignored) is after the end; it moves nothing
    path = _log(tmp_path, [("a", "view", 0, ""), ("a", "pay", 30, "")])
    machine = JourneyMachine(_shop(), logger=quiet_logger())
    end = T0 + timedelta(hours=10)
    for fast in (True, False):
        result = replay(machine, path, MAPPING, end=end, fast=fast)
        [late] = [w for w in result.summary.warnings if "end of observation" in w]
        assert (T0 + timedelta(hours=30)).isoformat() in late
