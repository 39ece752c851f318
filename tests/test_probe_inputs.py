"""Values a user hands in, probed where they enter: goals, rules and caps of wrong types or
out of range, in code and in the dict form; corrupted goal clocks in snapshots; naive
times.  Each is a clear error naming the problem and the fix, or works exactly."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import START, quiet_logger

from journeyfsm import (
    DefinitionError,
    FrequencyCap,
    Goal,
    GoalClock,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    SnapshotError,
)

H, D = timedelta(hours=1), timedelta(days=1)


def builder(entry: Any = "once") -> JourneyBuilder:
    return (
        JourneyBuilder("shop", entry=entry)
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("purchased", final=True)
        .transition("add_to_cart", ["browsing", "cart"], "cart")
        .transition("pay", "cart", "purchased")
    )


# -- spans at the edge of timedelta ----------------------------------------------------------
@pytest.mark.parametrize(
    "span",
    [timedelta.max, timedelta(days=999_999_999), timedelta(microseconds=1), 1.5 * H, 2 * D],
)
def test_every_span_that_validates_round_trips_through_the_json_dict_form(
    span: timedelta,
) -> None:
    """A goal's ``within``, a timeout's ``after`` and an entry cooldown of any span the
    builder accepts come back equal from ``to_dict`` -> JSON -> ``from_dict`` (the dict
    form wrote ``timedelta.max`` as 86400000000000 s, which it then refused)."""
    d = (
        builder(entry=span)
        .timeout("cart", span, "pay")
        .goal(Goal("big", stage="purchased", within=span, since="cart"))
        .build()
    )
    back = JourneyDefinition.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back == d
    assert (back.goals[0].within, back.timeouts[0].after, back.entry) == (span, span, span)


def test_whole_seconds_are_written_as_exact_ints() -> None:
    d = (
        builder()
        .goal(
            Goal(
                "big",
                stage="purchased",
                within=timedelta.max - timedelta.resolution * 999_999,
                since="cart",
            )
        )
        .build()
    )
    within = d.to_dict()["goals"][0]["within"]
    assert type(within) is int and within == 999_999_999 * 86400 + 86399


def test_a_cooldown_past_the_last_datetime_refuses_the_restart_without_overflow() -> None:
    d = builder(entry=timedelta.max).build()
    m = JourneyMachine(d, clock=ManualClock(START), logger=quiet_logger())
    j = m.start("a")
    m.fire(j, "add_to_cart")
    m.fire(j, "pay")
    before = m.snapshot(j)
    outcome = m.fire(j, "add_to_cart", at=START + 1000 * D)  # was: OverflowError
    assert outcome.status == "ignored"
    assert outcome.reason is not None and "cooldown until 9999-12-31" in outcome.reason
    assert m.snapshot(j) == before


# -- goals of wrong types --------------------------------------------------------------------
def test_a_goal_named_by_a_non_str_says_how_to_name_it() -> None:
    with pytest.raises(TypeError, match=r"goal's name must be a str, got 5; name it, e.g. Goal\("):
        Goal(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("goal", "words"),
    [
        (Goal("g", stage="purchased", within=5), "within must be a timedelta"),  # type: ignore[arg-type]
        (Goal("g", stage="purchased", within=-H), "within must be positive"),
        (Goal("g", stage="purchased", within=timedelta(0)), "within must be positive"),
        (Goal("g", stage=5, within=H), "stage=5 is not a stage"),  # type: ignore[arg-type]
        (Goal("g", trigger="nope", within=H), "trigger='nope' is not a trigger"),
        (Goal("g", stage="purchased", trigger="pay", within=H), "exactly one of stage="),
        (Goal("g", stage="purchased", within=H, exit="cart"), "mark the stage final=True"),
        (Goal("g", stage="purchased", within=H, description=3), "description must be a str"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_goal_is_a_definition_problem_naming_it(goal: Goal, words: str) -> None:
    with pytest.raises(DefinitionError, match=words) as err:
        builder().goal(goal).build()
    assert err.value.problems and all("goal 'g'" in p.message for p in err.value.problems)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"name": "g", "stage": "purchased", "within": -5}, "within must be positive"),
        ({"name": "g", "stage": "purchased", "within": 0}, "within must be positive"),
        ({"name": "g", "stage": "purchased", "within": float("nan")}, "out of range"),
        ({"name": "g", "stage": "purchased", "within": float("inf")}, "out of range"),
        ({"name": "g", "stage": "purchased", "within": 1e300}, "out of range"),
        ({"name": "g", "stage": "purchased", "within": True}, "number of seconds"),
        ({"name": "g", "stage": "purchased", "within": "5"}, "number of seconds"),
        ({"name": "g", "stage": "purchased"}, "number of seconds"),
        ({"name": 3, "stage": "purchased", "within": 5}, "name must be a str"),
        ({"name": "g", "stage": 3, "within": 5}, "stage must be a str or null"),
        ({"name": "g", "stage": "purchased", "within": 5, "when": 1}, "unknown keys"),
    ],
)
def test_a_bad_dict_goal_is_a_problem_and_builds_nothing(raw: Any, words: str) -> None:
    base = builder().build().to_dict()
    base["goals"] = [raw]
    with pytest.raises(DefinitionError, match=words):
        JourneyDefinition.from_dict(base)


def test_every_bad_dict_goal_is_reported_at_once() -> None:
    base = builder().build().to_dict()
    base["goals"] = [{"name": "a", "within": 5}, None, {"name": "b", "stage": "nope", "within": 5}]
    with pytest.raises(DefinitionError) as err:
        JourneyDefinition.from_dict(base)
    assert len(err.value.problems) >= 3


# -- corrupted goal clocks in a snapshot -----------------------------------------------------
def _snapshot() -> tuple[JourneyMachine, dict[str, Any]]:
    d = builder().goal(Goal("bought", stage="purchased", within=14 * D, since="cart")).build()
    m = JourneyMachine(d, logger=quiet_logger())
    j = m.start("a", at=START)
    m.fire(j, "add_to_cart", at=START + H)
    return m, m.snapshot(j)


CLOCK = "'goals'['bought']"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda g: g.update(since="2026-01-01T10:00:00"), "naive time"),
        (lambda g: g.update(since=5), "ISO 8601 time with an offset"),
        (lambda g: g.update(since="yesterday"), "not an ISO 8601 time"),
        (lambda g: g.update(status="done"), "status must be one of"),
        (lambda g: g.update(status=True), "status must be one of"),
        (lambda g: g.update(at="2026-01-01T10:00:00+00:00"), "a pending goal has at=null"),
        (lambda g: g.pop("deadline"), "exactly status, since, deadline and at"),
        (lambda g: g.update(deadline="2025-01-01T00:00:00+00:00"), "is before since"),
        (
            lambda g: g.update(status="met", at="2027-01-01T00:00:00+00:00"),
            "outside its window",
        ),
        (
            lambda g: g.update(status="missed", at="2026-01-02T00:00:00+00:00"),
            "missed at its deadline",
        ),
    ],
)
def test_restore_refuses_a_corrupted_goal_clock_naming_it(change: Any, words: str) -> None:
    m, snap = _snapshot()
    bad = copy.deepcopy(snap)
    change(bad["goals"]["bought"])
    with pytest.raises(SnapshotError, match=words) as err:
        m.restore(bad)
    assert CLOCK in str(err.value) or "'goals'" in str(err.value)
    assert m.restore(snap).goals is not None  # the good one still loads


@pytest.mark.parametrize("goals", [[], "x", 3, {"nope": None}])
def test_restore_refuses_goals_of_the_wrong_shape(goals: Any) -> None:
    m, snap = _snapshot()
    bad = dict(snap, goals=goals)
    with pytest.raises(SnapshotError, match="goals"):
        m.restore(bad)


# -- times -----------------------------------------------------------------------------------
class NaiveClock:
    def now(self) -> datetime:
        return datetime(2026, 1, 1)


def test_naive_times_are_refused_on_a_machine_with_goals_everywhere_they_enter() -> None:
    d = builder().goal(Goal("bought", stage="purchased", within=14 * D, since="cart")).build()
    m = JourneyMachine(d, logger=quiet_logger())
    naive = datetime(2026, 1, 1)
    j = m.start("a", at=START)
    before = m.snapshot(j)
    for call in (
        lambda: m.start("b", at=naive),
        lambda: m.fire(j, "add_to_cart", at=naive),
        lambda: m.tick(j, naive),
        lambda: JourneyMachine(d, clock=NaiveClock()).start("c"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match="naive datetime"):
            call()
    assert m.snapshot(j) == before


# -- frequency caps --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("per", "limit", "words"),
    [
        (timedelta.max, 2, "at most 36500 days"),  # the worker's window arithmetic overflowed
        (timedelta(days=36501), 2, "at most 36500 days"),
        (timedelta(0), 2, "at least 1 second"),
        (-H, 2, "at least 1 second"),
        (3600, 2, "per must be a timedelta"),
        (H, 0, "limit must be an int >= 1"),
        (H, True, "limit must be an int >= 1"),
        (H, 2.0, "limit must be an int >= 1"),
    ],
)
def test_a_bad_frequency_cap_is_refused_where_it_is_made(per: Any, limit: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        FrequencyCap(channel="email", limit=limit, per=per)


def test_the_longest_cap_window_is_accepted() -> None:
    assert FrequencyCap(channel="email", limit=1, per=timedelta(days=36500)).describe() == (
        "email 1 per 876000h"
    )


# -- goal state handed in by hand ------------------------------------------------------------
T = START


@pytest.mark.parametrize(
    ("args", "error", "words"),
    [
        (("done", T, T + D), ValueError, "status must be one of pending, met, missed"),
        ((True, T, T + D), ValueError, "status must be one of"),
        (("pending", datetime(2026, 1, 1), T + D), ValueError, "since is a naive datetime"),
        (("pending", T, "tomorrow"), TypeError, "deadline must be a timezone-aware datetime"),
        (("pending", T + D, T), ValueError, "before its since"),
        (("pending", T, T + D, T + H), ValueError, "at is None exactly while"),
        (("met", T, T + D), ValueError, "at is None exactly while"),
        (("met", T, T + D, T + 2 * D), ValueError, "outside its window"),
        (("missed", T, T + D, T + H), ValueError, "missed at its deadline"),
    ],
)
def test_a_goal_clock_is_checked_when_made(args: Any, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        GoalClock(*args)


def test_a_goal_clock_in_another_zone_is_converted_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    clock = GoalClock(
        "pending", datetime(2026, 1, 1, 10, tzinfo=paris), datetime(2026, 1, 2, 10, tzinfo=paris)
    )
    assert clock.since == datetime(2026, 1, 1, 9, tzinfo=timezone.utc)
    assert clock.since.tzinfo is timezone.utc


@pytest.mark.parametrize(
    ("state", "error", "words"),
    [
        (5, SnapshotError, "goals must be a dict of goal name -> GoalClock"),
        ({"bought": "x"}, SnapshotError, r"goals\['bought'\] must be a GoalClock"),
        ({"nope": GoalClock("pending", T, T + D)}, SnapshotError, r"goals\['nope'\] names no goal"),
    ],
)
def test_goal_state_set_by_hand_is_refused_naming_the_journey(
    state: Any, error: type, words: str
) -> None:
    d = builder().goal(Goal("bought", stage="purchased", within=14 * D, since="cart")).build()
    m = JourneyMachine(d, logger=quiet_logger())
    j = m.start("a", at=START)
    m.fire(j, "add_to_cart", at=START)
    j.goals = state
    for call in (
        lambda: m.fire(j, "pay", at=START + H),
        lambda: m.tick(j, START + 30 * D),
        lambda: m.snapshot(j),  # never written: restore would refuse it
        lambda: m.pending_goals(j),
        lambda: m.next_due(j),
    ):
        with pytest.raises(error, match=words) as err:
            call()
        assert "journey 'a'" in str(err.value)
    assert j.stage == "cart" and j.version == 1  # nothing half-done


def test_importing_a_journey_with_goal_state_set_by_hand_is_a_snapshot_error_naming_it() -> None:
    from journeyfsm import JourneyService
    from journeyfsm.stores import MemoryStore

    d = builder().goal(Goal("bought", stage="purchased", within=14 * D, since="cart")).build()
    m = JourneyMachine(d, logger=quiet_logger())
    good, bad = m.start("good", at=START), m.start("bad", at=START)
    m.fire(good, "add_to_cart", at=START)
    m.fire(bad, "add_to_cart", at=START)
    bad.goals = {"nope": GoalClock("pending", T, T + D)}
    service = JourneyService(m, MemoryStore())
    with pytest.raises(SnapshotError, match=r"'bad'.*names no goal"):
        service.import_journeys([good, bad])
    assert service.get("good") is None  # nothing of the batch written


# -- migrations ------------------------------------------------------------------------------
def _versions() -> tuple[JourneyDefinition, JourneyDefinition]:
    v1 = builder().build()
    v2 = (
        JourneyBuilder("shop", version=2)
        .stage("browsing", initial=True)
        .stage("basket")
        .stage("purchased", final=True)
        .transition("add_to_cart", ["browsing", "basket"], "basket")
        .transition("pay", "basket", "purchased")
        .build()
    )
    return v1, v2


@pytest.mark.parametrize("field", ["stages", "removed"])
@pytest.mark.parametrize("value", ["cart", ["cart"], [("cart", "basket")], 5])
def test_a_migrations_stage_map_must_be_a_dict(field: str, value: Any) -> None:
    from journeyfsm import Migration

    v1, v2 = _versions()
    with pytest.raises(TypeError, match=rf"Migration\({field}=...\) takes a dict of old stage"):
        Migration(v1, v2, **{field: value})


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"progress": 5}, TypeError, "progress must be a function of the MigrationReport"),
        ({"sample": -1}, ValueError, "sample must be an int >= 0, got -1"),
        ({"batch_size": 0}, ValueError, "batch_size must be an int >= 1, got 0"),
        ({"batch_size": True}, ValueError, "batch_size must be an int >= 1, got True"),
        ({"dry_run": 1}, TypeError, "dry_run must be True or False"),
    ],
)
def test_migrate_checks_its_arguments_before_writing_anything(
    kwargs: dict[str, Any], error: type, words: str
) -> None:
    from journeyfsm import JourneyService, Migration
    from journeyfsm.stores import MemoryStore

    v1, v2 = _versions()
    store = MemoryStore()
    old = JourneyService(JourneyMachine(v1, logger=quiet_logger()), store)
    for key in ("a", "b", "c"):
        old.handle(key, "add_to_cart")
    service = JourneyService(
        JourneyMachine(v2, logger=quiet_logger()),
        store,
        versions=[JourneyMachine(v1, logger=quiet_logger())],
        migrations=[Migration(v1, v2, stages={"cart": "basket"})],
    )
    args = {"dry_run": False, "batch_size": 1, **kwargs}
    with pytest.raises(error, match=words):
        service.migrate(1, 2, **args)
    # was (progress=5): the first batch committed, then TypeError "'int' object is not callable"
    assert [service.get(k).stage for k in ("a", "b", "c")] == ["cart"] * 3  # type: ignore[union-attr]


def test_the_builder_refuses_a_goal_given_with_fields_besides() -> None:
    g = Goal("g", stage="purchased", within=H)
    with pytest.raises(TypeError, match="takes a Goal, or a name and its fields, not both"):
        builder().goal(g, within=2 * H)  # was: within=2 h silently ignored


def test_a_goal_without_a_window_says_so() -> None:
    with pytest.raises(DefinitionError, match=r"within must be positive, got no window"):
        builder().goal("g", stage="purchased").build()


def test_a_migrations_data_function_never_changes_the_data_it_is_given() -> None:
    from journeyfsm import Migration

    v1, v2 = _versions()

    def grow(d: dict[str, Any]) -> dict[str, Any]:
        d["items"].append("added")
        return d

    old = {"items": ["mug"], "n": {"k": 1}}
    step = Migration(v1, v2, stages={"cart": "basket"}, data=grow).step("cart", old)
    assert step.data == {"items": ["mug", "added"], "n": {"k": 1}}
    assert old == {"items": ["mug"], "n": {"k": 1}}  # was: the caller's nested list grew
