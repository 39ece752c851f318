"""The forecast for journeys in flight: simulated from the observed stays.

Theory of operation
-------------------
A journey in flight sits in stage ``s`` and has been there for ``a`` seconds.  Its next
move is drawn from the *stays* of ``s`` the history holds (each a duration and where it
went), among those that lasted longer than ``a``; the move happens after the drawn
duration minus ``a``, to the drawn stage, where the journey starts a new stay at age 0,
and so on until it reaches ``to`` (converted), a final stage, or the horizon.  Drawing
duration and destination together keeps what a Markov chain with one holding time per
stage loses: a long stay in ``consideration`` ends in the 30-day write-off, a short one in
a purchase.

A stay still open at the fit's ``now`` says only "longer than c": drawn, it conditions the
journey on having lasted ``c`` and the draw is repeated among the longer stays
(redistribute-to-the-right, which is what the Kaplan-Meier estimate of the stay's length
does).  A journey that outlasts every observed stay (longest ``T``) leaves after an
exponential time at the *tail's rate*: the stays that ended in the last half of ``T``
divided by the time all stays spent there (``(T/2, T]``), to a destination drawn among
those ends.  Without it a journey past ``T`` could never move, and a forecast whose
horizon reaches past the longest stay seen (customers lapsed about as long as anyone in
the history) would count only the evidence inside ``T``: half of what came back on the
CDNOW log (docs/measuring.md).  Where no stay ended in the tail, the journey stays put.

The uncertainty: each of ``rounds`` simulations first reweights every stage's stays with
Dirichlet(1, ..., 1) weights (the Bayesian bootstrap: the data's sampling error), then
draws every journey's path once.  The count of converted journeys per round gives the
expected count (their mean) and the interval (its percentiles); each journey's share of
rounds is its probability.  Rounds run in chunks, so memory stays at a few MB whatever
the number of rounds; at most ``MAX_STAYS`` stays per stage, a seeded random sample, are
used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .._clock import ensure_utc
from .._errors import did_you_mean
from .._records import Journey

if TYPE_CHECKING:
    from .._definition import JourneyDefinition

__all__ = ["MAX_STAYS", "Forecast", "check_stage", "numpy", "simulate"]

MAX_STAYS = 5000
_CHUNK = 64  # rounds simulated at once, at most
_CELLS = 500_000  # journeys x rounds simulated at once, at most (about 40 MB of arrays)
_MAX_MOVES = 200  # per journey and round: a journey that keeps cycling stops there

METHOD = (
    "simulated from the observed stays (duration and next stage drawn together, among "
    "the stays longer than the journey's time in its stage so far; open stays "
    "redistributed to the right, as Kaplan-Meier does; past the longest stay, a constant "
    "rate: the stays ended in its last half over the time spent there), {rounds} rounds, "
    "each reweighting the stays with Dirichlet(1,...,1) weights (Bayesian bootstrap); "
    "interval: the "
    "{lo:g}th to {hi:g}th percentile of the converted count over the rounds"
)


@attrs.frozen
class Forecast:
    """How many journeys in flight are expected to reach ``to`` within ``within``.

    ``in_flight`` journeys were forecast (``by_stage``: how many are in each stage;
    ``excluded``: those given that were already in ``to`` or a final stage).
    ``expected`` is the mean converted count over the simulation's rounds, ``low`` and
    ``high`` the interval at ``level``, ``probabilities`` each journey's chance (key ->
    probability); ``method`` states how they were computed; ``str()`` says it in a line.

    >>> from datetime import datetime, timedelta, timezone
    >>> f = Forecast("purchase", timedelta(days=7), datetime(2026, 3, 1, tzinfo=timezone.utc),
    ...              1204, {"cart": 1204}, 0, 310.2, 285, 335, 0.95, 1000, "...", {})
    >>> print(f)
    of the 1,204 journeys in flight (cart 1,204), 310 ± 25 are expected to reach 'purchase' within 7 days (95% interval 285 to 335)
    """

    to: str
    within: timedelta
    now: datetime
    in_flight: int
    by_stage: Mapping[str, int]
    excluded: int
    expected: float
    low: int
    high: int
    level: float
    rounds: int
    method: str
    probabilities: Mapping[str, float] = attrs.field(repr=False)

    def to_dict(self) -> dict[str, object]:
        """JSON-able: every field, ``within`` in seconds, ``now`` as ISO-8601."""
        out = attrs.asdict(self)
        out["within_seconds"] = out.pop("within").total_seconds()
        out["now"] = self.now.isoformat()
        out["by_stage"] = dict(self.by_stage)
        out["probabilities"] = dict(self.probabilities)
        return out

    def __str__(self) -> str:
        from ._render import human_duration

        days, rest = divmod(self.within, timedelta(days=1))
        within = f"{days} day{'s' * (days != 1)}" if not rest else human_duration(self.within)
        stages = ", ".join(f"{s} {n:,}" for s, n in self.by_stage.items() if n)
        half = (self.high - self.low) / 2
        return (
            f"of the {self.in_flight:,} journeys in flight ({stages}), "
            f"{self.expected:,.0f} ± {half:,.0f} are expected to reach {self.to!r} within "
            f"{within} ({self.level:.0%} interval {self.low:,} to "
            f"{self.high:,})"
        )


def numpy() -> Any:
    """numpy, or an ImportError that names the extra to install."""
    try:
        import numpy
    except ImportError as err:
        raise ImportError(
            "conversion forecasts need numpy: pip install 'journeyfsm[forecast]'"
        ) from err
    return numpy


def check_stage(definition: JourneyDefinition, stage: str) -> None:
    """A ``ValueError`` naming the stages unless ``stage`` is one of ``definition``'s."""
    if not isinstance(stage, str) or not definition.has_stage(stage):
        raise ValueError(
            f"definition {definition.name!r} has no stage {stage!r}"
            f"{did_you_mean(str(stage), definition.stage_names)}; stages: "
            f"{', '.join(definition.stage_names)}"
        )


