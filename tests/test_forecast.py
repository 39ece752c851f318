"""Conversion forecasts (journeyfsm/analytics/_forecast.py, _forecast_sim.py): the chain's
counts and algebra against hand-computed values, the forecast's conditioning on the time
already spent in a stage and on open stays, and the checks at the boundary."""

from __future__ import annotations

import math
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from journeyfsm import JourneyBuilder, JourneyMachine, ManualClock, templates
from journeyfsm.analytics import Forecast, JourneyChain, fit_chain

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
HOUR = 3600

# browsing -> cart -> purchased | abandoned (final); cart -> browsing (back to browsing)
SHOP = (
    JourneyBuilder("shop")
    .stage("browsing", initial=True)
    .stage("cart")
    .stage("purchased", final=True)
    .stage("abandoned", final=True)
    .transition("add", "browsing", "cart")
    .transition("back", "cart", "browsing")
    .transition("note", "cart", None)  # internal: never ends a stay
    .transition("pay", "cart", "purchased")
    .transition("drop", "cart", "abandoned")
    .build()
)


def journeys(paths: list[list[tuple[str, float]]]) -> tuple[list, datetime]:
    """One journey per path of (trigger, hours after the previous move); the clock's end."""
    clock = ManualClock(T0)
    machine = JourneyMachine(SHOP, clock=clock)
    out = [machine.start(f"c{i}") for i in range(len(paths))]
    end = T0
    for journey, path in zip(out, paths, strict=True):
        clock.set(T0)
        for trigger, hours in path:
            clock.advance(hours * HOUR)
            assert machine.fire(journey, trigger).status in ("moved",)
        end = max(end, clock.now())
    return out, end


def test_transitions_count_completed_stays_and_skip_internal_moves() -> None:
    found, end = journeys(
        [
            [("add", 1), ("note", 1), ("pay", 1)],  # a cart stay of 2 h (the note is inside)
            [("add", 1), ("pay", 4)],
            [("add", 1), ("drop", 6)],
            [("add", 1), ("back", 1), ("add", 1)],  # still in cart: an open stay
        ]
    )
    chain = fit_chain(found, SHOP, now=end + timedelta(hours=1))
    cart = {t.dest: (t.count, t.probability) for t in chain.transitions["cart"]}
    assert cart == {"purchased": (2, 0.5), "abandoned": (1, 0.25), "browsing": (1, 0.25)}
    assert chain.transitions["cart"][0].dest == "purchased"  # most frequent first
    time = chain.time_in_stage["cart"]
    assert (time.completed, time.open) == (4, 1)
    assert time.mean == timedelta(hours=(2 + 4 + 6 + 1) / 4)
    assert chain.probability("cart", "purchased") == 0.5
    assert chain.probability("browsing", "purchased") == 0.0
    assert chain.journeys == 4


def test_reach_solves_the_absorbing_chain() -> None:
    # browsing -> cart always (1 h); cart: 1/2 purchased, 1/4 abandoned, 1/4 back (2 h each)
    found, end = journeys(
        [
            [("add", 1), ("pay", 2)],
            [("add", 1), ("pay", 2)],
            [("add", 1), ("drop", 2)],
            [("add", 1), ("back", 2), ("add", 1), ("pay", 2)],
        ]
    )
    chain = fit_chain(found, SHOP, now=end)
    cart = chain.probability("cart", "purchased")
    back = chain.probability("cart", "browsing")
    assert (cart, back) == (0.6, 0.2)
    reach = chain.reach("purchased")
    # from cart: p = 0.6 + 0.2 p  ->  p = 0.75; moves m = 1 + 0.2 (1 + m) -> m = 1.5
    assert reach.row("cart").probability == pytest.approx(0.75)
    assert reach.row("browsing").probability == pytest.approx(0.75)
    assert reach.row("cart").expected_moves == pytest.approx(1.5)
    assert reach.row("browsing").expected_moves == pytest.approx(2.5)
    assert reach.row("purchased").probability == 1.0
    assert reach.row("abandoned").probability == 0.0
    # time to purchase from browsing, among those who buy: conditioned on buying, a cart
    # goes back to browsing with 0.2 and buys with 0.8, so 1.25 visits of 1 h + 2 h
    row = reach.row("browsing")
    assert row.expected_time is not None
    assert row.expected_time.total_seconds() / HOUR == pytest.approx(3 + 3 * 0.25, rel=1e-9)
    absorption = chain.absorption()
    assert absorption["cart"] == pytest.approx({"purchased": 0.75, "abandoned": 0.25})
    assert "cart" in str(reach) and "75.0%" in str(reach)


