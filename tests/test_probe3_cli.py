"""The command line, probed with numbers no one meant: each is exit 2 naming the flag
and its range, at once (a 20-digit --partitions hung the replay building that many part
files; --customers 10**20 ran the demo out of memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from journeyfsm.analytics import replay
from journeyfsm.analytics._colstream import MAX_PARTITIONS, auto_partitions
from journeyfsm.cli._demo import run_demo

LOG = "k,e,t\nc1,engage,2026-01-01T10:00:00Z\nc2,engage,2026-01-01T11:00:00Z\n"
MAP = ["--key", "k", "--event", "e", "--time", "t", "--quiet"]


def cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journeyfsm", *argv],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip


@pytest.mark.parametrize("n", ["99999999999999999999", str(MAX_PARTITIONS + 1), "100000"])
def test_too_many_partitions_is_a_usage_error_not_a_hang(tmp_path: Path, n: str) -> None:
    (tmp_path / "log.csv").write_text(LOG)
    done = cli("replay", "log.csv", "--definition", "aida", *MAP, "--partitions", n, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--partitions" in done.stderr and f"at most {MAX_PARTITIONS}" in done.stderr
    assert "Traceback" not in done.stderr


def test_replay_refuses_more_partitions_than_files_it_may_hold_open(tmp_path: Path) -> None:
    from journeyfsm import templates

    path = tmp_path / "log.csv"
    path.write_text(LOG)
    m = {"key": "k", "event": "e", "time": "t"}
    with pytest.raises(ValueError, match=f"at most {MAX_PARTITIONS}"):
        replay(templates.aida(), path, m, partitions=10**20)
    result = replay(templates.aida(), path, m, partitions=MAX_PARTITIONS)
    assert sorted(result.journeys) == ["c1", "c2"]


def test_the_automatic_split_of_a_huge_log_stops_at_the_limit(tmp_path: Path) -> None:
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:  # a sparse file: 100 GB by its size, nothing on disk
        f.truncate(100 * 2**30)
    assert auto_partitions(huge) == MAX_PARTITIONS


@pytest.mark.parametrize("n", ["99999999999999999999", "100001"])
def test_a_demo_too_big_for_a_small_shop_is_a_usage_error(tmp_path: Path, n: str) -> None:
    done = cli("demo", "--customers", n, "--quiet", cwd=tmp_path)
    assert done.returncode == 2
    assert "--customers" in done.stderr and "at most 100000" in done.stderr


@pytest.mark.parametrize(
    ("bad", "error"), [(True, TypeError), ("5", TypeError), (0, ValueError), (10**20, ValueError)]
)
def test_run_demo_checks_customers(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="customers"):
        run_demo(customers=bad, quiet=True)  # type: ignore[arg-type]