def _check(
    definition: JourneyDefinition,
    to: str,
    within: timedelta,
    rounds: int,
    level: float,
    seed: int | None,
) -> None:
    check_stage(definition, to)
    if not isinstance(within, timedelta) or within <= timedelta(0):
        raise ValueError(
            f"within must be a positive timedelta (the horizon), got {within!r}: "
            "e.g. within=timedelta(days=7)"
        )
    if type(rounds) is not int or rounds < 10:
        raise ValueError(f"rounds must be an int of at least 10, got {rounds!r} (default 1000)")
    if not isinstance(level, float) or not 0.5 <= level < 1:
        raise ValueError(f"level must be a float in [0.5, 1), got {level!r}: e.g. 0.95")
    if seed is not None and (type(seed) is not int or seed < 0):
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")


def simulate(
    definition: JourneyDefinition,
    stays: Mapping[str, tuple[tuple[float, str | None], ...]],
    journeys: Iterable[Journey],
    *,
    to: str,
    within: timedelta,
    now: datetime,
    rounds: int,
    level: float,
    seed: int | None,
) -> Forecast:
    """``JourneyChain.forecast`` over a fitted chain's ``stays`` (see the module docs)."""
    np = numpy()
    _check(definition, to, within, rounds, level, seed)
    if isinstance(journeys, Journey):
        raise TypeError("forecast takes an iterable of journeys: pass [journey] for one")
    now = ensure_utc(now, what="forecast(now=...)")
    stages = definition.stage_names
    index = {s: i for i, s in enumerate(stages)}
    stop = {index[to], *(index[s] for s in definition.final_stages)}
    keys: list[str] = []
    start_stage: list[int] = []
    start_age: list[float] = []
    excluded = 0
    for journey in journeys:
        if not isinstance(journey, Journey):
            raise TypeError(
                f"forecast reads Journey objects (the journeys in flight now); got "
                f"{type(journey).__name__}"
            )
        if journey.definition is not None and journey.definition != definition.name:
            raise ValueError(
                f"journey {journey.key!r} belongs to definition {journey.definition!r}, "
                f"not {definition.name!r}"
            )
        check_stage(definition, journey.stage)
        if index[journey.stage] in stop:
            excluded += 1
            continue
        entered = journey.entered_at or journey.started_at
        if entered is None:
            raise ValueError(
                f"journey {journey.key!r} has no entered_at: forecast journeys with their "
                "timeout clock (a replay's, a store's, machine.start's)"
            )
        if entered > now:
            raise ValueError(
                f"journey {journey.key!r} entered {journey.stage!r} at {entered.isoformat()}, "
                f"after now={now.isoformat()}: forecast from a now after the journeys' moves"
            )
        keys.append(journey.key)
        start_stage.append(index[journey.stage])
        start_age.append((now - entered).total_seconds())
    rng = np.random.default_rng(seed)
    tables = _stay_tables(np, stays, index, rng)
    k = len(keys)
    converted = np.zeros(k)
    counts: list[int] = []
    horizon = within.total_seconds()
    states0 = np.array(start_stage, dtype=np.int64)
    ages0 = np.array(start_age, dtype=float)
    done_rounds = 0
    while done_rounds < rounds and k:
        c = max(1, min(_CHUNK, _CELLS // k, rounds - done_rounds))
        hit = _run_chunk(np, rng, tables, states0, ages0, c, horizon, index[to], stop)
        converted += hit.sum(axis=0)
        counts += [int(n) for n in hit.sum(axis=1)]
        done_rounds += c
    if not k:
        counts = [0]
    lo_pct, hi_pct = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    low, high = (round(float(v)) for v in np.percentile(counts, [lo_pct, hi_pct]))
    by_stage = dict.fromkeys(stages, 0)
    for s in start_stage:
        by_stage[stages[s]] += 1
    return Forecast(
        to,
        within,
        now,
        k,
        {s: n for s, n in by_stage.items() if n},
        excluded,
        float(np.mean(counts)),
        low,
        high,
        level,
        rounds,
        METHOD.format(rounds=rounds, lo=lo_pct, hi=hi_pct),
        {key: float(p) / rounds for key, p in zip(keys, converted, strict=True)},
    )


class _Stays:
    """One stage's stays, sorted by duration: ``durations``, ``dest`` (-1: open); the
    tail: ``tail`` the indices of the stays that ended in the last half of the longest
    one's duration, ``exposure`` each stay's time spent in that half (seconds)."""

    __slots__ = ("dest", "durations", "exposure", "n", "tail")

    def __init__(self, np: Any, durations: Any, dest: Any) -> None:
        self.durations = durations
        self.dest = dest
        self.n = len(durations)
        half = durations[-1] / 2
        self.tail = np.flatnonzero((dest >= 0) & (durations >= half) & (durations > 0))
        self.exposure = np.maximum(durations - half, 0.0)


def _stay_tables(
    np: Any,
    all_stays: Mapping[str, tuple[tuple[float, str | None], ...]],
    index: Mapping[str, int],
    rng: Any,
) -> dict[int, _Stays]:
    tables: dict[int, _Stays] = {}
    for stage, stays in all_stays.items():
        if not stays:
            continue
        if len(stays) > MAX_STAYS:
            picked = rng.choice(len(stays), MAX_STAYS, replace=False)
            stays = tuple(stays[i] for i in sorted(picked))
        durations = np.array([d for d, _ in stays], dtype=float)
        dest = np.array([-1 if n is None else index[n] for _, n in stays], dtype=np.int64)
        order = np.argsort(durations, kind="stable")
        tables[index[stage]] = _Stays(np, durations[order], dest[order])
    return tables


def _run_chunk(
    np: Any,
    rng: Any,
    tables: Mapping[int, _Stays],
    states0: Any,
    ages0: Any,
    c: int,
    horizon: float,
    target: int,
    stop: set[int],
) -> Any:
    """``c`` rounds of every journey: a (c, k) array, 1 where the journey reached
    ``target`` within the horizon."""
    k = len(states0)
    # per round and stage: cumulative Dirichlet weights, a leading 0 (the bootstrap)
    cums: dict[int, tuple[Any, Any]] = {}
    tails: dict[int, tuple[Any, Any]] = {}
    for stage, t in tables.items():
        w = rng.exponential(size=(c, t.n))
        cum = np.zeros((c, t.n + 1))
        np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1, out=cum[:, 1:])
        # each row increases from 0 to 1: shifted by 2 per row they search as one array
        cums[stage] = (cum, (cum + np.arange(c)[:, None] * 2.0).ravel())
        # past the longest stay: a constant rate per round (the tail's ends over its
        # exposure, both reweighted), and where those ends went
        weights = np.diff(cum, axis=1)
        seen = weights @ t.exposure
        ends = weights[:, t.tail]
        rate = np.divide(ends.sum(axis=1), seen, out=np.zeros(c), where=seen > 0)
        tcum = np.zeros((c, len(t.tail) + 1))
        if len(t.tail):
            np.cumsum(ends, axis=1, out=tcum[:, 1:])
            tcum[:, 1:] /= np.where(tcum[:, -1:] > 0, tcum[:, -1:], 1.0)
        tails[stage] = (rate, (tcum + np.arange(c)[:, None] * 2.0).ravel())
    state = np.tile(states0, c)
    age = np.tile(ages0, c)
    row = np.repeat(np.arange(c), k)
    elapsed = np.zeros(c * k)
    hit = np.zeros(c * k, dtype=bool)
    active = np.ones(c * k, dtype=bool)
    stop_arr = np.array(sorted(stop), dtype=np.int64)
    for _ in range(_MAX_MOVES):
        if not active.any():
            break
        for stage in np.unique(state[active]):
            sel = np.flatnonzero(active & (state == stage))
            found = tables.get(int(stage))
            if found is None:  # never observed leaving: stays put
                active[sel] = False
                continue
            t = found
            cum, flat = cums[int(stage)]
            duration, dest = _draw(np, rng, t, cum, flat, row[sel], age[sel], tails[int(stage)])
            stuck = dest < 0
            active[sel[stuck]] = False
            moving = sel[~stuck]
            elapsed[moving] += duration[~stuck] - age[moving]
            late = elapsed[moving] > horizon
            active[moving[late]] = False
            arrived = moving[~late]
            state[arrived] = dest[~stuck][~late]
            age[arrived] = 0.0
            hit[arrived] |= state[arrived] == target
            active[arrived[np.isin(state[arrived], stop_arr)]] = False
    return hit.reshape(c, k)


def _draw(
    np: Any,
    rng: Any,
    t: _Stays,
    cum: Any,
    flat: Any,
    rows: Any,
    age: Any,
    tail: tuple[Any, Any],
) -> tuple[Any, Any]:
    """One weighted draw per journey among the stays longer than its ``age``: (duration,
    dest); a journey that outlasts every stay leaves at the tail's rate (dest -1, it stays
    put, where the tail saw no stay end)."""
    width = t.n + 1
    duration = np.zeros(len(rows))
    dest = np.full(len(rows), -1, dtype=np.int64)
    floor = age.copy()
    todo = np.arange(len(rows))
    past: list[Any] = []
    while len(todo):
        lo = np.searchsorted(t.durations, floor[todo], side="right")
        some = lo < t.n
        past.append(todo[~some])
        todo = todo[some]
        lo = lo[some]
        if not len(todo):
            break
        r = rows[todo]
        base, top = cum[r, lo], cum[r, t.n]
        u = base + rng.random(len(todo)) * (top - base)
        j = np.searchsorted(flat, u + r * 2.0, side="right") - 1 - r * width
        j = np.clip(j, lo, t.n - 1)
        drawn = t.dest[j]
        closed = drawn >= 0
        duration[todo[closed]] = t.durations[j[closed]]
        dest[todo[closed]] = drawn[closed]
        # an open stay: the journey lasted at least that long; draw again among longer ones
        todo = todo[~closed]
        floor[todo] = t.durations[j[~closed]]
    out = np.concatenate(past) if past else todo
    rate, tflat = tail
    r = rows[out]
    out, r = out[rate[r] > 0], r[rate[r] > 0]
    if len(out):
        width = len(t.tail) + 1
        duration[out] = floor[out] + rng.exponential(1.0 / rate[r])
        k = np.searchsorted(tflat, rng.random(len(out)) + r * 2.0, side="right") - 1 - r * width
        dest[out] = t.dest[t.tail[np.clip(k, 0, len(t.tail) - 1)]]
    return duration, dest
