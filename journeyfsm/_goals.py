"""Conversion goals with windows: the rule, its validation and how a journey keeps it.

Theory of operation
-------------------
``Goal("bought", stage="purchased", within=timedelta(days=14), since="cart")`` is met
when the journey enters ``purchased`` (``trigger=...``: when that trigger moves it) at or
before its deadline; the clock starts when the journey enters ``since`` (``None``: when
the journey starts) and the deadline is ``since-entry + within``.  Each goal has at most
ONE clock per run: entering ``since`` again does not restart a running or finished clock;
a re-entry (``journeyfsm.reenter``) starts a new run with fresh goal state.

The state is the journey's ``goals``: ``{name: GoalClock}`` (``None`` for a definition
without goals), replaced whole by each change so a rollback puts the old dict back.  A
goal's met or missed is also written to the history, as an internal entry with the
reserved trigger ``journeyfsm.goal`` (``source == dest``, the journey stays where it is)
and meta ``{"goal": name, "status": "met" | "missed", "since": <when its clock
started>}``.  A goal with ``exit=`` moves
the journey to that final stage when met: its met entry is then that move (``dest`` the
exit stage, with the stage's exit and enter hooks, as a re-entry's first step has).

When things are decided, for one ``fire`` (``fire_goals`` below wraps the machine's
``fire``):

1. every pending clock whose deadline lies before the event's time is missed first,
   recorded AT its deadline (so the history does not depend on when the event came);
2. the event is decided as without goals;
3. if it moved: a re-entry resets the run; then each pending goal the move meets is met
   (in declaration order), then each goal whose ``since`` stage the move entered starts
   its clock; the first goal met with an ``exit`` ends the journey, and a goal on that
   exit stage is then met by the exit's move (after the others).

The window is ``since .. deadline``, both ends inclusive: an event timed before its
clock started (events that arrive out of time order, ``fire(at=...)`` in the past) does
not meet the goal, which stays pending (a met time outside the window is what ``restore``
refuses, so the machine never writes one).  A duplicate records nothing.  Anything raised (a hook, ``KeyboardInterrupt``) leaves the
journey exactly as before, goal state and misses included.  The deadline is inclusive: a
miss is *due* at the first instant after it (``deadline + 1 µs``), which is what the
machine's due time (:func:`next_goal_due`) and so the stores' ``next_due`` carry; ``tick``
records misses in time order with the stage timeouts (a timeout at or before the deadline
can still meet the goal).  A definition without goals pays nothing: the machine keeps
its own ``fire`` (see ``JourneyMachine.__init__``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from ._clock import UTC, iso, seconds_span, span_seconds
from ._errors import Problem, SnapshotError, did_you_mean
from ._json import frozen_json
from ._parts import ALL_READ, Unread
from ._records import GoalClock, HistoryEntry, Journey, append_entry, new_entry

if TYPE_CHECKING:
    from ._parts import Stage

__all__ = [
    "GOAL",
    "Goal",
    "GoalClock",
    "GoalMiss",
    "check_goal_state",
    "check_goals",
    "fresh_goals",
    "goal_from_json",
    "goal_to_json",
    "goals_after_move",
    "goals_from_json",
    "goals_to_json",
    "next_goal_due",
    "record_goal",
]

#: The trigger of the history entries goals write (met or missed).
GOAL = "journeyfsm.goal"
_TICK = timedelta(microseconds=1)
_NEVER = datetime.max.replace(tzinfo=UTC)
STATUSES = ("pending", "met", "missed")


@attrs.frozen
class Goal:
    """A conversion goal with a window: met when the journey enters ``stage`` (or when
    ``trigger`` moves it) within ``within`` of entering ``since`` (``None``: of starting).
    ``exit`` (optional) is a final stage the journey moves to when the goal is met.

    >>> from datetime import timedelta
    >>> from journeyfsm import Goal, JourneyBuilder
    >>> shop = (JourneyBuilder("shop").stage("browsing", initial=True).stage("cart")
    ...         .stage("purchased", final=True)
    ...         .transition("add_to_cart", "browsing", "cart")
    ...         .transition("pay", "cart", "purchased")
    ...         .goal(Goal("bought", stage="purchased", within=timedelta(days=14), since="cart"))
    ...         .build())
    >>> shop.goals[0].name, shop.goals[0].since
    ('bought', 'cart')
    """

    name: str = attrs.field(validator=lambda _, __, v: _check_name(v))
    stage: str | None = attrs.field(default=None, kw_only=True)
    trigger: str | None = attrs.field(default=None, kw_only=True)
    within: timedelta = attrs.field(default=timedelta(0), kw_only=True)
    since: str | None = attrs.field(default=None, kw_only=True)
    exit: str | None = attrs.field(default=None, kw_only=True)
    description: str = attrs.field(default="", kw_only=True)

    def deadline(self, since: datetime) -> datetime:
        """The deadline of a clock started at ``since`` (the last datetime there is when
        ``within`` reaches past it)."""
        try:
            return since + self.within
        except OverflowError:
            return _NEVER


def _check_name(value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(
            f"a goal's name must be a str, got {value!r}; name it, e.g. "
            "Goal('bought', stage='purchased', within=timedelta(days=14))"
        )
    if not value.strip():
        raise ValueError(
            f"a goal's name must be a non-empty name, got {value!r}; name it, e.g. "
            "Goal('bought', stage='purchased', within=timedelta(days=14))"
        )


def check_goals(
    goals: Sequence[Any],
    stage_map: Mapping[str, Stage],
    triggers: Iterable[str],
    add: Callable[[Problem], None],
    unread: Unread = ALL_READ,
) -> None:
    """Add a ``DefinitionError`` problem for each thing wrong with ``goals``; a reference
    that only the parts the dict form could not read (``unread``) may resolve is not one."""
    names = list(stage_map)
    known = set(triggers)
    seen: set[str] = set()
    for i, g in enumerate(goals):
        if not isinstance(g, Goal):
            add(Problem(f"goals[{i}] must be a Goal, got {g!r}"))
            continue
        who = f"goal {g.name!r}"
        if not g.name or not g.name.strip():
            add(Problem(f"goals[{i}] has an empty name; name it, e.g. Goal('bought', ...)"))
        if g.name in seen:
            add(Problem(f"two goals are named {g.name!r}; give each goal a unique name"))
        seen.add(g.name)
        if (g.stage is None) == (g.trigger is None):
            add(
                Problem(
                    f"{who} needs exactly one of stage= (met when the journey enters it) or "
                    f"trigger= (met when that trigger moves the journey), got "
                    f"stage={g.stage!r}, trigger={g.trigger!r}"
                )
            )
        for field, value in (("stage", g.stage), ("since", g.since), ("exit", g.exit)):
            if value is None:
                continue
            if not isinstance(value, str) or (value not in stage_map and not unread.stages):
                add(
                    Problem(
                        f"{who}: {field}={value!r} is not a stage of the definition"
                        f"{did_you_mean(str(value), names)}",
                        stage=str(value),
                    )
                )
        if g.trigger is not None and (
            not isinstance(g.trigger, str)
            or (g.trigger not in known and not unread.may_fire(g.trigger))
        ):
            add(
                Problem(
                    f"{who}: trigger={g.trigger!r} is not a trigger of the definition"
                    f"{did_you_mean(str(g.trigger), known)}",
                    trigger=str(g.trigger),
                )
            )
        if not isinstance(g.within, timedelta) or isinstance(g.within, bool):
            add(
                Problem(
                    f"{who}: within must be a timedelta (the window), got {g.within!r}; "
                    "e.g. within=timedelta(days=14)"
                )
            )
        elif g.within == timedelta(0):
            add(
                Problem(
                    f"{who}: within must be positive, got no window (timedelta(0)); give "
                    "within=, e.g. within=timedelta(days=14)"
                )
            )
        elif g.within < timedelta(0):
            add(
                Problem(
                    f"{who}: within must be positive, got {g.within!r}; give the window, "
                    "e.g. within=timedelta(days=14)"
                )
            )
        if g.since is not None and g.since == g.stage:
            add(
                Problem(
                    f"{who}: since and stage are both {g.since!r}: the clock would start as "
                    "the goal is met; start it at an earlier stage (or since=None: at the start)"
                )
            )
        since = stage_map.get(g.since) if isinstance(g.since, str) else None
        if since is not None and since.final:
            add(
                Problem(
                    f"{who}: since={g.since!r} is a final stage, where the journey has ended; "
                    "start the clock at a stage the journey goes on from"
                )
            )
        target = stage_map.get(g.stage) if isinstance(g.stage, str) else None
        if g.since is None and target is not None and target.initial:
            add(
                Problem(
                    f"{who}: stage={g.stage!r} is the initial stage and since=None: the "
                    "goal would be met as the journey starts; name a later stage"
                )
            )
        leave = stage_map.get(g.exit) if isinstance(g.exit, str) else None
        if leave is not None and not leave.final and g.exit not in unread.final:
            add(
                Problem(
                    f"{who}: exit={g.exit!r} is not final; the journey ends there when the "
                    "goal is met: mark the stage final=True",
                    stage=g.exit,
                )
            )
        if not isinstance(g.description, str):
            add(Problem(f"{who}: description must be a str, got {g.description!r}"))


# -- the dict form ---------------------------------------------------------------------
def goal_to_json(g: Goal) -> dict[str, Any]:
    """A goal's dict form (``within`` in seconds; unset fields left out)."""
    out: dict[str, Any] = {"name": g.name}
    if g.stage is not None:
        out["stage"] = g.stage
    if g.trigger is not None:
        out["trigger"] = g.trigger
    out["within"] = span_seconds(g.within)
    for field in ("since", "exit"):
        if getattr(g, field) is not None:
            out[field] = getattr(g, field)
    if g.description:
        out["description"] = g.description
    return out


