"""What a JourneyMachine refuses before anything moves, and the errors that say so.

Every method of the machine takes the same journeys, triggers, stages and times; the
checks live here once (``MachineChecks``, a base of ``JourneyMachine``), with the
messages in the h11 manner: what was refused, for which journey, in which stage, and
what to do instead.  The re-entrant and tampered-move errors are built here too; when
``fire`` raises them, and how the move is undone, is in _runtime.py.

The state the checks read is set by ``JourneyMachine.__init__`` and only declared here,
so nothing in this module reaches back for the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._clock import UTC, Clock, ensure_utc
from ._definition import JourneyDefinition, Transition
from ._errors import ForeignJourney, JourneyError, SnapshotError, UnknownTrigger, close_matches
from ._json import copy_checked, frozen_json
from ._packed import settle
from ._records import HistoryEntry, Journey

__all__ = ["MachineChecks", "check_machine_args", "not_a_journey", "unknown_stage"]


def check_machine_args(definition: Any, clock: Any, event_id_window: Any) -> None:
    """``JourneyMachine(definition, clock=..., event_id_window=...)`` refuses bad arguments."""
    if not isinstance(definition, JourneyDefinition):
        raise TypeError(
            f"JourneyMachine takes a JourneyDefinition, got {type(definition).__name__}; "
            "build one with JourneyBuilder(...).build() or JourneyDefinition.from_dict(...)"
        )
    if clock is not None and (isinstance(clock, type) or not callable(getattr(clock, "now", None))):
        raise TypeError(
            f"clock must have a now() method returning a timezone-aware datetime, got "
            f"{clock!r}; use SystemClock(), ManualClock(...) or your own Clock"
        )
    if type(event_id_window) is not int:  # bool is an int: refuse it too
        raise TypeError(
            f"event_id_window must be an int >= 1 (how many recent event ids each "
            f"journey remembers), got {type(event_id_window).__name__} {event_id_window!r}"
        )
    if event_id_window < 1:
        raise ValueError(
            f"event_id_window must be an int >= 1 (how many recent event ids each "
            f"journey remembers), got {event_id_window!r}"
        )


class MachineChecks:
    """The argument checks of a JourneyMachine (its ``__init__`` sets what they read)."""

    definition: JourneyDefinition
    clock: Clock
    _name: str
    _table: dict[str, dict[str, tuple[Transition, ...]]]  # (stage, trigger) -> candidates
    _events: Mapping[str, Any]  # trigger -> the engine's event (_engine.py)

    def _check_stage(self, stage: str, what: str) -> None:
        if not self.definition.has_stage(stage):
            close = close_matches(stage, self.definition.stage_names)
            hint = (
                f"did you mean {', '.join(map(repr, close))}?"
                if close
                else (f"stages: {', '.join(self.definition.stage_names)}")
            )
            raise KeyError(
                f"{what}: definition {self.definition.name!r} has no stage {stage!r}; {hint}"
            )

    def _check_trigger(self, trigger: str, what: str) -> None:
        if not isinstance(trigger, str) or trigger not in self._events:
            raise self._unknown(trigger, None)

    def _unknown(self, trigger: str, journey: Journey | None) -> UnknownTrigger:
        known = self.definition.triggers
        if not isinstance(trigger, str):
            raise TypeError(
                f"trigger must be a str naming one of {', '.join(known)}, got {trigger!r}"
            )
        return UnknownTrigger(
            trigger,
            definition=self.definition.name,
            known=known,
            suggestions=close_matches(trigger, known),
            key=journey.key if journey is not None else None,
            stage=journey.stage if journey is not None else None,
        )

    def _now(self, at: datetime | None, what: str) -> datetime:
        """``at`` checked (``what`` names the argument as the caller wrote it, e.g.
        ``"tick(now=...)"``), or the clock's time."""
        if at is None:
            now = self.clock.now()
            if now.__class__ is datetime and now.tzinfo is UTC:
                return now
            return self._clock_time(now)
        return ensure_utc(at, what=what)

    def _clock_time(self, now: Any) -> datetime:
        """The clock's answer checked: aware and UTC (other zones converted)."""
        return ensure_utc(now, what=f"the time from clock {self.clock!r}")

    def _meta(self, meta: Any, journey: Journey, trigger: str) -> Any:
        if not isinstance(meta, Mapping):
            raise TypeError(
                f"meta must be a JSON-shaped dict (stored on the history entry), got "
                f"{type(meta).__name__} (journey {journey.key!r}, trigger {trigger!r})"
            )
        return frozen_json(copy_checked(dict(meta), "meta", key=journey.key, trigger=trigger))

    def _check_journey(self, journey: Any, what: str) -> None:
        """The read-only methods take the same journeys ``fire`` does (``what``: the
        method, named in the error)."""
        if (journey.__class__ is not Journey and not settle(journey)) or (
            journey.definition != self._name and journey.definition is not None
        ):
            raise self._not_mine(journey, what)
        if journey.stage not in self._table:
            raise unknown_stage(self.definition, journey)

    def _not_mine(self, journey: Any, what: str) -> Exception:
        if not isinstance(journey, Journey):
            return not_a_journey(journey, what)
        return ForeignJourney(
            f"journey {journey.key!r} belongs to definition {journey.definition!r}, not "
            f"{self._name!r}; fire it with a machine of its own definition (or restore "
            f"its snapshot with this machine to carry it over)",
            key=journey.key,
            stage=journey.stage,
        )

    def _reentrant(self, journey: Journey, trigger: Any, *, inside: bool = False) -> JourneyError:
        ctx = journey._move
        if ctx is not None and not inside:
            ctx._reentered = True
        what = ctx._trigger if ctx is not None else trigger
        # the move's source: a hook of the destination already sees journey.stage moved
        source = ctx._source if ctx is not None else journey.stage
        return JourneyError(
            f"re-entrant fire: journey {journey.key!r} is in the middle of a move "
            f"({what!r} from {source!r}) and cannot be fired again ({trigger!r}) from "
            "one of its own guards or hooks, nor by another thread at the same time; the "
            "outer move is rolled back. Fire follow-up events after fire() returns (an "
            "effect, or the caller), or fire other journeys",
            key=journey.key,
            stage=source,
            trigger=str(trigger),
        )

    def _tampered(self, journey: Journey, entry: HistoryEntry) -> JourneyError:
        return JourneyError(
            f"a hook changed journey {journey.key!r}'s stage, version or event ids during the "
            f"move ({entry.trigger!r} {entry.source!r} -> {entry.dest!r}): fire() records "
            "them; the move was rolled back. Change journey.data only",
            key=journey.key,
            stage=entry.source,
            trigger=entry.trigger,
        )


