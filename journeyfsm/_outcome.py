"""What firing an event returns (Outcome), what explain returns (Explanation), and the
records that effects receive (EffectCall) and report (EffectReport)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from ._clock import iso
from ._definition import Transition
from ._guards import Guard, GuardResult
from ._json import FrozenDict, frozen_json, thaw
from ._records import HistoryEntry
from ._rules import EXIT_MARK

__all__ = [
    "CandidateResult",
    "EffectCall",
    "EffectReport",
    "Explanation",
    "Outcome",
    "Status",
    "idempotency_key",
    "moved_outcome",
]

#: The type of :attr:`Outcome.status`: ``"moved"``, ``"blocked"``, ``"ignored"`` or
#: ``"duplicate"`` (:class:`Outcome` also has one boolean property per status).
Status = Literal["moved", "blocked", "ignored", "duplicate"]


@attrs.frozen
class CandidateResult:
    """One candidate transition for (stage, trigger) and the results of its guards.

    ``guards`` holds a result for EVERY guard of the candidate, in order; the guards after
    the first failing one were not run and read ``passed=None`` ("not evaluated").
    """

    transition: Transition
    passed: bool
    guards: tuple[GuardResult, ...]

    @property
    def dest(self) -> str | None:
        """The candidate's destination (``None`` for an internal transition)."""
        return self.transition.dest

    @property
    def failing(self) -> tuple[GuardResult, ...]:
        """The failing leaf guards of this candidate (never a not-evaluated one)."""
        return tuple(leaf for g in self.guards for leaf in g.failing())

    def lines(self, number: int, indent: int = 2, *, all_parts: bool = False) -> list[str]:
        """Readable lines: ``1. -> 'dest' [PASS]`` then its guards (see ``GuardResult.lines``).

        >>> from journeyfsm import Transition
        >>> c = CandidateResult(Transition("pay", "cart", "paid"), True, ())
        >>> c.lines(1)
        ["  1. -> 'paid' [PASS]", '       (no guards)']
        """
        pad = " " * indent
        dest = repr(self.dest) if self.dest is not None else "(internal)"
        out = [f"{pad}{number}. -> {dest} [{'PASS' if self.passed else 'FAIL'}]"]
        exit_trigger = self.transition.metadata.get(EXIT_MARK)
        if exit_trigger is not None:
            out[0] += f" (exit criterion {exit_trigger!r}: ends the journey from any stage)"
        if not self.guards:
            out.append(f"{pad}     (no guards)")
        for g in self.guards:
            out.extend(g.lines(indent + 5, all_parts=all_parts))
        return out


def failing_guard_names(candidates: tuple[CandidateResult, ...]) -> tuple[str, ...]:
    """Names of the failing leaf guards of ``candidates``, in order, without repeats."""
    return tuple(dict.fromkeys(leaf.name for c in candidates for leaf in c.failing))


def candidates_from_log(
    cands: tuple[Transition, ...], log: list[tuple[int, Guard, bool | GuardResult | list[Any]]]
) -> tuple[CandidateResult, ...]:
    """Turn the guard log of a fire (candidate index, guard, result) into results.

    ``fire`` logs each top-level guard it ran, as a bool, as the ``GuardResult`` of
    ``Guard.evaluate``, or (a composite) as the list ``Guard._trace`` filled.  Candidates are tried in order until one passes, so the results
    cover the candidates up to the winner; in a candidate that failed, the guards after
    the failing one were not run and are filled in as not evaluated.
    """
    per: dict[int, list[GuardResult]] = {}
    failed: set[int] = set()
    for idx, g, ok in log:
        if isinstance(ok, list):  # a composite's trace (see Guard._trace)
            result = g._rebuild(iter(ok))
        elif isinstance(ok, GuardResult):
            result = ok
        else:
            result = GuardResult(g.name, g.description, ok)
        per.setdefault(idx, []).append(result)
        if result.passed is not True:
            failed.add(idx)
    # the winner is the first candidate that did not fail
    winner = next((i for i in range(len(cands)) if i not in failed), len(cands) - 1)
    out = []
    for idx in range(winner + 1):
        results = per.get(idx, [])
        guards = cands[idx].guards
        results.extend(g.not_evaluated() for g in guards[len(results) :])
        out.append(CandidateResult(cands[idx], idx not in failed, tuple(results)))
    return tuple(out)


@attrs.frozen
class EffectReport:
    """How one effect ran after a move: ``ok``, or the error it raised."""

    name: str
    idempotency_key: str
    ok: bool
    error: str | None = None


