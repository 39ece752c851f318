"""The tables as ``manage.py migrate`` creates them: the very statements of the stores.

SQLite: the statements ``SQLiteStore.create_schema`` runs (``journeyfsm.stores._sqlite``).
PostgreSQL: the statements ``PostgresStore.create_schema`` runs, as text (the store
composes them with ``psycopg.sql``); tests/test_contrib_django.py checks that a database
Django migrated is the one the store makes, and that the store's own ``create_schema``
on it changes nothing.  Every statement is idempotent (``IF NOT EXISTS``; the
schema-version row is written only when missing), so migrating a database a store
created first adopts its tables.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.migrations.operations.base import Operation

from ...stores._base import CAPS_SCHEMA, GOALS_SCHEMA, SCHEMA_VERSION, check_prefix
from ...stores._sqlite import _schema as _sqlite_schema

__all__ = [
    "CreateJourneyTables",
    "UpgradeJourneyTables",
    "UpgradeJourneyTables4",
    "UpgradeJourneyTables5",
    "statements",
    "upgrade_2",
]

_TABLES = ("deliveries", "outbox", "event_ids", "history", "journeys", "schema_version")


def statements(vendor: str, prefix: str) -> list[str]:
    """The statements that create the tables of ``prefix`` on ``vendor``."""
    check_prefix(prefix)

    def q(name: str) -> str:
        return f'"{prefix}{name}"'

    def version(v: str) -> str:
        return (
            f"INSERT INTO {v} (version) SELECT {SCHEMA_VERSION} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {v})"
        )

    if vendor == "sqlite":
        return [*_sqlite_schema(prefix), version(q("schema_version"))]
    if vendor != "postgresql":
        raise ValueError(
            f"journeyfsm's tables are made for SQLite and PostgreSQL, not {vendor}; "
            "point settings.JOURNEYFSM['DATABASE'] at one of those"
        )

    def t(name: str) -> str:
        # unqualified: the connection's current schema (its search_path), where Django's
        # models and DjangoStore find the tables too
        return q(name)

    return [
        f"CREATE TABLE IF NOT EXISTS {t('schema_version')} (version integer NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t('journeys')} (definition text NOT NULL, "
        "key text NOT NULL, definition_version jsonb NOT NULL, stage text NOT NULL, "
        "data jsonb NOT NULL, version integer NOT NULL, entered_at timestamptz NOT NULL, "
        "updated_at timestamptz NOT NULL, started_at timestamptz NOT NULL, "
        "entry_seq integer NOT NULL, timeouts_fired integer NOT NULL, "
        "next_due timestamptz, goals jsonb, PRIMARY KEY (definition, key))",
        f"CREATE INDEX IF NOT EXISTS {q('journeys_due')} ON {t('journeys')} "
        "(definition, next_due) WHERE next_due IS NOT NULL",
        f"CREATE TABLE IF NOT EXISTS {t('history')} (definition text NOT NULL, "
        "key text NOT NULL, seq integer NOT NULL, trigger text NOT NULL, "
        "source text NOT NULL, dest text NOT NULL, at timestamptz NOT NULL, event_id text, "
        "meta jsonb, definition_version jsonb, PRIMARY KEY (definition, key, seq))",
        f"CREATE TABLE IF NOT EXISTS {t('event_ids')} (definition text NOT NULL, "
        "key text NOT NULL, event_id text NOT NULL, seq integer NOT NULL, "
        "committed_at timestamptz NOT NULL, PRIMARY KEY (definition, key, event_id))",
        f"CREATE INDEX IF NOT EXISTS {q('event_ids_committed')} ON {t('event_ids')} (committed_at)",
        f"CREATE TABLE IF NOT EXISTS {t('outbox')} (id bigserial PRIMARY KEY, "
        "definition text NOT NULL, key text NOT NULL, seq integer NOT NULL, "
        "effect text NOT NULL, idempotency_key text NOT NULL UNIQUE, call jsonb NOT NULL, "
        "status text NOT NULL, attempts integer NOT NULL, available_at timestamptz NOT NULL, "
        "lease_owner text, lease_until timestamptz, last_error text, "
        "created_at timestamptz NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {q('outbox_due')} ON {t('outbox')} "
        "(definition, status, available_at)",
        *_ledger_schema(vendor, prefix),
        version(t("schema_version")),
    ]


def _ledger_schema(vendor: str, prefix: str) -> list[str]:
    """Schema 4's ledger of deliveries (the frequency caps), on ``vendor``."""
    check_prefix(prefix)
    if vendor == "sqlite":
        from ...stores._sqlite import _ledger_schema as _sqlite_ledger

        return _sqlite_ledger(lambda name: f'"{prefix}{name}"')
    d = f'"{prefix}deliveries"'
    return [
        f"CREATE TABLE IF NOT EXISTS {d} (outbox_id bigint PRIMARY KEY, "
        "customer text NOT NULL, channel text NOT NULL, at timestamptz NOT NULL)",
        f'CREATE INDEX IF NOT EXISTS "{prefix}deliveries_window" ON {d} (customer, channel, at)',
    ]


