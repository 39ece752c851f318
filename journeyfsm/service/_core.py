"""The sans-IO core of the service: one pure step from (stored journey, event) to a decision.

Theory of operation
-------------------
A durable move is "read, decide, write".  Reading and writing are a store's business and
belong to a driver (``JourneyService`` today, an async twin later); deciding is here, once,
and does no I/O, as h11's state machine never touches a socket:

    driver: row = load(definition, key); seen = event_seq(definition, key, event_id)
    core:   decision = decide(machine, row, event, seen_seq=seen, now=now)
    driver: if decision.writes: write(decision)  -- ONE transaction, version-checked

``decide`` refuses bad input before anything could be written (unknown trigger, payload
that is not JSON-shaped, naive ``at``, bad event id), answers ``duplicate`` (with the seq
of the move the event id made) for an event id the store has committed, rebuilds the
journey from its row (a corrupted row is a ``StoreError`` naming the table and key),
fires it with deferred effects, and returns exactly the rows a move must write:

- the journey row, with the version the stored row must still have (``None``: the row
  must not exist yet; a journey is first written by its first move),
- the new history entry,
- the event id with the seq of the move (when the event had one),
- one outbox row per pending effect (``EffectCall.to_dict()``).

A blocked, ignored or duplicate event writes nothing (DESIGN Semantics 6: event ids are
remembered only for moves).  The store's write is what makes the move exactly-once: the
check of the row's clock token (its ``version`` and ``timeouts_fired``) and the unique
event id fail if another worker committed first, and the driver then reads and decides
again.

Time.  A row keeps the journey's timeout clock (``started_at``, ``entered_at``,
``entry_seq``, ``timeouts_fired``) and ``next_due``, the time its next timeout is due
(``None``: nothing armed), computed from the journey after each decision.  Before an
event at time ``t`` is fired, every timeout due up to ``t`` fires first (``_fire_due``,
the loop of ``JourneyMachine.tick`` with deferred effects), so a journey's history does
not depend on when a tick worker last ran; those moves travel as ``Decision.timeouts``
and are written in the same transaction.  ``decide_tick`` is the same loop for a row a
tick claimed.  A timeout that is blocked or ignored still fires (``timeouts_fired``
moves on): that is a row write without a history entry, and why the clock token holds
``timeouts_fired`` besides ``version``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from .._clock import ensure_utc
from .._errors import DataError, SnapshotError, SnapshotVersionError, StoreError
from .._goals import GoalMiss
from .._json import FrozenDict, FrozenList, check_json, copy_checked
from .._outcome import Outcome
from .._records import NO_HISTORY, Journey, new_journey
from .._runtime import JourneyMachine
from .._versions import Migration
from ._records import (
    Decision,
    Event,
    EventIdRow,
    JourneyRow,
    OutboxRow,
    TickDecision,
    TickReport,
)

UTC = timezone.utc

__all__ = [
    "Decision",
    "Event",
    "EventIdRow",
    "JourneyRow",
    "OutboxRow",
    "TickDecision",
    "TickReport",
    "decide",
    "decide_migration",
    "decide_tick",
    "journey_from_row",
    "journey_from_snapshot",
]


def journey_from_row(machine: JourneyMachine, row: JourneyRow, *, table: str) -> Journey:
    """The journey a stored row describes; ``StoreError`` naming ``table`` and key if corrupted."""
    name = machine.definition.name
    if row.definition != name:
        raise StoreError(
            f"{table} row for journey {row.key!r} belongs to definition {row.definition!r}, "
            f"not {name!r}; use a service whose machine runs {row.definition!r}",
            table=table,
            key=row.key,
        )
    journey = _typed_restore(machine, row)
    if journey is not None:
        return journey
    snapshot = {
        "format": 2,
        "definition": row.definition,
        "definition_version": row.definition_version,
        "key": row.key,
        "stage": row.stage,
        "data": row.data,
        "version": row.version,
        "event_ids": None,
        "started_at": row.started_at.isoformat(),
        "entered_at": row.entered_at.isoformat(),
        "entry_seq": row.entry_seq,
        "timeouts_fired": row.timeouts_fired,
    }
    if row.goals is not None:
        snapshot["goals"] = row.goals
    try:
        return machine.restore(snapshot)
    except SnapshotVersionError as err:
        raise _other_version(err, table, row.key, row.stage) from err
    except (SnapshotError, DataError) as err:
        raise StoreError(
            f"{table} row for journey {row.key!r} (definition {name!r}) is corrupted: {err}; "
            "repair or migrate the row (its stage must exist in this definition version)",
            table=table,
            key=row.key,
            stage=row.stage,
        ) from err


def _typed_restore(machine: JourneyMachine, row: JourneyRow) -> Journey | None:
    """The journey of ``row`` restored from its typed values, when every one of them is
    what ``restore`` accepts without a doubt: the row of the machine's own version, no
    goals, a known stage, data a JSON-shaped dict, UTC times and a consistent clock.
    Anything else is ``None``, and the row goes through ``machine.restore`` as a
    snapshot, which raises the error it has (a stored row is user input): this makes no
    snapshot dict, no ISO text and no parse of it again for the usual row."""
    d = machine.definition
    version, entry_seq, fired = row.version, row.entry_seq, row.timeouts_fired
    started, entered, data = row.started_at, row.entered_at, row.data
    if (
        type(row.key) is not str
        or not row.key
        or row.goals is not None
        or d.goals
        or row.definition_version != d.version
        or type(row.definition_version) is not type(d.version)
        or type(row.stage) is not str
        or not d.has_stage(row.stage)
        or type(data) is not dict
        or type(version) is not int
        or type(entry_seq) is not int
        or type(fired) is not int
        or not 0 <= entry_seq <= version
        or started.__class__ is not datetime
        or started.tzinfo is not UTC
        or entered.__class__ is not datetime
        or entered.tzinfo is not UTC
        or (entry_seq == 0 and entered != started)
        or (fired and not 0 <= fired <= len(machine._timeouts.get(row.stage, ())))
        or fired < 0
    ):
        return None
    try:
        data = copy_checked(data, "data")
    except DataError:
        return None
    return new_journey(
        row.key,
        row.stage,
        data,
        NO_HISTORY,
        version,
        None,
        d.name,
        started,
        entered,
        entry_seq,
        fired,
    )


def _unicode(text: str) -> bool:
    """Whether ``text`` can be stored as UTF-8 (a lone surrogate, as from
    ``bytes.decode(errors="surrogateescape")``, cannot); ``isascii`` is a flag test."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def not_unicode(event: Event, err: UnicodeEncodeError) -> DataError:
    """The error for a str of an event's payload or meta, or of the journey's data after
    its hooks, that cannot be stored (a lone surrogate): the store refused the write."""
    return DataError(
        f"journey {event.key!r}, trigger {event.trigger!r}: a str in the payload, the meta "
        f"or the data the move wrote is not valid Unicode ({err.reason}: "
        f"{err.object[err.start : err.end]!r}); nothing was written: decode the text with "
        "errors='replace' (or drop the character) before handing it in",
        path="payload",
        key=event.key,
        trigger=event.trigger,
    )


