"""The pytest plugin: fixtures, failure messages, --journey-coverage and its threshold, xdist.

Inner pytest runs use pytester; ``TINY_SHOP`` below is the known definition whose
coverage is counted by hand:

    edges (4):          browsing --add--> cart, cart --pay--> paid,
                        browsing --leave--> gone, cart --leave--> gone
    guard outcomes (2): has_items passed, has_items failed (on cart --pay--> paid)
"""

from __future__ import annotations

import pytest

from journeyfsm import Journey, JourneyDefinition, JourneyMachine, ManualClock, templates
from journeyfsm import _observe as observe
from journeyfsm._coverage import CoverageCollector, DefinitionCoverage, report_lines
from journeyfsm.testing import Recorder

pytest_plugins = ["pytester"]

TINY_SHOP = """
import pytest
from journeyfsm import JourneyBuilder, JourneyMachine, guard
from journeyfsm.testing import assert_blocked, assert_moves

@guard
def has_items(ctx):
    "the cart holds items"
    return bool(ctx.journey.data.get("items"))

SHOP = (
    JourneyBuilder("tiny-shop", version=2)
    .stage("browsing", initial=True).stage("cart")
    .stage("paid", final=True).stage("gone", final=True)
    .transition("add", "browsing", "cart")
    .transition("pay", "cart", "paid", guards=[has_items])
    .transition("leave", ["browsing", "cart"], "gone")
    .build()
)

def test_add():
    assert_moves(SHOP, "browsing", "add", "cart")

def test_pay_with_items():
    machine = JourneyMachine(SHOP)
    journey = machine.start("c-1", {"items": [1]})
    machine.fire(journey, "add")
    assert machine.fire(journey, "pay").moved
"""

QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")  # faster inner runs


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*QUIET, *args)


BLOCKED_TEST = """

def test_pay_without_items_is_blocked():
    assert_blocked(SHOP, "cart", "pay", by="has_items")
"""


def test_journey_clock_fixture_is_a_fresh_manual_clock(journey_clock: ManualClock) -> None:
    start = journey_clock.now()
    journey_clock.advance(60)
    assert isinstance(journey_clock, ManualClock)
    assert (journey_clock.now() - start).total_seconds() == 60


def test_journey_recorder_fixture_records_and_detaches(journey_recorder: Recorder) -> None:
    machine = JourneyMachine(templates.aida())
    machine.on_enter("interest", lambda ctx: None)
    journey_recorder.attach(machine)
    machine.fire(machine.start("c-1"), "engage")
    assert journey_recorder.names() == ["<lambda>"]


def test_failing_assertion_prints_stage_trigger_guards_and_alternatives(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_rules=TINY_SHOP
        + """

def test_pay_moves_without_items():
    assert_moves(SHOP, "cart", "pay", "paid", data={"items": []})
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: expected 'pay' from stage 'cart' to move to 'paid', "
            "but it was blocked by has_items",
            "*journey data: {'items': []}",
            "*1. -> 'paid' [[]FAIL[]]",
            "*FAIL has_items: the cart holds items",
            "*allowed from 'cart': pay -> 'paid', leave -> 'gone'",
        ]
    )


def test_plugin_is_silent_and_unobserving_without_the_option(pytester: pytest.Pytester) -> None:
    # the outer run may itself observe (when it runs with --journey-coverage)
    outer = len(observe.observers())
    pytester.makepyfile(
        test_rules=TINY_SHOP
        + f"""

def test_nothing_observes_the_runtime():
    from journeyfsm import _observe
    assert len(_observe.observers()) == {outer}
    assert hasattr(JourneyMachine.fire, "__wrapped__") == {outer > 0}
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=3)
    lines = result.stdout.lines
    assert [line for line in lines if "journeyfsm" in line] == [
        line for line in lines if line.startswith("plugins:")
    ]
    assert "coverage" not in result.stdout.str()


def test_coverage_report_equals_the_hand_count(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP + BLOCKED_TEST)
    outer = observe.observers()
    result = run(pytester, "--journey-coverage")
    result.assert_outcomes(passed=3)
    # edges: add, pay (2 of 4); guard outcomes: has_items passed and failed (2 of 2)
    result.stdout.fnmatch_lines(
        [
            "*journeyfsm transition coverage*",
            "tiny-shop v2: edges 2/4, guard outcomes 2/2, 66.7%",
            "  edges not exercised:",
            "    'browsing' --leave--> 'gone'",
            "    'cart' --leave--> 'gone'",
            "TOTAL: 4/6 edges and guard outcomes, 66.7%",
        ]
    )
    assert "guard outcomes not exercised" not in result.stdout.str()
    assert observe.observers() == outer  # the inner run removed its observer


