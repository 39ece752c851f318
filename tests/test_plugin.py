"""The pytest plugin: fixtures, failure messages, --journey-coverage and its threshold, xdist.

Inner pytest runs use pytester; ``TINY_SHOP`` below is the known definition whose
coverage is counted by hand:

    edges (4):          browsing --add--> cart, cart --pay--> paid,
                        browsing --leave--> gone, cart --leave--> gone
    guard outcomes (2): has_items passed, has_items failed (on cart --pay--> paid)

The plugin's settings come from the command line or the ini file (pytester writes either);
mistakes in them stop the run with exit code 4 (usage error).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import attrs
import pytest

from journeyfsm import Journey, JourneyDefinition, JourneyMachine, ManualClock, templates
from journeyfsm import _observe as observe
from journeyfsm.testing import Recorder
from journeyfsm.testing._coverage import CoverageCollector, DefinitionCoverage, report_lines

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


ASYNC_SHOP = """
import asyncio
from journeyfsm import AsyncJourneyMachine, JourneyBuilder, guard
from journeyfsm.testing import assert_blocked_async, assert_moves

@guard
async def has_items(ctx):
    "the cart holds items"
    await asyncio.sleep(0)
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

def test_fire_through_an_async_machine():
    machine = AsyncJourneyMachine(SHOP)
    journey = machine.start("c-1", {"items": [1]})

    async def main():
        await machine.fire(journey, "add")
        return await machine.fire(journey, "pay")

    assert asyncio.run(main()).moved

def test_sync_helper_on_an_async_machine():
    assert_moves(AsyncJourneyMachine(SHOP), "cart", "leave", "gone")

def test_awaited_helper():
    asyncio.run(assert_blocked_async(AsyncJourneyMachine(SHOP), "cart", "pay", by="has_items"))
"""


def test_coverage_counts_moves_made_through_an_async_machine(pytester: pytest.Pytester) -> None:
    """An AsyncJourneyMachine's moves are its inner JourneyMachine's fires (async guards
    awaited in a worker thread): the plugin's one observer sees them, nothing else needed."""
    pytester.makepyfile(test_async_rules=ASYNC_SHOP)
    result = run(pytester, "--journey-coverage")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "tiny-shop v2: edges 3/4, guard outcomes 2/2, 83.3%",
            "  edges not exercised:",
            "    'browsing' --leave--> 'gone'",
            "TOTAL: 5/6 edges and guard outcomes, 83.3%",
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


# -- settings in the ini file ---------------------------------------------------------------
OTHER_DEFINITION_TEST = """

def test_other_definition():
    from journeyfsm import templates
    JourneyMachine(templates.aida())
"""


