"""A process for the migration crash test (run as a script, not collected).

    python migrate_process.py DB BATCH_SIZE [KILL_POINT N]

Migrates the journeys of version 1 of test_service_live_versions.py's ``shop`` in the
SQLite file DB to version 2 with ``service.migrate(1, 2, dry_run=False)``, printing each
batch's progress.  With a KILL_POINT the process SIGKILLs itself at its N-th batch:
``in_write`` after the batch's rows were written, before COMMIT; ``after_commit`` once
the batch committed (from the progress callback).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from conftest import quiet_logger
from test_service_live_versions import migration, v1, v2

from journeyfsm import JourneyMachine, JourneyService
from journeyfsm.stores import SQLiteStore
from journeyfsm.stores._sqlite_rows import SQLiteTransaction


def main(db: str, batch_size: str, point: str | None = None, n: str = "0") -> None:
    kill_at = int(n)
    writes = 0
    if point == "in_write":
        original = SQLiteTransaction.write_many

        def write_many(self: Any, decisions: Any) -> None:
            nonlocal writes
            original(self, decisions)
            writes += 1
            if writes == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        SQLiteTransaction.write_many = write_many  # type: ignore[method-assign]

    batches = 0

    def progress(report: Any) -> None:
        nonlocal batches
        batches += 1
        print(f"batch {batches}: {report.migrated} migrated", flush=True)
        if point == "after_commit" and batches == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    service = JourneyService(
        JourneyMachine(v2(), logger=quiet_logger()),
        SQLiteStore(db),
        versions=[JourneyMachine(v1(), logger=quiet_logger())],
        migrations=[migration()],
    )
    report = service.migrate(1, 2, batch_size=int(batch_size), dry_run=False, progress=progress)
    print(f"done: {report.migrated} migrated, {report.skipped} skipped", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
