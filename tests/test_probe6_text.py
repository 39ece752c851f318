"""Text no database can hold (a NUL character, a lone surrogate) where the service's
checks did not look: the names a definition writes into every row (its name, a str
version, stage names) and effect names (every outbox row), the data and history meta of
``import_journeys``, and the data a migration writes.  Each was stored by the memory
store (and, for a NUL, by SQLite) and refused by PostgreSQL with a ``StoreError`` (a raw
``UnicodeEncodeError`` for a migration on SQLite); now each is refused the same way on
every store, before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from service_support import STORES, store_factory

from journeyfsm import (
    DefinitionError,
    JourneyBuilder,
    JourneyMachine,
    JourneyService,
    Migration,
    SnapshotError,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
BAD = {"nul": "x\x00y", "lone surrogate": "x\udc80y"}


def _definition(name: str = "j", version: int | str = 1, stage: str = "b") -> Any:
    return (
        JourneyBuilder(name, version=version)
        .stage("a", initial=True)
        .stage(stage)
        .stage("c", final=True)
        .transition("go", "a", stage)
        .transition("end", stage, "c")
        .timeout(stage, timedelta(hours=1), "end")
        .build()
    )


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("field", ["name", "version", "stage"])
def test_a_definition_name_no_store_can_hold_is_a_definition_problem(field: str, bad: str) -> None:
    with pytest.raises(DefinitionError) as err:
        _definition(**{field: BAD[bad]})
    assert len(err.value.problems) == 1
    assert ("NUL" if bad == "nul" else "lone surrogate") in str(err.value)


@pytest.mark.parametrize("bad", sorted(BAD))
def test_an_effect_name_no_store_can_hold_is_refused_when_registered(bad: str) -> None:
    machine = JourneyMachine(_definition())
    with pytest.raises(ValueError, match="effect name must be"):
        machine.effect(on_enter="b", name=BAD[bad])(lambda call: None)
    assert machine.effect(on_enter="b", name="ok")(print) is print  # the registry is intact


@pytest.mark.parametrize("kind", STORES)
@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("where", ["data", "meta"])
def test_import_of_unstorable_text_is_one_snapshot_error_on_every_store(
    kind: str, bad: str, where: str, tmp_path: Path
) -> None:
    opener, close = store_factory(kind, tmp_path)
    try:
        machine = JourneyMachine(_definition())
        journey = machine.start("c-1", {"n": BAD[bad]} if where == "data" else None, at=T0)
        machine.fire(journey, "go", at=T0, meta={"m": BAD[bad]} if where == "meta" else None)
        service = JourneyService(machine, opener())
        with pytest.raises(SnapshotError) as err:
            service.import_journeys([journey])
        assert err.value.key == "c-1" and "no journeyfsm store can hold" in str(err.value)
        assert service.get("c-1") is None  # nothing written
    finally:
        close()


@pytest.mark.parametrize("kind", STORES)
@pytest.mark.parametrize("bad", sorted(BAD))
def test_a_migration_writing_unstorable_text_fails_the_journey_on_every_store(
    kind: str, bad: str, tmp_path: Path
) -> None:
    opener, close = store_factory(kind, tmp_path)
    try:
        v1, v2 = _definition(version=1), _definition(version=2)
        old = JourneyMachine(v1)
        JourneyService(old, opener()).handle("c-1", "go", at=T0)
        data: Callable[[Any], Any] = lambda d: {**d, "n": BAD[bad]}  # noqa: E731
        service = JourneyService(
            JourneyMachine(v2), opener(), versions=[old], migrations=[Migration(v1, v2, data=data)]
        )
        report = service.migrate(1, dry_run=False)
        assert report.migrated == 0 and [key for key, _ in report.failed] == ["c-1"]
        assert "no journeyfsm store can hold" in report.failed[0][1]
        stored = service.get("c-1")
        assert stored is not None and stored.data == {} and stored.version == 1  # unchanged
    finally:
        close()