def test_a_stage_never_left_reaches_nothing() -> None:
    found, end = journeys([[("add", 1)], [("add", 2)]])  # both carts still open
    chain = fit_chain(found, SHOP, now=end)
    row = chain.reach("purchased").row("cart")
    assert (row.probability, row.expected_moves, row.expected_time) == (0.0, None, None)
    assert chain.reach("cart").row("browsing").probability == 1.0
    assert chain.transitions["cart"] == ()


def forecast_cart(chain: JourneyChain, ages: list[float], hours: float, **kw: object) -> Forecast:
    clock = ManualClock(chain.now)
    machine = JourneyMachine(SHOP, clock=clock)
    flight = []
    for i, age in enumerate(ages):
        clock.set(chain.now - timedelta(hours=age))
        j = machine.start(f"f{i}")
        machine.fire(j, "add")
        flight.append(j)
    return chain.forecast(flight, to="purchased", within=timedelta(hours=hours), **kw)  # type: ignore[arg-type]


def test_the_forecast_conditions_on_the_time_already_spent() -> None:
    # cart stays: three paid after 2 h, one dropped after 30 h
    found, end = journeys([[("add", 1), ("pay", 2)]] * 3 + [[("add", 1), ("drop", 30)]])
    chain = fit_chain(found, SHOP, now=end)
    fresh = forecast_cart(chain, [0.0] * 100, 3)
    assert fresh.in_flight == 100
    assert fresh.expected == pytest.approx(75, abs=3)
    assert fresh.low < fresh.expected < fresh.high
    assert all(p == pytest.approx(0.75, abs=0.1) for p in fresh.probabilities.values())
    # three hours in, every 2-hour stay is over: only the 30-hour drop is left
    late = forecast_cart(chain, [3.0] * 100, 100)
    assert late.expected == 0 and late.high == 0
    # a fresh cart with a one-hour horizon: no paid stay is that short
    assert forecast_cart(chain, [0.0] * 10, 1).expected == 0


def test_open_stays_say_only_that_a_journey_lasted_that_long() -> None:
    # two cart stays paid after 1 h, two still open after 5 h (no longer stay observed)
    found, end = journeys([[("add", 1), ("pay", 1)]] * 2 + [[("add", 1)]] * 2)
    chain = fit_chain(found, SHOP, now=end + timedelta(hours=4))
    forecast = forecast_cart(chain, [0.0] * 200, 1000)
    assert forecast.expected == pytest.approx(100, abs=8)  # half buy, half stay put
    assert forecast_cart(chain, [2.0] * 20, 1000).expected == 0


def test_past_the_longest_stay_a_journey_leaves_at_the_tail_s_rate() -> None:
    # cart stays: 20 paid after 6 h, 20 after 8 h, 20 still open after 10 h (the longest).
    # The tail is the last half of that, 5 h to 10 h: 40 ends over 20 * 1 + 20 * 3 + 20 * 5
    # = 180 hours spent there, a rate of 2 / 9 per hour
    paths = [[("add", 1), ("pay", 6)]] * 20 + [[("add", 1), ("pay", 8)]] * 20
    found, _ = journeys(paths + [[("add", 1)]] * 20)
    chain = fit_chain(found, SHOP, now=T0 + timedelta(hours=11))
    # 12 h in cart: past every stay seen; within 4.5 h, 1 - exp(-4.5 * 2 / 9) = 63.2 % pay
    late = forecast_cart(chain, [12.0] * 400, 4.5)
    assert late.expected / 400 == pytest.approx(1 - math.exp(-1), abs=0.04)
    assert late.low < late.expected < late.high  # the rate is bootstrapped with the stays
    # the rate is memoryless: 30 h in changes nothing; a longer horizon converts more
    assert forecast_cart(chain, [30.0] * 400, 4.5).expected / 400 == pytest.approx(
        1 - math.exp(-1), abs=0.04
    )
    assert forecast_cart(chain, [12.0] * 400, 20).expected / 400 > 0.95
    # a tail where no stay ended (the open ones only): the journey stays put, as before
    found, _ = journeys([[("add", 1), ("pay", 1)]] * 20 + [[("add", 1)]] * 20)
    chain = fit_chain(found, SHOP, now=T0 + timedelta(hours=11))
    assert forecast_cart(chain, [12.0] * 100, 100).expected == 0


def test_the_forecast_is_repeatable_and_leaves_out_journeys_that_arrived() -> None:
    found, end = journeys([[("add", 1), ("pay", 2)]] * 3 + [[("add", 1), ("drop", 30)]])
    chain = fit_chain(found, SHOP, now=end)
    first = forecast_cart(chain, [0.0] * 30, 3, seed=7)
    assert first == forecast_cart(chain, [0.0] * 30, 3, seed=7)
    result = chain.forecast(found, to="purchased", within=timedelta(hours=3))
    assert (result.in_flight, result.excluded) == (0, 4)
    assert result.expected == 0 and "0 journeys in flight" in str(result)
    as_json = first.to_dict()
    assert as_json["within_seconds"] == 3 * HOUR and as_json["in_flight"] == 30
    assert "Bayesian bootstrap" in first.method


