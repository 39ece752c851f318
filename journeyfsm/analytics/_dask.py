"""Replay partitioned by journey key on a Dask cluster (``journeyfsm[dask]``).

Theory of operation
-------------------
A journey depends only on its own events, so a log split by journey key (every row of a
key in one part) replays part by part anywhere, and :meth:`ReplayResult.merge` adds the
parts up to the replay of the whole log.  :func:`replay_dask` either splits one log
itself (read once with Arrow in the calling process; the rows of part ``i`` are those
whose key's dictionary code is ``i`` modulo the number of parts, in file order) and
scatters the parts to the workers, or takes a list of sources already split by key
(files the workers read themselves: the way to replay a log that does not fit one
process).  Each part runs :func:`~._replay.replay` on a worker (the columnar engine when
the definition allows it), and the results are gathered and merged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .._definition import JourneyDefinition
from .._runtime import JourneyMachine
from ._coljourneys import ColumnarJourneys, PackedJourneys
from ._colread import Fallback, load_table, modules, table_of
from ._engine_replay import hooks_of
from ._mapping import LogMapping, MappingError, ReplayError
from ._replay import Engine, replay
from ._replay_result import ReplayResult

__all__ = ["replay_dask", "split_by_key"]


def _client_class() -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(
            "replay_dask needs dask.distributed: pip install 'journeyfsm[dask]'"
        ) from None
    return Client


def split_by_key(table: Any, key: str, parts: int) -> list[Any]:
    """``table`` (a ``pyarrow.Table``) split into ``parts`` tables by the value of the
    ``key`` column: every row of a key in the same part, rows in table order."""
    pa, pc, _ = modules()
    if not isinstance(parts, int) or isinstance(parts, bool) or parts < 1:
        raise ValueError(f"parts must be a positive int, got {parts!r}")
    if not isinstance(table, pa.Table):
        raise TypeError(
            f"split_by_key() takes a pyarrow.Table (pyarrow.csv.read_csv(path), "
            f"pyarrow.parquet.read_table(path)), got {type(table).__name__}"
        )
    if key not in table.column_names:
        raise MappingError(
            f"no column {key!r} to split by; the columns are: {', '.join(table.column_names)}"
        )
    column = table.column(key).combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    codes = pc.fill_null(pc.dictionary_encode(column).indices, 0).to_numpy(zero_copy_only=False)
    which = codes % parts
    return [table.filter(pa.array(which == i)) for i in range(parts)]


def _replay_part(
    definition: JourneyDefinition,
    window: int | None,
    source: Any,
    mapping: LogMapping,
    end: datetime | None,
    strict: bool,
    engine: Engine | None,
) -> ReplayResult:
    target: JourneyMachine | JourneyDefinition = definition
    if window is not None:
        target = JourneyMachine(definition, event_id_window=window)
    result = replay(target, source, mapping, end=end, strict=strict, engine=engine)
    journeys: Any = result.journeys
    # a columnar result travels as its packed columns; any other as a plain dict
    journeys = journeys.packed() if isinstance(journeys, ColumnarJourneys) else dict(journeys)
    return ReplayResult(journeys, result.segments, result.summary, result.definition)


def _unpacked(result: ReplayResult) -> ReplayResult:
    journeys: Any = result.journeys
    if isinstance(journeys, PackedJourneys):
        return ReplayResult(journeys.journeys(), result.segments, result.summary, result.definition)
    return result


def replay_dask(
    machine_or_definition: JourneyMachine | JourneyDefinition,
    source: str | os.PathLike[str] | Sequence[Any] | Any,
    mapping: LogMapping | Mapping[str, Any],
    *,
    client: Any,
    parts: int | None = None,
    end: datetime | None = None,
    strict: bool = False,
    engine: Engine | None = None,
) -> ReplayResult:
    """Replay a log on the Dask cluster of ``client`` (a ``distributed.Client``), split by
    journey key, and merge the parts (:meth:`ReplayResult.merge`).

    ``source`` is one log (a CSV or Parquet path, an Arrow table, a pandas or polars
    DataFrame), split here into ``parts`` parts (default: one per worker), or a list of
    sources already split by key (each read by the worker that replays it).  ``end``,
    ``strict`` and ``engine`` are :func:`replay`'s.  Counts, funnels and time in stage
    are those of one replay of the whole log; see docs/replay.md for what differs (the
    journeys' order, bad-row line numbers within a part).

    For example (a cluster of two local workers)::

        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2) as cluster, Client(cluster) as client:
            result = replay_dask(definition, "events.parquet", mapping, client=client)
        print(result.stage_counts())
    """
    client_class = _client_class()
    if not isinstance(client, client_class):
        raise TypeError(
            f"replay_dask(client=...) takes a distributed.Client, got {type(client).__name__}"
        )
    # a machine does not travel (its logger, locks): its definition and window do
    window: int | None = None
    if isinstance(machine_or_definition, JourneyMachine):
        hooks = hooks_of(machine_or_definition)
        if hooks:
            raise ReplayError(
                f"replay_dask() runs on other workers, where this machine's hooks or effects "
                f"({', '.join(hooks)}) cannot run; replay machine.definition, or replay() in "
                "this process"
            )
        definition = machine_or_definition.definition
        window = machine_or_definition.event_id_window
    elif isinstance(machine_or_definition, JourneyDefinition):
        definition = machine_or_definition
    else:
        raise TypeError(
            "replay_dask() takes a JourneyMachine or a JourneyDefinition, got "
            f"{type(machine_or_definition).__name__}"
        )
    if not isinstance(mapping, LogMapping):
        mapping = LogMapping.from_dict(mapping)
    if isinstance(source, (list, tuple)):
        if not source:
            raise ValueError("replay_dask() got an empty list of parts")
        pieces: list[Any] = list(source)
    else:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.is_file():
                raise MappingError(f"no such log file: {str(path)!r}")
            try:
                table = load_table(path, mapping)
            except Fallback as err:
                raise ReplayError(f"cannot split {path.name} by key: {err.reason}") from None
        else:
            found = table_of(source)
            if found is None:
                raise TypeError(
                    "replay_dask() splits a log file, an Arrow table or a pandas or polars "
                    f"DataFrame, or takes a list of parts; got {type(source).__name__}"
                )
            table = found[0]
        if parts is None:
            parts = max(1, len(client.scheduler_info().get("workers", {})))
        pieces = client.scatter(split_by_key(table, mapping.key, parts))
    futures = [
        client.submit(
            _replay_part, definition, window, piece, mapping, end, strict, engine, pure=False
        )
        for piece in pieces
    ]
    return ReplayResult.merge(_unpacked(r) for r in client.gather(futures))
