"""Live versions of one definition and the declared migrations between them.

Theory of operation
-------------------
A definition's ``version`` (an int, or a str) names the rules a journey runs on.  Versions
are ordered by :func:`version_key`: ints numerically; strs by their dot-separated parts,
numeric parts as numbers (``"1.9" < "1.10"``); an int and a str are never compared (one
definition's live versions are all ints or all strs).  "Newest" is the greatest.

A :class:`Migration` says how a journey of version N continues on version N+1 (the next
live one): each stage of N goes to a stage of N+1 (``stages`` renames and merges,
``removed`` says where the journeys of a stage N+1 no longer has go, a stage of the
same name goes to itself), and ``data`` (optional) turns the journey's data into the data
N+1 expects.  It is checked completely when declared; every problem is reported at once
(``DefinitionError``).  Migrations chain: N -> N+1 -> N+2 is applied one step at a time.

Applying a migration is a move, written as one history entry (history is never rewritten):
trigger ``journeyfsm.migrate``, source the old stage, dest the new one, ``meta``
``{"from_version": N, "to_version": N+1}``; the journey's version counter counts it, so
the history chain and the row's version stay consistent.  The timeout clock: a stage
renamed, merged or kept goes on counting from when the journey entered it (a migration
restarts no timer; the timeouts already fired are capped at the new stage's count); a
journey moved out of a *removed* stage enters its new stage at the migration's time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from ._definition import JourneyDefinition
from ._errors import DataError, DefinitionError, Problem
from ._json import copy_checked, copy_json
from ._records import HistoryEntry, JSONDict

__all__ = ["MIGRATE_TRIGGER", "Migration", "MigrationStep", "chain", "version_key"]

#: the trigger of the history entry a migration writes
MIGRATE_TRIGGER = "journeyfsm.migrate"

_PART = re.compile(r"(\d+)|([^.\d]+)")


def version_key(version: int | str) -> tuple[Any, ...]:
    """The sort key that orders a definition's versions ("newest" is the greatest).

    >>> sorted(["1.10", "1.9", "2"], key=version_key)
    ['1.9', '1.10', '2']
    >>> version_key(3) > version_key(2)
    True
    """
    if type(version) is int:
        return (0, version)
    if type(version) is str:
        parts: list[tuple[int, int | str]] = []
        for piece in version.split("."):
            for number, text in _PART.findall(piece):
                parts.append((0, int(number)) if number else (1, text))
        return (1, tuple(parts))
    raise TypeError(f"a definition version is an int or a str, got {version!r}")


def _stage_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError(
            f"Migration({what}=...) takes a dict of old stage -> new stage, e.g. "
            f"{what}={{'cart': 'basket'}}, got {value!r}"
        )
    return dict(value)


def _stages(value: Any) -> dict[str, str]:
    return _stage_map(value, "stages")


def _removed(value: Any) -> dict[str, str]:
    return _stage_map(value, "removed")


@attrs.frozen
class MigrationStep:
    """What one migration does to one journey: its new stage and data, and whether it
    entered the stage now (``moved``: it left a removed stage) or keeps its clock."""

    stage: str
    data: JSONDict
    moved: bool


@attrs.frozen(eq=False)
class Migration:
    """How journeys of ``source`` (version N) continue on ``target`` (version N+1).

    ``stages`` maps a stage of N to the stage of N+1 it becomes (renames, and merges: two
    old stages to one new); ``removed`` maps a stage N+1 no longer has to where its
    journeys go; a stage in neither goes to the stage of the same name.  ``data(old)``
    returns the data for N+1 (JSON-shaped; default: unchanged).  A non-final stage
    becomes a final one only when mapped explicitly.  Every problem is reported at once.

    >>> from journeyfsm import JourneyBuilder
    >>> v1 = (JourneyBuilder("shop", version=1).stage("browse", initial=True)
    ...       .stage("cart").stage("paid", final=True)
    ...       .transition("add", "browse", "cart").transition("pay", "cart", "paid").build())
    >>> v2 = (JourneyBuilder("shop", version=2).stage("browse", initial=True)
    ...       .stage("basket").stage("paid", final=True)
    ...       .transition("add", "browse", "basket").transition("pay", "basket", "paid").build())
    >>> m = Migration(v1, v2, stages={"cart": "basket"}, data=lambda d: {**d, "v": 2})
    >>> m.step("cart", {"sku": "mug"})
    MigrationStep(stage='basket', data={'sku': 'mug', 'v': 2}, moved=False)
    """

    source: JourneyDefinition
    target: JourneyDefinition
    stages: Mapping[str, str] = attrs.field(factory=dict, converter=_stages)
    removed: Mapping[str, str] = attrs.field(factory=dict, converter=_removed)
    data: Callable[[JSONDict], JSONDict] | None = None

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        src, dst = self.source, self.target
        if not isinstance(src, JourneyDefinition) or not isinstance(dst, JourneyDefinition):
            raise TypeError(
                "Migration(source, target, ...) takes two JourneyDefinitions (machine.definition)"
                f", got {src!r} and {dst!r}"
            )
        if src.name != dst.name:
            problems.append(
                Problem(
                    f"migration from definition {src.name!r} to {dst.name!r}: a migration joins "
                    "two versions of ONE definition (the same name)"
                )
            )
        if type(src.version) is type(dst.version):
            if version_key(src.version) >= version_key(dst.version):
                problems.append(
                    Problem(
                        f"migration from version {src.version!r} to {dst.version!r}: the "
                        "target version must be newer than the source"
                    )
                )
        else:
            problems.append(
                Problem(
                    f"versions {src.version!r} and {dst.version!r} cannot be ordered: the "
                    "versions of one definition are all ints or all strs"
                )
            )
        if self.data is not None and not callable(self.data):
            problems.append(Problem(f"data= must be a function of the data, got {self.data!r}"))
        for what, mapping in (("stages", self.stages), ("removed", self.removed)):
            for old, new in mapping.items():
                if not isinstance(old, str) or not src.has_stage(old):
                    problems.append(
                        Problem(
                            f"{what}= maps {old!r}, which is not a stage of version "
                            f"{src.version!r} (stages: {', '.join(src.stage_names)})",
                            stage=str(old),
                        )
                    )
                    continue
                if not isinstance(new, str) or not dst.has_stage(new):
                    problems.append(
                        Problem(
                            f"{what}= sends stage {old!r} to {new!r}, which is not a stage of "
                            f"version {dst.version!r} (stages: {', '.join(dst.stage_names)})",
                            stage=old,
                        )
                    )
        for old in set(self.stages) & set(self.removed):
            problems.append(
                Problem(f"stage {old!r} is in both stages= and removed=: say it once", stage=old)
            )
        for old in self.removed:
            if isinstance(old, str) and dst.has_stage(old):
                problems.append(
                    Problem(
                        f"removed= names stage {old!r}, but version {dst.version!r} still has "
                        f"it: map it in stages= (a rename or merge) or leave it out",
                        stage=old,
                    )
                )
        for stage in src.stages:
            name = stage.name
            if name in self.stages or name in self.removed:
                continue
            if not dst.has_stage(name):
                problems.append(
                    Problem(
                        f"stage {name!r} of version {src.version!r} is not in version "
                        f"{dst.version!r}: say where its journeys go, in stages= (renamed or "
                        f"merged) or removed=",
                        stage=name,
                    )
                )
            elif dst.stage(name).final and not stage.final:
                problems.append(
                    Problem(
                        f"stage {name!r} is final in version {dst.version!r} but not in "
                        f"{src.version!r}: its journeys would end without a move; map it "
                        f"explicitly (stages={{{name!r}: {name!r}}}) if that is meant",
                        stage=name,
                    )
                )
        if problems:
            raise DefinitionError(problems, name=f"{src.name} migration")

    def _target_of(self, stage: str) -> tuple[str, bool]:
        if stage in self.stages:
            return self.stages[stage], False
        if stage in self.removed:
            return self.removed[stage], True
        return stage, False

    def step(self, stage: str, data: Mapping[str, Any]) -> MigrationStep:
        """The new stage and data of a journey in ``stage`` with ``data``; ``DataError``
        if the data function raises or returns what is not JSON-shaped."""
        if not self.source.has_stage(stage):
            raise DataError(
                f"stage {stage!r} is not a stage of version {self.source.version!r} of "
                f"{self.source.name!r}: the journey cannot be migrated",
                path="stage",
            )
        new_stage, moved = self._target_of(stage)
        # a deep copy: the function may change what it is given, never the caller's data
        new_data: Any = copy_json(dict(data))
        if self.data is not None:
            try:
                new_data = self.data(new_data)
            except Exception as err:
                raise DataError(
                    f"the data function of the migration {self.source.version!r} -> "
                    f"{self.target.version!r} raised {type(err).__name__}: {err}",
                    path="data",
                ) from err
            if type(new_data) is not dict:
                raise DataError(
                    f"the data function of the migration {self.source.version!r} -> "
                    f"{self.target.version!r} returned {type(new_data).__name__}, not a dict",
                    path="data",
                )
        return MigrationStep(new_stage, copy_checked(new_data, "migrated data"), moved)

    def entry(self, seq: int, stage: str, new_stage: str, at: datetime) -> HistoryEntry:
        """The history entry that records this migration of a journey."""
        return HistoryEntry(
            seq,
            MIGRATE_TRIGGER,
            stage,
            new_stage,
            at,
            None,
            {"from_version": self.source.version, "to_version": self.target.version},
        )


def chain(
    migrations: Sequence[Migration], from_version: int | str, to_version: int | str
) -> tuple[Migration, ...]:
    """The migrations that take a journey from ``from_version`` to ``to_version``, in
    order; ``ValueError`` naming the missing step.

    >>> chain([], 1, 1)
    ()
    """
    by_source = {m.source.version: m for m in migrations}
    out: list[Migration] = []
    at = from_version
    while at != to_version:
        step = by_source.get(at)
        if step is None or version_key(step.target.version) > version_key(to_version):
            stops = "" if at == from_version else f" (the chain stops at version {at!r})"
            raise ValueError(
                f"no declared migration leads from version {from_version!r} to "
                f"{to_version!r}{stops}; migrations are declared from versions "
                f"{', '.join(map(repr, by_source)) or 'none'}: declare the missing "
                f"Migration(<version {at!r}>, <the next version>, ...)"
            )
        out.append(step)
        at = step.target.version
    return tuple(out)