def test_forecast_on_a_replay_of_the_sample_log() -> None:
    from journeyfsm.analytics import LogMapping, replay

    data = Path(__file__).resolve().parent.parent / "examples" / "data"
    mapping = LogMapping.load(data / "shop_events.map.json")
    shop = templates.five_stages()
    result = replay(shop, data / "shop_events.csv", mapping, end=datetime(2026, 7, 10))
    chain = fit_chain(result, shop)
    reach = chain.reach("purchase")
    assert 0 < reach.row("consideration").probability < 1
    flight = [j for j in result.journeys.values() if j.stage == "consideration"]
    forecast = chain.forecast(flight, to="purchase", within=timedelta(days=365))
    # a year is longer than any stay: every journey's chance is its eventual one, short
    # of the dormant customers who never come back
    assert 0 < forecast.expected < len(flight)
    assert set(forecast.probabilities) == {j.key for j in flight}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"to": "purchsed"}, "no stage 'purchsed'.*purchased"),
        ({"within": timedelta(0)}, "within must be a positive timedelta"),
        ({"within": 7}, "within must be a positive timedelta"),
        ({"rounds": 5}, "rounds must be an int of at least 10"),
        ({"rounds": 100.0}, "rounds must be an int"),
        ({"level": 1.0}, r"level must be a float in \[0.5, 1\)"),
        ({"now": datetime(2026, 3, 2)}, "naive datetime"),
        ({"seed": "x"}, "seed must be a non-negative int or None"),
        ({"seed": -1}, "seed must be a non-negative int or None"),
    ],
)
def test_bad_forecast_arguments_are_named(kwargs: dict[str, object], message: str) -> None:
    found, end = journeys([[("add", 1), ("pay", 2)]])
    chain = fit_chain(found, SHOP, now=end)
    args: dict[str, object] = {"to": "purchased", "within": timedelta(hours=1), **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        chain.forecast(found, **args)  # type: ignore[arg-type]


def test_bad_fit_input_is_named() -> None:
    found, end = journeys([[("add", 1), ("pay", 2)]])
    with pytest.raises(TypeError, match="JourneyDefinition"):
        fit_chain(found, "shop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="belongs to definition 'shop', not 'aida'"):
        fit_chain(found, templates.aida())
    with pytest.raises(ValueError, match=r"after now=.*end of observation"):
        fit_chain(found, SHOP, now=T0)
    with pytest.raises(ValueError, match="naive datetime"):
        fit_chain(found, SHOP, now=datetime(2026, 3, 2))
    with pytest.raises(TypeError, match="Journey objects"):
        fit_chain([{"key": "c1"}], SHOP)  # type: ignore[list-item]
    chain = fit_chain(found, SHOP, now=end)
    with pytest.raises(TypeError, match="Journey objects"):
        chain.forecast([object()], to="purchased", within=timedelta(1))  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no stage 'nowhere'"):
        chain.reach("nowhere")
    other = JourneyMachine(templates.aida()).start("x")
    with pytest.raises(ValueError, match="belongs to definition 'aida'"):
        chain.forecast([other], to="purchased", within=timedelta(1))
    with pytest.raises(ValueError, match="read no history"):
        fit_chain([], SHOP)
    with pytest.raises(TypeError, match=r"pass \[journey\] for one"):
        fit_chain(found[0], SHOP)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pass \[journey\] for one"):
        chain.forecast(found[0], to="purchased", within=timedelta(1))  # type: ignore[arg-type]


def test_a_definition_without_final_stages_has_no_absorption() -> None:
    loop = (
        JourneyBuilder("loop")
        .stage("a", initial=True)
        .stage("b")
        .transition("go", "a", "b")
        .transition("back", "b", "a")
        .build()
    )
    machine = JourneyMachine(loop, clock=ManualClock(T0))
    j = machine.start("x")
    machine.fire(j, "go")
    chain = fit_chain([j], loop, now=T0)
    with pytest.raises(ValueError, match=r"no final stage: ask chain\.reach"):
        chain.absorption()
    assert chain.reach("b").row("a").probability == 1.0


def test_without_numpy_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from journeyfsm.analytics import _forecast_sim

    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(ImportError, match=r"pip install 'journeyfsm\[forecast\]'"):
        _forecast_sim.numpy()
