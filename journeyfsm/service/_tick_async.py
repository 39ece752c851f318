"""The drivers of ``AsyncJourneyService.tick``: due journeys claimed, advanced by the sans-IO
``decide_tick`` and written, one journey or one batch per transaction.

Batched (``batch_size > 1``): ONE write transaction claims up to ``batch_size`` due
journeys at once (``claim_due_batch``: PostgreSQL ``SELECT ... ORDER BY next_due LIMIT n
FOR UPDATE SKIP LOCKED``; SQLite ``BEGIN IMMEDIATE``; memory: its lock), decides each,
writes every decision with one ``write_many`` and commits; then the next batch, until
``limit`` journeys were taken or fewer than a batch were due.  A journey whose decide
raises a ``JourneyError`` (a hook's ``HookError``, a corrupted row) is left out of the
batch's writes and reported; the tick's later batches skip it (it is still due: the next
tick tries it again).  Should the write itself fail (it cannot while the claims hold,
barring a bug or a broken row), the batch is rolled back and its journeys are advanced
one per transaction, which names the journey that fails.

Exactly once, as for one journey per transaction: a journey is advanced only while its
claim is held, the write is checked against the version and timeouts fired it was read
with, a timeout's move carries its deterministic event id (unique in the store), and a
process that dies before the commit leaves every row of the batch as it was, still due.

One by one (``batch_size=1``, the behaviour before batches): read the due keys, then
claim, decide, write and commit each in its own transaction (``claim_due``); a key
another worker holds or has advanced is counted as ``skipped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .._errors import DataError, JourneyError, StoreError
from .._outcome import Outcome
from ._core import Decision, JourneyRow, TickReport
from ._driver import AsyncDriver

__all__ = ["tick_batches", "tick_one_by_one"]


class _Tally:
    """What a tick did so far (the fields of its ``TickReport``)."""

    def __init__(self) -> None:
        self.journeys = self.skipped = 0
        self.outcomes: list[Outcome] = []
        self.failed: list[tuple[str, str]] = []

    def fail(self, service: AsyncDriver, key: str, err: JourneyError) -> None:
        self.failed.append((key, f"{type(err).__name__}: {err}"))
        service.machine.logger.warning("timeout.failed", key=key, error=str(err))

    def report(self) -> TickReport:
        return TickReport(
            self.journeys,
            len(self.outcomes),
            tuple(self.outcomes),
            self.skipped,
            tuple(self.failed),
        )


async def tick_one_by_one(service: AsyncDriver, until: datetime, limit: int) -> TickReport:
    """``tick`` with ``batch_size=1``: each due journey in its own transaction."""
    async with service.store.transaction(write=False) as tx:
        keys = await tx.due(service.definition, now=until, limit=limit)
    tally = _Tally()
    for key in keys:
        await _one(service, tally, key, until)
    return tally.report()


async def _one(service: AsyncDriver, tally: _Tally, key: str, until: datetime) -> None:
    try:
        async with service.store.transaction() as tx:
            row = await tx.claim_due(service.definition, key, now=until)
            if row is None:  # another worker holds it, or has advanced it
                tally.skipped += 1
                return
            # by the machine of the row's version (an AsyncJourneyMachine's hand-off
            # awaits its async hooks)
            decided = await service._decide_tick(row, until=until, now=service._now())
            try:
                await tx.write_many(decided.decisions)
            except UnicodeEncodeError as err:  # the driver's: the transaction rolls back
                raise _not_unicode(key, err) from None
    except JourneyError as err:  # nothing of this journey was written
        tally.fail(service, key, err)
        return
    tally.journeys += 1
    tally.outcomes.extend(decided.outcomes)


async def tick_batches(
    service: AsyncDriver, until: datetime, limit: int, batch_size: int
) -> TickReport:
    """``tick`` with ``batch_size > 1``: up to ``batch_size`` journeys per transaction."""
    tally = _Tally()
    taken = 0
    left_out: list[str] = []  # failed in this tick: later batches pass over them
    while taken < limit:
        want = min(batch_size, limit - taken)
        try:
            n = len(await _batch(service, tally, until, want, left_out))
        except _WriteFailed as failed:  # rolled back: each journey on its own
            n = len(failed.keys)
            for key in failed.keys:
                await _one(service, tally, key, until)
                if tally.failed and tally.failed[-1][0] == key:
                    left_out.append(key)
        taken += n
        if n < want:  # nothing more is due (or the rest is held by others)
            break
    return tally.report()


class _WriteFailed(Exception):
    """The batch's write raised a ``JourneyError``: its transaction was rolled back."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__(f"the write of a batch of {len(keys)} journeys failed")
        self.keys = keys


async def _batch(
    service: AsyncDriver, tally: _Tally, until: datetime, want: int, left_out: list[str]
) -> list[JourneyRow | StoreError]:
    """Claim, decide and write one batch in one transaction; what it claimed."""
    machine, name = service.machine, service.definition
    decisions: list[Decision] = []
    outcomes: list[Outcome] = []
    failed: list[tuple[str, JourneyError]] = []
    claimed: list[JourneyRow | StoreError] = []
    try:
        async with service.store.transaction() as tx:
            claimed = await tx.claim_due_batch(name, now=until, limit=want, skip=left_out)
            now = service._now()
            for row in claimed:
                if isinstance(row, StoreError):  # a corrupted row: this journey fails
                    failed.append((row.key or "?", row))
                    continue
                try:
                    decided = await service._decide_tick(row, until=until, now=now)
                except JourneyError as err:  # this journey only: nothing of it is written
                    failed.append((row.key, err))
                    continue
                if not decided.decisions:  # nothing to write: it would be claimed again
                    left_out.append(row.key)
                decisions.extend(decided.decisions)
                outcomes.extend(decided.outcomes)
            await tx.write_many(decisions)
    except (JourneyError, UnicodeEncodeError) as err:
        if not claimed:
            raise  # the claim itself failed: nothing was taken
        machine.logger.warning("timeout.batch_failed", journeys=len(claimed), error=str(err))
        raise _WriteFailed([_key(row) for row in claimed]) from err
    for key, error in failed:
        tally.fail(service, key, error)
        left_out.append(key)
    tally.journeys += len(claimed) - len(failed)
    tally.outcomes.extend(outcomes)
    return claimed


def _not_unicode(key: str, err: UnicodeEncodeError) -> DataError:
    return DataError(
        f"journey {key!r}: a str its timeouts' moves wrote (data or meta, from a hook) is "
        f"not valid Unicode ({err.reason}: {err.object[err.start : err.end]!r}); nothing "
        "of it was written and it stays due: fix the hook (decode text with "
        "errors='replace')",
        path="data",
        key=key,
    )


def _key(row: JourneyRow | StoreError) -> str:
    return row.key if isinstance(row, JourneyRow) else (row.key or "?")