@attrs.frozen(repr=False)
class Outcome:
    """The result of ``JourneyMachine.fire``.

    ``status`` is ``"moved"``, ``"blocked"``, ``"ignored"`` or ``"duplicate"``; the
    booleans ``moved``/``blocked``/... read better in ``if``.  ``entry`` is the history
    entry a move appended.  ``candidates`` gives every evaluated candidate with its guard
    results (for a blocked outcome, every guard of every candidate); ``failed_guards``
    names each failing guard.  ``reason`` names the rule that decided an ``ignored``
    outcome where one did (a refused re-entry); ``reentry`` is the ``journeyfsm.reenter``
    entry of a move that restarted a finished journey (docs/rules.md).

    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> j = machine.start("c-1")
    >>> outcome = machine.fire(j, "engage")
    >>> outcome.status, outcome.source, outcome.dest, outcome.entry.seq
    ('moved', 'attention', 'interest', 1)
    """

    status: Status
    key: str
    trigger: str
    source: str
    dest: str | None = None
    entry: HistoryEntry | None = None
    event_id: str | None = None
    effects: tuple[EffectReport, ...] = ()
    pending_effects: tuple[EffectCall, ...] = ()
    _cands: tuple[Transition, ...] = attrs.field(default=(), alias="cands", eq=False)
    _log: Any = attrs.field(default=None, alias="log", eq=False)
    #: for a ``duplicate`` from a store: the seq of the move the event id made (else None)
    seq: int | None = attrs.field(default=None, kw_only=True)
    #: the rule that decided, in words: an ``ignored`` re-entry says why it was refused
    #: ("re-entry refused: entry='once'"); else None
    reason: str | None = attrs.field(default=None, kw_only=True)
    #: for a move that restarted a finished journey: the ``journeyfsm.reenter`` history
    #: entry written before ``entry`` (final stage -> initial stage); else None
    reentry: HistoryEntry | None = attrs.field(default=None, kw_only=True)
    #: the ``journeyfsm.goal`` history entries this call wrote, in order: goals missed
    #: before the event was decided (at their deadlines), then goals the move met
    #: (docs/rules.md, "Goals"); meta ``{"goal": name, "status": "met" | "missed",
    #: "since": ...}``
    goals: tuple[HistoryEntry, ...] = attrs.field(default=(), kw_only=True)

    @property
    def goals_met(self) -> tuple[str, ...]:
        """The names of the goals this call met."""
        return tuple(
            str(e.meta["goal"]) for e in self.goals if e.meta and e.meta["status"] == "met"
        )

    @property
    def goals_missed(self) -> tuple[str, ...]:
        """The names of the goals this call found missed."""
        return tuple(
            str(e.meta["goal"]) for e in self.goals if e.meta and e.meta["status"] == "missed"
        )

    @property
    def moved(self) -> bool:
        """The journey moved (or took an internal transition)."""
        return self.status == "moved"

    @property
    def blocked(self) -> bool:
        """Guards refused every candidate; the journey is unchanged."""
        return self.status == "blocked"

    @property
    def ignored(self) -> bool:
        """The trigger is not valid from this stage (policy ``ignore``); nothing ran."""
        return self.status == "ignored"

    @property
    def duplicate(self) -> bool:
        """The event id was seen before for this journey; nothing ran."""
        return self.status == "duplicate"

    @property
    def candidates(self) -> tuple[CandidateResult, ...]:
        """Evaluated candidates with their guard results."""
        log = self._log
        if log is None:
            return ()
        if isinstance(log, tuple):
            return log
        return candidates_from_log(self._cands, log)

    @property
    def failed_guards(self) -> tuple[str, ...]:
        """Names of every failing guard, in evaluation order (no repeats)."""
        return failing_guard_names(self.candidates)

    @property
    def effect_errors(self) -> tuple[EffectReport, ...]:
        """The effects that raised."""
        return tuple(e for e in self.effects if not e.ok)

    def __repr__(self) -> str:
        extra = ""
        if self.status == "blocked":
            extra = f" failed_guards={list(self.failed_guards)}"
        if self.reason is not None:
            extra += f" reason={self.reason!r}"
        if self.goals:
            extra += f" goals_met={list(self.goals_met)} goals_missed={list(self.goals_missed)}"
        arrow = f"{self.source!r} -> {self.dest!r}" if self.moved else f"in {self.source!r}"
        return f"<Outcome {self.status} {self.key!r} {self.trigger!r} {arrow}{extra}>"


