"""The live versions of a service's definition: which machine decides a stored row.

A service is given the machine of its newest version (``machine``: new journeys start on
it) and, in ``versions=``, the machines of older versions still live.  A row is decided by
the machine of the version it was written by (``on_old_version="pin"``, the default), or,
with ``on_old_version="migrate"``, migrated through the declared migrations to the newest
version when it is read and then decided by the newest machine; the migration's moves are
written in the same transaction as the event's.  Pure: no I/O (the drivers in _async.py
and _sync.py call it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import attrs

from .._async_machine import AsyncJourneyMachine
from .._errors import DataError, StoreError
from .._runtime import JourneyMachine
from .._versions import Migration, chain, version_key
from ._core import Decision, JourneyRow, decide_migration

__all__ = ["LiveVersions", "VersionPolicy"]

#: What a service does with a row of an older version: ``"pin"`` (decide it by that
#: version's machine until it finishes or is migrated) or ``"migrate"`` (migrate it to the
#: newest version when read, through the declared migrations).
VersionPolicy = Literal["pin", "migrate"]


def _sync(machine: object) -> JourneyMachine:
    if isinstance(machine, AsyncJourneyMachine):
        return machine._machine
    if isinstance(machine, JourneyMachine):
        return machine
    raise TypeError(
        f"versions= takes JourneyMachines (one per older live version), got {machine!r}"
    )


class LiveVersions:
    """The machines of a definition's live versions, the newest first, and its migrations."""

    def __init__(
        self,
        newest: JourneyMachine | AsyncJourneyMachine,
        versions: Sequence[JourneyMachine | AsyncJourneyMachine],
        migrations: Sequence[Migration],
        policy: VersionPolicy,
    ) -> None:
        if isinstance(versions, (JourneyMachine, AsyncJourneyMachine)) or not isinstance(
            versions, Sequence
        ):
            raise TypeError(
                f"versions= takes a list of the machines of older live versions, got {versions!r}"
            )
        if isinstance(migrations, Migration) or not isinstance(migrations, Sequence):
            raise TypeError(f"migrations= takes a list of Migration objects, got {migrations!r}")
        if policy not in ("pin", "migrate"):
            raise ValueError(f"on_old_version must be 'pin' or 'migrate', got {policy!r}")
        top = _sync(newest)
        name = top.definition.name
        self.newest: int | str = top.definition.version
        self.policy: VersionPolicy = policy
        self.machines: dict[int | str, JourneyMachine] = {self.newest: top}
        for machine in versions:
            m = _sync(machine)
            v = m.definition.version
            if m.definition.name != name:
                raise ValueError(
                    f"versions= holds a machine of definition {m.definition.name!r}; a service "
                    f"serves the versions of one definition ({name!r})"
                )
            if v in self.machines:
                raise ValueError(f"versions= gives version {v!r} of {name!r} twice")
            try:
                older = version_key(v) < version_key(self.newest)
            except TypeError:
                older = False
            if not older or type(v) is not type(self.newest):
                raise ValueError(
                    f"versions= holds version {v!r} of {name!r}, which is not older than "
                    f"the service's machine (version {self.newest!r}): the machine is the "
                    "newest version (new journeys start on it), versions= the older ones"
                )
            self.machines[v] = m
        self.migrations: dict[int | str, Migration] = {}
        for migration in migrations:
            if not isinstance(migration, Migration):
                raise TypeError(f"migrations= takes Migration objects, got {migration!r}")
            if migration.source.name != name:
                raise ValueError(
                    f"migrations= holds a migration of definition {migration.source.name!r}, "
                    f"not {name!r}"
                )
            if migration.source.version in self.migrations:
                raise ValueError(
                    f"migrations= holds two migrations from version "
                    f"{migration.source.version!r}: one per version"
                )
            live = self.machines.get(migration.target.version)
            if live is not None and live.definition != migration.target:
                raise ValueError(
                    f"the migration to version {migration.target.version!r} was declared "
                    "against another definition than the live machine of that version"
                )
            self.migrations[migration.source.version] = migration
        if policy == "migrate":
            for v in self.machines:
                if v != self.newest:
                    chain(list(self.migrations.values()), v, self.newest)  # raises if missing
        #: machines made for versions that are only migrated through (no hooks needed)
        self._made: dict[int | str, JourneyMachine] = {}
        #: the versions a row can be migrated from to the newest
        self._to_newest = self._sources()

    def machine_of(self, version: int | str) -> JourneyMachine | None:
        """The machine of ``version``: a live one, or one made from a migration's
        definition (to read or migrate its rows; it runs no hooks); ``None`` if unknown."""
        if type(version) is not int and type(version) is not str:
            return None  # a corrupted row: the caller's machine names it
        live = self.machines.get(version)
        if live is not None:
            return live
        made = self._made.get(version)
        if made is None:
            for m in self.migrations.values():
                for d in (m.source, m.target):
                    if d.version == version:
                        made = self._made[version] = JourneyMachine(d)
                        return made
        return made

    def chain(self, from_version: int | str, to_version: int | str) -> tuple[Migration, ...]:
        """The declared migrations from ``from_version`` to ``to_version``."""
        return chain(list(self.migrations.values()), from_version, to_version)

    def _made_or_live(self, version: int | str) -> JourneyMachine:
        machine = self.machine_of(version)
        assert machine is not None  # a migration's target always has a definition
        return machine

    def migrate_row(
        self, row: JourneyRow, to_version: int | str, now: datetime
    ) -> tuple[Decision, ...]:
        """The decisions that migrate ``row`` to ``to_version`` (pure)."""
        return decide_migration(
            self.chain(row.definition_version, to_version), self._made_or_live, row, now=now
        )

    def route(self, row: JourneyRow, now: datetime) -> tuple[JourneyMachine, tuple[Decision, ...]]:
        """The machine that decides ``row`` (of a version not the newest), and the
        migration's decisions to write first (empty when pinned)."""
        v = row.definition_version
        if type(v) is not int and type(v) is not str:
            # a corrupted row: the newest machine's restore names it (a StoreError)
            return self.machines[self.newest], ()
        if self.policy == "migrate" and v in self._to_newest:
            return self.machines[self.newest], self.migrate_row(row, self.newest, now)
        live = self.machines.get(v)
        if live is not None:
            return live, ()
        if len(self.machines) == 1 and not self.migrations:
            # one version, as before live versions: its machine's allow_version decides
            return self.machines[self.newest], ()
        newest = self.machines[self.newest]
        if newest._allowed is True or (newest._allowed and v in newest._allowed):
            return newest, ()
        raise StoreError(
            f"journeys row for journey {row.key!r} was written by version {v!r} of "
            f"definition {row.definition!r}, which this service does not run (live versions: "
            f"{', '.join(map(repr, self.machines))}; policy {self.policy!r}): give its "
            "machine in versions=, or declare a migration from it and use "
            "on_old_version='migrate' (or service.migrate)",
            table="journeys",
            key=row.key,
            stage=row.stage,
        )

    def finished(self, row: JourneyRow, trigger: str) -> JourneyMachine | None:
        """The machine of ``row``'s version if the row is a finished journey that
        ``trigger`` would not move there (its final stage has no candidate for it): a
        finished journey is no longer in flight, so its restart belongs to the newest
        version (docs/versions.md, "Re-entry across versions"); else ``None``."""
        v = row.definition_version
        if v == self.newest or (type(v) is not int and type(v) is not str):
            return None
        old = self.machine_of(v)
        if old is None:
            return None
        d = old.definition
        if row.stage not in d.final_stages or row.stage == d.initial_stage:
            return None
        if old._table.get(row.stage, {}).get(trigger):
            return None  # the final stage's own internal transitions win, on its version
        return old

    def restart(
        self, row: JourneyRow, trigger: str, now: datetime
    ) -> tuple[JourneyRow, tuple[Decision, ...]] | None:
        """For a row of an older version that ``trigger`` may restart: the row the newest
        machine decides, and the migration's decisions to write first if it moves
        (``None``: decide it by :meth:`route`).  Under ``"migrate"`` a row with a
        migration chain is migrated by :meth:`route` anyway."""
        if self.policy == "migrate" and row.definition_version in self._to_newest:
            return None
        if self.finished(row, trigger) is None:
            return None
        return self.restart_row(row, now)

    def restart_row(
        self, row: JourneyRow, now: datetime
    ) -> tuple[JourneyRow, tuple[Decision, ...]] | None:
        """A finished ``row`` (see :meth:`finished`) as the newest version would hold it,
        and the migration's decisions to write first: the same row relabelled when its
        final stage is final in the newest version too, else migrated through the
        declared migrations to a final stage of the newest; ``None`` when neither (the
        row's own version then decides it, as a pinned row)."""
        newest = self.machines[self.newest].definition
        if row.stage in newest.final_stages and row.stage != newest.initial_stage:
            goals = row.goals
            if goals is not None:
                # the clocks of goals the newest version lacks are dropped, as a
                # migration drops them (the restart starts every clock afresh anyway)
                names = {g.name for g in newest.goals}
                goals = {k: v for k, v in goals.items() if k in names} or None
            return attrs.evolve(row, definition_version=self.newest, goals=goals), ()
        if row.definition_version not in self._to_newest:
            return None
        try:
            migrated = self.migrate_row(row, self.newest, now)
        except (DataError, StoreError):
            return None  # a data function that refuses the row: pinned, as before
        last = migrated[-1].journey if migrated else None
        if last is None or last.stage not in newest.final_stages:
            return None
        return last, migrated

    def _sources(self) -> set[int | str]:
        """The versions a row can be migrated from to the newest."""
        out: set[int | str] = set()
        for v in self.migrations:
            try:
                self.chain(v, self.newest)
            except ValueError:
                continue
            out.add(v)
        return out