def unstorable(value: object) -> str | None:
    """The first str (a value or a dict key) inside the JSON-shaped ``value`` that no
    store can hold, or ``None``: a NUL character (PostgreSQL's ``jsonb`` and ``text``
    refuse it) or a lone surrogate (not UTF-8).  Checked by the service before a store
    sees the value, so every store refuses the same input with the same ``DataError``."""
    t = value.__class__
    if t is str:
        text: str = value  # type: ignore[assignment]
        return text if "\x00" in text or not _unicode(text) else None
    if t is dict or t is FrozenDict:  # (history meta is frozen)
        for k, v in value.items():  # type: ignore[attr-defined]
            found = unstorable(k) or (None if v is None else unstorable(v))
            if found is not None:
                return found
    elif t is list or t is FrozenList:
        for v in value:  # type: ignore[attr-defined]
            found = unstorable(v)
            if found is not None:
                return found
    return None


def not_storable(
    text: str, where: str, key: str, trigger: str | None, stage: str | None = None
) -> DataError:
    """The error for ``text`` (see :func:`unstorable`) found in ``where``."""
    what = "a NUL character" if "\x00" in text else "a lone surrogate (not valid Unicode)"
    return DataError(
        f"journey {key!r}, trigger {trigger!r}: a str in the {where} holds {what}, which no "
        f"journeyfsm store can hold (PostgreSQL refuses NUL, UTF-8 has no lone surrogates): "
        f"{text[:40]!r}; nothing was written: drop the character (or decode with "
        "errors='replace') before handing the text in",
        path=where,
        key=key,
        stage=stage,
        trigger=trigger,
    )