_set_status = vars(Outcome)["status"].__set__
_set_key = vars(Outcome)["key"].__set__
_set_trigger = vars(Outcome)["trigger"].__set__
_set_source = vars(Outcome)["source"].__set__
_set_dest = vars(Outcome)["dest"].__set__
_set_entry = vars(Outcome)["entry"].__set__
_set_event_id = vars(Outcome)["event_id"].__set__
_set_effects = vars(Outcome)["effects"].__set__
_set_pending = vars(Outcome)["pending_effects"].__set__
_set_cands = vars(Outcome)["_cands"].__set__
_set_log = vars(Outcome)["_log"].__set__
_set_seq = vars(Outcome)["seq"].__set__
_set_reason = vars(Outcome)["reason"].__set__
_set_reentry = vars(Outcome)["reentry"].__set__
_set_goals = vars(Outcome)["goals"].__set__
# every field, by name (a field added to Outcome must be set here too)
assert [a.name for a in attrs.fields(Outcome)] == [
    "status",
    "key",
    "trigger",
    "source",
    "dest",
    "entry",
    "event_id",
    "effects",
    "pending_effects",
    "_cands",
    "_log",
    "seq",
    "reason",
    "reentry",
    "goals",
]
_new = object.__new__


def moved_outcome(
    key: str,
    trigger: str,
    source: str,
    entry: HistoryEntry,
    event_id: str | None,
    effects: tuple[EffectReport, ...],
    pending: tuple[EffectCall, ...],
    cands: tuple[Transition, ...],
    log: Any,
) -> Outcome:
    """``Outcome("moved", ...)`` for ``fire``, each slot written directly (the frozen
    class's attrs __init__ goes through object.__setattr__ for each of its 12 fields)."""
    out: Outcome = _new(Outcome)
    _set_status(out, "moved")
    _set_key(out, key)
    _set_trigger(out, trigger)
    _set_source(out, source)
    _set_dest(out, entry.dest)
    _set_entry(out, entry)
    _set_event_id(out, event_id)
    _set_effects(out, effects)
    _set_pending(out, pending)
    _set_cands(out, cands)
    _set_log(out, log)
    _set_seq(out, None)
    _set_reason(out, None)
    _set_reentry(out, None)
    _set_goals(out, ())
    return out


@attrs.frozen
class Explanation:
    """What ``fire`` would do now, without doing it: every candidate and its guard results.

    ``status`` is ``"would_move"``, ``"blocked"`` or ``"ignored"``; ``chosen`` is the
    transition that would be taken.  Each candidate is evaluated on its own, as ``fire``
    evaluates it (guards in order up to the first failure, composites short-circuit); a
    guard that was not reached reads "not evaluated" and was never run.
    """

    key: str
    stage: str
    trigger: str
    status: Literal["would_move", "blocked", "ignored"]
    candidates: tuple[CandidateResult, ...]
    allowed: tuple[str, ...]
    #: the rule that decides, for a finished journey's trigger of the initial stage:
    #: "re-entry: restarts in 'x'" (the candidates are the initial stage's) or why the
    #: entry rule refuses it ("re-entry refused: entry='once'"); else None
    reason: str | None = None
    #: the goals whose clocks run, each with its deadline (docs/rules.md, "Goals")
    goals_pending: Mapping[str, datetime] = attrs.field(factory=dict)
    #: pending goals whose deadline has passed: firing now records them missed first
    goals_missed: tuple[str, ...] = ()
    #: pending goals the move would meet, in the order fire records them
    goals_met: tuple[str, ...] = ()
    #: the final stage a met goal's ``exit`` would end the journey in (else None)
    goal_exit: str | None = None

    @property
    def chosen(self) -> Transition | None:
        """The transition ``fire`` would take now, or ``None``."""
        for c in self.candidates:
            if c.passed:
                return c.transition
        return None

    @property
    def failed_guards(self) -> tuple[str, ...]:
        """Names of every failing guard, in evaluation order (no repeats)."""
        return failing_guard_names(self.candidates)

    def __str__(self) -> str:
        lines = [f"{self.trigger!r} from {self.stage!r} for journey {self.key!r}: {self.status}"]
        if self.reason is not None:
            lines.append(f"  {self.reason}")
        for name in self.goals_missed:
            lines.append(f"  goal {name!r}: missed (its deadline has passed)")
        for name, deadline in self.goals_pending.items():
            lines.append(f"  goal {name!r}: pending until {iso(deadline)}")
        for name in self.goals_met:
            lines.append(f"  goal {name!r}: would be met")
        if self.goal_exit is not None:
            lines.append(f"  a met goal's exit ends the journey in {self.goal_exit!r}")
        if self.status == "ignored":
            lines.append(f"  allowed here: {', '.join(self.allowed) or 'nothing'}")
        for i, c in enumerate(self.candidates, 1):
            lines.extend(c.lines(i))
        return "\n".join(lines)


