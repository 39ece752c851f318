"""Transition coverage: which edges and which guard outcomes the fired events exercised.

Theory of operation
-------------------
The items to cover are read from the compiled table (``definition.edges()``), never from a
second description of the rules:

- one item per edge ``(source, trigger, candidate index)``; it is covered when a fire
  moves a journey through that candidate;
- two items per guard of a guarded edge, "passed" and "failed"; each is covered when the
  guard was evaluated with that result (``Outcome.candidates`` carries the results).
  Guards short-circuit: a guard after a failing one in its candidate, or in a candidate
  never tried, was not evaluated (``GuardResult.passed is None``, or no result) and counts
  for nothing.

Coverage is kept per definition, keyed by (name, version, fingerprint); the fingerprint
(a hash of the table) tells apart two different definitions that share a name and version.
Everything is JSON-able so pytest-xdist workers can send their coverage to the controller,
which merges it with :meth:`CoverageCollector.merge`.  The report comes in two shapes made
from the same figures: :func:`report_lines` (text) and :func:`report_json` (documented in
docs/testing.md, "Transition coverage").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .._definition import JourneyDefinition
from .._outcome import Outcome
from .._runtime import JourneyMachine

__all__ = [
    "CoverageCollector",
    "DefinitionCoverage",
    "definition_key",
    "report_json",
    "report_lines",
    "total_percent",
]

# The version of the JSON report's shape; bumped only when a key changes meaning or goes.
REPORT_FORMAT = 1

# (source, trigger, candidate index) for an edge; + (guard position, passed) for a guard.
ItemKey = tuple[Any, ...]


def _fingerprint(d: JourneyDefinition) -> str:
    shape = [
        [e.source, e.trigger, e.dest, e.index, [g.name for g in e.transition.guards]]
        for e in d.edges()
    ]
    return hashlib.sha1(json.dumps(shape).encode(), usedforsecurity=False).hexdigest()[:10]


def definition_key(d: JourneyDefinition) -> tuple[str, str, str]:
    """(name, version, fingerprint): the identity coverage is kept under."""
    return (d.name, str(d.version), _fingerprint(d))


def _edge_label(source: str, trigger: str, dest: str | None, index: int, n_cands: int) -> str:
    target = repr(dest) if dest is not None else "(internal)"
    which = f" [candidate {index + 1}]" if n_cands > 1 else ""
    return f"{source!r} --{trigger}--> {target}{which}"


@attrs.define
class DefinitionCoverage:
    """The coverable items of one definition (labelled, in table order) and the covered ones."""

    name: str
    version: str
    fingerprint: str
    edges: dict[ItemKey, str]  # item key -> label, in table order
    guards: dict[ItemKey, str]
    hit: set[ItemKey] = attrs.field(factory=set)
    # for the JSON report: each edge's dest, each guard outcome's guard name
    dests: dict[ItemKey, str | None] = attrs.field(factory=dict)
    guard_names: dict[ItemKey, str] = attrs.field(factory=dict)

    @classmethod
    def of(cls, d: JourneyDefinition) -> DefinitionCoverage:
        """Every coverable item of ``d``, none covered yet."""
        edges: dict[ItemKey, str] = {}
        guards: dict[ItemKey, str] = {}
        dests: dict[ItemKey, str | None] = {}
        guard_names: dict[ItemKey, str] = {}
        for e in d.edges():
            n = len(d.candidates(e.source, e.trigger))
            label = _edge_label(e.source, e.trigger, e.dest, e.index, n)
            edges[(e.source, e.trigger, e.index)] = label
            dests[(e.source, e.trigger, e.index)] = e.dest
            for pos, g in enumerate(e.transition.guards):
                for passed in (True, False):
                    word = "passed" if passed else "failed"
                    key = (e.source, e.trigger, e.index, pos, passed)
                    guards[key] = f"{label}: {g.name} {word}"
                    guard_names[key] = g.name
        name, version, fingerprint = definition_key(d)
        return cls(name, version, fingerprint, edges, guards, set(), dests, guard_names)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.version, self.fingerprint)

    @property
    def total(self) -> int:
        return len(self.edges) + len(self.guards)

    @property
    def covered(self) -> int:
        return self.edges_covered + self.guards_covered

    @property
    def edges_covered(self) -> int:
        return sum(1 for k in self.edges if k in self.hit)

    @property
    def guards_covered(self) -> int:
        return sum(1 for k in self.guards if k in self.hit)

    @property
    def percent(self) -> float:
        """Covered items (edges and guard outcomes) as a percentage; 100 when there are none."""
        return 100.0 * self.covered / self.total if self.total else 100.0

    def missed_edges(self) -> list[str]:
        return [label for k, label in self.edges.items() if k not in self.hit]

    def missed_guards(self) -> list[str]:
        return [label for k, label in self.guards.items() if k not in self.hit]

    def record(self, d: JourneyDefinition, outcome: Outcome) -> None:
        """Mark what ``outcome`` (of a machine running ``d``) exercised."""
        if outcome.status not in ("moved", "blocked"):
            return
        source, trigger = outcome.source, outcome.trigger
        results = {id(c.transition): c for c in outcome.candidates}
        winner_found = outcome.status != "moved"
        for index, t in enumerate(d.candidates(source, trigger)):
            result = results.get(id(t))
            if result is not None:
                for pos, g in enumerate(result.guards):
                    # None: not evaluated (short-circuited), so neither outcome happened
                    if g.passed is True or g.passed is False:
                        self.hit.add((source, trigger, index, pos, g.passed))
            if not winner_found and (result is None or result.passed):
                # the first candidate that did not fail is the one the move took
                self.hit.add((source, trigger, index))
                winner_found = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "edges": [[list(k), v] for k, v in self.edges.items()],
            "guards": [[list(k), v] for k, v in self.guards.items()],
            "hit": sorted((list(k) for k in self.hit), key=json.dumps),
            "dests": [[list(k), v] for k, v in self.dests.items()],
            "guard_names": [[list(k), v] for k, v in self.guard_names.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DefinitionCoverage:
        return cls(
            data["name"],
            data["version"],
            data["fingerprint"],
            {tuple(k): v for k, v in data["edges"]},
            {tuple(k): v for k, v in data["guards"]},
            {tuple(k) for k in data["hit"]},
            {tuple(k): v for k, v in data["dests"]},
            {tuple(k): v for k, v in data["guard_names"]},
        )

    def report_json(self) -> dict[str, Any]:
        """This definition's part of the JSON report (see :func:`report_json`)."""
        edges: list[dict[str, Any]] = []
        for (source, trigger, index), label in self.edges.items():
            edges.append(
                {
                    "source": source,
                    "trigger": trigger,
                    "dest": self.dests[(source, trigger, index)],
                    "candidate": index + 1,
                    "label": label,
                    "hit": (source, trigger, index) in self.hit,
                }
            )
        guards: list[dict[str, Any]] = []
        for key, label in self.guards.items():
            source, trigger, index, pos, passed = key
            guards.append(
                {
                    "source": source,
                    "trigger": trigger,
                    "dest": self.dests[(source, trigger, index)],
                    "candidate": index + 1,
                    "guard": self.guard_names[key],
                    "position": pos + 1,
                    "outcome": "passed" if passed else "failed",
                    "label": label,
                    "hit": key in self.hit,
                }
            )
        return {
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "edges": edges,
            "guard_outcomes": guards,
            "totals": _totals([self]),
            "percent": self.percent,
        }


