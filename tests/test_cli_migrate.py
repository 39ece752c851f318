"""``journeyfsm db migrate``: the dry-run report, the real run with progress, a re-run
that skips what moved, and the mistakes it names (journeyfsm/cli/_migrate.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import START, quiet_logger
from test_service_live_versions import migration, v1, v2

from journeyfsm import JourneyMachine, JourneyService, ManualClock
from journeyfsm.cli import main
from journeyfsm.stores import SQLiteStore

Capture = pytest.CaptureFixture[str]

HOST = """
from test_service_live_versions import migration, v1, v2
from journeyfsm import JourneyMachine
machine_v1 = JourneyMachine(v1())
machine_v2 = JourneyMachine(v2())
migrations = [migration()]
not_a_migration = [1]
"""


@pytest.fixture
def shop_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "shopversions.py").write_text(HOST, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("shopversions", None)
    db = str(tmp_path / "j.db")
    service = JourneyService(
        JourneyMachine(v1(), clock=ManualClock(START), logger=quiet_logger()),
        SQLiteStore(db, create_schema=True),
    )
    for i in range(5):
        service.handle(f"k{i}", "add")
    service.handle("k4", "pay")
    return db


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def args(db: str, *more: str) -> list[str]:
    return [
        "db",
        "migrate",
        "--db",
        db,
        "--machine",
        "shopversions:machine_v1",
        "--machine",
        "shopversions:machine_v2",
        "--migration",
        "shopversions:migrations",
        "--from",
        "1",
        *more,
    ]


def test_db_migrate_dry_run_reports_and_writes_nothing(capsys: Capture, shop_db: str) -> None:
    code, out, err = run(capsys, *args(shop_db, "--dry-run"))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"dry run: definition 'shop' version 1 -> 2 in {shop_db}"
    assert "  cart -> basket: 4" in out and "  paid -> paid: 1" in out
    assert out.splitlines()[-1] == "would move 5 journeys (0 on other versions skipped, 0 failed)"
    with SQLiteStore(shop_db).transaction(write=False) as tx:
        row = tx.load("shop", "k0")
    assert row is not None and row.definition_version == 1


def test_db_migrate_migrates_in_batches_with_progress_and_a_rerun_skips(
    capsys: Capture, shop_db: str
) -> None:
    code, out, _ = run(capsys, *args(shop_db, "--batch-size", "2"))
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("  ") and "journeys" in line] == [
        "  2 journeys (0 failed)",
        "  4 journeys (0 failed)",
        "  5 journeys (0 failed)",
    ]
    assert out.splitlines()[-1] == "migrated 5 journeys (0 on other versions skipped, 0 failed)"
    code, out, _ = run(capsys, *args(shop_db, "--json"))
    assert code == 0
    report = json.loads(out)
    assert (report["migrated"], report["skipped"], report["journeys"]) == (0, 5, 0)
    clock = ManualClock(START)  # before version 2's basket timeout is due
    service = JourneyService(
        JourneyMachine(v2(), clock=clock, logger=quiet_logger()), SQLiteStore(shop_db)
    )
    assert service.handle("k0", "go").dest == "checkout"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--to", "7"],
            "no declared migration leads from version 1 to 7 (the chain stops at version 2)",
        ),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--migration", "shopversions:not_a_migration"], "holds 1, not a Migration"),
    ],
)
def test_db_migrate_names_each_mistake(
    capsys: Capture, shop_db: str, extra: list[str], message: str
) -> None:
    code, _, err = run(capsys, *args(shop_db, *extra))
    assert code == 2 and message in err, err


def test_db_migrate_exits_1_when_a_journey_cannot_move(
    capsys: Capture, shop_db: str, tmp_path: Path
) -> None:
    (tmp_path / "badmigration.py").write_text(
        "from test_service_live_versions import v1, v2\n"
        "from journeyfsm import Migration\n"
        "def boom(data):\n    raise RuntimeError('no')\n"
        "migrations = Migration(v1(), v2(), stages={'cart': 'basket'}, data=boom)\n",
        encoding="utf-8",
    )
    argv = args(shop_db)
    argv[argv.index("shopversions:migrations")] = "badmigration:migrations"
    code, out, _ = run(capsys, *argv)
    assert code == 1
    assert out.count("cannot migrate") == 5 and "raised RuntimeError: no" in out
    assert migration() is not None  # the module's own migration is untouched