@attrs.frozen
class EffectCall:
    """One effect to run for one move: what it needs to know, and its idempotency key.

    ``idempotency_key`` is the same for every (re)try of the same effect for the same
    move, in any process, and differs for every other (effect, move, journey,
    definition): ``"{definition}:{journey key}:{seq}:{effect}"`` with ``%`` and ``:``
    inside each part escaped as ``%25`` and ``%3A``.  Hosts dedupe on it.  ``data`` is a
    read-only copy of the journey's data right after the move (a thank-you email reads
    the address there).  ``to_dict`` gives the JSON-able form a store's outbox keeps.

    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> @machine.effect(on_enter="interest")
    ... def welcome(call):
    ...     pass
    >>> j = machine.start("c:1", {"email": "ann@example.com"})
    >>> outcome = machine.fire(j, "engage", defer_effects=True)
    >>> call = outcome.pending_effects[0]
    >>> call.idempotency_key, call.data["email"]
    ('aida:c%3A1:1:welcome', 'ann@example.com')
    """

    effect: str
    idempotency_key: str
    key: str
    trigger: str
    source: str
    dest: str
    seq: int
    at: datetime
    payload: Any = None
    event_id: str | None = None
    meta: Mapping[str, Any] | None = None
    definition: str = ""
    data: Mapping[str, Any] = attrs.field(factory=FrozenDict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the payload must be JSON-shaped for this)."""
        return {
            "effect": self.effect,
            "idempotency_key": self.idempotency_key,
            "definition": self.definition,
            "key": self.key,
            "trigger": self.trigger,
            "source": self.source,
            "dest": self.dest,
            "seq": self.seq,
            "at": self.at.isoformat(),
            "payload": thaw(self.payload),
            "event_id": self.event_id,
            "meta": thaw(self.meta),
            "data": thaw(self.data),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EffectCall:
        """The call :meth:`to_dict` describes (an outbox row read back); checks every field.

        A missing or extra key, or a field of the wrong type, raises ``ValueError`` naming
        it.

        >>> from datetime import datetime, timezone
        >>> call = EffectCall("welcome", "aida:c-1:1:welcome", "c-1", "engage", "attention",
        ...                   "interest", 1, datetime(2026, 1, 1, tzinfo=timezone.utc),
        ...                   definition="aida")
        >>> EffectCall.from_dict(call.to_dict()) == call
        True
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"an effect call must be a dict, got {type(d).__name__}")
        missing = sorted(_CALL_KEYS - d.keys())
        extra = sorted(str(k) for k in d.keys() - _CALL_KEYS)
        if missing or extra:
            raise ValueError(
                f"effect call has missing keys {missing} and unknown keys {extra}; "
                "it must be what EffectCall.to_dict() made"
            )
        for name in ("effect", "idempotency_key", "definition", "key", "trigger", "source", "dest"):
            if type(d[name]) is not str:
                raise ValueError(f"effect call field {name!r} must be a str, got {d[name]!r}")
        if type(d["seq"]) is not int or d["seq"] < 1:
            raise ValueError(f"effect call field 'seq' must be an int >= 1, got {d['seq']!r}")
        if d["event_id"] is not None and type(d["event_id"]) is not str:
            raise ValueError(
                f"effect call field 'event_id' must be a str or None, got {d['event_id']!r}"
            )
        for name in ("meta", "data"):
            if d[name] is not None and not isinstance(d[name], Mapping):
                raise ValueError(f"effect call field {name!r} must be a dict, got {d[name]!r}")
        if d["data"] is None:
            raise ValueError("effect call field 'data' must be a dict, got None")
        try:
            at = datetime.fromisoformat(d["at"]) if type(d["at"]) is str else None
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise ValueError(
                f"effect call field 'at' must be an ISO 8601 time with a UTC offset, got {d['at']!r}"
            )
        return cls(
            d["effect"],
            d["idempotency_key"],
            d["key"],
            d["trigger"],
            d["source"],
            d["dest"],
            d["seq"],
            at,
            d["payload"],
            d["event_id"],
            None if d["meta"] is None else frozen_json(dict(d["meta"])),
            d["definition"],
            frozen_json(dict(d["data"])),
        )


_CALL_KEYS = frozenset(
    (
        "effect",
        "idempotency_key",
        "definition",
        "key",
        "trigger",
        "source",
        "dest",
        "seq",
        "at",
        "payload",
        "event_id",
        "meta",
        "data",
    )
)


def idempotency_key(definition: str, key: str, seq: int, effect: str) -> str:
    """The structured, escaped key of one effect of one move (see :class:`EffectCall`)."""
    return ":".join(
        (_escape(definition), _escape(key), str(seq), _escape(effect)),
    )


def _escape(part: str) -> str:
    if "%" in part or ":" in part:
        return part.replace("%", "%25").replace(":", "%3A")
    return part
