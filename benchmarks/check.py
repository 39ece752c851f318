"""The benchmark smoke for CI: ``make bench-check`` (``.venv/bin/python benchmarks/check.py``).

Runs the figures of the issue-16 and issue-17 (asyncio) goals in ONE interleaved run (about 15 seconds on 2
cores) and checks each goal's ratio against a generous gate: the goal relaxed by 1.5x
(a ``>= 4`` speedup must reach 4 / 1.5; a ``<= 0.75`` ratio must stay under 0.75 * 1.5),
so a shared, noisy machine passes when the code is right and a regression like the one
issue 16 found (a 35% slower request) is seen when it lands.  A goal not reached yet
would fail that gate on every run and so guard nothing: its gate is instead what was
reached (``REACHED``: the median of three runs at a named commit) relaxed by 1.25x, until
the goal is met and ``REACHED`` loses its line.  Nothing is written to
``benchmarks/results.json``.

    .venv/bin/python benchmarks/check.py           # exit 1 and name every gate missed
    .venv/bin/python benchmarks/check.py --json    # the same, as JSON on stdout

Exit status 0 when every gate holds, 1 when one is missed, 2 on bad arguments.  Timing is
never asserted in the test suite; tests/test_benchmarks.py runs this machinery with tiny
settings and checks only the report's structure.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import figures as _figures
from benchmarks.harness import RATIOS, Settings, run_figures

assert _figures

#: the goals of issues 16 and 17 (asyncio), by ratio id (their targets live in
#: benchmarks/ratios.py); the PostgreSQL ones run on JOURNEYFSM_PG_DSN or a pgserver
GOALS = (
    "cycle_speedup_vs_add_model",
    "cycle_speedup_vs_statemachine",
    "cycle_speedup_vs_add_model_flattering",
    "fire_vs_transitions",
    "idle_journey_bytes",
    "async_handle_vs_sync_sqlite",
    "async_handle_many_vs_sync_sqlite",
    "async_handle_vs_sync_pg",
    "async_pg_50_tasks_speedup",
    "async_handle_many_vs_sync_pg",
)
SLACK = 1.5  # a gate is its goal relaxed by this factor
#: goals not met yet: (the ratio reached, the commit it was measured on; median of three
#: runs of `make bench-check`), so the gate guards against falling back from there
REACHED: dict[str, tuple[float, str]] = {
    "cycle_speedup_vs_add_model": (2.22, "e84f9c4"),
    "cycle_speedup_vs_statemachine": (12.0, "e84f9c4"),
    "cycle_speedup_vs_add_model_flattering": (4.40, "e84f9c4"),
    "fire_vs_transitions": (0.87, "e84f9c4"),
    # 50 tasks over a pool of 10 against one task, on PostgreSQL.  Not a median: the
    # figure swings with the disk.  A busy disk's slow fsyncs are shared by the 50 tasks'
    # commits, so a loaded machine flatters it (3.2-5.5 below); a quiet run reads
    # ~2.1-2.6 (the client's CPU under one GIL bounds it: docs/performance.md); a disk
    # that stalls during the 50-task sample alone sinks it (0.40 and 1.10 below: 50 tasks
    # at 2.3 and 0.9 ms an event against 0.9 and 1.0 ms for one).  Since one warm pool
    # serves all the figure's samples (wt-apool, its 16 runs at load 0.5-4.4): 1.59-2.59,
    # and 4.96-7.41 in the four with a saturated disk; the wt-r17 round, 12 alternating runs of main (323efe8) and 2131a43: at load 5.5-7
    # 1.99, 3.60, 2.29 and 3.90, 3.23, 1.75; at load 1.3-2.9 3.37, 2.03, 1.10 and 5.48,
    # 0.40, 2.45.  So the gate is the low end of a quiet run, 2.1, relaxed 1.4x (RELAX):
    # 1.5, under every quiet run seen, above what 50 tasks give when something serialises
    # them (one connection, a lock around `handle`: ~1.0-1.2); a stalled disk can still
    # miss it (2 of those 12 runs), as it makes the issue-16 gates miss.  It was 1.31
    # relaxed 1.25x (1.05): 50 tasks buying nothing passed it.
    "async_pg_50_tasks_speedup": (2.1, "2131a43"),
}
REGRESSION = 1.25  # a gate from REACHED is the reached ratio relaxed by this factor
#: a reached ratio whose gate is relaxed by other than REGRESSION (the comment above it
#: in REACHED says why)
RELAX: dict[str, float] = {"async_pg_50_tasks_speedup": 1.4}
# The other asyncio gates follow SLACK (their goals are met): async / sync `handle` and
# `handle_many`, SQLite and PostgreSQL, gated at 1.95 and 1.8.  They are not loose for
# this machine: in the 12 runs above `handle` read 0.56-1.63 (main and wt-r17 alike) and
# `handle_many` 0.79-1.40 (0.03 once, the anomaly of docs/performance.md); a tighter gate
# would fail the code as it is on a busy machine, while the design these guard against
# (a hand-off per statement: 2.5-3.7x on SQLite) fails them.


def relax_of(ratio: str) -> float:
    """How far a gate from REACHED is relaxed from the reached ratio."""
    return RELAX.get(ratio, REGRESSION)


@dataclass(frozen=True)
class Gate:
    ratio: str
    op: str  # ">=" or "<="
    goal: float
    reached: float | None = None  # REACHED's value while the goal is not met

    @property
    def bound(self) -> float:
        if self.reached is not None:  # not met yet: guard what was reached
            relax = relax_of(self.ratio)
            scale = 1 / relax if self.op == ">=" else relax
            return self.reached * scale
        return self.goal / SLACK if self.op == ">=" else self.goal * SLACK

    @property
    def source(self) -> str:
        """Where the bound comes from, for the report."""
        if self.reached is None:
            return f"goal relaxed {SLACK:g}x"
        relax = relax_of(self.ratio)
        return f"reached {self.reached:g} at {REACHED[self.ratio][1]}, relaxed {relax:g}x"

    def holds(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound


def gates() -> list[Gate]:
    """One gate per goal, from the targets declared in benchmarks/ratios.py."""
    out = []
    for rid in GOALS:
        target = RATIOS[rid].target
        assert target is not None, f"ratio {rid!r} has no target"
        reached = REACHED.get(rid)
        out.append(Gate(rid, target[0], target[1], reached[0] if reached else None))
    return out


def figures_needed(checked: list[Gate]) -> list[str]:
    ids: list[str] = []
    for gate in checked:
        r = RATIOS[gate.ratio]
        ids += [r.numerator] + ([r.denominator] if r.denominator else [])
    return list(dict.fromkeys(ids))


def smoke_settings() -> Settings:
    """A little more than ``--quick``: enough interleaved rounds for a paired median."""
    quick = Settings.quick_run()
    return Settings(True, 9, 0.03, quick.memory_n, 1, *_growth(quick))


def _growth(s: Settings) -> tuple[int, int, int, int]:
    return s.growth_small, s.growth_large, s.growth_repeats_small, s.growth_repeats_large


def check(settings: Settings | None = None) -> dict[str, Any]:
    """Run the figures once, interleaved, and judge every gate; the report as a dict."""
    checked = gates()
    results = run_figures(settings or smoke_settings(), only=figures_needed(checked))
    report = []
    for gate in checked:
        value = results["ratios"][gate.ratio]["value"]
        report.append(
            {
                "ratio": gate.ratio,
                "description": RATIOS[gate.ratio].description,
                "value": value,
                "goal": f"{gate.op} {gate.goal:g}",
                "gate": f"{gate.op} {gate.bound:.3g}",
                "gate_from": gate.source,
                "goal_met": value >= gate.goal if gate.op == ">=" else value <= gate.goal,
                "ok": gate.holds(value),
            }
        )
    return {
        "versions": results["versions"],
        "duration_seconds": results["duration_seconds"],
        "figures": {fid: fig["median"] for fid, fig in results["figures"].items()},
        "gates": report,
        "missed": [g["ratio"] for g in report if not g["ok"]],
    }


def format_report(report: dict[str, Any]) -> str:
    lines = ["| ratio | value | goal | gate | gate from | |", "|---|---:|---|---|---|---|"]
    for g in report["gates"]:
        verdict = "ok" if g["ok"] else "**MISSED**"
        goal = "" if g["goal_met"] else " (goal not met)"
        lines.append(
            f"| {g['ratio']} | {g['value']:.3g} | {g['goal']}{goal} | {g['gate']} "
            f"| {g['gate_from']} | {verdict} |"
        )
    missed = report["missed"]
    lines.append("")
    lines.append(
        f"bench-check: {'missed ' + ', '.join(missed) if missed else 'every gate holds'} "
        f"({report['duration_seconds']} s)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = check()
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    for ratio in report["missed"]:
        print(f"bench-check: {ratio} missed its gate", file=sys.stderr)
    return 1 if report["missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
