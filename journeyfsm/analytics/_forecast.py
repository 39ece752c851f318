"""Conversion forecasts: a journey's history read as an absorbing Markov chain.

Theory of operation
-------------------
:func:`fit_chain` reads every journey's history once (the stay boundaries of
``_funnel.py``: a move to another stage or a re-entry ends a stay, an internal transition
does not) into *stays*: ``(stage, duration, next stage)``, and for a journey still in a
non-final stage at ``now`` one *open* stay ``(stage, now - entered, None)``.

- **Transition probabilities** per stage are the observed shares of its completed stays'
  next stages (maximum likelihood), with their counts.
- **The chain** absorbs at the final stages, and at ``to`` when :meth:`JourneyChain.reach`
  asks for the first arrival at ``to``: with ``Q`` the transient-to-transient block and
  ``R`` the transient-to-absorbing block, ``N = (I - Q)^-1`` is the fundamental matrix,
  ``B = N R`` the probability of each absorbing stage from each transient one, ``N 1``
  the expected number of moves before absorption, and ``N (h * b) / b`` the expected time
  to an absorbing stage among the journeys that get there, ``h`` the mean observed stay
  per stage (the chain conditioned on its destination, a Doob h-transform).
  A stage from which no absorbing stage was ever reached (never left, or only into stages
  that never lead out) has probability 0 and no expected moves or time.
- **Forecasts** (:meth:`JourneyChain.forecast`, in ``_forecast_sim.py``) use the stays
  themselves, not only their means: a journey that has sat in ``cart`` for 20 hours is
  not the same as one that has just arrived, and how long a stay lasted says where it
  went (a timeout's write-off comes at its due time).

The linear algebra and the simulation use numpy (the ``journeyfsm[forecast]`` extra),
imported on first use.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from .._clock import ensure_utc
from .._packed import history_moves
from ._forecast_sim import Forecast, check_stage, numpy, simulate
from ._funnel import Plan, resolve_order

if TYPE_CHECKING:
    from .._definition import JourneyDefinition
    from .._records import Journey
    from ._replay_result import ReplayResult

__all__ = ["ChainTransition", "JourneyChain", "Reach", "ReachRow", "StageTime", "fit_chain"]


@attrs.frozen
class ChainTransition:
    """One observed move out of a stage: ``dest``, how many stays ended so (``count``)
    and their share of the stage's completed stays (``probability``).

    >>> ChainTransition("cart", "purchased", 3, 0.75).probability
    0.75
    """

    source: str
    dest: str
    count: int
    probability: float

    def to_dict(self) -> dict[str, object]:
        """JSON-able: ``{"source", "dest", "count", "probability"}``."""
        return attrs.asdict(self)


@attrs.frozen
class StageTime:
    """How long journeys stayed in ``stage``: ``completed`` stays (their ``mean``, or
    ``None`` without one) and the ``open`` stays still running at the fit's ``now``.

    The mean is over completed stays; open stays are left out of it (so it
    underestimates where many stays are still open) but the forecast uses them.

    >>> from datetime import timedelta
    >>> StageTime("cart", 4, 1, timedelta(hours=2)).mean
    datetime.timedelta(seconds=7200)
    """

    stage: str
    completed: int
    open: int
    mean: timedelta | None

    def to_dict(self) -> dict[str, object]:
        """JSON-able, the mean in seconds."""
        return {
            "stage": self.stage,
            "completed": self.completed,
            "open": self.open,
            "mean_seconds": None if self.mean is None else self.mean.total_seconds(),
        }


@attrs.frozen
class ReachRow:
    """From ``stage``: the ``probability`` of ever reaching the target, the
    ``expected_moves`` before the chain is absorbed (at the target or a final stage), and
    the ``expected_time`` to the target among the journeys that reach it (``None`` where
    the probability is 0).

    >>> ReachRow("cart", 0.5, 1.5, None).probability
    0.5
    """

    stage: str
    probability: float
    expected_moves: float | None
    expected_time: timedelta | None

    def to_dict(self) -> dict[str, object]:
        """JSON-able, the time in seconds."""
        return {
            "stage": self.stage,
            "probability": self.probability,
            "expected_moves": self.expected_moves,
            "expected_time_seconds": (
                None if self.expected_time is None else self.expected_time.total_seconds()
            ),
        }


@attrs.frozen
class Reach:
    """What :meth:`JourneyChain.reach` computes: one :class:`ReachRow` per stage, in the
    definition's order; ``str()`` prints them as a table.

    >>> from journeyfsm import templates
    >>> from journeyfsm.analytics import Reach, ReachRow
    >>> r = Reach("purchase", (ReachRow("cart", 0.25, 2.0, None),))
    >>> r.row("cart").probability
    0.25
    """

    to: str
    rows: tuple[ReachRow, ...]

    def row(self, stage: str) -> ReachRow:
        """The row of ``stage`` (a ``KeyError`` naming the stages otherwise)."""
        for r in self.rows:
            if r.stage == stage:
                return r
        raise KeyError(f"no stage {stage!r} here; stages: {', '.join(r.stage for r in self.rows)}")

    def to_dict(self) -> dict[str, object]:
        """JSON-able: ``{"to", "rows": [...]}``."""
        return {"to": self.to, "rows": [r.to_dict() for r in self.rows]}

    def __str__(self) -> str:
        from ._render import human_duration

        head = ("stage", f"P(reach {self.to})", "moves", "time to it")
        body = [
            (
                r.stage,
                f"{r.probability:.1%}",
                "-" if r.expected_moves is None else f"{r.expected_moves:.2f}",
                "-" if r.expected_time is None else human_duration(r.expected_time),
            )
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(4)]
        return "\n".join(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in [head, *body]
        )


@attrs.frozen(eq=False)
class JourneyChain:
    """A definition's journeys as an absorbing Markov chain, fitted by :func:`fit_chain`.

    ``transitions`` maps each stage to its observed moves (:class:`ChainTransition`,
    most frequent first), ``time_in_stage`` to its :class:`StageTime`; ``journeys`` is how
    many journeys were read and ``now`` the end of observation.
    :meth:`reach` and :meth:`absorption` are the chain's algebra, :meth:`forecast`
    predicts what the journeys in flight will do.

    >>> from datetime import datetime, timedelta, timezone
    >>> from journeyfsm import JourneyMachine, ManualClock, templates
    >>> from journeyfsm.analytics import fit_chain
    >>> clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    >>> machine = JourneyMachine(templates.aida(), clock=clock)
    >>> journeys = [machine.start(f"c{i}") for i in range(4)]
    >>> for j in journeys:
    ...     _ = machine.fire(j, "engage")
    >>> _ = clock.advance(3600)
    >>> for j in journeys[:3]:
    ...     _ = machine.fire(j, "want")
    >>> chain = fit_chain(journeys, templates.aida(), now=clock.now())
    >>> [(t.dest, t.count, t.probability) for t in chain.transitions["interest"]]
    [('desire', 3, 1.0)]
    >>> chain.time_in_stage["interest"].mean, chain.time_in_stage["interest"].open
    (datetime.timedelta(seconds=3600), 1)
    """

    definition: JourneyDefinition
    now: datetime
    journeys: int
    transitions: Mapping[str, tuple[ChainTransition, ...]]
    time_in_stage: Mapping[str, StageTime]
    # (stage, duration seconds, next stage or None while open): the forecast's sample
    stays: Mapping[str, tuple[tuple[float, str | None], ...]] = attrs.field(repr=False)

    def probability(self, source: str, dest: str) -> float:
        """The observed probability of moving from ``source`` to ``dest`` in one move."""
        self._stage(source)
        self._stage(dest)
        return next((t.probability for t in self.transitions[source] if t.dest == dest), 0.0)

    def reach(self, to: str) -> Reach:
        """The probability of reaching ``to`` from each stage, the expected moves before
        the chain is absorbed there or at a final stage, and the expected time to ``to``.

        ``to`` may be any stage: it is made absorbing (the first arrival counts), as
        every final stage is.
        """
        self._stage(to)
        return self._absorb({to, *self.definition.final_stages}, to)

    def absorption(self) -> dict[str, dict[str, float]]:
        """``stage -> {final stage: probability of ending there}``, for every stage."""
        finals = self.definition.final_stages
        if not finals:
            raise ValueError(
                f"definition {self.definition.name!r} has no final stage: ask "
                "chain.reach(stage) for a stage of your choice instead"
            )
        out: dict[str, dict[str, float]] = {}
        for final in finals:
            for row in self._absorb(set(finals), final).rows:
                out.setdefault(row.stage, {})[final] = row.probability
        return out

    def forecast(
        self,
        journeys: Iterable[Journey],
        *,
        to: str,
        within: timedelta,
        now: datetime | None = None,
        rounds: int = 1000,
        level: float = 0.95,
        seed: int | None = 0,
    ) -> Forecast:
        """How many of ``journeys`` (those in flight: neither in a final stage nor in
        ``to``) will reach ``to`` within ``within`` from ``now`` (default: the fit's
        ``now``), with an interval at ``level``; see :class:`Forecast` for the method.

        ``rounds`` simulations (each one a bootstrap of the observed stays, then every
        journey's path); ``seed`` makes them repeatable (``None``: fresh randomness).
        """
        return simulate(
            self.definition,
            self.stays,
            journeys,
            to=to,
            within=within,
            now=self.now if now is None else now,
            rounds=rounds,
            level=level,
            seed=seed,
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-able: the transitions and times in stage of every stage."""
        return {
            "definition": self.definition.name,
            "now": self.now.isoformat(),
            "journeys": self.journeys,
            "transitions": {s: [t.to_dict() for t in ts] for s, ts in self.transitions.items()},
            "time_in_stage": {s: t.to_dict() for s, t in self.time_in_stage.items()},
        }

    def _stage(self, stage: str) -> None:
        check_stage(self.definition, stage)

    def _absorb(self, absorbing: set[str], target: str) -> Reach:
        counts = {s: {t.dest: t.count for t in ts} for s, ts in self.transitions.items()}
        means = {s: _seconds(t.mean) for s, t in self.time_in_stage.items()}
        return _reach_counts(self.definition.stage_names, counts, absorbing, target, means)


def _seconds(value: timedelta | None) -> float:
    return 0.0 if value is None else value.total_seconds()


def _reach_counts(
    stages: Sequence[str],
    counts: Mapping[str, Mapping[str, int]],
    absorbing: set[str],
    target: str,
    means: Mapping[str, float] | None = None,
) -> Reach:
    """The absorbing chain's algebra from move counts (the one place it exists).

    ``counts[source][dest]``: how many completed stays in ``source`` ended by moving to
    ``dest`` (internal moves left out, as :func:`fit_chain` leaves them out); the
    transition probabilities are their shares.  ``absorbing`` holds ``target`` and the
    final stages; ``means`` the mean stay in seconds per stage (``None``: no expected
    times, every ``expected_time`` is ``None``).  :meth:`JourneyChain.reach` calls it
    with the fitted counts; the explorer with the counts its SQL aggregates.

    >>> r = _reach_counts(("a", "b", "c"), {"a": {"b": 3, "c": 1}}, {"b", "c"}, "b")
    >>> r.row("a").probability
    0.75
    """
    np = numpy()
    shares = {
        s: {d: n / total for d, n in moves.items() if n}
        for s, moves in counts.items()
        if (total := sum(moves.values())) > 0
    }
    leads_out = _leading_to(shares, absorbing)
    transient = [s for s in stages if s not in absorbing and s in leads_out]
    index = {s: i for i, s in enumerate(transient)}
    n = len(transient)
    q = np.zeros((n, n))
    b_direct = np.zeros(n)
    for s in transient:
        for dest, p in shares.get(s, {}).items():
            if dest in index:
                q[index[s], index[dest]] += p
            elif dest == target:
                b_direct[index[s]] += p
    fundamental = np.linalg.inv(np.eye(n) - q) if n else np.zeros((0, 0))
    b = fundamental @ b_direct
    moves = fundamental @ np.ones(n)
    timed = None
    if means is not None:
        timed = fundamental @ (np.array([means.get(s, 0.0) for s in transient]) * b)
    rows = []
    for s in stages:
        if s == target:
            rows.append(ReachRow(s, 1.0, 0.0, timedelta(0)))
        elif s in index:
            i = index[s]
            p = float(min(max(b[i], 0.0), 1.0))
            time = (
                timedelta(seconds=float(timed[i] / b[i]))
                if timed is not None and b[i] > 1e-12
                else None
            )
            rows.append(ReachRow(s, p, float(moves[i]), time))
        else:  # another absorbing stage, or one that never leads out
            rows.append(ReachRow(s, 0.0, None if s not in absorbing else 0.0, None))
    return Reach(target, tuple(rows))


def _leading_to(shares: Mapping[str, Mapping[str, float]], absorbing: set[str]) -> set[str]:
    """The stages from which some observed path reaches an absorbing stage."""
    reached = set(absorbing)
    changed = True
    while changed:
        changed = False
        for stage, moves in shares.items():
            if stage not in reached and any(d in reached for d in moves):
                reached.add(stage)
                changed = True
    return reached - absorbing


def fit_chain(
    journeys: Iterable[Journey] | ReplayResult,
    definition: JourneyDefinition,
    *,
    now: datetime | None = None,
) -> JourneyChain:
    """Fit the absorbing Markov chain of ``definition`` to the history of ``journeys``.

    ``journeys``: a replay's result (or its ``journeys.values()``), a store's
    ``service.journeys()``, any Journey objects with their history. ``now`` is the end of
    observation (timezone-aware; default: the latest time any history records): the
    stays still running then are *open*, which the forecast uses.

    >>> from journeyfsm import JourneyMachine, templates
    >>> from journeyfsm.analytics import fit_chain
    >>> machine = JourneyMachine(templates.aida())
    >>> j = machine.start("c1")
    >>> _ = machine.fire(j, "engage")
    >>> fit_chain([j], templates.aida()).transitions["attention"][0].dest
    'interest'
    """
    from .._definition import JourneyDefinition
    from ._funnel import check_journeys
    from ._replay_result import ReplayResult

    if not isinstance(definition, JourneyDefinition):
        raise TypeError(
            f"fit_chain needs the JourneyDefinition the journeys follow; got "
            f"{type(definition).__name__}"
        )
    if isinstance(journeys, ReplayResult):
        journeys = journeys.journeys.values()
    check_journeys(journeys, "fit_chain()")
    if now is not None:
        now = ensure_utc(now, what="fit_chain(now=...)")
    plan = Plan(definition, resolve_order(definition, None))
    finals = set(definition.final_stages)
    closed: list[tuple[str, datetime, datetime, str]] = []
    open_: list[tuple[str, datetime, str]] = []  # (stage, entered, key)
    latest: datetime | None = None
    count = 0
    for journey in journeys:
        plan.check(journey)
        count += 1
        history = history_moves(journey)
        stay_start = journey.started_at
        for seq, trigger, source, dest, at in history:
            if not definition.has_stage(dest):
                plan.check_stage(journey, dest, f"history[{seq - 1}] moved to")
            latest = at if latest is None or at > latest else latest
            if dest == source and not plan.reenters(journey, seq, source, trigger):
                continue
            if stay_start is not None:
                closed.append((source, stay_start, at, dest))
            stay_start = at
        if journey.stage not in finals and stay_start is not None:
            open_.append((journey.stage, stay_start, journey.key))
            latest = stay_start if latest is None or stay_start > latest else latest
    if now is None:
        if latest is None:
            raise ValueError(
                "fit_chain read no history with times: pass journeys that have moved, "
                "and now=... (the end of observation)"
            )
        now = latest
    stays: dict[str, list[tuple[float, str | None]]] = defaultdict(list)
    moves: dict[str, Counter[str]] = defaultdict(Counter)
    for stage, start, end, dest in closed:
        if end > now:
            raise ValueError(
                f"a move at {end.isoformat()} is after now={now.isoformat()}: now is the end "
                "of observation, the latest time the history may hold"
            )
        stays[stage].append(((end - start).total_seconds(), dest))
        moves[stage][dest] += 1
    for stage, start, key in open_:
        if start > now:
            raise ValueError(
                f"journey {key!r} entered {stage!r} at {start.isoformat()}, after "
                f"now={now.isoformat()}: now is the end of observation"
            )
        stays[stage].append(((now - start).total_seconds(), None))
    transitions: dict[str, tuple[ChainTransition, ...]] = {}
    times: dict[str, StageTime] = {}
    for stage in definition.stage_names:
        total = sum(moves[stage].values())
        transitions[stage] = tuple(
            ChainTransition(stage, dest, n, n / total) for dest, n in moves[stage].most_common()
        )
        done = [d for d, nxt in stays[stage] if nxt is not None]
        times[stage] = StageTime(
            stage,
            len(done),
            len(stays[stage]) - len(done),
            timedelta(seconds=sum(done) / len(done)) if done else None,
        )
    return JourneyChain(
        definition,
        now,
        count,
        transitions,
        times,
        {s: tuple(v) for s, v in stays.items()},
    )
