"""How the command shows goals: a definition's (``show TEMPLATE``) and a stored journey's
goal clocks (``show KEY --db``, and ``manage.py journeyfsm show``).

A journey's clocks are read in their JSON form (``GoalClock.to_dict()``, as the stores'
``goals`` column holds them): ``{name: {"status", "since", "deadline", "at"}}``.  A
pending clock past its deadline is shown as such: the miss is recorded by the next tick
(or the journey's next event), not by reading it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .._clock import aware_time as _time
from .._definition import JourneyDefinition
from .._goals import GOAL
from .._records import HistoryEntry
from ..export._graph import goal_text

__all__ = ["clock_lines", "definition_goal_lines", "goal_entry"]


def definition_goal_lines(d: JourneyDefinition) -> list[str]:
    """``goals:`` and one line per goal of ``d`` (nothing for a definition without)."""
    if not d.goals:
        return []
    width = max(len(g.name) for g in d.goals)
    lines = ["", "goals:"]
    for g in d.goals:
        about = f"  ({g.description})" if g.description else ""
        lines.append(f"  {g.name:<{width}}  {goal_text(g)}{about}")
    return lines


def clock_lines(goals: Mapping[str, object] | None, now: datetime) -> list[str]:
    """``goals:`` and one line per goal clock of a journey, by goal name (nothing when it
    has none).

    >>> from datetime import datetime, timezone
    >>> clocks = {"bought": {"status": "pending", "since": "2026-03-01T11:00:00+00:00",
    ...           "deadline": "2026-03-15T11:00:00+00:00", "at": None}}
    >>> print("\\n".join(clock_lines(clocks, datetime(2026, 3, 2, tzinfo=timezone.utc))))
    goals:
      bought  pending  until 2026-03-15T11:00:00+00:00 (clock since 2026-03-01T11:00:00+00:00)
    """
    if not goals:
        return []
    width = max(len(name) for name in goals)
    lines = ["goals:"]
    for name, clock in sorted(goals.items()):  # jsonb keeps no key order
        if not isinstance(clock, Mapping):
            lines.append(f"  {name:<{width}}  unreadable clock {clock!r}")
            continue
        status = str(clock.get("status"))
        since, deadline, at = (_time(clock.get(k)) for k in ("since", "deadline", "at"))
        started = f" (clock since {since.isoformat()})" if since else ""
        if status == "pending" and deadline is not None:
            late = " (deadline passed: the next tick records the miss)" if now > deadline else ""
            text = f"until {deadline.isoformat()}{started}{late}"
        elif status in ("met", "missed") and at is not None:
            text = f"at {at.isoformat()}"
            if deadline is not None and status == "met":
                text += f" (deadline {deadline.isoformat()})"
        else:
            text = f"unreadable clock {dict(clock)!r}"
        lines.append(f"  {name:<{width}}  {status:<7}  {text}")
    return lines


def goal_entry(entry: HistoryEntry) -> str:
    """``"  goal bought met"`` for a history entry a goal wrote, else ``""``."""
    meta = entry.meta if entry.trigger == GOAL else None
    if not meta or "goal" not in meta:
        return ""
    return f"  goal {meta.get('goal')} {meta.get('status')}"
