"""Stage timeouts in memory: next_due, tick, catch-up, and a reference model (issue 9)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from async_engine import ENGINES
from conftest import quiet_logger
from hypothesis import given, settings
from hypothesis import strategies as st

from journeyfsm import (
    Context,
    HookError,
    Journey,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    guard,
)
from journeyfsm.templates import TEMPLATES

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Every machine test here runs on each engine (tests/async_engine.py)."""
    return str(request.param)


H = timedelta(hours=1)
D = timedelta(days=1)


@guard
def not_vip(ctx: Context) -> bool:
    """VIPs are never written off"""
    return ctx.journey.data.get("vip") is not True


def shop() -> JourneyDefinition:
    """browsing -> cart (remind after 1 h: internal; abandon after 24 h) -> abandoned
    (lost after 7 d) ; cart -> paid (-> lapsed after 180 d -> paid again on purchase)."""
    return (
        JourneyBuilder("shop")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("abandoned")
        .stage("lost", final=True)
        .stage("paid")
        .stage("lapsed")
        .transition("add_to_cart", ["browsing", "cart", "abandoned"], "cart")
        .transition("remind", "cart", None)
        .transition("abandon", "cart", "abandoned", guards=[not_vip])
        .transition("checkout", "cart", "paid")
        .transition("lose", "abandoned", "lost")
        .transition("purchase", ["paid", "lapsed"], "paid")
        .transition("lapse", "paid", "lapsed")
        .timeout("cart", 24 * H, "abandon")
        .timeout("cart", H, "remind")
        .timeout("abandoned", 7 * D, "lose")
        .timeout("paid", 180 * D, "lapse")
        .build()
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def m(make_machine: Callable[..., JourneyMachine]) -> JourneyMachine:
    return make_machine(shop())


def in_cart(m: JourneyMachine, key: str = "c-1", **data: Any) -> Any:
    journey = m.start(key, data, at=T0)
    m.fire(journey, "add_to_cart", at=T0)
    return journey


def test_start_records_when_the_journey_started(m: JourneyMachine, clock: ManualClock) -> None:
    clock.advance(5 * H)
    journey = m.start("c-1")
    assert journey.started_at == journey.entered_at == T0 + 5 * H
    assert m.start("c-2", at=T0).started_at == T0
    with pytest.raises(ValueError, match="naive"):
        m.start("c-3", at=T0.replace(tzinfo=None))


def test_timeouts_of_a_stage_come_due_in_order(m: JourneyMachine) -> None:
    journey = in_cart(m)
    due = m.next_due(journey)
    assert due is not None
    assert (due.at, due.timeout.trigger, due.index) == (T0 + H, "remind", 0)
    assert due.event_id == "timeout:shop:c-1:1:0"
    assert m.next_due(m.start("k", at=T0)) is None  # browsing has no timeouts


def test_abandoned_cart_after_24_hours_at_the_due_time_exactly(m: JourneyMachine) -> None:
    journey = in_cart(m)
    assert [o.trigger for o in m.tick(journey, T0 + 24 * H - timedelta(seconds=1))] == ["remind"]
    assert journey.stage == "cart"  # the internal reminder kept the stage entry
    (abandon,) = m.tick(journey, T0 + 24 * H)  # the boundary is inclusive
    assert abandon.moved and journey.stage == "abandoned"
    assert abandon.entry is not None and abandon.entry.at == T0 + 24 * H
    assert abandon.entry.event_id == "timeout:shop:c-1:1:1"
    assert abandon.entry.meta == {"timeout": 86400.0}
    assert m.tick(journey, T0 + 25 * H) == ()
    # the deterministic event id makes firing it again a duplicate
    again = m.fire(journey, "abandon", at=T0 + 24 * H, event_id="timeout:shop:c-1:1:1")
    assert again.duplicate


def test_activity_before_the_deadline_cancels_it(m: JourneyMachine) -> None:
    journey = in_cart(m)
    m.fire(journey, "checkout", at=T0 + 20 * H)
    assert m.tick(journey, T0 + 30 * D) == ()
    assert journey.stage == "paid"


def test_re_entering_restarts_the_timeouts_an_internal_transition_does_not(
    m: JourneyMachine,
) -> None:
    journey = in_cart(m)
    m.fire(journey, "add_to_cart", at=T0 + 20 * H)  # cart -> cart: re-entry
    assert [o.trigger for o in m.tick(journey, T0 + 30 * H)] == ["remind"]
    assert journey.stage == "cart"
    assert [o.dest for o in m.tick(journey, T0 + 44 * H)] == ["abandoned"]

    other = in_cart(m, "c-2")
    m.fire(other, "remind", at=T0 + 20 * H)  # internal: the 24 h still count from T0
    assert "abandoned" in [o.dest for o in m.tick(other, T0 + 24 * H)]


def test_lapse_after_180_days_then_a_purchase_re_engages(m: JourneyMachine) -> None:
    journey = in_cart(m)
    m.fire(journey, "checkout", at=T0 + H)
    assert m.tick(journey, T0 + H + 179 * D) == ()
    (lapse,) = m.tick(journey, T0 + H + 180 * D)
    assert lapse.dest == "lapsed"
    m.fire(journey, "purchase", at=T0 + 200 * D)
    assert journey.stage == "paid" and journey.entered_at == T0 + 200 * D
    assert m.next_due(journey).at == T0 + 380 * D  # type: ignore[union-attr]


def test_a_late_tick_catches_up_across_stages_each_at_its_own_time(m: JourneyMachine) -> None:
    journey = in_cart(m)
    outcomes = m.tick(journey, T0 + 60 * D)
    assert [(o.trigger, o.dest) for o in outcomes] == [
        ("remind", "cart"),
        ("abandon", "abandoned"),
        ("lose", "lost"),
    ]
    assert [e.at for e in journey.history[1:]] == [T0 + H, T0 + 24 * H, T0 + 24 * H + 7 * D]
    assert journey.stage == "lost"


def test_a_blocked_timeout_is_an_ordinary_outcome_and_fires_once(m: JourneyMachine) -> None:
    journey = in_cart(m, vip=True)
    outcomes = m.tick(journey, T0 + 3 * D)
    assert [(o.trigger, o.status) for o in outcomes] == [
        ("remind", "moved"),
        ("abandon", "blocked"),
    ]
    assert journey.stage == "cart" and journey.timeouts_fired == 2
    assert m.tick(journey, T0 + 30 * D) == ()  # not retried


def test_a_failing_hook_rolls_the_timeout_back_and_the_next_tick_retries(
    m: JourneyMachine,
) -> None:
    journey = in_cart(m)
    m.tick(journey, T0 + 2 * H)
    failing = [True]

    @m.on_enter("abandoned")
    def crm(ctx: Context) -> None:
        if failing[0]:
            raise ConnectionError("CRM down")

    before = copy.deepcopy(journey)
    with pytest.raises(HookError):
        m.tick(journey, T0 + 2 * D)
    assert journey == before and journey.timeouts_fired == 1
    failing[0] = False
    assert [o.dest for o in m.tick(journey, T0 + 2 * D)] == ["abandoned"]


def test_tick_defaults_to_the_clock(m: JourneyMachine, clock: ManualClock) -> None:
    journey = in_cart(m)
    clock.set(T0 + 25 * H)
    assert [o.trigger for o in m.tick(journey)] == ["remind", "abandon"]


def test_snapshots_keep_the_timeout_clock(m: JourneyMachine) -> None:
    journey = in_cart(m)
    m.tick(journey, T0 + 2 * H)
    snap = json.loads(json.dumps(m.snapshot(journey)))
    assert (snap["started_at"], snap["entered_at"], snap["entry_seq"], snap["timeouts_fired"]) == (
        T0.isoformat(),
        T0.isoformat(),
        1,
        1,
    )
    restored = m.restore(snap)
    assert restored == journey
    assert [o.dest for o in m.tick(restored, T0 + 2 * D)] == ["abandoned"]
    history_less = m.restore(m.snapshot(journey, history=False))
    assert m.next_due(history_less) == m.next_due(journey)


def test_a_format_1_snapshot_loads_with_its_times_unknown(m: JourneyMachine) -> None:
    journey = in_cart(m)
    snap = m.snapshot(journey)
    old = {
        k: v
        for k, v in snap.items()
        if k not in ("started_at", "entered_at", "entry_seq", "timeouts_fired")
    }
    old["format"] = 1
    restored = m.restore(old)
    assert restored.entered_at is None and m.next_due(restored) is None
    m.fire(restored, "add_to_cart", at=T0 + D)  # entering a stage starts its clock again
    assert m.next_due(restored).at == T0 + D + H  # type: ignore[union-attr]


# -- a reference model: a plain loop over time, no library code ------------------------------
TABLE = {
    ("browsing", "add_to_cart"): "cart",
    ("cart", "add_to_cart"): "cart",
    ("abandoned", "add_to_cart"): "cart",
    ("cart", "remind"): None,
    ("cart", "abandon"): "abandoned",
    ("cart", "checkout"): "paid",
    ("abandoned", "lose"): "lost",
    ("paid", "purchase"): "paid",
    ("lapsed", "purchase"): "paid",
    ("paid", "lapse"): "lapsed",
}
TIMEOUTS = {
    "cart": [(H, "remind"), (24 * H, "abandon")],
    "abandoned": [(7 * D, "lose")],
    "paid": [(180 * D, "lapse")],
}


class Reference:
    def __init__(self, at: datetime, vip: bool) -> None:
        self.stage, self.entered, self.fired, self.vip = "browsing", at, 0, vip
        self.moves: list[tuple[str, str, datetime]] = []

    def event(self, trigger: str, at: datetime) -> None:
        if (self.stage, trigger) not in TABLE:
            return
        if trigger == "abandon" and self.vip:
            return
        dest = TABLE[(self.stage, trigger)]
        self.moves.append((trigger, self.stage if dest is None else dest, at))
        if dest is not None:
            self.stage, self.entered, self.fired = dest, at, 0

    def advance(self, until: datetime) -> None:
        while self.fired < len(TIMEOUTS.get(self.stage, [])):
            after, trigger = TIMEOUTS[self.stage][self.fired]
            due = self.entered + after
            if due > until:
                return
            stage, entered = self.stage, self.entered
            self.event(trigger, due)
            if (self.stage, self.entered) == (stage, entered):
                self.fired += 1


TRIGGERS = ["add_to_cart", "checkout", "purchase", "remind", "abandon", "lose", "lapse"]
gaps = st.sampled_from([0, 60, 1800, 3600, 3601, 86399, 86400, 86401, 7 * 86400, 200 * 86400])


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(gaps, st.sampled_from(TRIGGERS)), max_size=14),
    tail=gaps,
    vip=st.booleans(),
)
def test_timeouts_agree_with_a_reference_model(
    steps: list[tuple[int, str]], tail: int, vip: bool
) -> None:
    machine = JourneyMachine(shop(), clock=ManualClock(T0), logger=quiet_logger())
    journey = machine.start("k", {"vip": vip}, at=T0)
    model = Reference(T0, vip)
    at = T0
    for gap, trigger in steps:
        at += timedelta(seconds=gap)
        machine.tick(journey, at)
        model.advance(at)
        machine.fire(journey, trigger, at=at)
        model.event(trigger, at)
    at += timedelta(seconds=tail)
    machine.tick(journey, at)
    model.advance(at)
    assert journey.stage == model.stage
    assert [(e.trigger, e.dest, e.at) for e in journey.history] == model.moves


# -- templates ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_timeout_fires_its_drop_out_at_its_due_time(name: str) -> None:
    d = TEMPLATES[name]()
    assert d.timeouts, "every template declares the timeouts its stage model implies"
    machine = JourneyMachine(d, logger=quiet_logger())
    for timeout in d.timeouts:
        journey = Journey("k", timeout.stage, definition=d.name, started_at=T0, entered_at=T0)
        assert machine.tick(journey, T0 + timeout.after - timedelta(seconds=1)) == ()
        fired = machine.tick(journey, T0 + timeout.after)
        assert fired[0].trigger == timeout.trigger and fired[0].moved
        assert fired[0].dest != timeout.stage  # the customer dropped out of the stage


@pytest.mark.parametrize("after", [0, -5, timedelta(0), timedelta(seconds=-1)])
def test_a_timeout_must_come_after_a_positive_time(after: Any) -> None:
    from journeyfsm import DefinitionError

    # (a timeout after 0 that re-enters its stage would make tick loop forever)
    with pytest.raises(DefinitionError, match="positive duration"):
        shop().builder().timeout("paid", after, "purchase").build()