def check_key(key: object) -> None:
    """Refuse a journey key no store can hold (what ``handle`` refuses)."""
    if not isinstance(key, str) or not key or "\x00" in key or not _unicode(key):
        raise ValueError(
            f"journey key must be a non-empty str without NUL characters or lone "
            f"surrogates (databases such as PostgreSQL cannot store them), got {key!r}"
        )


def stored_key(key: object) -> bool:
    """For a read (``get``, ``peek``, ``history``): refuse what is not a key at all; whether
    a store can hold ``key`` (a NUL or a lone surrogate: never stored, nothing to read)."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"journey key must be a non-empty str, got {key!r}")
    return "\x00" not in key and _unicode(key)


def check_page(after: object, limit: object) -> tuple[int, int]:
    """A history page's ``after`` and ``limit``, checked; a huge one is "all of them"."""
    if type(after) is not int:
        raise ValueError(f"after must be an int (a seq; 0 = from the start), got {after!r}")
    if type(limit) is not int or limit < 1:
        raise ValueError(f"limit must be an int >= 1, got {limit!r}")
    # the databases' integers are 64-bit: no journey has more entries than this
    return max(min(after, _ALL), -1), min(limit, _ALL)


_ALL = 2**62


def check_event(machine: JourneyMachine, event: Event, at: str = "Event(at=...)") -> None:
    """Refuse an event that must never reach a store: raise before anything is written.
    ``at`` names the event's time as the caller passed it (``"handle(at=...)"``)."""
    key, trigger = event.key, event.trigger
    check_key(key)
    if not isinstance(trigger, str) or trigger not in machine._events:
        raise machine._unknown(trigger, None)  # the UnknownTrigger fire raises, before any load
    eid = event.event_id
    if eid is not None and (type(eid) is not str or not eid or "\x00" in eid or not _unicode(eid)):
        raise TypeError(
            f"event_id must be a non-empty str without NUL characters or lone surrogates, "
            f"or None, got {eid!r} (journey {key!r}, trigger {trigger!r})"
        )
    if event.policy is not None and event.policy not in ("ignore", "strict"):
        raise ValueError(
            f"policy must be 'ignore', 'strict' or None (the definition's), got "
            f"{event.policy!r} (journey {key!r}, trigger {trigger!r})"
        )
    if event.at is not None:
        ensure_utc(event.at, what=f"{at} (journey {key!r}, trigger {trigger!r})")
    check_json(event.payload, "payload", key=key, trigger=trigger)
    found = unstorable(event.payload)
    if found is not None:
        raise not_storable(found, "payload", key, trigger)
    if event.meta is not None:
        if not isinstance(event.meta, Mapping):
            raise TypeError(
                f"meta must be a JSON-shaped dict, got {type(event.meta).__name__} "
                f"(journey {key!r}, trigger {trigger!r})"
            )
        meta = dict(event.meta)
        check_json(meta, "meta", key=key, trigger=trigger)
        found = unstorable(meta)
        if found is not None:
            raise not_storable(found, "meta", key, trigger)


