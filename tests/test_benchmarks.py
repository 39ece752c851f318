"""The benchmark suite runs, measures the same workload on every contender, and writes a
results file of the documented shape.  No timing is asserted: only structure and behaviour."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pyperf  # type: ignore[import-untyped]
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is a directory of the repository, not installed
    sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

from benchmarks import contenders, figures_cycle, figures_data, run, workload  # noqa: E402
from benchmarks.harness import FIGURES, RATIOS, Settings, format_table  # noqa: E402


def _edges_of_workload() -> set[tuple[str, str, str]]:
    return {(t.source, t.trigger, t.dest) for t in workload.TRANSITIONS}


def test_workload_is_eight_stages_twelve_transitions_one_guard() -> None:
    assert len(workload.STAGES) == 8
    assert len(workload.TRANSITIONS) == 12
    assert sum(t.guarded for t in workload.TRANSITIONS) == 1


def test_every_contender_is_built_from_the_same_workload() -> None:
    expected = _edges_of_workload()
    d = contenders.journeyfsm_definition()
    assert {(e.source, e.trigger, e.dest) for e in d.edges()} == expected
    engine = contenders.transitions_machine()
    assert {
        (source, trigger, t.dest)
        for trigger, event in engine.events.items()
        for source, ts in event.transitions.items()
        for t in ts
    } == expected
    cls = contenders.statemachine_class()
    assert {
        (t.source.id, event, t.target.id)
        for state in cls.states
        for t in state.transitions
        for event in t.events
    } == expected
    assert {
        (stage, trigger, dest)
        for stage, row in contenders.TABLE.items()
        for trigger, cands in row.items()
        for dest, _ in cands
    } == expected


def _walk_journeyfsm(data: dict[str, Any], triggers: tuple[str, ...]) -> str:
    machine = contenders.journeyfsm_machine()
    journey = machine.start("k", data)
    for t in triggers:
        machine.fire(journey, t)
    return journey.stage


def _walk_transitions(data: dict[str, Any], triggers: tuple[str, ...]) -> str:
    engine = contenders.transitions_machine()
    model = contenders.Customer("k", workload.INITIAL, data)
    for t in triggers:
        engine.events[t].trigger(model)
    return model.state


def _walk_statemachine(data: dict[str, Any], triggers: tuple[str, ...]) -> str:
    model = contenders.Customer("k", workload.INITIAL, data)
    sm = contenders.statemachine_class()(model=model)
    for t in triggers:
        # python-statemachine raises where the others report "not moved"
        with contextlib.suppress(sm.TransitionNotAllowed):
            sm.send(t)
    return str(model.state)


def _walk_dict(data: dict[str, Any], triggers: tuple[str, ...]) -> str:
    record = {"key": "k", "stage": workload.INITIAL, "data": data, "version": 0}
    for t in triggers:
        contenders.dict_fire(record, t)
    return str(record["stage"])


WALKERS = [_walk_journeyfsm, _walk_transitions, _walk_statemachine, _walk_dict]


@pytest.mark.parametrize("walk", WALKERS, ids=lambda w: w.__name__.removeprefix("_walk_"))
def test_cycle_returns_to_start_running_the_hook_on_every_move(walk: Any) -> None:
    before = workload.hook_calls[0]
    assert walk(dict(workload.CART), workload.CYCLE) == workload.INITIAL
    assert workload.hook_calls[0] - before == len(workload.CYCLE)


@pytest.mark.parametrize("walk", WALKERS, ids=lambda w: w.__name__.removeprefix("_walk_"))
def test_guard_blocks_checkout_with_an_empty_cart(walk: Any) -> None:
    assert walk({}, ("discover", "research", "compare", "checkout")) == "intent"


def test_no_logger_accepts_what_the_machine_logs() -> None:
    machine = contenders.journeyfsm_machine(contenders.NoLogger())
    journey = machine.start("k", workload.CART)
    for t in workload.CYCLE:
        assert machine.fire(journey, t).moved


def test_production_logging_writes_the_same_line_for_journeyfsm_and_raw_transitions() -> None:
    contenders.configure_host_logging()
    machine = contenders.journeyfsm_machine(contenders.HOST)
    journey = machine.start("customer-42", workload.CART)
    with structlog.testing.capture_logs() as events:
        machine.fire(journey, "discover", event_id="e-1")
        contenders.host_logger().info(
            "journey.moved",
            key="customer-42",
            trigger="discover",
            source="awareness",
            dest="interest",
            event_id="e-1",
        )
    ours, theirs = events
    assert ours == theirs
    assert ours["event_id"] == "e-1" and ours["definition"] == "bench"


def test_production_logging_renders_json_through_the_machines_default_logger() -> None:
    contenders.configure_host_logging()
    machine = contenders.journeyfsm_machine(contenders.HOST)
    target = machine.logger.target
    assert target.is_enabled_for(20)  # INFO is rendered: the move's line is written
    assert any(
        isinstance(p, structlog.processors.JSONRenderer)
        for p in structlog.get_config()["processors"]
    )


def test_flattering_logger_filters_the_move_out() -> None:
    machine = contenders.journeyfsm_machine()
    assert not machine.logger.enabled(20) and machine.logger.enabled(30)


def test_event_ids_are_never_reused() -> None:
    a, b = contenders.fresh_event_ids(100), contenders.fresh_event_ids(100)
    assert len(set(a) | set(b)) == 200


def test_peer_request_keeps_the_entry_and_the_window() -> None:
    ids = contenders.fresh_event_ids(contenders.WINDOW)
    window = contenders.peer_remember(ids, "new")
    assert len(window) == contenders.WINDOW and window[-1] == "new" and window[0] == ids[1]
    entry = contenders.peer_entry(4, "checkout", "intent", "purchase", "new")
    assert set(entry) == {"seq", "trigger", "source", "dest", "at", "event_id"}
    assert len(figures_cycle.PEER_SNAP["event_ids"]) == contenders.WINDOW


def test_data_size_figure_fires_the_lap_on_200_orders_without_the_hook_touching_them() -> None:
    data = {**workload.CART, "orders": figures_data.orders(200)}
    machine = contenders.journeyfsm_machine()
    journey = machine.start("k", data)
    before = workload.hook_calls[0]
    for t in workload.CYCLE:
        assert machine.fire(journey, t).moved
    assert workload.hook_calls[0] - before == len(workload.CYCLE)
    assert journey.data == data and len(journey.data["orders"]) == 200


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    run.run(Settings.tiny(), out)
    return json.loads(out.read_text()), out


def test_results_json_has_machine_versions_and_settings(
    results: tuple[dict[str, Any], Path],
) -> None:
    data, _ = results
    assert data["schema"] == 1
    assert data["machine"]["cpu_count"] >= 1
    for dist in ("journeyfsm", "transitions", "python-statemachine", "structlog", "python"):
        assert data["versions"][dist]
    assert data["settings"]["quick"] is True


def test_results_json_has_every_figure_with_median_and_spread(
    results: tuple[dict[str, Any], Path],
) -> None:
    data, _ = results
    assert set(data["figures"]) == set(FIGURES)
    for fid, fig in data["figures"].items():
        assert fig["unit"] == FIGURES[fid].unit
        assert fig["median"] > 0, fid
        spread = fig["spread"]
        assert spread["min"] <= spread["q1"] <= fig["median"] <= spread["q3"] <= spread["max"]
        assert spread["n"] == len(fig["values"]) >= 1


def test_results_json_has_every_ratio_and_judges_the_targets(
    results: tuple[dict[str, Any], Path],
) -> None:
    data, _ = results
    assert set(data["ratios"]) == set(RATIOS)
    targets = {rid: r for rid, r in data["ratios"].items() if r["target"]}
    assert set(targets) >= {
        "fire_vs_transitions",
        "cycle_speedup_vs_add_model",
        "cycle_speedup_vs_statemachine",
        "idle_journey_bytes",
        "growth_large_vs_small",
        "data_200_orders_vs_empty",
        "logging_filtered_vs_no_logger",
        "fire_vs_transitions_flattering",
    }
    for r in targets.values():
        assert isinstance(r["met"], bool)
    fire = data["ratios"]["fire_vs_transitions"]
    assert fire["value"] == pytest.approx(
        data["figures"]["fire.journeyfsm"]["median"] / data["figures"]["fire.transitions"]["median"]
    )


def test_timed_figures_are_written_as_a_pyperf_suite(
    results: tuple[dict[str, Any], Path],
) -> None:
    data, out = results
    suite = pyperf.BenchmarkSuite.load(str(out.with_name("results.pyperf.json")))
    timed = {fid for fid, fig in data["figures"].items() if fig["kind"] == "timed"}
    assert set(suite.get_benchmark_names()) == timed


def test_table_has_a_row_per_figure_and_ratio(results: tuple[dict[str, Any], Path]) -> None:
    data, _ = results
    table = format_table(data)
    for fig in data["figures"].values():
        assert f"| {fig['group']} | {fig['contender']} |" in table
    for rid in data["ratios"]:
        assert f"| {rid} |" in table


def test_list_option_names_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--list"]) == 0
    listed = capsys.readouterr().out
    for fid in FIGURES:
        assert fid in listed


def test_replay_figures_log_is_deterministic_and_replays_every_row(tmp_path: Path) -> None:
    from benchmarks import figures_replay
    from journeyfsm.analytics import replay

    a = figures_replay.write_log(tmp_path / "a.csv", 400, 40)
    b = figures_replay.write_log(tmp_path / "b.csv", 400, 40)
    assert a.read_bytes() == b.read_bytes()
    assert figures_replay.read_csv(a) == 401  # the header and every row
    result = replay(figures_replay.shop(), a, figures_replay.MAPPING)
    s = result.summary
    assert s.rows_read == 400 and s.bad_row_count == 0
    assert s.events_applied + s.skipped_count == 400
    slow = replay(figures_replay.slow_machine(), a, figures_replay.MAPPING)
    assert not slow.summary.fast_path and slow.journeys == result.journeys
    jsonl = figures_replay.write_jsonl(a, tmp_path / "a.jsonl")
    assert figures_replay.read_jsonl(jsonl) == 400
    on_jsonl = replay(figures_replay.shop_columnar(), jsonl, figures_replay.MAPPING)
    assert on_jsonl.engine == "columnar", on_jsonl.summary.engine_note
    assert dict(on_jsonl.journeys) == dict(result.journeys)


def test_each_figure_is_measured_in_the_logging_state_its_own_setup_left() -> None:
    """A figure that configures structlog (the JSON production figures) must not leak that
    configuration into the figures measured after it, nor inherit another's."""
    from benchmarks import harness

    seen: dict[str, list[bool]] = {"json": [], "plain": []}

    def json_figure(settings: Settings) -> Any:
        contenders.configure_host_logging()

        def run(loops: int) -> float:
            seen["json"].append(structlog.is_configured())
            return 1e-3

        return run

    def plain_figure(settings: Settings) -> Any:
        def run(loops: int) -> float:
            seen["plain"].append(structlog.is_configured())
            return 1e-3

        return run

    figs = [
        harness.Figure("t.json", "t", "json", "timed", "us", "", json_figure),
        harness.Figure("t.plain", "t", "plain", "timed", "us", "", plain_figure),
    ]
    structlog.reset_defaults()
    try:
        harness._interleave(figs, Settings.tiny(), lambda _: None)
    finally:
        structlog.reset_defaults()
    assert seen["json"] and all(seen["json"])  # every sample of it renders JSON
    assert seen["plain"] and not any(seen["plain"])  # never the JSON figure's configuration


