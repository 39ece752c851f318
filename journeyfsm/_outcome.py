"""What firing an event returns (Outcome), what explain returns (Explanation), and the
records that effects receive (EffectCall) and report (EffectReport)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from ._definition import Transition
from ._guards import Guard, GuardResult
from ._json import FrozenDict, thaw
from ._records import HistoryEntry

__all__ = [
    "CandidateResult",
    "EffectCall",
    "EffectReport",
    "Explanation",
    "Outcome",
    "Status",
    "idempotency_key",
]

Status = Literal["moved", "blocked", "ignored", "duplicate"]


@attrs.frozen
class CandidateResult:
    """One candidate transition for (stage, trigger) and the results of its guards."""

    transition: Transition
    passed: bool
    guards: tuple[GuardResult, ...]

    @property
    def dest(self) -> str | None:
        """The candidate's destination (``None`` for an internal transition)."""
        return self.transition.dest

    @property
    def failing(self) -> tuple[GuardResult, ...]:
        """The failing leaf guards of this candidate."""
        return tuple(leaf for g in self.guards for leaf in g.failing())


def failing_guard_names(candidates: tuple[CandidateResult, ...]) -> tuple[str, ...]:
    """Names of the failing leaf guards of ``candidates``, in order, without repeats."""
    return tuple(dict.fromkeys(leaf.name for c in candidates for leaf in c.failing))


def candidates_from_log(
    cands: tuple[Transition, ...], log: list[tuple[int, Guard, bool]]
) -> tuple[CandidateResult, ...]:
    """Turn the guard log of a fire (candidate index, guard, result) into results."""
    per: dict[int, list[GuardResult]] = {}
    for idx, g, ok in log:
        per.setdefault(idx, []).append(GuardResult(g.name, g.description, ok))
    failed = {idx for idx, _, ok in log if not ok}
    # candidates are tried in order until one passes: the winner is the first that did not fail
    winner = next(i for i in range(len(cands)) if i not in failed)
    out = []
    for idx in range(winner + 1):
        results = tuple(per.get(idx, ()))
        out.append(CandidateResult(cands[idx], all(r.passed for r in results), results))
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
    names each failing guard.

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
        arrow = f"{self.source!r} -> {self.dest!r}" if self.moved else f"in {self.source!r}"
        return f"<Outcome {self.status} {self.key!r} {self.trigger!r} {arrow}{extra}>"


@attrs.frozen
class Explanation:
    """What ``fire`` would do now, without doing it: every candidate, every guard.

    ``status`` is ``"would_move"``, ``"blocked"`` or ``"ignored"``; ``chosen`` is the
    transition that would be taken.
    """

    key: str
    stage: str
    trigger: str
    status: Literal["would_move", "blocked", "ignored"]
    candidates: tuple[CandidateResult, ...]
    allowed: tuple[str, ...]

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
        if self.status == "ignored":
            lines.append(f"  allowed here: {', '.join(self.allowed) or 'nothing'}")
        for i, c in enumerate(self.candidates, 1):
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"  {i}. -> {c.dest!r} [{mark}]")
            for g in c.guards:
                lines.extend(g.lines(7))
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


def idempotency_key(definition: str, key: str, seq: int, effect: str) -> str:
    """The structured, escaped key of one effect of one move (see :class:`EffectCall`)."""
    return ":".join(
        (_escape(definition), _escape(key), str(seq), _escape(effect)),
    )


def _escape(part: str) -> str:
    if "%" in part or ":" in part:
        return part.replace("%", "%25").replace(":", "%3A")
    return part
