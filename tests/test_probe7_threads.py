"""Probe 7 (issue 19): one columnar replay result read from several threads at once.

A columnar result builds its journeys when they are read, and ``funnel()`` /
``breakdown()`` count the journeys not built yet from the packed columns and the built
ones one by one.  A journey built by another thread while a funnel counts must be
counted once, as the Python path's plain dict of journeys is."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import journeyfsm.analytics._coljourneys as coljourneys
from journeyfsm import JourneyMachine, templates
from journeyfsm.analytics import LogMapping, breakdown, funnel, replay

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MAPPING = LogMapping(key="k", event="e", time="t", segments=("g",))
TRIGGERS = ["engage", "want", "buy", "lose_interest", "re_engage"]


def _log(tmp_path: Path, rows: int, keys: int) -> Path:
    rnd = random.Random(19)
    lines = ["k,e,t,g"]
    for _ in range(rows):
        at = (T0 + timedelta(minutes=rnd.randint(0, 100_000))).isoformat()
        lines.append(
            f"c{rnd.randint(0, keys)},{rnd.choice(TRIGGERS)},{at},{rnd.choice(['', 'web', 'ads'])}"
        )
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("by", [None, "log.g", "cohort.week"])
def test_a_journey_built_while_the_funnel_counts_is_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partitions: int, by: str | None
) -> None:
    d = templates.aida()
    path = _log(tmp_path, 400, 60)
    python = replay(d, path, MAPPING, engine="fast")
    columnar = replay(d, path, MAPPING, partitions=partitions)
    assert columnar.engine == "columnar"
    first = next(iter(columnar.journeys))
    extend = coljourneys._extend
    reads: list[Any] = []

    def extend_and_read(np: Any, into: Any, values: Any) -> None:
        # what another thread does while this one counts: it reads a journey
        if not reads:
            reads.append(columnar.journeys[first])
        extend(np, into, values)

    monkeypatch.setattr(coljourneys, "_extend", extend_and_read)
    if by is None:
        got: Any = funnel(columnar.journeys.values(), d)
        want: Any = funnel(python.journeys.values(), d)
    else:
        got = breakdown(columnar.journeys.values(), d, by=by, segments=columnar.segments)
        want = breakdown(python.journeys.values(), d, by=by, segments=python.segments)
    assert reads, "the count read no column"
    assert got == want


def test_threads_reading_one_result_see_the_python_paths_journeys_and_funnels(
    tmp_path: Path,
) -> None:
    d = templates.aida()
    machine = JourneyMachine(d)
    path = _log(tmp_path, 20_000, 2_000)
    python = replay(machine, path, MAPPING, engine="fast")
    want_funnel = funnel(python.journeys.values(), d)
    want_groups = breakdown(python.journeys.values(), d, by="log.g", segments=python.segments)
    snapshots = {k: machine.snapshot(j) for k, j in python.journeys.items()}
    columnar = replay(machine, path, MAPPING)
    keys = list(snapshots)
    errors: list[str] = []
    seen: dict[str, list[Any]] = {}
    start = threading.Barrier(4)

    def read(n: int) -> None:
        try:
            start.wait()
            order = keys[:]
            random.Random(n).shuffle(order)
            for key in order[:800]:
                journey = columnar.journeys[key]
                seen.setdefault(key, []).append(journey)
                assert machine.snapshot(journey) == snapshots[key], key
            assert funnel(columnar.journeys.values(), d) == want_funnel
            got = breakdown(columnar.journeys.values(), d, by="log.g", segments=columnar.segments)
            assert got == want_groups
        except Exception as err:  # reported below, with the thread's number
            errors.append(f"thread {n}: {err!r}"[:300])

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    # every thread got the same journey object for a key, as from a dict
    assert all(all(j is js[0] for j in js) for js in seen.values())


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_an_interrupt_in_one_part_stops_the_streamed_replay_with_no_thread_or_spill_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    import tempfile

    import journeyfsm.analytics._colstream as colstream

    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    path = _log(tmp_path, 2_000, 300)
    read = colstream.read_columns
    calls: list[int] = []

    def read_then_fail(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # the second part, while the first may still run
            raise error()
        return read(*args)

    monkeypatch.setattr(colstream, "read_columns", read_then_fail)
    before = threading.active_count()
    with pytest.raises(error):
        replay(templates.aida(), path, MAPPING, partitions=6)
    assert threading.active_count() == before
    assert list(spills.iterdir()) == []