def decide(
    machine: JourneyMachine,
    row: JourneyRow | None,
    event: Event,
    *,
    seen_seq: int | None,
    now: datetime,
    initial_data: Callable[[str], Mapping[str, Any] | None] | None = None,
    table: str = "journeys",
    checked: bool = False,
) -> Decision:
    """The pure step: what handling ``event`` does to the journey stored as ``row``.

    ``seen_seq`` is the seq the store recorded for ``event.event_id`` (``None``: not
    seen); ``now`` is the driver's clock reading (commit times); ``initial_data`` makes
    the data of a journey that has no row yet; ``checked=True`` skips the input checks
    a driver already made with :func:`check_event`.

    >>> from datetime import datetime, timezone
    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> d = decide(machine, None, Event("c-1", "engage", event_id="e1"), seen_seq=None, now=now)
    >>> d.outcome.status, d.journey.stage, d.expected_version, d.event_id.seq
    ('moved', 'interest', None, 1)
    """
    if not checked:
        check_event(machine, event)
    key = event.key
    if seen_seq is not None:
        stage = row.stage if row is not None else machine.definition.initial_stage
        return Decision(
            Outcome(
                "duplicate", key, event.trigger, stage, None, None, event.event_id, seq=seen_seq
            ),
            now,
        )
    if row is None:
        data = initial_data(key) if initial_data is not None else None
        # the first event starts the journey: its first stage's timeouts count from then
        journey = machine.start(key, data, at=event.at or now)
    else:
        if row.key != key:
            raise StoreError(
                f"{table} returned the row of journey {row.key!r} for journey {key!r}",
                table=table,
                key=key,
            )
        journey = journey_from_row(machine, row, table=table)
    at = event.at or now
    timeouts = _fire_due(machine, journey, row, until=at, now=now)
    before = timeouts[-1].journey if timeouts else row
    version, n = journey.version, len(journey.history)
    outcome = machine.fire(
        journey,
        event.trigger,
        event.payload,
        at=at,
        event_id=event.event_id,
        meta=event.meta,
        policy=event.policy,
        defer_effects=True,
    )
    # goals met or missed by what fired before the event are this call's too
    earlier = tuple(e for d in timeouts if d.outcome is not None for e in d.outcome.goals)
    if earlier:
        outcome = attrs.evolve(outcome, goals=earlier + outcome.goals)
    if journey.version == version:  # nothing recorded: blocked, ignored (or duplicate)
        return Decision(outcome, now, timeouts=timeouts)
    # every entry the call recorded (goals missed first, a re-entry's first step, the
    # event's move, goals met) is one chained decision; the last carries the outcome
    *steps, last = _moves(machine, journey, before, outcome, now, event.event_id, n)
    return attrs.evolve(last, timeouts=(*timeouts, *steps))


def _moves(
    machine: JourneyMachine,
    journey: Journey,
    before: JourneyRow | None,
    outcome: Outcome,
    now: datetime,
    event_id: str | None,
    n: int,
) -> list[Decision]:
    """The decisions of one call that recorded the journey's history entries after its
    first ``n`` (a journey from a row holds only what was recorded since it was loaded):
    one per entry, chained from ``before``.  The last has the journey's row as it is now,
    the outcome, the event id and the outbox rows; each one before it the same row at its
    own entry's version and stage (overwritten by the next, in the same transaction)."""
    entries = journey.history[n:]
    final = _row(machine, journey, now)
    found = unstorable(final.data)  # what the hooks (or initial_data) wrote
    if found is not None:
        raise not_storable(found, "data", final.key, outcome.trigger, outcome.source)
    name, key = final.definition, final.key
    out: list[Decision] = []
    for entry in entries[:-1]:
        row = attrs.evolve(final, stage=entry.dest, version=entry.seq)
        out.append(
            Decision(
                None,
                now,
                row,
                None if before is None else before.version,
                entry,
                None,
                (),
                None if before is None else before.timeouts_fired,
            )
        )
        before = row
    moved = outcome.entry
    ids = (
        EventIdRow(name, key, event_id, moved.seq, now)
        if event_id is not None and moved is not None and outcome.moved
        else None
    )
    outbox = tuple(
        OutboxRow(name, key, call.seq, call.effect, call.idempotency_key, call.to_dict())
        for call in outcome.pending_effects
    )
    out.append(
        Decision(
            outcome,
            now,
            final,
            None if before is None else before.version,
            entries[-1],
            ids,
            outbox,
            None if before is None else before.timeouts_fired,
        )
    )
    return out