def test_ini_settings_turn_coverage_on_filter_it_and_judge_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP + BLOCKED_TEST + OTHER_DEFINITION_TEST)
    pytester.makepyprojecttoml(
        """
[tool.pytest.ini_options]
journey_coverage = true
journey_coverage_fail_under = 66.7
journey_coverage_definition = ["tiny-shop"]
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # 66.7 wanted, 4/6 = 66.67% measured
    result.stdout.fnmatch_lines(
        [
            "tiny-shop v2: edges 2/4, guard outcomes 2/2, 66.7%",
            "TOTAL: 4/6 edges and guard outcomes, 66.7%",
            "FAIL: journey transition coverage 66.7% is below *fail-under=66.7",
        ]
    )
    assert "aida" not in result.stdout.str()


def test_ini_threshold_and_filter_only_configure_coverage_until_it_is_turned_on(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP)
    pytester.makeini("[pytest]\njourney_coverage_fail_under = 99\n")
    quiet = run(pytester)
    assert quiet.ret == pytest.ExitCode.OK
    assert "transition coverage" not in quiet.stdout.str()
    on = run(pytester, "--journey-coverage")
    assert on.ret == pytest.ExitCode.TESTS_FAILED
    on.stdout.fnmatch_lines(["FAIL: journey transition coverage 50.0% is below *=99"])


def test_command_line_wins_over_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP + OTHER_DEFINITION_TEST)
    pytester.makeini(
        "[pytest]\n"
        "journey_coverage = true\n"
        "journey_coverage_fail_under = 99\n"
        "journey_coverage_definition = aida\n"
    )
    result = run(
        pytester,
        "--journey-coverage-fail-under=50",
        "--journey-coverage-definition=tiny-shop",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "tiny-shop v2: edges 2/4, guard outcomes 1/2, 50.0%",
            "*meets --journey-coverage-fail-under=50",
        ]
    )
    assert "aida" not in result.stdout.str()
    off = run(pytester, "--no-journey-coverage")
    assert off.ret == pytest.ExitCode.OK
    assert "transition coverage" not in off.stdout.str()


# -- mistakes in the settings ---------------------------------------------------------------
def test_definition_name_that_matches_no_definition_is_an_error_naming_the_used_ones(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP + OTHER_DEFINITION_TEST)
    result = run(pytester, "--journey-coverage-definition=tiny-shpo")
    result.assert_outcomes(passed=3)  # the tests ran and passed; the setting is wrong
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [
            "ERROR: --journey-coverage-definition 'tiny-shpo' matches no definition the "
            "tests used (did you mean 'tiny-shop'?). Definitions used: 'aida', 'tiny-shop'.*"
        ]
    )
    assert "TOTAL" not in result.stdout.str()


def test_definition_name_is_checked_when_the_tests_ran_on_xdist_workers(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP)
    bad = run(pytester, "-n", "2", "--journey-coverage-definition=shop")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stdout.fnmatch_lines(["*'shop' matches no definition*Definitions used: 'tiny-shop'.*"])
    good = run(pytester, "-n", "2", "--journey-coverage-definition=tiny-shop")
    assert good.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("value", ["101", "-0.5", "nan", "half", "inf"])
def test_fail_under_outside_0_to_100_is_refused_before_any_test_runs(
    pytester: pytest.Pytester, value: str
) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP)
    result = run(pytester, f"--journey-coverage-fail-under={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--journey-coverage-fail-under: expected a percentage from 0 to 100, got {value!r}*"]
    )
    assert "passed" not in result.stdout.str()


def test_bad_fail_under_in_the_ini_file_is_refused_and_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP)
    pytester.makeini("[pytest]\njourney_coverage_fail_under = 150\n")
    result = run(pytester)  # refused even with coverage off: the setting is wrong
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*journey_coverage_fail_under (ini): expected a percentage*"])


@pytest.mark.parametrize("spec", ["xml:cov.xml", "json:", "cov.json"])
def test_report_that_is_not_json_or_text_with_a_path_is_refused(
    pytester: pytest.Pytester, spec: str
) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP)
    result = run(pytester, f"--journey-coverage-report={spec}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*expected json:PATH or text:PATH, got {spec!r}*"])


def test_coverage_on_without_any_definition_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_plain():\n    assert True\n")
    result = run(pytester, "--journey-coverage")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "WARNING: journey coverage is on, but no test created a JourneyMachine: "
            "nothing was measured",
            "TOTAL: 0/0 edges and guard outcomes, 100.0%",
        ]
    )


# -- the JSON report ------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [(), ("-n", "2")])
def test_json_report_holds_the_figures_of_the_text_report(
    pytester: pytest.Pytester, workers: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_rules=TINY_SHOP + OTHER_DEFINITION_TEST)
    result = run(
        pytester,
        *workers,
        "--journey-coverage-report=json:out/coverage.json",
        "--journey-coverage-report=text:out/coverage.txt",
        "--journey-coverage-fail-under=10",
    )
    assert result.ret == pytest.ExitCode.OK
    text = (pytester.path / "out" / "coverage.txt").read_text().splitlines()
    assert text == [line for line in result.stdout.lines if line in text]  # as printed
    report = json.loads((pytester.path / "out" / "coverage.json").read_text())
    assert (report["format"], report["fail_under"]) == (1, 10.0)
    assert [(d["name"], d["version"]) for d in report["definitions"]] == [
        ("aida", "1"),
        ("tiny-shop", "2"),
    ]
    for d in report["definitions"]:
        t = d["totals"]
        line = (
            f"{d['name']} v{d['version']}: edges {t['edges_hit']}/{t['edges']}, "
            f"guard outcomes {t['guard_outcomes_hit']}/{t['guard_outcomes']}, "
            f"{d['percent']:.1f}%"
        )
        assert line in text
        assert len(d["fingerprint"]) == 10
        missed = [e["label"] for e in d["edges"] + d["guard_outcomes"] if not e["hit"]]
        assert all(f"    {label}" in text for label in missed)
        assert t["items_hit"] == sum(e["hit"] for e in d["edges"] + d["guard_outcomes"])
    t = report["totals"]
    assert text[-1] == (
        f"TOTAL: {t['items_hit']}/{t['items']} edges and guard outcomes, {report['percent']:.1f}%"
    )
    shop = report["definitions"][1]
    assert shop["edges"][:2] == [
        {
            "source": "browsing",
            "trigger": "add",
            "dest": "cart",
            "candidate": 1,
            "label": "'browsing' --add--> 'cart'",
            "hit": True,
        },
        {
            "source": "browsing",
            "trigger": "leave",
            "dest": "gone",
            "candidate": 1,
            "label": "'browsing' --leave--> 'gone'",
            "hit": False,
        },
    ]
    assert [
        (g["guard"], g["position"], g["outcome"], g["hit"]) for g in shop["guard_outcomes"]
    ] == [
        ("has_items", 1, "passed", True),
        ("has_items", 1, "failed", False),
    ]


# -- guards that were not evaluated ---------------------------------------------------------
def test_coverage_counts_only_guards_that_were_evaluated(
    checkout_definition: JourneyDefinition,
) -> None:
    # A guard after a failing one is "not evaluated" (passed None): neither of its outcomes
    # happened, and it must not count as a hit of any kind.
    machine = JourneyMachine(checkout_definition)
    journey = Journey("c-1", "cart", {"cart": []})
    blocked = machine.fire(journey, "checkout")
    assert blocked.status == "blocked"
    first, second = blocked.candidates
    not_evaluated = attrs.evolve(second.guards[0], passed=None)
    # an outcome as the runtime reports it once guards short-circuit on the blocked path
    outcome = SimpleNamespace(
        status="blocked",
        source="cart",
        trigger="checkout",
        candidates=(first, attrs.evolve(second, guards=(not_evaluated,))),
    )
    cov = DefinitionCoverage.of(checkout_definition)
    cov.record(checkout_definition, outcome)
    assert sorted(label for key, label in cov.guards.items() if key in cov.hit) == [
        "'cart' --checkout--> 'express' [candidate 1]: (cart_not_empty & is_vip) failed"
    ]
    assert all(None not in key for key in cov.hit)
    assert (cov.covered, cov.guards_covered, cov.edges_covered) == (1, 1, 0)