def upgrade_4(vendor: str, prefix: str) -> list[str]:
    """Schema 3 -> 4: the ledger table, then the version (idempotent; a fresh database
    that 0001 created at schema 4 already has both)."""
    where = ""  # the current schema (search_path), as statements() writes
    v = f'{where}"{prefix}schema_version"'
    return [
        *_ledger_schema(vendor, prefix),
        f"UPDATE {v} SET version = {CAPS_SCHEMA} WHERE version = {CAPS_SCHEMA - 1}",
    ]


def downgrade_4(vendor: str, prefix: str) -> list[str]:
    """Schema 4 -> 3: the ledger dropped (its counts with it)."""
    check_prefix(prefix)
    where = ""  # the current schema (search_path), as statements() writes
    return [
        f'DROP TABLE IF EXISTS {where}"{prefix}deliveries"',
        f'UPDATE {where}"{prefix}schema_version" SET version = {CAPS_SCHEMA - 1} '
        f"WHERE version = {CAPS_SCHEMA}",
    ]


def drops(vendor: str, prefix: str) -> list[str]:
    """The statements that drop the tables of ``prefix`` (the migration's reverse)."""
    check_prefix(prefix)
    where = ""  # the current schema (search_path), as statements() writes
    return [f'DROP TABLE IF EXISTS {where}"{prefix}{name}"' for name in _TABLES]


class _TablesOperation(Operation):
    """What journeyfsm's migration operations share: no model state, SQL only (so
    ``sqlmigrate`` prints it), the router's say, and the vendors the stores know."""

    reduces_to_sql = True
    reversible = True
    #: what ``migrate --plan`` prints
    description = ""

    def state_forwards(self, app_label: str, state: object) -> None:
        """No model state: the models are declared by ``CreateModel`` (unmanaged), and the
        tables without a model have none."""

    @staticmethod
    def allowed(alias: str, app_label: str) -> bool:
        """Whether the database router lets the app's tables into database ``alias``."""
        from django.db import router

        return bool(router.allow_migrate(alias, app_label))

    def _run(
        self,
        schema_editor: object,
        app_label: str,
        make: Callable[[str, str], list[str]],
        *,
        only_at: int | None = None,
    ) -> None:
        """Run (or, for ``sqlmigrate``, collect) ``make(vendor, prefix)``'s statements on
        the database being migrated; with ``only_at``, only when the recorded schema
        version is that one (a migrating run; ``sqlmigrate`` prints them all the same)."""
        from ._settings import config

        conn = schema_editor.connection  # type: ignore[attr-defined]
        if not self.allowed(conn.alias, app_label):
            return
        prefix = config().prefix
        if conn.vendor not in ("sqlite", "postgresql"):
            statements(conn.vendor, prefix)  # the error naming the vendors
        if only_at is not None and not getattr(schema_editor, "collect_sql", False):
            where = ""  # the current schema (search_path), as statements() writes
            with conn.cursor() as cursor:
                cursor.execute(f'SELECT version FROM {where}"{prefix}schema_version"')
                found = cursor.fetchall()
            if not found or found[0][0] != only_at:
                return
        for sql in make(conn.vendor, prefix):
            schema_editor.execute(sql, params=None)  # type: ignore[attr-defined]

    def describe(self) -> str:
        """What ``migrate --plan`` prints."""
        return self.description

    def deconstruct(self) -> tuple[str, list[object], dict[str, object]]:
        """How the operation is written in a migration file."""
        return (f"journeyfsm.contrib.django._schema.{type(self).__name__}", [], {})


class CreateJourneyTables(_TablesOperation):
    """The migration operation that creates journeyfsm's tables with the configured
    ``TABLE_PREFIX`` on the database being migrated (``sqlmigrate`` prints them).

    Reversible: migrating the app back to ``zero`` drops the tables and their rows.
    """

    description = (
        "Create journeyfsm's tables (journeys, history, event_ids, outbox, deliveries, "
        "schema_version)"
    )

    def database_forwards(
        self, app_label: str, schema_editor: object, from_state: object, to_state: object
    ) -> None:
        """Run (or, for ``sqlmigrate``, collect) the create statements."""
        self._run(schema_editor, app_label, statements)

    def database_backwards(
        self, app_label: str, schema_editor: object, from_state: object, to_state: object
    ) -> None:
        """Drop the tables."""
        self._run(schema_editor, app_label, drops)