_GOAL_KEYS = frozenset({"name", "stage", "trigger", "within", "since", "exit", "description"})


def goal_from_json(raw: Any, where: str) -> Goal | str:
    """The goal of a dict form's ``goals[i]``, or the problem (a sentence) if unreadable."""
    if not isinstance(raw, Mapping):
        return f"{where} must be a dict with name, stage or trigger, and within, got {raw!r}"
    unknown = sorted(set(raw) - _GOAL_KEYS)
    if unknown:
        return f"{where} has unknown keys {unknown}; a goal has {', '.join(sorted(_GOAL_KEYS))}"
    name = raw.get("name")
    if not isinstance(name, str):
        return f"{where}.name must be a str, got {name!r}"
    within = raw.get("within")
    if isinstance(within, bool) or not isinstance(within, (int, float)):
        return f"{where}.within must be a number of seconds, got {within!r}"
    try:
        window = seconds_span(within)
    except (OverflowError, ValueError):
        return f"{where}.within is out of range: {within!r} seconds"
    for field in ("stage", "trigger", "since", "exit"):
        value = raw.get(field)
        if value is not None and not isinstance(value, str):
            return f"{where}.{field} must be a str or null, got {value!r}"
    description = raw.get("description", "")
    if not isinstance(description, str):
        return f"{where}.description must be a str, got {description!r}"
    if not name.strip():
        return f"{where}.name must be a non-empty name, got {name!r}"
    return Goal(
        name,
        stage=raw.get("stage"),
        trigger=raw.get("trigger"),
        within=window,
        since=raw.get("since"),
        exit=raw.get("exit"),
        description=description,
    )


