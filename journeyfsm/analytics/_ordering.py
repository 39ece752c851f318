"""Putting an unsorted log in order with bounded memory: an external merge sort.

Replay first streams the log as it is, which is right for the common case (logs are
written in time order).  When a journey's event is older than its previous one, the log
is read again through :class:`ExternalSort`: events are collected in chunks of
``chunk`` events, each chunk is sorted by (time, line) and written to a temporary file,
and ``heapq.merge`` reads the files back in order.  Memory holds one chunk while
reading and one batch per chunk file while merging, whatever the size of the log;
ties keep file order because the line number is part of the key.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import IO

from ._logs import Event

__all__ = ["CHUNK", "ExternalSort"]

#: events per sorted run (about 40 MB of events at most in memory while sorting)
CHUNK = 200_000
_BATCH = 2_000  # events per pickle record in a run file
_ORDER = itemgetter(0, 1)  # (time, line)


class ExternalSort:
    """``with ExternalSort(events) as ordered: ...``: ``events`` by (time, line).

    >>> from datetime import datetime, timezone
    >>> t = lambda h: datetime(2026, 1, 1, h, tzinfo=timezone.utc)
    >>> events = [(t(3), 1, "a", "x", None, None, None), (t(1), 2, "b", "x", None, None, None),
    ...           (t(1), 3, "a", "x", None, None, None)]
    >>> with ExternalSort(events, chunk=2) as ordered:
    ...     [(e[0].hour, e[1]) for e in ordered]
    [(1, 2), (1, 3), (3, 1)]
    """

    def __init__(
        self,
        events: Iterable[Event],
        *,
        chunk: int | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self._events = events
        self._chunk = CHUNK if chunk is None else chunk
        if self._chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {self._chunk}")
        self._progress = progress
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._files: list[IO[bytes]] = []
        self.total = 0

    def __enter__(self) -> Iterator[Event]:
        runs: list[Path] = []
        buffer: list[Event] = []
        for event in self._events:
            buffer.append(event)
            if len(buffer) >= self._chunk:
                runs.append(self._write(buffer))
                buffer = []
        self.total += len(buffer)
        buffer.sort(key=_ORDER)
        if not runs:
            return self._report(iter(buffer))
        if buffer:
            runs.append(self._write(buffer))
        for path in runs:
            self._files.append(path.open("rb"))
        merged = heapq.merge(*(_read(f) for f in self._files), key=_ORDER)
        return self._report(merged)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for f in self._files:
            f.close()
        self._files = []
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _write(self, buffer: list[Event]) -> Path:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="journeyfsm-replay-")
        buffer.sort(key=_ORDER)
        self.total += len(buffer)
        path = Path(self._dir.name) / f"run{self.total}.pickle"
        with path.open("wb") as f:
            for start in range(0, len(buffer), _BATCH):
                pickle.dump(buffer[start : start + _BATCH], f, pickle.HIGHEST_PROTOCOL)
        return path

    def _report(self, events: Iterator[Event]) -> Iterator[Event]:
        progress, total = self._progress, max(1, self.total)
        if progress is None:
            yield from events
            return
        for done, event in enumerate(events, 1):
            if not done & 0x3FFF:
                progress(done / total)
            yield event
        progress(1.0)


def _read(f: IO[bytes]) -> Iterator[Event]:
    while True:
        try:
            batch: list[Event] = pickle.load(f)
        except EOFError:
            return
        yield from batch