def decide_tick(
    machine: JourneyMachine,
    row: JourneyRow,
    *,
    until: datetime,
    now: datetime,
    table: str = "journeys",
) -> TickDecision:
    """The pure step of a tick: fire every timeout of the journey stored as ``row`` that
    is due at ``until``, as ``JourneyMachine.tick`` does (effects deferred to outbox rows).

    ``now`` is the driver's clock reading (commit times).  If nothing is due although the
    row's ``next_due`` said so (the definition's timeouts changed), the one decision
    repairs ``next_due``.

    >>> from datetime import datetime, timedelta, timezone
    >>> from journeyfsm import JourneyBuilder, JourneyMachine
    >>> d = (JourneyBuilder("cart").stage("cart", initial=True).stage("abandoned", final=True)
    ...      .transition("abandon", "cart", "abandoned")
    ...      .timeout("cart", timedelta(hours=24), "abandon").build())
    >>> machine = JourneyMachine(d)
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> from journeyfsm.service._core import _row
    >>> row = _row(machine, machine.start("c-1", at=t0), t0)
    >>> row.next_due - t0
    datetime.timedelta(days=1)
    >>> decided = decide_tick(machine, row, until=t0 + timedelta(days=2), now=t0)
    >>> [(o.trigger, o.status, o.entry.at - t0) for o in decided.outcomes]
    [('abandon', 'moved', datetime.timedelta(days=1))]
    >>> decided.decisions[0].journey.next_due is None
    True
    """
    journey = journey_from_row(machine, row, table=table)
    decisions = _fire_due(machine, journey, row, until=until, now=now)
    if not decisions:
        fixed = _row(machine, journey, now)
        if fixed.next_due != row.next_due:
            return TickDecision((), (_clock_only(None, fixed, row, now),))
        return TickDecision((), ())
    return TickDecision(tuple(d.outcome for d in decisions if d.outcome is not None), decisions)


def _fire_due(
    machine: JourneyMachine,
    journey: Journey,
    row: JourneyRow | None,
    *,
    until: datetime,
    now: datetime,
) -> tuple[Decision, ...]:
    """Fire the journey's timeouts due at ``until`` (``JourneyMachine.tick``'s loop over
    its ``_fire_timeout`` step, with effects deferred); one decision each, chained from
    ``row``."""
    out: list[Decision] = []
    before = row
    while True:
        step = machine._due_step(journey, until)
        if step is None:
            return tuple(out)
        version, n = journey.version, len(journey.history)
        if isinstance(step, GoalMiss):
            outcome = machine._record_miss(journey, step)
            event_id = None
        else:
            outcome = machine._fire_timeout(journey, step, defer_effects=True)
            event_id = step.event_id
        if journey.version != version:
            out.extend(_moves(machine, journey, before, outcome, now, event_id, n))
        else:  # blocked or ignored: it has fired all the same, the clock moves on
            out.append(_clock_only(outcome, _row(machine, journey, now), before, now))
        before = out[-1].journey


def _row(machine: JourneyMachine, journey: Journey, now: datetime) -> JourneyRow:
    """The row of ``journey`` as it is now, with its clock and next due time."""
    snap = machine.snapshot(journey, history=False)
    due = machine.next_due(journey)  # the next timeout, or a goal miss that comes first
    due_at = None if due is None else due.at
    entered = journey.entered_at or now  # a journey of the service always has its times
    return JourneyRow(
        machine.definition.name,
        journey.key,
        machine.definition.version,
        journey.stage,
        snap["data"],
        journey.version,
        entered,
        now,
        journey.started_at or entered,
        journey.entry_seq,
        journey.timeouts_fired,
        due_at,
        snap.get("goals"),
    )


def _clock_only(
    outcome: Outcome | None, new: JourneyRow, before: JourneyRow | None, now: datetime
) -> Decision:
    return Decision(
        outcome,
        now,
        new,
        None if before is None else before.version,
        expected_fired=None if before is None else before.timeouts_fired,
    )


def _other_version(err: SnapshotVersionError, table: str, key: str, stage: str) -> StoreError:
    return StoreError(
        f"{table} row for journey {key!r} was written by version {err.snapshot_version!r} of "
        f"definition {err.definition!r}, and this service's machine runs version "
        f"{err.machine_version!r}: the journey began on rules this machine does not run. "
        f"To carry it on with version {err.machine_version!r} (its stage must exist there), "
        f"give the machine allow_version={err.snapshot_version!r}; to finish it on the old "
        "rules, serve it with a machine of that version",
        table=table,
        key=key,
        stage=stage,
    )