def not_a_journey(value: Any, what: str) -> TypeError:
    """The error for a ``journey`` argument of method ``what`` that is not a Journey:
    names the argument, what it got, and where a journey comes from."""
    if value is None:
        hint = (
            "; JourneyService.get(key) returns None for a journey not stored yet: use "
            "service.peek(key) (the journey as it would start), or machine.start(key)"
        )
    elif isinstance(value, str):
        hint = (
            f"; pass the journey itself (machine.start({value!r}) makes a new one), or "
            "hand the key to JourneyService, which loads the journey by its key"
        )
    elif isinstance(value, Mapping):
        hint = "; a snapshot dict becomes a journey with machine.restore(snapshot)"
    else:
        hint = ""
    shown = "None" if value is None else f"{type(value).__name__} {_short(value)}"
    return TypeError(
        f"{what}(): journey must be a Journey made by JourneyMachine.start(key) or "
        f".restore(snapshot), got {shown}{hint}"
    )


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # a host object whose repr fails still gets its error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unknown_stage(d: JourneyDefinition, journey: Journey) -> Exception:
    return SnapshotError(
        f"journey {journey.key!r} is in stage {journey.stage!r}, which definition {d.name!r} "
        f"does not have; stages: {', '.join(d.stage_names)}",
        key=journey.key,
        stage=journey.stage,
    )