def test_a_run_leaves_structlog_as_the_caller_had_it(tmp_path: Path) -> None:
    structlog.reset_defaults()
    run.run(Settings.tiny(), tmp_path / "r.json", only=["fire.journeyfsm", "log_call."])
    assert not structlog.is_configured()


def test_bench_check_judges_every_goal_in_one_run_and_names_what_it_missed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The machinery of ``make bench-check`` (no timing asserted: tiny settings)."""
    from benchmarks import check

    report = check.check(Settings.tiny())
    assert [g["ratio"] for g in report["gates"]] == list(check.GOALS)
    for g in report["gates"]:
        op, goal = RATIOS[g["ratio"]].target  # type: ignore[misc]
        bound = goal / 1.5 if op == ">=" else goal * 1.5
        reached = check.REACHED.get(g["ratio"])
        if reached is not None:  # a goal not met yet: what was reached guards it
            relax = check.RELAX.get(g["ratio"], 1.25)
            bound = reached[0] / relax if op == ">=" else reached[0] * relax
            assert reached[1] in g["gate_from"]
        else:
            assert g["gate_from"] == "goal relaxed 1.5x"
        assert g["goal"] == f"{op} {goal:g}" and g["gate"] == f"{op} {bound:.3g}"
        assert g["ok"] == (g["value"] >= bound if op == ">=" else g["value"] <= bound)
    assert report["missed"] == [g["ratio"] for g in report["gates"] if not g["ok"]]
    assert set(report["figures"]) >= set(check.figures_needed(check.gates()))
    assert {"cycle.journeyfsm", "cycle.statemachine", "memory.journeyfsm_idle"} <= set(
        report["figures"]
    )

    missed = {**report, "missed": ["fire_vs_transitions"]}
    monkeypatch.setattr(check, "check", lambda settings=None: missed)
    assert check.main([]) == 1
    out, err = capsys.readouterr()
    assert "missed fire_vs_transitions" in out and "fire_vs_transitions missed its gate" in err
    monkeypatch.setattr(check, "check", lambda settings=None: {**report, "missed": []})
    assert check.main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["missed"] == []


def test_bench_check_is_a_make_target_on_the_bench_install_set_outside_the_suite() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "bench-check: $(BENCH)\n\t$(BIN)/python benchmarks/check.py" in makefile
    test_line = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "bench" not in test_line
