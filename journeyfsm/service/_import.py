"""The sans-IO half of ``JourneyService.import_journeys``: a finished ``Journey`` checked
by its machine and turned into the rows a store keeps for it (the drivers, _async.py and
the _sync.py generated from it, write them ``batch_size`` journeys per transaction).

A journey is imported as the machine would restore it: ``snapshot`` then ``restore``
(every field checked, the history a chain of known stages ending in the journey's stage,
``version`` equal to the number of moves, a clock a journey can have), plus what only a
*whole* journey must satisfy: it belongs to this definition, its first move leaves the
initial stage (a journey without moves is still there), its timeout clock is known
(``started_at`` and ``entered_at``: the store arms its timeouts from them) and no event
id appears twice in its history.  The rows are those the journey's moves would have
written, without outbox rows: an imported move never runs an effect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .._errors import DataError, SnapshotError
from .._records import Journey
from .._runtime import JourneyMachine
from ._core import _row, _unicode
from ._core import unstorable as unstorable_text
from ._records import EventIdRow, JourneyImport

__all__ = ["import_row", "unstorable"]


def import_row(machine: JourneyMachine, journey: Any, now: datetime, index: int) -> JourneyImport:
    """The rows of ``journey`` (item ``index`` of an import) after checking all of it;
    ``SnapshotError`` (a ``ValueError``) naming the journey and what is wrong, or
    ``TypeError`` for something that is not a ``Journey``.

    >>> from datetime import datetime, timezone
    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> journey = machine.start("c-1", at=t0)
    >>> _ = machine.fire(journey, "engage", at=t0, event_id="e-1")
    >>> rows = import_row(machine, journey, t0, 0)
    >>> rows.row.stage, [e.seq for e in rows.history], [(i.event_id, i.seq) for i in rows.event_ids]
    ('interest', [1], [('e-1', 1)])
    """
    if not isinstance(journey, Journey):
        raise TypeError(
            f"import_journeys() takes Journey objects (final journeys of a replay, or "
            f"JourneyMachine.restore(snapshot)); item {index} is {journey!r}"
        )
    name, key = machine.definition.name, journey.key
    where = f"cannot import journey {key!r} (item {index})"
    if not isinstance(key, str) or not key or "\x00" in key or not _unicode(key):
        raise SnapshotError(
            f"{where}: a journey key must be a non-empty str without NUL characters or "
            "lone surrogates (databases such as PostgreSQL cannot store them); clean the "
            "key first",
            key=key if isinstance(key, str) else None,
            stage=journey.stage,
        )
    if journey.definition is not None and journey.definition != name:
        raise SnapshotError(
            f"{where}: it belongs to definition {journey.definition!r}, not {name!r}; import "
            f"it with a service whose machine runs {journey.definition!r}",
            key=key,
            stage=journey.stage,
        )
    try:
        checked = machine.restore(machine.snapshot(journey))
    except (SnapshotError, DataError) as err:
        raise SnapshotError(f"{where}: {err}", key=key, stage=journey.stage) from err
    history = tuple(checked.history)
    for where_, value in (
        ("data", checked.data),
        *((f"history[{e.seq - 1}].meta", e.meta) for e in history),
    ):
        bad = None if value is None else unstorable_text(value)
        if bad is not None:  # what no store can hold: one error on every store
            what = "a NUL character" if "\x00" in bad else "a lone surrogate (not valid Unicode)"
            raise SnapshotError(
                f"{where}: a str in its {where_} holds {what}, which no journeyfsm store can "
                f"hold: {bad[:40]!r}; nothing of its batch was written: drop the character "
                "(or decode with errors='replace') first",
                key=key,
                stage=checked.stage,
            )
    first = machine.definition.initial_stage
    if (history[0].source if history else checked.stage) != first:
        moved = f"its first move leaves {history[0].source!r}" if history else "it has no moves"
        raise SnapshotError(
            f"{where}: {moved} but stage {checked.stage!r} is not where it started: every "
            f"journey starts in the initial stage {first!r}; import the whole history",
            key=key,
            stage=checked.stage,
        )
    if checked.started_at is None or checked.entered_at is None:
        raise SnapshotError(
            f"{where}: its timeout clock is unknown (started_at {checked.started_at}, "
            f"entered_at {checked.entered_at}; a format 1 snapshot?); a store arms timeouts "
            "from it: set both on the journey (entered_at: the time of its last stage entry)",
            key=key,
            stage=checked.stage,
        )
    seqs: dict[str, int] = {}
    for entry in history:
        if entry.event_id is None:
            continue
        if "\x00" in entry.event_id or not _unicode(entry.event_id):
            raise SnapshotError(
                f"{where}: event id {entry.event_id!r} of move {entry.seq} holds a NUL "
                "character or a lone surrogate, which databases such as PostgreSQL cannot "
                "store",
                key=key,
                stage=checked.stage,
            )
        first_seq = seqs.setdefault(entry.event_id, entry.seq)
        if first_seq != entry.seq:
            raise SnapshotError(
                f"{where}: event id {entry.event_id!r} made moves {first_seq} and {entry.seq}; "
                "an event id moves a journey once: give the events distinct ids",
                key=key,
                stage=checked.stage,
            )
    ids = tuple(EventIdRow(name, key, eid, seq, now) for eid, seq in seqs.items())
    return JourneyImport(_row(machine, checked, now), history, ids)


def unstorable(batch: Sequence[JourneyImport], err: UnicodeEncodeError) -> SnapshotError:
    """The error for a batch a store could not encode (a lone surrogate in a journey's
    data or a history entry's meta): it names the first journey that holds one."""
    for item in batch:
        entries = [(e.trigger, e.meta) for e in item.history]
        try:
            json.dumps([item.row.data, item.row.goals, entries], ensure_ascii=False).encode()
        except UnicodeEncodeError:
            key = item.row.key
            break
    else:  # pragma: no cover - the store's text came from somewhere in the batch
        key = None
    return SnapshotError(
        f"cannot import journey {key!r}: a str in its data or its history's meta is not "
        f"valid Unicode ({err.reason}: {err.object[err.start : err.end]!r}); nothing of "
        "its batch was written: decode the text with errors='replace' first",
        key=key,
    )
