"""Where ``JourneyMachine.fire`` and the per-request cycle spend their time (cProfile).

    .venv/bin/python benchmarks/profile_fire.py            # fire, then the cycle
    .venv/bin/python benchmarks/profile_fire.py --what cycle --top 30

cProfile's per-call overhead inflates small functions; read the *shares* (tottime %),
not the absolute times, and confirm a fix with ``run.py --only fire.``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.contenders import journeyfsm_machine
from benchmarks.workload import CART, CYCLE, GUARDED_TRIGGER


def profile_fire(laps: int) -> cProfile.Profile:
    machine = journeyfsm_machine()
    journey = machine.start("customer-42", CART)
    fire = machine.fire
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(laps):
        for trigger in CYCLE:
            fire(journey, trigger)
    prof.disable()
    return prof


def profile_cycle(requests: int) -> cProfile.Profile:
    machine = journeyfsm_machine()
    journey = machine.start("customer-42", CART)
    for trigger in ("discover", "research", "compare"):
        machine.fire(journey, trigger)
    snap = machine.snapshot(journey, history=False)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(requests):
        j = machine.restore(snap)
        machine.fire(j, GUARDED_TRIGGER)
        machine.snapshot(j, history=False)
    prof.disable()
    return prof


def report(prof: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", choices=("fire", "cycle", "both"), default="both")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("-n", type=int, default=20_000, help="laps of the cycle / requests")
    args = parser.parse_args(argv)
    if args.what in ("fire", "both"):
        print(f"== fire: {args.n} laps of {len(CYCLE)} events ==")
        print(report(profile_fire(args.n), args.top))
    if args.what in ("cycle", "both"):
        print(f"== cycle: {args.n} requests (restore -> fire -> snapshot(history=False)) ==")
        print(report(profile_cycle(args.n), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
