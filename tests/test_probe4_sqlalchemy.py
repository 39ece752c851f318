"""Probing journeyfsm.contrib.sqlalchemy on SQLite and PostgreSQL: what a move refuses
through a ``SessionStore`` is what every store refuses (text no database can hold is a
``DataError``, it was a ``StoreError`` on PostgreSQL and stored on SQLite), and the
session's transaction is left usable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from service_support import pg_dsn
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from journeyfsm import DataError, JourneyMachine, JourneyService, templates
from journeyfsm.contrib.sqlalchemy import SessionStore, create_schema

MACHINE = JourneyMachine(templates.aida())


@MACHINE.on_transition("engage")
def _note(ctx: object) -> None:
    payload = ctx.payload  # type: ignore[attr-defined]
    if payload:
        ctx.journey.data.update(payload)  # type: ignore[attr-defined]


def _pg_url() -> str:
    info = psycopg.conninfo.conninfo_to_dict(pg_dsn())
    user = info.get("user") or "postgres"
    return f"postgresql+psycopg://{user}@/{info.get('dbname') or 'postgres'}?host={info['host']}"


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    """An engine with journeyfsm's tables (of a prefix of the test's own) and ``orders``."""
    url = f"sqlite:///{tmp_path / 'sa.db'}" if request.param == "sqlite" else _pg_url()
    made = create_engine(url)
    prefix = f"p4{uuid.uuid4().hex[:8]}_"
    create_schema(made, prefix=prefix)
    with made.begin() as conn:
        conn.execute(text(f"CREATE TABLE {prefix}orders (customer TEXT)"))
    yield made, prefix
    with made.begin() as conn:
        for name in ("orders", "journeys", "history", "event_ids", "outbox", "deliveries"):
            conn.execute(text(f"DROP TABLE IF EXISTS {prefix}{name}"))
        conn.execute(text(f"DROP TABLE IF EXISTS {prefix}schema_version"))
    made.dispose()


@pytest.mark.parametrize("value", ["a\x00b", "a\udcffb"], ids=["nul", "lone surrogate"])
def test_unstorable_text_is_a_data_error_and_the_session_goes_on(
    engine: tuple[Engine, str], value: str
) -> None:
    made, prefix = engine
    with Session(made) as session:
        service = JourneyService(MACHINE, SessionStore(session, prefix=prefix))
        session.execute(text(f"INSERT INTO {prefix}orders VALUES ('c-1')"))
        with pytest.raises(DataError, match="nothing was written"):
            service.handle("c-1", "engage", {"note": value}, event_id="e-1")
        assert service.handle("c-1", "engage", {"note": "ok"}, event_id="e-1").moved
        session.commit()
    with Session(made) as session:
        journey = JourneyService(MACHINE, SessionStore(session, prefix=prefix)).get("c-1")
        assert journey is not None and journey.data == {"note": "ok"}
        orders = session.execute(text(f"SELECT COUNT(*) FROM {prefix}orders")).scalar_one()
        assert orders == 1