class CoverageCollector:
    """A machine observer (see ``_observe``) that accumulates coverage per definition.

    >>> from journeyfsm import JourneyMachine, templates
    >>> collector = CoverageCollector()
    >>> machine = JourneyMachine(templates.aida())
    >>> collector.fired(machine, machine.fire(machine.start("c-1"), "engage"))
    >>> [cov.edges_covered for cov in collector.results()]
    [1]
    """

    def __init__(self) -> None:
        # definitions are kept alive here so their id() cannot be reused by another one
        self._by_id: dict[int, tuple[JourneyDefinition, DefinitionCoverage]] = {}
        self._by_key: dict[tuple[str, str, str], DefinitionCoverage] = {}

    def _entry(self, d: JourneyDefinition) -> DefinitionCoverage:
        found = self._by_id.get(id(d))
        if found is not None:
            return found[1]
        fresh = DefinitionCoverage.of(d)
        cov = self._by_key.setdefault(fresh.key, fresh)
        self._by_id[id(d)] = (d, cov)
        return cov

    def names(self) -> list[str]:
        """The names of every definition seen so far, sorted, without repeats."""
        return sorted({c.name for c in self._by_key.values()})

    def machine_created(self, machine: JourneyMachine) -> None:
        self._entry(machine.definition)

    def fired(self, machine: JourneyMachine, outcome: Outcome) -> None:
        d = machine.definition
        self._entry(d).record(d, outcome)

    def results(self, names: Sequence[str] = ()) -> list[DefinitionCoverage]:
        """Coverage per definition, sorted by name and version; only ``names`` if given."""
        out = [c for c in self._by_key.values() if not names or c.name in names]
        return sorted(out, key=lambda c: (c.name, c.version, c.fingerprint))

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self._by_key.values()]

    def merge(self, data: Iterable[dict[str, Any]]) -> None:
        """Add coverage sent by another process (e.g. a pytest-xdist worker)."""
        for item in data:
            other = DefinitionCoverage.from_json(item)
            mine = self._by_key.setdefault(other.key, other)
            if mine is not other:
                mine.hit |= other.hit