def test_coverage_counts_a_guard_outcome_only_when_it_happened(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP)
    result = run(pytester, "--journey-coverage")
    result.stdout.fnmatch_lines(
        [
            "tiny-shop v2: edges 2/4, guard outcomes 1/2, 50.0%",
            "  guard outcomes not exercised:",
            "    'cart' --pay--> 'paid': has_items failed",
            "TOTAL: 3/6 edges and guard outcomes, 50.0%",
        ]
    )


@pytest.mark.parametrize(
    ("threshold", "exit_code"),
    [("66", pytest.ExitCode.OK), ("66.7", pytest.ExitCode.TESTS_FAILED)],
)
def test_fail_under_fails_below_and_passes_at_the_threshold(
    pytester: pytest.Pytester, threshold: str, exit_code: pytest.ExitCode
) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP + BLOCKED_TEST)
    result = run(pytester, f"--journey-coverage-fail-under={threshold}")
    result.assert_outcomes(passed=3)  # every test passed; only the threshold decides
    assert result.ret == exit_code
    if exit_code == pytest.ExitCode.OK:
        result.stdout.fnmatch_lines([f"*meets --journey-coverage-fail-under={threshold}*"])
    else:
        result.stdout.fnmatch_lines(
            [f"FAIL: journey transition coverage 66.7% is below *fail-under={threshold}"]
        )


def test_fail_under_at_exactly_the_percentage_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP)  # 3 of 6 = exactly 50%
    assert run(pytester, "--journey-coverage-fail-under=50").ret == pytest.ExitCode.OK
    assert run(pytester, "--journey-coverage-fail-under=50.1").ret == 1


def test_definition_filter_reports_only_the_named_definitions(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_rules=TINY_SHOP
        + """

def test_other_definition():
    from journeyfsm import templates
    JourneyMachine(templates.aida())
"""
    )
    everything = run(pytester, "--journey-coverage")
    everything.stdout.fnmatch_lines(["aida v1: edges 0/*, 0.0%", "tiny-shop v2: *"])
    only = run(pytester, "--journey-coverage-definition=tiny-shop", "--journey-coverage")
    assert "aida" not in only.stdout.str()
    only.stdout.fnmatch_lines(["tiny-shop v2: edges 2/4, guard outcomes 1/2, 50.0%"])


def test_xdist_workers_coverage_is_merged_on_the_controller(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP + BLOCKED_TEST)
    # the controller runs no test itself: every counted item came from a worker
    result = run(pytester, "-n", "2", "--journey-coverage-fail-under=67")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*2 workers*",
            "tiny-shop v2: edges 2/4, guard outcomes 2/2, 66.7%",
            "TOTAL: 4/6 edges and guard outcomes, 66.7%",
            "FAIL: journey transition coverage 66.7% is below *fail-under=67",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.stdout.str().count("journeyfsm transition coverage") == 1


def test_observer_wraps_the_runtime_only_while_registered() -> None:
    outer = observe.observers()  # non-empty when this suite runs with --journey-coverage
    original = JourneyMachine.fire
    collector = CoverageCollector()
    observe.add_observer(collector)
    try:
        assert (JourneyMachine.fire is original) == bool(outer)
        machine = JourneyMachine(templates.aida())
        machine.fire(machine.start("c-1"), "engage")
    finally:
        observe.remove_observer(collector)
    assert JourneyMachine.fire is original
    assert observe.observers() == outer
    [cov] = collector.results()
    assert (cov.name, cov.edges_covered) == ("aida", 1)


def test_coverage_tells_apart_the_candidate_that_moved(
    checkout_definition: JourneyDefinition,
) -> None:
    # cart --checkout--> has two guarded candidates; the first failing one is not "taken"
    collector = CoverageCollector()
    machine = JourneyMachine(checkout_definition)
    collector.machine_created(machine)
    journey = Journey("c-1", "cart", {"cart": [1]})
    collector.fired(machine, machine.fire(journey, "checkout"))
    [cov] = collector.results()
    hit_edges = [label for key, label in cov.edges.items() if key in cov.hit]
    assert hit_edges == ["'cart' --checkout--> 'checkout' [candidate 2]"]
    hit_guards = sorted(label for key, label in cov.guards.items() if key in cov.hit)
    assert hit_guards == [
        "'cart' --checkout--> 'checkout' [candidate 2]: cart_not_empty passed",
        "'cart' --checkout--> 'express' [candidate 1]: (cart_not_empty & is_vip) failed",
    ]


def test_coverage_round_trips_through_json_and_merges() -> None:
    a, b = CoverageCollector(), CoverageCollector()
    for collector, trigger in ((a, "engage"), (b, "lose_interest")):
        machine = JourneyMachine(templates.aida())
        collector.fired(machine, machine.fire(machine.start("k"), trigger))
    merged = CoverageCollector()
    merged.merge(a.to_json())
    merged.merge(b.to_json())
    [cov] = merged.results()
    assert cov.edges_covered == 2
    assert DefinitionCoverage.from_json(cov.to_json()) == cov
    assert report_lines([cov])[-1].startswith("TOTAL: 2/")