def goals_to_json(goals: Mapping[str, GoalClock] | None) -> dict[str, Any] | None:
    """A journey's goal state as JSON (a snapshot's ``goals``, the stores' column)."""
    if goals is None:
        return None
    return {name: clock.to_dict() for name, clock in goals.items()}


def _time(raw: Any, where: str) -> datetime | str:
    if type(raw) is not str or not raw:
        return f"{where} must be an ISO 8601 time with an offset, got {raw!r}"
    text = raw[:-1] + "+00:00" if raw[-1] in "Zz" else raw
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return f"{where} is {raw!r}, not an ISO 8601 time"
    if at.utcoffset() is None:
        return f"{where} is a naive time ({raw!r}); write it with a UTC offset"
    return at.astimezone(UTC)


def goals_from_json(goals: Sequence[Goal], raw: Any) -> dict[str, GoalClock] | str:
    """The goal state ``raw`` describes, checked against the definition's ``goals``, or
    what is wrong with it (a sentence)."""
    by_name = {g.name: g for g in goals}
    if type(raw) is not dict:
        return f"'goals' must be a dict of goal name -> clock, got {type(raw).__name__}"
    out: dict[str, GoalClock] = {}
    for name, clock in raw.items():
        where = f"'goals'[{name!r}]"
        goal = by_name.get(name)
        if goal is None:
            return (
                f"{where} names no goal of the definition{did_you_mean(str(name), by_name)} "
                f"(its goals: {', '.join(by_name) or 'none'}); migrate the journey or drop it"
            )
        if type(clock) is not dict or set(clock) != {"status", "since", "deadline", "at"}:
            return f"{where} must be a dict with exactly status, since, deadline and at"
        status = clock["status"]
        if status not in STATUSES:
            return f"{where}.status must be one of {', '.join(STATUSES)}, got {status!r}"
        since = _time(clock["since"], f"{where}.since")
        if isinstance(since, str):
            return since
        deadline = _time(clock["deadline"], f"{where}.deadline")
        if isinstance(deadline, str):
            return deadline
        if deadline < since:
            return f"{where}: deadline {iso(deadline)} is before since {iso(since)}"
        at: datetime | None = None
        if status == "pending":
            if clock["at"] is not None:
                return f"{where}: a pending goal has at=null, got {clock['at']!r}"
        else:
            parsed = _time(clock["at"], f"{where}.at")
            if isinstance(parsed, str):
                return parsed
            at = parsed
            if status == "met" and not since <= at <= deadline:
                return (
                    f"{where}: met at {iso(at)}, outside its window "
                    f"{iso(since)} .. {iso(deadline)}: a goal is met at or before its deadline"
                )
            if status == "missed" and at != deadline:
                return f"{where}: a missed goal is missed at its deadline {iso(deadline)}"
        out[name] = GoalClock(status, since, deadline, at)
    return out


