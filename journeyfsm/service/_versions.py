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
from .._errors import StoreError
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

    def route(
        self, row: JourneyRow, now: datetime, *, event: bool = True
    ) -> tuple[JourneyMachine, tuple[Decision, ...], JourneyRow]:
        """The machine that decides ``row`` (of a version not the newest), the
        migration's decisions to write first (empty when pinned), and the row that
        machine decides (``row`` itself, the migrated row, or a finished row taken over
        by the newest version for an ``event``; a tick leaves a finished row on its
        version: its final stage's timeouts are that version's)."""
        v = row.definition_version
        if type(v) is not int and type(v) is not str:
            # a corrupted row: the newest machine's restore names it (a StoreError)
            return self.machines[self.newest], (), row
        if self.policy == "migrate" and v in self._to_newest:
            return self._migrated(row, now)
        live = self.machines.get(v)
        if live is not None:
            if event and row.stage in live.definition.final_stages:
                return self._finished(row, live, now)
            return live, (), row
        if len(self.machines) == 1 and not self.migrations:
            # one version, as before live versions: its machine's allow_version decides
            return self.machines[self.newest], (), row
        newest = self.machines[self.newest]
        if newest._allowed is True or (newest._allowed and v in newest._allowed):
            return newest, (), row
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

    def _migrated(
        self, row: JourneyRow, now: datetime
    ) -> tuple[JourneyMachine, tuple[Decision, ...], JourneyRow]:
        migrated = self.migrate_row(row, self.newest, now)
        last = migrated[-1].journey
        assert last is not None  # a migration's decision always writes the row
        return self.machines[self.newest], migrated, last

    def _finished(
        self, row: JourneyRow, pinned: JourneyMachine, now: datetime
    ) -> tuple[JourneyMachine, tuple[Decision, ...], JourneyRow]:
        """A journey that has finished on an older version is no longer in flight, so
        the newest version decides what happens to it next (its entry rule decides a
        restart, and the new run is on the newest version): through the declared
        migrations when there are some to the newest, else as it is when the newest
        version has its stage as a final stage too.  Otherwise (the newest version has
        no such final stage and no migration says where the journey would be) the
        version it finished on decides, as before."""
        if row.definition_version in self._to_newest:
            return self._migrated(row, now)
        newest = self.machines[self.newest]
        if row.stage not in newest.definition.final_stages:
            return pinned, (), row
        goals = row.goals
        if goals is not None:
            # the clocks of goals the newest version does not have are dropped, as a
            # migration drops them; a restart starts every clock afresh anyway
            names = {g.name for g in newest.definition.goals}
            goals = {k: v for k, v in goals.items() if k in names} or None
        taken = attrs.evolve(row, definition_version=self.newest, goals=goals)
        return newest, (), taken

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
