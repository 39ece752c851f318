"""What a replay counts while it runs, shared by the fast and the engine path."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from .._errors import GuardError
from ._mapping import BadRowError, ReplayError
from ._results import TriggerCounts

__all__ = [
    "BLOCKED",
    "DUPLICATE",
    "IGNORED",
    "MOVED",
    "STATUS",
    "TIMEOUTS",
    "Tally",
    "Unsorted",
    "guard_failure",
]

# the columns of a trigger's row of counts
MOVED, BLOCKED, IGNORED, DUPLICATE, TIMEOUTS = range(5)
STATUS = {"moved": MOVED, "blocked": BLOCKED, "ignored": IGNORED, "duplicate": DUPLICATE}


class Unsorted(Exception):
    """An event is older than the one before it for the same journey (replay re-sorts)."""

    def __init__(self, line: int, key: str) -> None:
        super().__init__(f"line {line}: journey {key!r} goes back in time")
        self.line = line
        self.key = key


class Tally:
    """Per trigger ``[moved, blocked, ignored, duplicate, timeouts]``, the (stage, trigger)
    pairs that were ignored or blocked, and what the event rows did."""

    def __init__(self, triggers: Iterable[str], bad: Callable[[int, str], None]) -> None:
        self.counts: dict[str, list[int]] = {t: [0, 0, 0, 0, 0] for t in triggers}
        self.ignored_pairs: dict[tuple[str, str], int] = {}
        self.blocked_pairs: dict[tuple[str, str], int] = {}
        self.events_applied = 0
        self.timeouts_fired = 0
        #: timeouts fired per outcome [moved, blocked, ignored, duplicate]
        self.timeout_status = [0, 0, 0, 0]
        self.bad = bad  # the reader's: counts a bad row, or raises when strict
        #: per journey key, the time of its last event (to notice unsorted input)
        self.last: dict[str, datetime] = {}

    def ignored(self, stage: str, trigger: str) -> None:
        pair = (stage, trigger)
        self.ignored_pairs[pair] = self.ignored_pairs.get(pair, 0) + 1

    def blocked(self, stage: str, trigger: str) -> None:
        pair = (stage, trigger)
        self.blocked_pairs[pair] = self.blocked_pairs.get(pair, 0) + 1

    def trigger_counts(self) -> tuple[TriggerCounts, ...]:
        return tuple(
            TriggerCounts(t, row[MOVED], row[BLOCKED], row[IGNORED], row[DUPLICATE], row[TIMEOUTS])
            for t, row in sorted(self.counts.items())
        )

    def from_log(self, status: int) -> int:
        """Events read from the log with this outcome (timeouts not counted)."""
        return sum(row[status] for row in self.counts.values()) - self.timeout_status[status]


def guard_failure(tally: Tally, err: Exception, line: int | None, *, timeout: bool = False) -> None:
    """A guard raised while replaying: the row is bad (or, strict, the replay stops).

    A guard that fails on a timeout's event (payload ``None``) would fail on every
    journey that reaches the stage: the replay stops with an error saying so.
    Anything but a ``GuardError`` is re-raised as it is.
    """
    if not isinstance(err, GuardError):
        raise err
    if timeout or line is None:
        raise ReplayError(
            f"{err} while firing a stage timeout (its payload is None); make the guard "
            "accept a None payload, as the running system's tick() needs too",
            key=err.key,
            stage=err.stage,
            trigger=err.trigger,
        ) from err
    try:
        tally.bad(line, str(err))
    except BadRowError as strict:
        raise strict from err