def total_percent(results: Sequence[DefinitionCoverage]) -> float:
    """Covered items over all ``results`` as a percentage (100 when there is nothing)."""
    total = sum(c.total for c in results)
    return 100.0 * sum(c.covered for c in results) / total if total else 100.0


def _totals(results: Sequence[DefinitionCoverage]) -> dict[str, int]:
    return {
        "edges": sum(len(c.edges) for c in results),
        "edges_hit": sum(c.edges_covered for c in results),
        "guard_outcomes": sum(len(c.guards) for c in results),
        "guard_outcomes_hit": sum(c.guards_covered for c in results),
        "items": sum(c.total for c in results),
        "items_hit": sum(c.covered for c in results),
    }


def report_json(
    results: Sequence[DefinitionCoverage], *, fail_under: float | None = None
) -> dict[str, Any]:
    """The machine-readable report: the figures of :func:`report_lines`, item by item.

    >>> from journeyfsm import JourneyMachine, templates
    >>> collector = CoverageCollector()
    >>> machine = JourneyMachine(templates.aida())
    >>> collector.fired(machine, machine.fire(machine.start("c-1"), "engage"))
    >>> report = report_json(collector.results())
    >>> report["totals"]["edges_hit"], [d["name"] for d in report["definitions"]]
    (1, ['aida'])
    """
    return {
        "format": REPORT_FORMAT,
        "definitions": [c.report_json() for c in results],
        "totals": _totals(results),
        "percent": total_percent(results),
        "fail_under": fail_under,
    }


def report_lines(results: Sequence[DefinitionCoverage]) -> list[str]:
    """The text report: a line per definition, then what it missed, then the total."""
    lines: list[str] = []
    names = [c.name for c in results]
    for c in results:
        label = f"{c.name} v{c.version}"
        if names.count(c.name) > 1:
            label += f" [{c.fingerprint}]"
        lines.append(
            f"{label}: edges {c.edges_covered}/{len(c.edges)}, "
            f"guard outcomes {c.guards_covered}/{len(c.guards)}, {c.percent:.1f}%"
        )
        missed_edges, missed_guards = c.missed_edges(), c.missed_guards()
        if missed_edges:
            lines.append("  edges not exercised:")
            lines.extend(f"    {m}" for m in missed_edges)
        if missed_guards:
            lines.append("  guard outcomes not exercised:")
            lines.extend(f"    {m}" for m in missed_guards)
    covered = sum(c.covered for c in results)
    total = sum(c.total for c in results)
    lines.append(
        f"TOTAL: {covered}/{total} edges and guard outcomes, {total_percent(results):.1f}%"
    )
    return lines
