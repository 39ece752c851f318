"""Run the benchmarks: ``make bench`` (``.venv/bin/python benchmarks/run.py``).

Prints the table of figures and ratios, writes ``benchmarks/results.json`` (machine,
versions, every figure's median and spread, every ratio and target) and
``benchmarks/results.pyperf.json`` (the timed figures, for ``python -m pyperf compare_to``).

    .venv/bin/python benchmarks/run.py            # the full run, about 3 minutes on 2 cores
    .venv/bin/python benchmarks/run.py --quick    # a smoke run, about 15 seconds
    .venv/bin/python benchmarks/run.py --only fire. --only cycle.   # some figures

Exit status 0 even when a target is missed (the table says which); 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import figures as _figures
from benchmarks import figures_replay as _figures_replay  # the replay.* figures (issue 10)
from benchmarks import figures_timeouts as _figures_timeouts  # after the table's others
from benchmarks.harness import (
    FIGURES,
    Settings,
    format_table,
    run_figures,
    write_json,
    write_pyperf,
)

HERE = Path(__file__).resolve().parent
assert _figures and _figures_timeouts and _figures_replay


def run(
    settings: Settings,
    output: Path = HERE / "results.json",
    *,
    only: list[str] | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Run the figures, write ``output`` (and its pyperf twin), return the results."""

    def log(msg: str) -> None:
        if verbose:
            print(msg, file=sys.stderr, flush=True)

    results = run_figures(settings, only=only, log=log)
    write_json(results, output)
    write_pyperf(results, output.with_name(output.stem + ".pyperf.json"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small counts)")
    parser.add_argument(
        "--only", action="append", metavar="PREFIX", help="run figures whose id starts so"
    )
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.list:
        for fid, fig in FIGURES.items():
            print(f"{fid:40} {fig.unit:14} {fig.description}")
        return 0
    settings = Settings.quick_run() if args.quick else Settings.full()
    results = run(settings, args.output, only=args.only, verbose=not args.quiet)
    m, v = results["machine"], results["versions"]
    print(
        f"\njourneyfsm {v['journeyfsm']}, transitions {v['transitions']}, python-statemachine "
        f"{v['python-statemachine']}, structlog {v['structlog']}, Python {v['python']}; "
        f"{m.get('cpu_model_name', '?')} x{m.get('cpu_count', '?')}; "
        f"{'quick' if settings.quick else 'full'} run, {results['duration_seconds']} s\n"
    )
    print(format_table(results))
    missed = [rid for rid, r in results["ratios"].items() if r["met"] is False]
    print(f"\ntargets missed: {', '.join(missed) or 'none'}; results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