def upgrade_2(vendor: str, prefix: str) -> list[str]:
    """The statements that take schema 2 to 3 (``history.definition_version``), as the
    stores' ``create_schema()`` runs them."""
    check_prefix(prefix)
    where = ""  # the current schema (search_path), as statements() writes
    kind = "jsonb" if vendor == "postgresql" else "TEXT"
    return [
        f'ALTER TABLE {where}"{prefix}history" ADD COLUMN definition_version {kind}',
        f'UPDATE {where}"{prefix}schema_version" SET version = 3',
    ]


class UpgradeJourneyTables(_TablesOperation):
    """The migration operation that upgrades tables an older journeyfsm created (schema
    2: no ``history.definition_version``) to schema 3; tables 0001 created with this
    journeyfsm are current already, and are left alone."""

    description = "Upgrade journeyfsm's tables to schema 3 (history.definition_version)"

    def database_forwards(
        self, app_label: str, schema_editor: object, from_state: object, to_state: object
    ) -> None:
        """Run the upgrade statements if the recorded schema version is 2."""
        self._run(schema_editor, app_label, upgrade_2, only_at=2)

    def database_backwards(
        self, app_label: str, schema_editor: object, from_state: object, to_state: object
    ) -> None:
        """Nothing: the column stays (0001's reverse drops the tables)."""


class UpgradeJourneyTables4(_TablesOperation):
    """The migration operation from schema 3 to 4 (the frequency caps' ledger table) on
    the database being migrated; reversible (the ledger is dropped)."""

    description = "Upgrade journeyfsm's tables to schema 4 (the frequency caps' deliveries ledger)"

    def database_forwards(
        self, app_label: str, schema_editor: object, from_state: object, to_state: object
    ) -> None:
        """Create the ledger and record schema 4."""
        self._run(schema_editor, app_label, upgrade_4)

    def database_backwards(
        self, app_label: str, schema_editor: object, from_state: object, to_state: object
    ) -> None:
        """Drop the ledger and record schema 3."""
        self._run(schema_editor, app_label, downgrade_4)


def upgrade_5(vendor: str, prefix: str) -> list[str]:
    """Schema 4 -> 5: ``journeys.goals`` (the goal clocks; ``NULL`` in the rows written
    before), then the version, as the stores' ``create_schema()`` runs them."""
    check_prefix(prefix)
    where = ""  # the current schema (search_path), as statements() writes
    kind = "jsonb" if vendor == "postgresql" else "TEXT"
    return [
        f'ALTER TABLE {where}"{prefix}journeys" ADD COLUMN goals {kind}',
        f'UPDATE {where}"{prefix}schema_version" SET version = {GOALS_SCHEMA} '
        f"WHERE version = {GOALS_SCHEMA - 1}",
    ]


def downgrade_5(vendor: str, prefix: str) -> list[str]:
    """Schema 5 -> 4: ``journeys.goals`` dropped (the goal clocks with it)."""
    check_prefix(prefix)
    where = ""  # the current schema (search_path), as statements() writes
    return [
        f'ALTER TABLE {where}"{prefix}journeys" DROP COLUMN goals',
        f'UPDATE {where}"{prefix}schema_version" SET version = {GOALS_SCHEMA - 1} '
        f"WHERE version = {GOALS_SCHEMA}",
    ]


class UpgradeJourneyTables5(_TablesOperation):
    """The migration operation from schema 4 to 5 (``journeys.goals``, the goal clocks)
    on the database being migrated: run when the recorded version is 4 (tables 0001
    created with this journeyfsm have the column already); reversible (the column is
    dropped)."""

    description = "Upgrade journeyfsm's tables to schema 5 (journeys.goals, the goal clocks)"

    def database_forwards(
        self, app_label: str, schema_editor: object, from_state: object, to_state: object
    ) -> None:
        """Add the column and record schema 5, if the recorded schema version is 4."""
        self._run(schema_editor, app_label, upgrade_5, only_at=GOALS_SCHEMA - 1)

    def database_backwards(
        self, app_label: str, schema_editor: object, from_state: object, to_state: object
    ) -> None:
        """Drop the column and record schema 4, if the recorded schema version is 5."""
        self._run(schema_editor, app_label, downgrade_5, only_at=GOALS_SCHEMA)
