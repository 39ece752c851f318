"""The one error hierarchy of journeyfsm.

Every error says what was refused, for which journey, in which stage, with which
trigger, and what to do instead.  Errors that share the meaning of a builtin also
subclass it (``UnknownTrigger`` is a ``KeyError``-like ``LookupError``, bad values are
``ValueError``), so hosts that already catch those keep working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

__all__ = [
    "ConcurrencyConflict",
    "DataError",
    "DefinitionError",
    "ForeignJourney",
    "GuardError",
    "HookError",
    "InvalidTransition",
    "JourneyError",
    "Problem",
    "SnapshotError",
    "SnapshotVersionError",
    "StoreError",
    "UnknownTrigger",
    "close_matches",
    "did_you_mean",
]


def close_matches(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> list[str]:
    """Up to three of ``choices`` close to ``word``: the one place typos are matched."""
    return difflib.get_close_matches(str(word), list(choices), n=3, cutoff=cutoff)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for a close match, else ``""``; appended to messages."""
    close = close_matches(word, choices)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


class JourneyError(Exception):
    """Base class of every error journeyfsm raises on purpose.

    Carries ``key`` (journey key), ``stage`` and ``trigger`` where they apply::

        try:
            machine.fire(journey, "checkout")
        except JourneyError as err:
            log.warning("journey refused", key=err.key, stage=err.stage)
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        stage: str | None = None,
        trigger: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.stage = stage
        self.trigger = trigger

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # an error crosses processes (Dask or Spark workers, multiprocessing, a task queue):
        # rebuilt without calling __init__ again (subclasses take keyword-only arguments),
        # with the attributes it had
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[JourneyError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle a :class:`JourneyError` (see ``JourneyError.__reduce__``)."""
    err = cls.__new__(cls, *args)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


@attrs.frozen
class Problem:
    """One thing wrong with a journey definition, with the stage/trigger it concerns.

    >>> str(Problem("stage 'x' is unreachable from the initial stage", stage="x"))
    "stage 'x' is unreachable from the initial stage"
    """

    message: str
    stage: str | None = None
    trigger: str | None = None

    def __str__(self) -> str:
        return self.message


class DefinitionError(JourneyError, ValueError):
    """A journey definition is invalid; ``problems`` lists every problem found at once.

    >>> from journeyfsm import JourneyDefinition, Stage
    >>> try:
    ...     JourneyDefinition(name="j", stages=[Stage("a"), Stage("a")], transitions=[])
    ... except DefinitionError as err:
    ...     print(len(err.problems) >= 2)
    True
    """

    def __init__(self, problems: Sequence[Problem], *, name: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        what = f"journey definition {name!r}" if name else "journey definition"
        lines = "\n".join(f"  - {p.message}" for p in self.problems)
        super().__init__(f"{what} is invalid ({len(self.problems)} problem(s)):\n{lines}")


class UnknownTrigger(JourneyError, LookupError):
    """The definition has no transition at all for this trigger (always an error).

    ``suggestions`` holds close matches among the known triggers.
    """

    def __init__(
        self,
        trigger: str,
        *,
        definition: str,
        known: Sequence[str],
        suggestions: Sequence[str],
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        self.suggestions = tuple(suggestions)
        hint = (
            f"did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else f"known triggers: {', '.join(sorted(known))}"
        )
        who = f" for journey {key!r}" if key is not None else ""
        if stage is not None:
            who += f" in stage {stage!r}"
        super().__init__(
            f"unknown trigger {trigger!r}{who}: definition {definition!r} has no such trigger; "
            f"{hint}",
            key=key,
            stage=stage,
            trigger=trigger,
        )


class InvalidTransition(JourneyError):
    """The trigger is known but not valid from the journey's stage, and policy is ``strict``.

    ``allowed`` lists the triggers that are valid from that stage; ``reason`` names the
    rule that refused it where one did ("re-entry refused: entry='once'"), else None.
    """

    def __init__(
        self,
        *,
        key: str,
        stage: str,
        trigger: str,
        allowed: Sequence[str],
        reason: str | None = None,
    ) -> None:
        self.allowed = tuple(allowed)
        self.reason = reason
        allowed_txt = ", ".join(self.allowed) if self.allowed else "nothing (final stage)"
        why = f" ({reason})" if reason is not None else ""
        super().__init__(
            f"cannot fire {trigger!r} for journey {key!r} in stage {stage!r}{why}; "
            f"allowed here: {allowed_txt}; "
            "use policy='ignore' to get an 'ignored' outcome instead",
            key=key,
            stage=stage,
            trigger=trigger,
        )


class GuardError(JourneyError):
    """A guard raised, returned a non-bool, or got a payload of the wrong type.

    The journey is untouched; ``guard`` names the guard, ``reason`` is ``"raised"``,
    ``"not_bool"`` or ``"payload_type"``, and ``__cause__`` holds the original exception
    where there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        guard: str,
        reason: str = "raised",
        key: str | None = None,
        stage: str | None = None,
        trigger: str | None = None,
    ) -> None:
        self.guard = guard
        self.reason = reason
        super().__init__(message, key=key, stage=stage, trigger=trigger)


class HookError(JourneyError):
    """A hook raised; the move was rolled back and the journey is exactly as before.

    ``hook`` names the hook and ``__cause__`` is the original exception.
    """

    def __init__(
        self,
        message: str,
        *,
        hook: str,
        key: str | None = None,
        stage: str | None = None,
        trigger: str | None = None,
    ) -> None:
        self.hook = hook
        super().__init__(message, key=key, stage=stage, trigger=trigger)


class DataError(JourneyError, TypeError):
    """A value that must be JSON-shaped is not: journey data, history meta, a snapshot field.

    ``path`` names the place inside the value (``"data['cart'][2]"``).  JSON-shaped means
    dict (str keys), list, str, int, float (finite), bool and None, exactly those types.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        key: str | None = None,
        stage: str | None = None,
        trigger: str | None = None,
    ) -> None:
        self.path = path
        super().__init__(message, key=key, stage=stage, trigger=trigger)


class ForeignJourney(JourneyError, ValueError):
    """A journey of another definition was handed to a machine (also a ``ValueError``).

    Not exported: catch ``JourneyError`` (or ``ValueError``).
    """


class SnapshotError(JourneyError, ValueError):
    """A snapshot cannot be loaded: another definition, an unknown stage, a malformed field."""


class SnapshotVersionError(SnapshotError):
    """A snapshot of another version of the definition, which the machine was not told to
    accept (``allow_version=``).  ``snapshot_version`` is the version it was made with,
    ``machine_version`` the version of the machine that refused it."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        stage: str | None = None,
        definition: str,
        snapshot_version: int | str,
        machine_version: int | str,
    ) -> None:
        super().__init__(message, key=key, stage=stage)
        self.definition = definition
        self.snapshot_version = snapshot_version
        self.machine_version = machine_version


class ConcurrencyConflict(JourneyError):
    """Another worker moved the journey first (optimistic version check failed); retry."""


class StoreError(JourneyError):
    """A store could not read or write a journey: a missing or old schema, a corrupted row,
    a database error.

    ``table`` names the table (``"journeys"``, ``"outbox"``, ...) and ``key`` the journey
    where they apply; the message says what to do.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        key: str | None = None,
        stage: str | None = None,
        trigger: str | None = None,
    ) -> None:
        self.table = table
        super().__init__(message, key=key, stage=stage, trigger=trigger)