def journey_from_snapshot(machine: JourneyMachine, snap: dict[str, Any], key: str) -> Journey:
    """Restore a journey the store's rows describe; ``StoreError`` if they contradict."""
    try:
        return machine.restore(snap)
    except SnapshotVersionError as err:
        raise _other_version(err, "journeys", key, str(snap.get("stage"))) from err
    except (SnapshotError, DataError) as err:
        raise StoreError(
            f"history rows of journey {key!r} (definition {machine.definition.name!r}) are "
            f"corrupted: {err}; repair the rows",
            table="history",
            key=key,
        ) from err


def decide_migration(
    steps: Sequence[Migration],
    machine_of: Callable[[int | str], JourneyMachine],
    row: JourneyRow,
    *,
    now: datetime,
    table: str = "journeys",
) -> tuple[Decision, ...]:
    """The pure step of a migration: the decisions that take the journey stored as ``row``
    through ``steps`` (a :func:`journeyfsm._versions.chain`), one move each: its row on the
    step's target version (``machine_of(version)`` computes its clock and next due time),
    expecting the row before, and its ``journeyfsm.migrate`` history entry.  A journey the
    migration cannot take (the data function raises, or returns what is not JSON-shaped) is
    a ``StoreError`` naming the journey, before anything is written.

    >>> from datetime import datetime, timezone
    >>> from journeyfsm import JourneyBuilder, JourneyMachine, Migration
    >>> v1 = (JourneyBuilder("j", version=1).stage("a", initial=True).stage("b", final=True)
    ...       .transition("go", "a", "b").build())
    >>> v2 = (JourneyBuilder("j", version=2).stage("start", initial=True)
    ...       .stage("b", final=True).transition("go", "start", "b").build())
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> m1 = JourneyMachine(v1)
    >>> row = _row(m1, m1.start("c-1", at=now), now)
    >>> (d,) = decide_migration([Migration(v1, v2, stages={"a": "start"})],
    ...                         lambda v: JourneyMachine(v2), row, now=now)
    >>> d.journey.stage, d.journey.definition_version, d.history.trigger, d.history.seq
    ('start', 2, 'journeyfsm.migrate', 1)
    """
    out: list[Decision] = []
    before = row
    for migration in steps:
        target = machine_of(migration.target.version)
        try:
            step = migration.step(before.stage, before.data)
        except DataError as err:
            raise StoreError(
                f"{table} row for journey {row.key!r} cannot be migrated from version "
                f"{migration.source.version!r} to {migration.target.version!r}: {err}",
                table=table,
                key=row.key,
                stage=before.stage,
            ) from err
        bad = unstorable(step.data)
        if bad is not None:  # what no store can hold: one error on every store
            raise StoreError(
                f"{table} row for journey {row.key!r} cannot be migrated from version "
                f"{migration.source.version!r} to {migration.target.version!r}: "
                f"{not_storable(bad, 'data', row.key, None, before.stage)}",
                table=table,
                key=row.key,
                stage=before.stage,
            )
        seq = before.version + 1
        if step.moved:  # it left a removed stage: it enters its new stage now
            entered, entry_seq, fired = now, seq, 0
        else:  # renamed, merged or kept: the stage's clock goes on
            cap = len(target._timeouts.get(step.stage, ()))
            entered, entry_seq = before.entered_at, before.entry_seq
            fired = min(before.timeouts_fired, cap)
        # the clocks of goals the target version keeps go on; the others are dropped
        kept = {g.name for g in migration.target.goals}
        goals = None if not kept else {k: v for k, v in (before.goals or {}).items() if k in kept}
        draft = attrs.evolve(
            before,
            goals=goals,
            definition_version=migration.target.version,
            stage=step.stage,
            data=step.data,
            version=seq,
            entered_at=entered,
            updated_at=now,
            entry_seq=entry_seq,
            timeouts_fired=fired,
        )
        new = _row(target, journey_from_row(target, draft, table=table), now)
        entry = migration.entry(seq, before.stage, step.stage, now)
        out.append(Decision(None, now, new, before.version, entry, None, (), before.timeouts_fired))
        before = new
    return tuple(out)