# -- the state of a run ----------------------------------------------------------------
def check_goal_state(goals: Sequence[Goal], journey: Journey) -> None:
    """Refuse a ``journey.goals`` that is not this definition's goal state (set by hand
    on the journey, or given to ``Journey(goals=...)``): a ``SnapshotError`` (as for a
    journey in a stage the definition lacks) naming the journey and the fix.  ``None``
    (no clock running) is fine."""
    state = journey.goals
    if state is None:
        return
    key = journey.key
    if type(state) is not dict:
        raise SnapshotError(
            f"journey {key!r}: goals must be a dict of goal name -> GoalClock (or None: no "
            f"clock running), got {type(state).__name__}; leave it to the machine (start, "
            "restore) or build it with GoalClock",
            key=key,
        )
    names = [g.name for g in goals]
    for name, clock in state.items():
        if name not in names:
            raise SnapshotError(
                f"journey {key!r}: goals[{name!r}] names no goal of the definition"
                f"{did_you_mean(str(name), names)} (its goals: {', '.join(names) or 'none'}); "
                "drop that clock",
                key=key,
            )
        if clock.__class__ is not GoalClock:
            raise SnapshotError(
                f"journey {key!r}: goals[{name!r}] must be a GoalClock, got {clock!r}",
                key=key,
            )


def fresh_goals(goals: Sequence[Goal], at: datetime) -> dict[str, GoalClock]:
    """The goal state of a run that starts ``at``: the clocks of ``since=None`` goals run."""
    return {g.name: GoalClock("pending", at, g.deadline(at)) for g in goals if g.since is None}


@attrs.frozen
class GoalMiss:
    """A pending goal clock of a journey: recorded missed, at ``deadline``, by the first
    ``tick`` (or event) at or after ``at``, the first instant after the inclusive
    deadline.  ``JourneyMachine.next_due`` returns one when it comes before the next
    stage timeout.

    >>> from datetime import datetime, timedelta, timezone
    >>> from journeyfsm import Goal, GoalMiss, JourneyBuilder, JourneyMachine
    >>> d = (JourneyBuilder("trial").stage("trial", initial=True).stage("paid", final=True)
    ...      .transition("pay", "trial", "paid")
    ...      .goal(Goal("converted", stage="paid", within=timedelta(days=7))).build())
    >>> machine = JourneyMachine(d)
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> due = machine.next_due(machine.start("c-1", at=t0))
    >>> isinstance(due, GoalMiss), due.goal.name, due.deadline - t0
    (True, 'converted', datetime.timedelta(days=7))
    >>> due.at - due.deadline
    datetime.timedelta(microseconds=1)
    """

    goal: Goal
    deadline: datetime

    @property
    def at(self) -> datetime:
        """When the miss is due (what the stores' ``next_due`` holds): just after the
        deadline, which is inclusive."""
        return miss_due_at(self.deadline)


def next_goal_due(goals: Sequence[Goal], journey: Journey) -> GoalMiss | None:
    """The journey's earliest pending goal deadline (ties in declaration order), or None."""
    state = journey.goals
    if not state:
        return None
    best: GoalMiss | None = None
    for g in goals:
        clock = state.get(g.name)
        if clock is None or clock.status != "pending":
            continue
        if best is None or clock.deadline < best.deadline:
            best = GoalMiss(g, clock.deadline)
    return best


def miss_due_at(deadline: datetime) -> datetime:
    """When a miss is due: the first instant after the (inclusive) deadline."""
    return deadline if deadline == _NEVER else deadline + _TICK


def record_goal(
    journey: Journey, goal: Goal, status: str, at: datetime, dest: str | None = None
) -> HistoryEntry:
    """Write goal ``goal``'s ``status`` ("met" / "missed") at ``at``: its clock and its
    internal ``journeyfsm.goal`` history entry (``dest``: an exit's move, appended by the
    caller's engine step instead)."""
    state = dict(journey.goals or {})
    clock = state[goal.name]
    state[goal.name] = GoalClock(status, clock.since, clock.deadline, at)
    journey.goals = state
    seq = journey.version + 1
    meta = goal_meta(goal.name, status, clock.since)
    entry = new_entry(seq, GOAL, journey.stage, journey.stage, at, None, meta)
    append_entry(journey, entry)
    journey.version = seq
    return entry


def goal_meta(name: str, status: str, since: datetime) -> Mapping[str, Any]:
    """The (frozen) meta of a goal's history entry: the goal, met or missed, and when its
    clock started (so funnels read the time to goal from the history alone)."""
    return frozen_json({"goal": name, "status": status, "since": iso(since)})  # type: ignore[no-any-return]


def goals_after_move(
    goals: Sequence[Goal], journey: Journey, entries: Sequence[HistoryEntry], reenter: str
) -> list[Goal]:
    """What the move that appended ``entries`` does to the goals: updates the clocks it
    starts (and a re-entry's fresh run) on ``journey``; returns the goals it meets, in
    declaration order, for the caller to record."""
    met: list[Goal] = []
    for entry in entries:
        state = journey.goals or {}
        if entry.trigger == reenter:  # a new run: fresh goal state
            journey.goals = fresh_goals(goals, entry.at)
            continue
        entered = journey.entry_seq == entry.seq or entry.dest != entry.source
        changed: dict[str, GoalClock] | None = None
        for g in goals:
            clock = state.get(g.name)
            if clock is not None and clock.status == "pending":
                if (
                    (g.stage is not None and entered and entry.dest == g.stage)
                    or (g.trigger is not None and entry.trigger == g.trigger)
                ) and entry.at >= clock.since:  # an event timed before the clock: outside
                    met.append(g)
            elif clock is None and g.since is not None and entered and entry.dest == g.since:
                if changed is None:
                    changed = dict(state)
                changed[g.name] = GoalClock("pending", entry.at, g.deadline(entry.at))
        if changed is not None:
            journey.goals = changed
    return met
